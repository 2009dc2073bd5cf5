//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use registry_core::manifest::{self, MAX_MANIFEST_SIZE, ManifestError};
use registry_core::store::NewManifest;
use registry_core::{Digest, Reference, ReferenceError, RepoName};

use super::error::{ErrorCode, OciError, OciResult};
use super::request::base_url;
use super::{Req, content_headers};
use crate::AppState;

/// The reference of a `PUT`: one that could never name a manifest is refused (the grammar).
fn parse_reference(reference: &str) -> OciResult<Reference> {
    Reference::parse(reference).map_err(|e| match e {
        ReferenceError::Digest(d) => OciError::new(ErrorCode::DigestInvalid, d.to_string()),
        ReferenceError::Tag(_) => OciError::new(ErrorCode::ManifestInvalid, e.to_string()),
    })
}

/// The reference of a read or a delete: one that could never name a manifest (not a tag, not
/// a digest of a known algorithm) names nothing here, like any tag that is not there.
async fn readable_reference(req: &Req, name: &RepoName, reference: &str) -> OciResult<Reference> {
    match Reference::parse(reference) {
        Ok(r) => Ok(r),
        Err(_) => Err(unknown(req, name, &reference).await),
    }
}

async fn unknown(req: &Req, name: &RepoName, reference: &(dyn std::fmt::Display + Sync)) -> OciError {
    match req.state.meta.repository_exists(name).await {
        Ok(false) => OciError::new(ErrorCode::NameUnknown, format!("repository {name} is unknown")),
        _ => OciError::new(ErrorCode::ManifestUnknown, format!("manifest {reference} is unknown in {name}")),
    }
}

/// The digest a reference names in this repository, if any.
async fn resolve(req: &Req, name: &RepoName, reference: &Reference) -> OciResult<Option<Digest>> {
    Ok(match reference {
        Reference::Digest(d) => Some(d.clone()),
        Reference::Tag(t) => req.state.meta.resolve_tag(name, t).await?,
    })
}

/// Whether any `Accept` line admits `media_type` (no `Accept` at all admits everything).
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let mut offered = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .filter(|t| !t.is_empty())
        .peekable();
    if offered.peek().is_none() {
        return true;
    }
    let family = media_type.split('/').next().unwrap_or_default();
    offered.any(|t| t == media_type || t == "*/*" || t.strip_suffix("/*") == Some(family))
}

pub async fn get(req: Req, name: RepoName, reference: &str) -> OciResult {
    let reference = readable_reference(&req, &name, reference).await?;
    let Some(digest) = resolve(&req, &name, &reference).await? else { return Err(unknown(&req, &name, &reference).await) };
    let Some(record) = req.state.meta.manifest(&name, &digest).await? else {
        return Err(unknown(&req, &name, &reference).await);
    };
    if !accepts(&req.headers, &record.media_type) {
        return Err(OciError::new(
            ErrorCode::ManifestUnknown,
            format!("manifest {reference} is a {}, which the Accept header does not list", record.media_type),
        ));
    }
    let length = record.size;
    let mut response = if req.method == Method::HEAD { Body::empty() } else { Body::from(record.content) }.into_response();
    content_headers(&mut response, &digest, Some(length), Some(&record.media_type));
    Ok(response)
}

pub async fn put(req: Req, body: Body, name: RepoName, reference: &str) -> OciResult {
    let reference = parse_reference(reference)?;
    let too_large = || OciError::new(ErrorCode::SizeInvalid, format!("manifests are limited to {MAX_MANIFEST_SIZE} bytes"))
        .with_status(StatusCode::PAYLOAD_TOO_LARGE);
    let declared = req.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_MANIFEST_SIZE) {
        return Err(too_large());
    }
    let content_type = req.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = axum::body::to_bytes(body, MAX_MANIFEST_SIZE).await.map_err(|_| too_large())?;
    let Stored { digest, subject } = store(&req.state, &name, &reference, &body, content_type.as_deref()).await?;
    let mut response = StatusCode::CREATED.into_response();
    content_headers(&mut response, &digest, Some(0), None);
    let location = format!("{}/v2/{name}/manifests/{digest}", base_url(&req.state, &req.headers));
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_str(&location).expect("ascii URL"));
    if let Some(subject) = subject {
        headers.insert("oci-subject", HeaderValue::from_str(&subject.to_string()).expect("digest is ascii"));
    }
    Ok(response)
}

