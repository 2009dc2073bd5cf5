//! Putting a blob in storage and linking it to a repository, one way for every path that does
//! (OCI uploads, `ChartMuseum` uploads, signatures): the bytes are staged and verified first,
//! then — under the blob's lock, which garbage collection also takes — the namespace quota is
//! checked, the blob moved in place and linked. A refusal leaves nothing behind.

use registry_core::blob::{BlobError, BlobInfo, ByteStream};
use registry_core::store::StoreError;
use registry_core::{Digest, RepoName};

use crate::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StoreBlobError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("quota exceeded: namespace {namespace} holds {used} bytes, this blob adds {size}, its quota is {quota} bytes")]
    Quota { namespace: String, used: u64, size: u64, quota: u64 },
}

/// Stages `data`, then publishes and links it to `repo`; with `upload`, that upload session
/// is closed in the same transaction as the link.
pub async fn store_blob(state: &AppState, repo: &RepoName, data: ByteStream, expected: Option<&Digest>, upload: Option<&str>) -> Result<BlobInfo, StoreBlobError> {
    let staged = state.blobs.stage(data, expected).await?;
    let digest = staged.info.digest.clone();
    let _guard = match state.meta.lock_blob(&digest).await {
        Ok(guard) => guard,
        Err(e) => {
            state.blobs.discard(staged).await;
            return Err(e.into());
        }
    };
    if let Err(e) = check_quota(state, repo, &digest, staged.info.size).await {
        state.blobs.discard(staged).await;
        return Err(e);
    }
    let info = state.blobs.publish(staged).await?;
    match upload {
        Some(id) => state.meta.complete_upload(id, repo, &info.digest, info.size).await?,
        None => state.meta.link_blob(repo, &info.digest, info.size).await?,
    }
    Ok(info)
}

/// Forgets an upload session and removes its chunks; a failure here leaves garbage (which
/// garbage collection removes), not wrong data.
pub async fn end_upload(meta: &dyn registry_core::store::MetadataStore, blobs: &dyn registry_core::blob::BlobStore, id: &str) {
    if let Err(e) = meta.delete_upload(id).await {
        tracing::warn!(upload.id = id, error = %e, "removing upload session failed");
    }
    if let Err(e) = blobs.delete_upload_parts(id).await {
        tracing::warn!(upload.id = id, error = %e, "removing upload chunks failed");
    }
}

/// Links a blob already stored (a cross-repository mount), under its lock: `false` when it is
/// no longer there (collected meanwhile).
pub async fn link_existing(state: &AppState, repo: &RepoName, digest: &Digest, size: u64) -> Result<bool, StoreBlobError> {
    let _guard = state.meta.lock_blob(digest).await?;
    if state.meta.blob(digest).await?.is_none() || state.blobs.stat(digest).await?.is_none() {
        return Ok(false);
    }
    check_quota(state, repo, digest, size).await?;
    state.meta.link_blob(repo, digest, size).await?;
    Ok(true)
}

/// Refuses a blob that would take its namespace past `max_storage_bytes`.
async fn check_quota(state: &AppState, repo: &RepoName, digest: &Digest, size: u64) -> Result<(), StoreBlobError> {
    let namespace = repo.as_str().split('/').next().unwrap_or_default();
    let Some(record) = state.auth.store().namespace(namespace).await? else { return Ok(()) };
    let Some(quota) = serde_json::from_str::<registry_core::auth::NamespacePolicy>(&record.policy).ok().and_then(|p| p.max_storage_bytes) else {
        return Ok(());
    };
    if state.meta.linked_blob(repo, digest).await?.is_some() {
        return Ok(());
    }
    let used = state.meta.namespace_bytes(namespace).await?;
    if used.saturating_add(size) > quota {
        return Err(StoreBlobError::Quota { namespace: namespace.to_owned(), used, size, quota });
    }
    Ok(())
}
