//! Manifest references: a tag or a digest.

use std::fmt;

use crate::{Digest, DigestError};

/// Longest tag the spec allows.
pub const MAX_TAG_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid tag `{0}`: tags are 1-128 of [A-Za-z0-9_.-] and do not start with `.` or `-`")]
    Tag(String),
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
#[must_use]
pub fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let Some(first) = bytes.next() else { return false };
    tag.len() <= MAX_TAG_LEN
        && (first.is_ascii_alphanumeric() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

impl Reference {
    /// Anything with a `:` is read as a digest (tags cannot contain one).
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if s.contains(':') {
            Ok(Self::Digest(s.parse()?))
        } else if is_valid_tag(s) {
            Ok(Self::Tag(s.to_owned()))
        } else {
            Err(ReferenceError::Tag(s.to_owned()))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => f.write_str(t),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests() {
        assert_eq!(Reference::parse("1.0.0_build.1").unwrap(), Reference::Tag("1.0.0_build.1".into()));
        assert_eq!(Reference::parse("_x").unwrap(), Reference::Tag("_x".into()));
        let d = Digest::of(b"x");
        assert_eq!(Reference::parse(&d.to_string()).unwrap(), Reference::Digest(d));
        for bad in ["", ".x", "-x", "a/b", "a+b", "a b", &"a".repeat(129)] {
            assert!(matches!(Reference::parse(bad), Err(ReferenceError::Tag(_))), "{bad}");
        }
        assert!(matches!(Reference::parse("sha256:zz"), Err(ReferenceError::Digest(_))));
        assert!(is_valid_tag(&"a".repeat(128)));
    }
}
