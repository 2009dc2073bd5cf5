//! A client for OCI distribution registries (ours, CNCF distribution, any other): pushing a
//! pack as a Helm-media-type artifact, pulling it back with its digest checked, listing tags,
//! and signatures as referrer artifacts.

use std::path::Path;

use indicatif::ProgressBar;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

mod reading;

pub use reading::{MAX_MANIFEST, RawManifest, Referrer};

use crate::config::Credential;
use crate::error::{Error, Result};
use crate::http::{Body, HttpOptions, Session, expect_success};

pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub const HELM_CONTENT: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const SIGNATURE_ARTIFACT: &str = "application/vnd.sherpack.signature.v1+minisign";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json";

/// `oci://host[:port]/repository[:tag|@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    pub host: String,
    pub repository: String,
    pub reference: Option<String>,
}

impl OciRef {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Error::Usage(format!("`{text}` is not an OCI reference: expected oci://<host>/<repository>[:<version>|@sha256:<digest>]"));
        let rest = text.strip_prefix("oci://").ok_or_else(bad)?;
        let (host, path) = rest.split_once('/').ok_or_else(bad)?;
        if host.is_empty() || path.is_empty() {
            return Err(bad());
        }
        let (path, reference) = if let Some((p, d)) = path.split_once('@') {
            (p, Some(d.to_owned()))
        } else {
            let last = path.rsplit('/').next().unwrap_or(path);
            match last.rsplit_once(':') {
                Some((_, tag)) => (&path[..path.len() - tag.len() - 1], Some(tag.to_owned())),
                None => (path, None),
            }
        };
        let repository = path.trim_end_matches('/').to_owned();
        if repository.is_empty() || !repository.split('/').all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))) {
            return Err(Error::Usage(format!("`{repository}` in `{text}` is not a valid repository name (lowercase letters, digits, `.`, `_`, `-`, separated by `/`)")));
        }
        Ok(Self { host: host.to_owned(), repository, reference })
    }

    /// This reference's repository with one more path segment.
    #[must_use]
    pub fn child(&self, name: &str) -> Self {
        Self { host: self.host.clone(), repository: format!("{}/{name}", self.repository), reference: None }
    }
}

impl std::fmt::Display for OciRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}", self.host, self.repository)?;
        match &self.reference {
            Some(r) if r.contains(':') => write!(f, "@{r}"),
            Some(r) => write!(f, ":{r}"),
            None => Ok(()),
        }
    }
}

#[must_use]
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A pulled manifest.
pub struct Manifest {
    pub digest: String,
    pub json: Value,
}

impl Manifest {
    /// The layer holding the chart or pack archive.
    pub fn content_layer(&self) -> Result<(String, u64)> {
        let layers = self.json.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
        let layer = layers
            .iter()
            .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(HELM_CONTENT))
            .or_else(|| if layers.len() == 1 { layers.first() } else { None })
            .ok_or_else(|| Error::Invalid(format!("manifest {} holds no chart layer ({HELM_CONTENT})", self.digest)))?;
        let digest = layer.get("digest").and_then(Value::as_str).ok_or_else(|| Error::Invalid("a layer has no digest".into()))?;
        Ok((digest.to_owned(), layer.get("size").and_then(Value::as_u64).unwrap_or(0)))
    }
}

pub struct OciClient {
    base: String,
    session: Session,
}

