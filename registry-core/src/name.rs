//! Repository names, validated against the OCI distribution grammar:
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
//!
//! A name that passes can never denote a path outside its own prefix (`..`, empty segments and
//! absolute paths are all rejected), which is what keeps it safe to use in storage keys.

use std::fmt;
use std::str::FromStr;

/// Longest name accepted; the spec advises clients to stay under 255 characters with the host.
pub const MAX_NAME_LEN: usize = 255;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid repository name `{name}`: {reason}")]
pub struct NameError {
    pub name: String,
    pub reason: &'static str,
}

impl RepoName {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path segment: the namespace that owns the repository.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }
}

fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Separators between alphanumeric runs: one `.`, one or two `_`, or any number of `-`.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl FromStr for RepoName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| NameError {
            name: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(err("the name is empty"));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(err("the name is longer than 255 characters"));
        }
        for component in s.split('/') {
            if component.is_empty() {
                return Err(err("a path segment is empty"));
            }
            if !valid_component(component) {
                return Err(err(
                    "each segment must be lowercase letters and digits, separated by `.`, `_`, `__` or dashes",
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for ok in [
            "a",
            "acme/nginx",
            "a/b/c/d",
            "my-app",
            "my--app",
            "my_app",
            "my__app",
            "v1.2",
            "0abc/x9",
        ] {
            assert!(ok.parse::<RepoName>().is_ok(), "{ok}");
        }
        assert_eq!(
            "acme/web/nginx".parse::<RepoName>().unwrap().namespace(),
            "acme"
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "/",
            "a/",
            "/a",
            "a//b",
            "..",
            "a/../b",
            "a/./b",
            "A",
            "acme/Nginx",
            "-a",
            "a-",
            "a___b",
            "a..b",
            "a._b",
            "a b",
            "a\\b",
            "a%2fb",
            "a:b",
        ] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad}");
        }
        assert!("a".repeat(256).parse::<RepoName>().is_err());
    }
}
