//! Field rules of the services, with messages that name the field.

use super::Error;

/// A string field of 1..=max characters that is not blank.
pub(crate) fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), Error> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(Error::invalid(
            field,
            format!("{field} must be between {min} and {max} characters long (got {n})"),
        ));
    }
    if min > 0 && value.trim().is_empty() {
        return Err(Error::invalid(field, format!("{field} must not be blank")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Normalizes and validates a project path: 1-255 characters, absolute
/// (starts with `/`), no `.` or `..` segment (refused, never resolved:
/// Slipway does not know the host's file system), repeated and trailing
/// slashes removed. Returns the normalized path (`/srv//a/` → `/srv/a`), so
/// uniqueness holds after normalization.
pub(crate) fn project_path(value: &str) -> Result<String, Error> {
    text("path", value, 1, 255)?;
    if !value.starts_with('/') {
        return Err(Error::invalid(
            "path",
            "path must be absolute: start it with / (for example /srv/blog)",
        ));
    }
    let mut out = String::with_capacity(value.len());
    for segment in value.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err(Error::invalid(
                "path",
                format!("path must not contain a `{segment}` segment; give the full path"),
            ));
        }
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Normalizes and validates an email address; returns it lowercased.
pub(crate) fn email(value: &str) -> Result<String, Error> {
    let bad = || {
        Error::invalid(
            "email",
            "email must be a valid email address, like name@example.com",
        )
    };
    let v = value.trim().to_lowercase();
    if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = v.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad());
    }
    if !domain.contains('.') || hostname(domain).is_err() {
        return Err(bad());
    }
    Ok(v)
}

/// Validates a hostname: labels of 1-63 letters, digits and hyphens (not at
/// either end), 253 characters in all. Returns it lowercased, without a
/// trailing dot.
pub(crate) fn hostname(value: &str) -> Result<String, &'static str> {
    let v = value
        .strip_suffix('.')
        .unwrap_or(value)
        .to_ascii_lowercase();
    if v.is_empty() {
        return Err("must not be empty");
    }
    if v.len() > 253 {
        return Err("must be at most 253 characters long");
    }
    for label in v.split('.') {
        if label.is_empty() {
            return Err("must not contain empty labels");
        }
        if label.len() > 63 {
            return Err("must have labels of at most 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("may only contain letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("must not have labels that start or end with a hyphen");
        }
    }
    Ok(v)
}

/// An opaque reference (`sourceId`, `vmId`): 1-128 characters of
/// `[A-Za-z0-9._:-]`.
pub(crate) fn reference(field: &str, value: &str) -> Result<(), Error> {
    let ok = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{field} must be 1-128 characters of letters, digits, '.', '_', ':' and '-'"),
        ))
    }
}

/// A hostname that names a domain or a host under one: [`hostname`] rules,
/// at least two labels, and not an IP address. Returns it normalized.
pub(crate) fn domain_name(field: &str, value: &str) -> Result<String, Error> {
    let name = hostname(value).map_err(|why| {
        Error::invalid(
            field,
            format!("{field} {why} (for example app.example.com)"),
        )
    })?;
    let Some((_, tld)) = name.rsplit_once('.') else {
        return Err(Error::invalid(
            field,
            format!(
                "{field} must be a fully qualified name with at least two labels, like example.com"
            ),
        ));
    };
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            field,
            format!("{field} must be a hostname, not an IP address"),
        ));
    }
    Ok(name)
}

/// A TCP port: 1-65535.
pub(crate) fn port(port: u16) -> Result<u16, Error> {
    if port == 0 {
        return Err(Error::invalid(
            "port",
            "port must be an integer between 1 and 65535",
        ));
    }
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@-b.c", "a..b@c.d",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_and_domains() {
        assert!(reference("vmId", "vm-1:a.b_c").is_ok());
        assert!(reference("vmId", "").is_err());
        assert!(reference("vmId", "a b").is_err());
        assert!(reference("vmId", &"a".repeat(129)).is_err());
        assert_eq!(
            domain_name("domain", "Example.COM.").unwrap(),
            "example.com"
        );
        assert!(domain_name("domain", "localhost").is_err());
        assert!(domain_name("domain", "10.0.0.1").is_err());
        assert!(port(0).is_err());
        assert_eq!(port(443).unwrap(), 443);
    }

    #[test]
    fn hostnames() {
        assert_eq!(hostname("App.Example.com.").unwrap(), "app.example.com");
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(hostname(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod path_tests {
    use super::project_path;

    #[test]
    fn paths_are_absolute_and_normalized() {
        for (given, want) in [
            ("/srv/a", "/srv/a"),
            ("/srv/a/", "/srv/a"),
            ("//srv///a//", "/srv/a"),
            ("/", "/"),
            ("///", "/"),
            ("/srv/a.b/..c/.d", "/srv/a.b/..c/.d"),
        ] {
            assert_eq!(project_path(given).unwrap(), want, "{given}");
        }
        for bad in [
            "srv/a",
            "./a",
            "/srv/./a",
            "/srv/../etc",
            "/srv/a/..",
            "/.",
            "",
            " /a",
        ] {
            assert!(project_path(bad).is_err(), "{bad}");
        }
    }
}
