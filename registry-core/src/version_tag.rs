//! Tags of pack versions. A chart version is tagged with the version itself (Helm writes `+` as
//! `_`, which tags may not hold); any tag that does not read as a version is an alias of that
//! version (`stable`, `latest`, `prod`), so mirroring tools that re-tag work; a tag that reads
//! as another version would mislead every client that picks versions by tag, and is refused.

/// The tag of a version.
#[must_use]
pub fn tag_of(version: &str) -> String {
    version.replace('+', "_")
}

/// What a tag is to a pack of some version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRole {
    /// The version's own tag.
    Version,
    /// A tag that is no version: an alias of this version.
    Alias,
    /// A tag that reads as a version, another one.
    OtherVersion,
}

/// What `tag` is to a pack whose version is `version`.
#[must_use]
pub fn role(tag: &str, version: &str) -> TagRole {
    if tag == tag_of(version) {
        TagRole::Version
    } else if reads_as_version(tag) {
        TagRole::OtherVersion
    } else {
        TagRole::Alias
    }
}

/// Whether a tag reads as a version to Helm, which lists a repository's tags as versions with
/// a lenient parser (`v` prefix, one to three numbers, pre-release and build parts: `1`, `v1.2`,
/// `1.2.3-rc.1_build.5`). Such a tag must be the version itself.
#[must_use]
pub fn reads_as_version(tag: &str) -> bool {
    let tag = tag.strip_prefix(['v', 'V']).unwrap_or(tag).replace('_', "+");
    let (rest, build) = match tag.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (tag.as_str(), None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let identifiers = |s: &str| s.split('.').all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let numbers: Vec<&str> = core.split('.').collect();
    (1..=3).contains(&numbers.len())
        && numbers.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(identifiers)
        && build.is_none_or(identifiers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_aliases_and_other_versions() {
        assert_eq!(role("0.1.0", "0.1.0"), TagRole::Version);
        assert_eq!(role("1.0.0_build.1", "1.0.0+build.1"), TagRole::Version);
        for alias in ["stable", "latest", "prod", "copied", "main-2024", "release.candidate", "x1.2"] {
            assert_eq!(role(alias, "0.1.0"), TagRole::Alias, "{alias}");
        }
        for other in ["0.2.0", "1", "1.2", "v0.1.0", "0.1.0-rc.1", "0.1.0_build.7", "10.20.30-alpha-1"] {
            assert_eq!(role(other, "0.1.0"), TagRole::OtherVersion, "{other}");
        }
    }
}