impl OciClient {
    pub fn new(options: &HttpOptions, host: &str, credential: Option<Credential>) -> Result<Self> {
        let scheme = if options.plain_http { "http" } else { "https" };
        Ok(Self { base: format!("{scheme}://{host}"), session: Session::new(options.client()?, host, credential, false) })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    fn scope(repo: &str, push: bool) -> String {
        format!("repository:{repo}:{}", if push { "pull,push" } else { "pull" })
    }

    /// `GET /v2/` with credentials: checks that the host is a registry and accepts them.
    pub async fn check(&self) -> Result<()> {
        let url = self.url("");
        let response = self.session.send(Method::GET, &url, Body::none(), "").await?;
        let is_registry = response.headers().contains_key("docker-distribution-api-version") || response.status().is_success();
        if !is_registry {
            return Err(Error::Server { url, status: response.status().as_u16(), message: "not an OCI distribution registry".into() });
        }
        expect_success(response, "the registry API").await.map(drop)
    }

    async fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool> {
        let url = self.url(&format!("{repo}/blobs/{digest}"));
        let response = self.session.send(Method::HEAD, &url, Body::none(), &Self::scope(repo, true)).await?;
        Ok(response.status().is_success())
    }

    /// Uploads a blob unless the registry already has it (POST, then one PUT).
    pub async fn push_blob(&self, repo: &str, data: &[u8], progress: &ProgressBar) -> Result<String> {
        let digest = sha256_digest(data);
        let scope = Self::scope(repo, true);
        if self.blob_exists(repo, &digest).await? {
            progress.inc(data.len() as u64);
            return Ok(digest);
        }
        let start = self.session.send(Method::POST, &self.url(&format!("{repo}/blobs/uploads/")), Body::none(), &scope).await?;
        let start = expect_success(start, &format!("repository {repo}")).await?;
        let location = start.headers().get("location").and_then(|v| v.to_str().ok()).ok_or_else(|| Error::Invalid("the registry started an upload without a Location".into()))?;
        let mut url = url::Url::parse(&self.base).and_then(|b| b.join(location)).map_err(|_| Error::Invalid(format!("bad upload location `{location}`")))?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let body = Body::bytes(data.to_vec(), "application/octet-stream");
        let put = self.session.send(Method::PUT, url.as_str(), body, &scope).await?;
        expect_success(put, &format!("upload to {repo}")).await?;
        progress.inc(data.len() as u64);
        Ok(digest)
    }

    /// Puts a manifest under a tag or its digest; returns its digest.
    pub async fn put_manifest(&self, repo: &str, reference: &str, manifest: &[u8], media_type: &str) -> Result<(String, bool)> {
        let url = self.url(&format!("{repo}/manifests/{reference}"));
        let response = self.session.send(Method::PUT, &url, Body::bytes(manifest.to_vec(), media_type), &Self::scope(repo, true)).await?;
        let has_subject_support = response.headers().contains_key("oci-subject");
        expect_success(response, &format!("repository {repo}")).await?;
        Ok((sha256_digest(manifest), has_subject_support))
    }

    /// Pushes an archive as a Helm-media-type artifact tagged with its version; returns the
    /// manifest's digest and size.
    pub async fn push_pack(&self, repo: &str, tag: &str, archive: &[u8], config: &[u8], progress: &ProgressBar) -> Result<(String, usize)> {
        let config_digest = self.push_blob(repo, config, &ProgressBar::hidden()).await?;
        let layer_digest = self.push_blob(repo, archive, progress).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": HELM_CONFIG, "digest": config_digest, "size": config.len() },
            "layers": [ { "mediaType": HELM_CONTENT, "digest": layer_digest, "size": archive.len() } ],
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok((self.put_manifest(repo, tag, &bytes, OCI_MANIFEST).await?.0, bytes.len()))
    }

    /// Pushes a minisign signature as a referrer of `subject` (and, for registries without the
    /// referrers API, under the tag `sha256-<hex>.minisig`).
    pub async fn push_signature(&self, repo: &str, subject: &str, subject_size: usize, signature: &[u8]) -> Result<()> {
        let empty = b"{}";
        let config_digest = self.push_blob(repo, empty, &ProgressBar::hidden()).await?;
        let layer_digest = self.push_blob(repo, signature, &ProgressBar::hidden()).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGNATURE_ARTIFACT,
            "config": { "mediaType": OCI_EMPTY, "digest": config_digest, "size": 2 },
            "layers": [ { "mediaType": SIGNATURE_ARTIFACT, "digest": layer_digest, "size": signature.len() } ],
            "subject": { "mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size },
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
        let digest = sha256_digest(&bytes);
        let (_, referrers_supported) = self.put_manifest(repo, &digest, &bytes, OCI_MANIFEST).await?;
        if !referrers_supported {
            self.put_manifest(repo, &signature_tag(subject), &bytes, OCI_MANIFEST).await?;
        }
        Ok(())
    }

    /// The signature of `subject`, from the referrers API or the fallback tag.
    pub async fn signature(&self, repo: &str, subject: &str) -> Result<Option<Vec<u8>>> {
        let scope = Self::scope(repo, false);
        let url = self.url(&format!("{repo}/referrers/{subject}?artifactType={}", SIGNATURE_ARTIFACT.replace('+', "%2B")));
        let response = self.session.send(Method::GET, &url, Body::none().header("accept", "application/vnd.oci.image.index.v1+json"), &scope).await?;
        let mut candidates = Vec::new();
        if response.status().is_success() {
            let index: Value = response.json().await.map_err(|e| Error::Invalid(format!("referrers of {subject}: {e}")))?;
            for m in index.get("manifests").and_then(Value::as_array).into_iter().flatten() {
                if m.get("artifactType").and_then(Value::as_str) == Some(SIGNATURE_ARTIFACT)
                    && let Some(d) = m.get("digest").and_then(Value::as_str)
                {
                    candidates.push(d.to_owned());
                }
            }
        }
        if candidates.is_empty() {
            candidates.push(signature_tag(subject));
        }
        for reference in candidates {
            let Ok(manifest) = self.manifest(repo, &reference).await else { continue };
            let layers = manifest.json.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
            if let Some(digest) = layers.first().and_then(|l| l.get("digest")).and_then(Value::as_str) {
                return Ok(Some(self.blob(repo, digest, 64 * 1024).await?));
            }
        }
        Ok(None)
    }

    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<Manifest> {
        let url = self.url(&format!("{repo}/manifests/{reference}"));
        let response = self.session.send(Method::GET, &url, Body::none().header("accept", ACCEPT_MANIFESTS), &Self::scope(repo, false)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            let hint = match self.tags(repo).await {
                Ok(tags) if !tags.is_empty() => format!(" (versions available: {})", newest_first(tags).join(", ")),
                Ok(_) => " (the repository has no versions)".into(),
                Err(_) => String::new(),
            };
            return Err(Error::NotFound { what: format!("{repo}:{reference}"), hint });
        }
        let response = expect_success(response, &format!("{repo}:{reference}")).await?;
        let bytes = response.bytes().await.map_err(|e| Error::transport(&url, &e))?;
        let digest = sha256_digest(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(Error::Integrity { what: format!("manifest {repo}@{reference}"), reason: format!("the registry sent content with digest {digest}") });
        }
        let json = serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("manifest {repo}:{reference} is not JSON: {e}")))?;
        Ok(Manifest { digest, json })
    }

