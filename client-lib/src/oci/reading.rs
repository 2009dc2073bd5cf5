//! Reading a registry the way a copy does (`sherpack-registry import --from-oci`): its
//! repositories from `_catalog`, each manifest as the exact bytes served with its media type
//! and digest checked, the referrers of a manifest, and blobs as streams for the caller to
//! check while it stores them.

use futures::StreamExt as _;
use futures::stream::BoxStream;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha512};

use super::{OciClient, sha256_digest};
use crate::error::{Error, Result};
use crate::http::{Body, expect_success};

/// Every manifest type a copy takes as it is.
const ACCEPT_ANY_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// The largest manifest read (the size this registry accepts).
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// A manifest as the registry serves it.
pub struct RawManifest {
    pub bytes: bytes::Bytes,
    /// The `Content-Type` it was served with.
    pub media_type: Option<String>,
    /// Its digest, computed from `bytes` (in the algorithm of the reference when that is one).
    pub digest: String,
}

/// A referrer as the referrers API lists it.
pub struct Referrer {
    pub digest: String,
    pub artifact_type: Option<String>,
}

/// The `Link: <url>; rel="next"` of a paginated listing, absolute.
fn next_link(response: &Response, base: &str) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?;
    let url = link.split(';').next()?.trim().trim_start_matches('<').trim_end_matches('>');
    Some(if url.starts_with('/') { format!("{base}{url}") } else { url.to_owned() })
}

impl OciClient {
    /// Every repository of the catalog (`n`/`last` pages following `Link`); `None` when the
    /// registry does not offer one (404, 405, 400). Refused credentials are errors.
    pub async fn catalog(&self) -> Result<Option<Vec<String>>> {
        let mut repositories = Vec::new();
        let mut next = Some(self.url("_catalog?n=1000"));
        while let Some(url) = next.take() {
            let response = self.session.send(Method::GET, &url, Body::none(), "registry:catalog:*").await?;
            if matches!(response.status(), StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST) {
                return Ok(None);
            }
            let response = expect_success(response, "the catalog").await?;
            next = next_link(&response, &self.base);
            let body: Value = response.json().await.map_err(|e| Error::Invalid(format!("the catalog of {}: {e}", self.session.host)))?;
            let page = body.get("repositories").and_then(Value::as_array).ok_or_else(|| Error::Invalid(format!("the catalog of {} lists no `repositories`", self.session.host)))?;
            repositories.extend(page.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        Ok(Some(repositories))
    }

    /// A manifest's bytes, refused when its digest is not the one asked for or the one the
    /// registry announces (`Docker-Content-Digest`).
    pub async fn manifest_bytes(&self, repo: &str, reference: &str) -> Result<RawManifest> {
        let url = self.url(&format!("{repo}/manifests/{reference}"));
        let response = self.session.send(Method::GET, &url, Body::none().header("accept", ACCEPT_ANY_MANIFEST), &Self::scope(repo, false)).await?;
        let response = expect_success(response, &format!("manifest {repo}:{reference}")).await?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (media_type, announced) = (header("content-type"), header("docker-content-digest"));
        if response.content_length().is_some_and(|n| n > MAX_MANIFEST as u64) {
            return Err(Error::Invalid(format!("manifest {repo}:{reference} is larger than {MAX_MANIFEST} bytes")));
        }
        let bytes = response.bytes().await.map_err(|e| Error::transport(&url, &e))?;
        if bytes.len() > MAX_MANIFEST {
            return Err(Error::Invalid(format!("manifest {repo}:{reference} is larger than {MAX_MANIFEST} bytes")));
        }
        let digest_in = |algorithm: &str| match algorithm {
            "sha512" => format!("sha512:{}", hex::encode(Sha512::digest(&bytes))),
            _ => sha256_digest(&bytes),
        };
        let asked = reference.split_once(':').map(|(algorithm, _)| (algorithm, reference));
        let digest = digest_in(asked.map_or("sha256", |(a, _)| a));
        let mismatch = |expected: &str| Error::Integrity {
            what: format!("manifest {repo}:{reference}"),
            reason: format!("the registry names it {expected}, its content has digest {}", digest_in(expected.split(':').next().unwrap_or("sha256"))),
        };
        if let Some((_, expected)) = asked
            && expected != digest
        {
            return Err(mismatch(expected));
        }
        if let Some(expected) = announced.as_deref()
            && digest_in(expected.split(':').next().unwrap_or("sha256")) != expected
        {
            return Err(mismatch(expected));
        }
        Ok(RawManifest { bytes, media_type, digest })
    }

    /// The referrers of `subject`; `None` when the registry has no referrers API (it answers
    /// 404, which a registry with the API never does).
    pub async fn referrers(&self, repo: &str, subject: &str) -> Result<Option<Vec<Referrer>>> {
        let url = self.url(&format!("{repo}/referrers/{subject}"));
        let accept = "application/vnd.oci.image.index.v1+json";
        let response = self.session.send(Method::GET, &url, Body::none().header("accept", accept), &Self::scope(repo, false)).await?;
        if matches!(response.status(), StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST) {
            return Ok(None);
        }
        let response = expect_success(response, &format!("referrers of {repo}@{subject}")).await?;
        let index: Value = response.json().await.map_err(|e| Error::Invalid(format!("referrers of {repo}@{subject}: {e}")))?;
        let listed = index.get("manifests").and_then(Value::as_array).into_iter().flatten();
        Ok(Some(
            listed
                .filter_map(|m| {
                    let digest = m.get("digest")?.as_str()?.to_owned();
                    Some(Referrer { digest, artifact_type: m.get("artifactType").and_then(Value::as_str).map(str::to_owned) })
                })
                .collect(),
        ))
    }

    /// A blob's bytes as they arrive (unchecked: the caller hashes them as it stores them).
    pub async fn blob_stream(&self, repo: &str, digest: &str) -> Result<BoxStream<'static, std::io::Result<bytes::Bytes>>> {
        let url = self.url(&format!("{repo}/blobs/{digest}"));
        let response = self.session.send(Method::GET, &url, Body::none(), &Self::scope(repo, false)).await?;
        let response = expect_success(response, &format!("blob {digest} of {repo}")).await?;
        let url = url.clone();
        Ok(response.bytes_stream().map(move |chunk| chunk.map_err(|e| std::io::Error::other(Error::transport(&url, &e).to_string()))).boxed())
    }
}
