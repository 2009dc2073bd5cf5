//! Parses the path under `/v2/` into an endpoint. Repository names contain `/`, so the
//! endpoint is recognised from the right: `<name>/manifests/<ref>`, `<name>/blobs/<digest>`,
//! `<name>/blobs/uploads/[<id>]`, `<name>/tags/list`, `<name>/referrers/<digest>`.

use registry_core::{NameError, RepoName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Base,
    Catalog,
    Tags(RepoName),
    Manifest(RepoName, String),
    Blob(RepoName, String),
    UploadStart(RepoName),
    Upload(RepoName, String),
    Referrers(RepoName, String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    /// The shape is an OCI endpoint but the repository name breaks the grammar.
    Name(NameError),
    /// No OCI endpoint has this shape.
    Unknown,
}

fn name(s: &str) -> Result<RepoName, PathError> {
    s.parse().map_err(PathError::Name)
}

/// `rest` is the path after `/v2/`.
pub fn parse(rest: &str) -> Result<Endpoint, PathError> {
    if rest.is_empty() {
        return Ok(Endpoint::Base);
    }
    if rest == "_catalog" {
        return Ok(Endpoint::Catalog);
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        return Ok(Endpoint::Tags(name(repo)?));
    }
    if let Some(repo) = rest.strip_suffix("/blobs/uploads/").or_else(|| rest.strip_suffix("/blobs/uploads")) {
        return Ok(Endpoint::UploadStart(name(repo)?));
    }
    let split = |marker: &str| rest.rsplit_once(marker).filter(|(repo, last)| !repo.is_empty() && !last.is_empty() && !last.contains('/'));
    if let Some((repo, id)) = split("/blobs/uploads/") {
        return Ok(Endpoint::Upload(name(repo)?, id.to_owned()));
    }
    if let Some((repo, digest)) = split("/blobs/") {
        return Ok(Endpoint::Blob(name(repo)?, digest.to_owned()));
    }
    if let Some((repo, reference)) = split("/manifests/") {
        return Ok(Endpoint::Manifest(name(repo)?, reference.to_owned()));
    }
    if let Some((repo, digest)) = split("/referrers/") {
        return Ok(Endpoint::Referrers(name(repo)?, digest.to_owned()));
    }
    Err(PathError::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    #[test]
    fn recognises_every_endpoint() {
        assert_eq!(parse(""), Ok(Endpoint::Base));
        assert_eq!(parse("_catalog"), Ok(Endpoint::Catalog));
        assert_eq!(parse("a/b/tags/list"), Ok(Endpoint::Tags(n("a/b"))));
        assert_eq!(parse("a/manifests/1.0"), Ok(Endpoint::Manifest(n("a"), "1.0".into())));
        assert_eq!(parse("a/b/c/blobs/sha256:x"), Ok(Endpoint::Blob(n("a/b/c"), "sha256:x".into())));
        assert_eq!(parse("a/blobs/uploads/"), Ok(Endpoint::UploadStart(n("a"))));
        assert_eq!(parse("a/blobs/uploads/abc-1"), Ok(Endpoint::Upload(n("a"), "abc-1".into())));
        assert_eq!(parse("a/referrers/sha256:x"), Ok(Endpoint::Referrers(n("a"), "sha256:x".into())));
    }

    #[test]
    fn names_may_contain_endpoint_words() {
        assert_eq!(parse("blobs/manifests/tags/list"), Ok(Endpoint::Tags(n("blobs/manifests"))));
        assert_eq!(parse("x/blobs/y/blobs/sha256:x"), Ok(Endpoint::Blob(n("x/blobs/y"), "sha256:x".into())));
        assert_eq!(parse("manifests/manifests/latest"), Ok(Endpoint::Manifest(n("manifests"), "latest".into())));
    }

    #[test]
    fn bad_names_and_shapes() {
        for bad in ["../etc/manifests/x", "A/manifests/x", "a//b/manifests/x", "a/./b/tags/list", "-a/blobs/uploads/"] {
            assert!(matches!(parse(bad), Err(PathError::Name(_))), "{bad}");
        }
        for unknown in ["a", "a/b", "a/manifests/", "a/manifests", "a/blobs/", "a/unknown/x", "a/manifests/x/y"] {
            assert_eq!(parse(unknown), Err(PathError::Unknown), "{unknown}");
        }
    }
}
