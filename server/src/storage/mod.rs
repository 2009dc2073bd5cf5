//! Putting a blob in storage and linking it to a repository, one way for every path that does
//! (OCI uploads monolithic or chunked, `ChartMuseum` uploads, signatures). Every write belongs
//! to an upload session (a monolithic one opens its own): its bytes go into objects of that
//! upload, hashed as they arrive, and stay there. Once the digest is verified — under the
//! blob's lock, which garbage collection also takes — the namespace quota is checked and one
//! transaction records where the bytes are, links the blob and ends the session. Nothing is
//! copied, whatever the size.
//!
//! Who owns an upload's objects is whoever holds its record: the session while it lasts, then
//! either the blob record (published) or whoever removed the session (cancel, expiry, a
//! failure), who deletes them. So a crash at any point leaves a readable blob, or objects of
//! a session that expires, or objects no record names, which the orphan sweep removes; never
//! a record without bytes. A refusal leaves nothing behind.

mod session;

use futures::StreamExt as _;
use registry_core::blob::{BlobError, BlobInfo, BlobLocation, ByteStream, Part};
use registry_core::store::{BlobLink, MetadataStore, StoreError, UploadSession};
use registry_core::{Algorithm, Digest, Hasher, RepoName};
pub use session::UploadState;

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

/// Opens an upload session whose bytes are hashed in `algorithm` as they arrive.
pub async fn open_upload(meta: &dyn MetadataStore, repo: &RepoName, algorithm: Algorithm) -> Result<UploadSession, StoreError> {
    meta.create_upload(repo, &UploadState::new(algorithm).encode()).await
}

/// Stores `data` as a blob of `repo` in one go (an upload session of its own).
pub async fn store_blob(state: &AppState, repo: &RepoName, data: ByteStream, expected: Option<&Digest>) -> Result<BlobInfo, StoreBlobError> {
    let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
    let session = open_upload(state.meta.as_ref(), repo, algorithm).await?;
    let stored = finish_upload(state, &session, data, expected).await;
    if stored.is_err() {
        end_upload(state.meta.as_ref(), state.blobs.as_ref(), &session.id).await;
    }
    stored
}

/// A chunk written into an upload: the session's state to record with its new offset.
pub struct Chunk {
    pub written: u64,
    pub state: Vec<u8>,
}

/// Writes `data` as the next object of `session`'s upload, hashing it on the way; `None` for
/// an empty body (nothing written). The session is not advanced: the caller records `state`
/// if the session is still where it was (a racing request's object stays unnamed, for the
/// orphan sweep).
pub async fn write_chunk(state: &AppState, session: &UploadSession, data: ByteStream) -> Result<Option<Chunk>, StoreBlobError> {
    let (mut upload, mut hasher) = UploadState::of(session)?;
    let Some(data) = non_empty(data).await else { return Ok(None) };
    let part = part_name(session.offset);
    let written = state.blobs.write_part(&session.id, &part, data, &mut hasher).await?;
    upload.parts.push(Part { name: part, size: written });
    Ok(Some(Chunk { written, state: UploadState::after(upload.parts, &hasher).encode() }))
}

/// Writes `body` (possibly empty) as the last object of `session`'s upload, verifies the digest
/// and publishes the blob. On an error reading `body` the session is as it was (the client may
/// retry); on any other error the caller ends it.
pub async fn finish_upload(state: &AppState, session: &UploadSession, body: ByteStream, expected: Option<&Digest>) -> Result<BlobInfo, StoreBlobError> {
    let (mut upload, mut hasher) = UploadState::of(session)?;
    if let Some(body) = non_empty(body).await {
        let part = part_name(session.offset);
        let written = state.blobs.write_part(&session.id, &part, body, &mut hasher).await?;
        upload.parts.push(Part { name: part, size: written });
    }
    let size = hasher.len();
    let digest = match expected {
        // Hashed as it arrived in another algorithm than the one the client finally named:
        // read back once (no copy) in the right one.
        Some(e) if e.algorithm() != hasher.algorithm() => rehash(state, &session.id, &upload.parts, e.algorithm()).await?,
        _ => hasher.finish(),
    };
    if let Some(expected) = expected.filter(|e| **e != digest) {
        return Err(BlobError::DigestMismatch { expected: expected.clone(), actual: digest }.into());
    }
    let blob = BlobLink { digest, size, location: BlobLocation::Upload { upload: session.id.clone(), parts: upload.parts } };
    publish(state, &session.repository, &session.id, &blob).await?;
    Ok(BlobInfo { digest: blob.digest, size })
}

