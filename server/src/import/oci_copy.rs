//! Copying one tag of an OCI source: the manifest's bytes as they are (so its digest is the
//! source's), its blobs streamed through `storage` with their digests checked as they arrive,
//! the manifest stored through the code of a manifest `PUT` (`routes::oci::manifests::store`:
//! pack metadata, index, search, signature check, policies, quotas), then its referrers — the
//! referrers API's, and the `sha256-<hex>.minisig` tag of a registry without one. A chart
//! layer is read and checked against the pack limits before any blob is stored.

use bytes::Bytes;
use futures::StreamExt as _;
use registry_core::manifest::{self, ParsedManifest};
use registry_core::store::ManifestRef;
use registry_core::{Digest, Reference, RepoName};

use super::oci::OciSource;
use super::source::{Candidate, describe};
use super::Fate;
use crate::AppState;
use crate::packs::{CHART_LAYER, signatures};
use crate::routes::oci::error::OciError;
use crate::routes::oci::manifests;

/// Copies the candidate's tag into `<namespace>/<repository>`; a tag here at the same digest is
/// skipped (its referrers still copied: a run killed between the two continues), at another
/// digest a conflict unless `overwrite`.
pub(super) async fn import_tag(state: &AppState, namespace: &str, source: &OciSource, c: &Candidate, overwrite: bool) -> Fate {
    let Some((from, tag)) = source.tag(c.key) else { return Fate::Failed("not listed by the source".into()) };
    let repo: RepoName = match format!("{namespace}/{}", c.name).parse() {
        Ok(r) => r,
        Err(e) => return Fate::Failed(format!("`{namespace}/{}` is not a repository name: {e}", c.name)),
    };
    match copy_tag(state, source, &from, &repo, &tag, overwrite).await {
        Ok(fate) => fate,
        Err(reason) => Fate::Failed(reason),
    }
}

async fn copy_tag(state: &AppState, source: &OciSource, from: &str, repo: &RepoName, tag: &str, overwrite: bool) -> Result<Fate, String> {
    let raw = source.client.manifest_bytes(from, tag).await.map_err(|e| describe(&e))?;
    let digest: Digest = raw.digest.parse().map_err(|e| format!("the source's digest {}: {e}", raw.digest))?;
    let here = state.meta.resolve_tag(repo, tag).await.map_err(|e| format!("database error: {e}"))?;
    let skipped = match here {
        Some(existing) if existing == digest => true,
        Some(existing) if !overwrite => return Ok(Fate::Conflict { existing, source: digest.to_string() }),
        _ => false,
    };
    // A namespace that requires signatures admits a pack only once its signature is here.
    let signatures_first = signatures::required(state, repo.namespace()).await.map_err(|e| e.message)?;
    if signatures_first {
        copy_referrers(state, source, from, repo, &digest).await?;
    }
    if !skipped {
        copy_manifest(state, source, from, repo, &Reference::Tag(tag.to_owned()), &raw.bytes, raw.media_type.as_deref(), 0).await?;
    }
    if !signatures_first {
        copy_referrers(state, source, from, repo, &digest).await?;
    }
    Ok(if skipped { Fate::Skipped(digest) } else { Fate::Imported(digest) })
}

/// The referrers of `subject` not here yet, each stored after it (by digest, or under its
/// fallback tag as the source has it).
async fn copy_referrers(state: &AppState, source: &OciSource, from: &str, repo: &RepoName, subject: &Digest) -> Result<(), String> {
    let subject_text = subject.to_string();
    let mut wanted: Vec<Reference> = Vec::new();
    if let Some(listed) = source.client.referrers(from, &subject_text).await.map_err(|e| describe(&e))? {
        for r in listed {
            wanted.push(Reference::Digest(r.digest.parse().map_err(|e| format!("referrer {}: {e}", r.digest))?));
        }
    }
    if let Some(tag) = source.signature_tag(from, &subject_text) {
        wanted.push(Reference::Tag(tag));
    }
    for reference in wanted {
        let present = match &reference {
            Reference::Digest(d) => state.meta.manifest(repo, d).await.map(|m| m.is_some()),
            Reference::Tag(t) => state.meta.resolve_tag(repo, t).await.map(|d| d.is_some()),
        };
        if present.map_err(|e| format!("database error: {e}"))? {
            continue;
        }
        let raw = source.client.manifest_bytes(from, &reference.to_string()).await.map_err(|e| describe(&e))?;
        copy_manifest(state, source, from, repo, &reference, &raw.bytes, raw.media_type.as_deref(), 1).await.map_err(|e| format!("referrer {reference} of {subject}: {e}"))?;
    }
    Ok(())
}