/// A manifest stored by [`store`]: its digest and the subject it refers to, if any.
pub struct Stored {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// Stores a manifest as a push does — the one code path of a manifest `PUT` and of an import
/// from another registry: the digest checked against a digest reference, the manifest parsed,
/// the pack it carries read (limits, name, version tag, signature policy), a signature referrer
/// checked against the namespace's keys, then one store transaction (references, quotas, tag).
/// `body` is kept byte for byte, so its digest is the source's.
pub async fn store(state: &AppState, name: &RepoName, reference: &Reference, body: &[u8], content_type: Option<&str>) -> OciResult<Stored> {
    // By digest: checked in that digest's algorithm, and stored under it.
    let digest = match reference {
        Reference::Digest(d) => Digest::compute(d.algorithm(), body),
        Reference::Tag(_) => Digest::of(body),
    };
    let tag = match reference {
        Reference::Digest(d) if *d != digest => {
            return Err(OciError::new(ErrorCode::DigestInvalid, format!("manifest digest is {digest}, not {d}")));
        }
        Reference::Digest(_) => None,
        Reference::Tag(t) => Some(t.as_str()),
    };
    let parsed = manifest::parse(body, content_type).map_err(|e: ManifestError| OciError::new(ErrorCode::ManifestInvalid, e.to_string()))?;
    let pack = crate::packs::extract(state, name, tag, &digest, &parsed).await?.map(|(pack, _)| pack);
    let signature_file = signature_of(state, &parsed).await?;
    let new = NewManifest {
        digest: digest.clone(),
        media_type: parsed.media_type,
        artifact_type: parsed.artifact_type,
        subject: parsed.subject.clone(),
        content: body.to_vec(),
        references: parsed.references,
        pack,
    };
    state.meta.put_manifest(name, &new, tag).await?;
    if let (Some((file, blob)), Some(subject)) = (signature_file, &parsed.subject) {
        sign_pack(state, name, subject, &file, blob).await?;
    }
    Ok(Stored { digest, subject: parsed.subject })
}

/// The `.minisig` a signature referrer carries, parsed before anything is stored.
async fn signature_of(state: &AppState, parsed: &manifest::ParsedManifest) -> OciResult<Option<(bytes::Bytes, Digest)>> {
    use crate::packs::signatures::{self, SIGNATURE_ARTIFACT, SIGNATURE_LAYER};
    if parsed.subject.is_none() || parsed.effective_artifact_type() != Some(SIGNATURE_ARTIFACT) {
        return Ok(None);
    }
    let Some(layer) = parsed.layers.iter().find(|l| l.media_type == SIGNATURE_LAYER) else {
        return Err(OciError::new(ErrorCode::ManifestInvalid, "a signature artifact needs a minisign layer"));
    };
    let file = signatures::read_blob(state, &layer.digest, signatures::MAX_SIGNATURE as u64).await?;
    signatures::parse(&file).map_err(|m| OciError::new(ErrorCode::ManifestInvalid, m))?;
    Ok(Some((file, layer.digest.clone())))
}

/// Checks a signature just stored as a referrer against the pack it signs, if that pack is here.
async fn sign_pack(state: &AppState, name: &RepoName, subject: &Digest, file: &[u8], blob: Digest) -> OciResult<()> {
    use crate::packs::signatures;
    let packs = state.meta.packs(Some(name.as_str())).await?;
    let Some(pack) = packs.iter().find(|p| p.manifest_digest == *subject) else { return Ok(()) };
    let sig = signatures::parse(file).map_err(|m| OciError::new(ErrorCode::ManifestInvalid, m))?;
    let archive = signatures::read_blob(state, &pack.pack.archive_digest, state.config.packs.max_archive_bytes).await?;
    let signature = signatures::check(state, name.namespace(), &sig, archive, blob).await?;
    state.meta.set_pack_signature(name, &pack.pack.version, &signature).await?;
    Ok(())
}

pub async fn delete(req: Req, name: RepoName, reference: &str) -> OciResult {
    if !req.state.config.oci.delete_enabled {
        return Err(OciError::new(ErrorCode::Unsupported, "deletion is disabled on this registry"));
    }
    let reference = readable_reference(&req, &name, reference).await?;
    let deleted = match &reference {
        Reference::Digest(d) => req.state.meta.delete_manifest(&name, d).await?,
        Reference::Tag(t) => req.state.meta.delete_tag(&name, t).await?,
    };
    if deleted { Ok(StatusCode::ACCEPTED.into_response()) } else { Err(unknown(&req, &name, &reference).await) }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(header::ACCEPT, HeaderValue::from_str(l).unwrap());
        }
        h
    }

    #[test]
    fn accept_lines_are_merged() {
        let oci = manifest::OCI_MANIFEST;
        assert!(accepts(&headers(&[]), oci));
        assert!(accepts(&headers(&["application/vnd.docker.distribution.manifest.v2+json", oci]), oci));
        assert!(accepts(&headers(&["application/x, application/vnd.oci.image.manifest.v1+json;q=0.5"]), oci));
        assert!(accepts(&headers(&["*/*"]), oci));
        assert!(accepts(&headers(&["application/*"]), oci));
        assert!(!accepts(&headers(&["application/vnd.docker.distribution.manifest.v2+json"]), oci));
    }
}
