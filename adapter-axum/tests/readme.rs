//! The README's axum example is this crate's doctest, kept identical here so
//! the copy people read is the copy `cargo test` compiles.

const README: &str = include_str!("../../README.md");
const LIB: &str = include_str!("../src/lib.rs");

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

#[test]
fn readme_axum_example_is_the_compiled_doctest() {
    let readme = first_rust_block(README, "## Embedding in an axum application");
    let docs: String = LIB
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let doctest = first_rust_block(&docs, "# slipway-axum");
    assert!(readme.len() > 10, "README example found");
    assert_eq!(
        readme, doctest,
        "README.md and adapter-axum/src/lib.rs differ"
    );
}