/// Stores one manifest (an index's manifests first), its blobs before it.
#[allow(clippy::too_many_arguments)] // one copy's context; a struct would only rename them
async fn copy_manifest(
    state: &AppState,
    source: &OciSource,
    from: &str,
    repo: &RepoName,
    reference: &Reference,
    body: &Bytes,
    media_type: Option<&str>,
    depth: u8,
) -> Result<(), String> {
    let parsed = manifest::parse(body, media_type).map_err(|e| format!("the source's manifest {reference} is not valid: {e}"))?;
    for r in &parsed.references {
        if let ManifestRef::Manifest(child) = r {
            if depth > 1 {
                return Err(format!("manifest {reference} nests indexes too deep"));
            }
            if state.meta.manifest(repo, child).await.map_err(|e| format!("database error: {e}"))?.is_some() {
                continue;
            }
            let raw = source.client.manifest_bytes(from, &child.to_string()).await.map_err(|e| describe(&e))?;
            let child_ref = Reference::Digest(child.clone());
            Box::pin(copy_manifest(state, source, from, repo, &child_ref, &raw.bytes, raw.media_type.as_deref(), depth + 1)).await?;
        }
    }
    let archive = checked_archive(state, source, from, repo, &parsed).await?;
    for r in &parsed.references {
        if let ManifestRef::Blob(d) = r {
            copy_blob(state, source, from, repo, d, archive.as_ref()).await?;
        }
    }
    manifests::store(state, repo, reference, body, media_type).await.map_err(|e| refusal(&e))?;
    Ok(())
}

/// The chart layer, not already here, read and checked against the pack limits before any blob
/// of its manifest is stored (so a refused archive leaves nothing behind).
async fn checked_archive(state: &AppState, source: &OciSource, from: &str, repo: &RepoName, parsed: &ParsedManifest) -> Result<Option<(Digest, Bytes)>, String> {
    let Some(layer) = parsed.layers.iter().find(|l| l.media_type == CHART_LAYER) else { return Ok(None) };
    if state.meta.linked_blob(repo, &layer.digest).await.map_err(|e| format!("database error: {e}"))?.is_some() {
        return Ok(None);
    }
    let max = state.config.packs.max_archive_bytes;
    if layer.size > max {
        return Err(format!("refused: the chart archive is larger than {max} bytes"));
    }
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let archive = Bytes::from(source.client.blob(from, &layer.digest.to_string(), max).await.map_err(|e| describe(&e))?);
    crate::packs::publish::read_meta(state, archive.clone()).await.map_err(|e| format!("refused: {e}"))?;
    Ok(Some((layer.digest.clone(), archive)))
}

/// Stores a blob not linked here yet, hashed as it arrives and refused unless it is `digest`.
async fn copy_blob(state: &AppState, source: &OciSource, from: &str, repo: &RepoName, digest: &Digest, read: Option<&(Digest, Bytes)>) -> Result<(), String> {
    if state.meta.linked_blob(repo, digest).await.map_err(|e| format!("database error: {e}"))?.is_some() {
        return Ok(());
    }
    let stream = match read.filter(|(d, _)| d == digest) {
        Some((_, bytes)) => {
            let bytes = bytes.clone();
            futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) }).boxed()
        }
        None => source.client.blob_stream(from, &digest.to_string()).await.map_err(|e| describe(&e))?,
    };
    crate::storage::store_blob(state, repo, stream, Some(digest)).await.map_err(|e| match e {
        crate::storage::StoreBlobError::Blob(registry_core::blob::BlobError::DigestMismatch { expected, actual }) => {
            format!("integrity check failed for blob {expected}: the source sent content with digest {actual}; nothing stored")
        }
        quota @ crate::storage::StoreBlobError::Quota { .. } => format!("refused: {quota}"),
        other => format!("copying blob {digest} failed: {other}"),
    })?;
    Ok(())
}

/// A refusal as the summary reports it; an internal failure is logged once, here.
fn refusal(e: &OciError) -> String {
    if e.status.is_server_error() {
        tracing::error!(error = %e.message, "import: storing failed");
        format!("internal error: {}", e.message)
    } else {
        format!("refused: {}", e.message)
    }
}