    /// A small blob, in memory, digest-checked.
    pub async fn blob(&self, repo: &str, digest: &str, max: usize) -> Result<Vec<u8>> {
        let tmp = tempfile::NamedTempFile::new().map_err(Error::io("temporary file"))?;
        self.blob_to_file(repo, digest, tmp.path(), max as u64, &ProgressBar::hidden()).await?;
        std::fs::read(tmp.path()).map_err(Error::io(tmp.path()))
    }

    /// Streams a blob into `dest`, checking its digest; on any failure `dest` does not exist.
    pub async fn blob_to_file(&self, repo: &str, digest: &str, dest: &Path, max: u64, progress: &ProgressBar) -> Result<()> {
        let url = self.url(&format!("{repo}/blobs/{digest}"));
        let response = self.session.send(Method::GET, &url, Body::none(), &Self::scope(repo, false)).await?;
        let response = expect_success(response, &format!("blob {digest} of {repo}")).await?;
        crate::download::to_file(response, &url, digest, dest, max, progress).await
    }

    /// All tags of a repository (following `Link` pagination).
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let mut tags = Vec::new();
        let mut next = Some(self.url(&format!("{repo}/tags/list?n=1000")));
        while let Some(url) = next.take() {
            let response = self.session.send(Method::GET, &url, Body::none(), &Self::scope(repo, false)).await?;
            let response = expect_success(response, &format!("repository {}/{repo}", self.session.host)).await?;
            next = response
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|l| l.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
                .map(|l| if l.starts_with('/') { format!("{}{l}", self.base) } else { l });
            let body: Value = response.json().await.map_err(|e| Error::Invalid(format!("tag list of {repo}: {e}")))?;
            tags.extend(body.get("tags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned));
        }
        Ok(tags)
    }
}

fn signature_tag(subject: &str) -> String {
    format!("{}.minisig", subject.replace(':', "-"))
}

/// Semantic versions first, newest first, then the other tags.
#[must_use]
pub fn newest_first(tags: Vec<String>) -> Vec<String> {
    let mut versions: Vec<(semver::Version, String)> = tags.iter().filter_map(|t| semver::Version::parse(&t.replace('_', "+")).ok().map(|v| (v, t.clone()))).collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let r = OciRef::parse("oci://127.0.0.1:5000/team/web:1.2.3").unwrap();
        assert_eq!((r.host.as_str(), r.repository.as_str(), r.reference.as_deref()), ("127.0.0.1:5000", "team/web", Some("1.2.3")));
        let r = OciRef::parse("oci://h:5000/team").unwrap();
        assert_eq!((r.repository.as_str(), r.reference), ("team", None));
        let r = OciRef::parse("oci://h/team/web@sha256:abc").unwrap();
        assert_eq!(r.reference.as_deref(), Some("sha256:abc"));
        assert_eq!(r.to_string(), "oci://h/team/web@sha256:abc");
        assert!(OciRef::parse("https://h/team").is_err());
        assert!(OciRef::parse("oci://h/Team").is_err());
        assert!(OciRef::parse("oci://h").is_err());
    }

    #[test]
    fn tags_sort_newest_first() {
        let tags = vec!["1.0.0".into(), "latest".into(), "1.10.0".into(), "1.2.0".into()];
        assert_eq!(newest_first(tags), vec!["1.10.0", "1.2.0", "1.0.0"]);
    }
}