/// Under the blob's lock: the quota, then one transaction that records the blob where its bytes
/// are (or finds it already recorded), links it and ends the session.
async fn publish(state: &AppState, repo: &RepoName, id: &str, blob: &BlobLink) -> Result<(), StoreBlobError> {
    let _guard = state.meta.lock_blob(&blob.digest).await?;
    check_quota(state, repo, &blob.digest, blob.size).await?;
    if !state.meta.complete_upload(id, repo, blob).await? {
        // The digest was stored already (same bytes): this upload's objects are garbage.
        if let Err(e) = state.blobs.delete_upload(id).await {
            tracing::warn!(upload.id = id, error = %e, "removing the objects of a duplicate upload failed; the orphan sweep will");
        }
    }
    Ok(())
}

/// Forgets an upload session and, when this call is what removed it, its objects (a session
/// already gone was published or ended elsewhere: its objects are not ours). A failure here
/// leaves garbage (which garbage collection removes), not wrong data.
pub async fn end_upload(meta: &dyn MetadataStore, blobs: &dyn registry_core::blob::BlobStore, id: &str) {
    match meta.delete_upload(id).await {
        Ok(true) => {
            if let Err(e) = blobs.delete_upload(id).await {
                tracing::warn!(upload.id = id, error = %e, "removing upload objects failed");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(upload.id = id, error = %e, "removing upload session failed"),
    }
}

/// Links a blob already stored (a cross-repository mount), under its lock: `false` when it is
/// no longer there (collected meanwhile). A record always has its bytes: nothing to check in
/// storage.
pub async fn link_existing(state: &AppState, repo: &RepoName, digest: &Digest, size: u64) -> Result<bool, StoreBlobError> {
    let _guard = state.meta.lock_blob(digest).await?;
    if state.meta.blob(digest).await?.is_none() {
        return Ok(false);
    }
    check_quota(state, repo, digest, size).await?;
    Ok(state.meta.link_blob(repo, digest).await?)
}

/// Streams a stored blob wherever its record says its bytes are.
pub async fn read_blob(state: &AppState, digest: &Digest) -> Result<registry_core::blob::BlobRead, StoreBlobError> {
    let Some(blob) = state.meta.blob(digest).await? else { return Err(BlobError::NotFound(digest.clone()).into()) };
    Ok(state.blobs.get(&blob, None).await?)
}

/// An object name for bytes starting at `offset`: ordered by offset, and unique (a nonce), so a
/// request that loses a race for an offset wrote its own object.
fn part_name(offset: u64) -> String {
    format!("{offset:020}-{}", uuid::Uuid::new_v4().simple())
}

/// `data`, or `None` when it ends before its first byte.
async fn non_empty(data: ByteStream) -> Option<ByteStream> {
    let mut data = data.peekable();
    loop {
        match std::pin::Pin::new(&mut data).peek().await {
            None => return None,
            Some(Ok(chunk)) if chunk.is_empty() => {
                data.next().await;
            }
            Some(_) => return Some(data.boxed()),
        }
    }
}

async fn rehash(state: &AppState, upload: &str, parts: &[Part], algorithm: Algorithm) -> Result<Digest, BlobError> {
    let mut hasher = Hasher::new(algorithm);
    let mut data = state.blobs.read_parts(upload, parts);
    while let Some(chunk) = data.next().await {
        hasher.update(&chunk.map_err(|e| BlobError::Backend(e.to_string()))?);
    }
    Ok(hasher.finish())
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
