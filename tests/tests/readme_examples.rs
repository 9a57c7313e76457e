//! The README's embedding examples are the adapters' crate doctests (which
//! `cargo test` compiles); these tests keep each README copy identical to
//! its doctest, so the copy people read is the copy that compiles.

const README: &str = include_str!("../../README.md");

/// The first ```rust block after `heading` in `markdown`.
fn first_rust_block<'a>(markdown: &'a str, heading: &str) -> Vec<&'a str> {
    let section = &markdown[markdown.find(heading).expect("heading present")..];
    section
        .lines()
        .skip_while(|l| l.trim() != "```rust")
        .skip(1)
        .take_while(|l| l.trim() != "```")
        .collect()
}

/// Asserts the README block under `readme_heading` equals the first doctest
/// of `lib` (a crate root whose docs start with `crate_heading`).
fn assert_same(readme_heading: &str, lib: &str, crate_heading: &str) {
    let readme = first_rust_block(README, readme_heading);
    let docs: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let doctest = first_rust_block(&docs, crate_heading);
    assert!(
        readme.len() > 10,
        "README example found under {readme_heading}"
    );
    assert_eq!(
        readme, doctest,
        "README.md and the {crate_heading} doctest differ"
    );
}

#[test]
fn readme_axum_example_is_the_compiled_doctest() {
    assert_same(
        "## Embedding in an axum application",
        include_str!("../../adapter-axum/src/lib.rs"),
        "# slipway-axum",
    );
}

#[test]
fn readme_warp_example_is_the_compiled_doctest() {
    assert_same(
        "## Embedding in a warp application",
        include_str!("../../adapter-warp/src/lib.rs"),
        "# slipway-warp",
    );
}

#[test]
fn readme_library_example_is_the_compiled_doctest() {
    assert_same(
        "## Using Slipway as a library",
        include_str!("../../core/src/services/mod.rs"),
        "# Calling Slipway from your code",
    );
}
