//! Blob uploads: monolithic (`POST ?digest=`), POST then PUT, chunked `PATCH`es, cross-repository
//! mounts, status and cancel. A session lives in the metadata store (its offset, its objects,
//! its hashing state: `crate::storage::UploadState`) and its chunks in object storage, where
//! they stay once published, so any process, before or after a restart, can continue it. The
//! blob becomes visible only at the final `PUT`, once its digest matched.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::store::UploadSession;
use registry_core::{Digest, RepoName};

use super::error::{ErrorCode, OciError, OciResult};
use super::request::{base_url, drainable_body};
use super::{Req, content_headers};
use crate::AppState;

fn upload_unknown(id: &str) -> OciError {
    OciError::new(ErrorCode::BlobUploadUnknown, format!("upload {id} is unknown"))
}

/// A session of this repository; ids are UUIDs the server made, anything else is unknown.
async fn load(req: &Req, name: &RepoName, id: &str) -> OciResult<UploadSession> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(upload_unknown(id));
    }
    match req.state.meta.upload(id).await? {
        Some(s) if s.repository == *name => Ok(s),
        _ => Err(upload_unknown(id)),
    }
}

/// `202 Accepted` with where to send the next chunk and what was received so far.
fn progress(req: &Req, name: &RepoName, id: &str, offset: u64, status: StatusCode) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    let location = format!("{}/v2/{name}/blobs/uploads/{id}", base_url(&req.state, &req.headers));
    headers.insert(header::LOCATION, HeaderValue::from_str(&location).expect("ascii URL"));
    headers.insert(header::RANGE, HeaderValue::from_str(&format!("0-{}", offset.saturating_sub(1))).expect("ascii"));
    headers.insert("docker-upload-uuid", HeaderValue::from_str(id).expect("uuid"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

/// `201 Created` for a blob now readable in `name`.
fn created(state: &AppState, headers: &HeaderMap, name: &RepoName, digest: &Digest) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    content_headers(&mut response, digest, Some(0), None);
    let location = format!("{}/v2/{name}/blobs/{digest}", base_url(state, headers));
    response.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).expect("ascii URL"));
    response
}

pub async fn start(req: Req, body: Body, name: RepoName) -> OciResult {
    if let Some(digest) = req.params.digest("digest")? {
        // Monolithic upload: the whole blob in the POST body.
        let (data, leftover) = drainable_body(body);
        let stored = crate::storage::store_blob(&req.state, &name, data, Some(&digest)).await;
        let info = match stored {
            Ok(info) => info,
            Err(e) => {
                leftover.drain().await;
                return Err(e.into());
            }
        };
        return Ok(created(&req.state, &req.headers, &name, &info.digest));
    }
    if let Some(mount) = req.params.digest("mount")?
        && let Some(response) = try_mount(&req, &name, &mount).await? {
            return Ok(response);
        }
    // Not readable where it was said to be: fall back to a regular upload, as the spec says.
    // The algorithm a client announces must be one the registry computes.
    let algorithm = match req.params.get("digest-algorithm") {
        Some(a) => registry_core::Algorithm::parse(a).map_err(|e| OciError::new(ErrorCode::DigestInvalid, e.to_string()))?,
        None => registry_core::Algorithm::Sha256,
    };
    let session = crate::storage::open_upload(req.state.meta.as_ref(), &name, algorithm).await?;
    Ok(progress(&req, &name, &session.id, 0, StatusCode::ACCEPTED))
}

/// Repositories a mount without `from` looks in for the blob (the first the caller may read).
const ANONYMOUS_MOUNT_SOURCES: u32 = 20;

async fn try_mount(req: &Req, name: &RepoName, digest: &Digest) -> OciResult<Option<Response>> {
    let Some(from) = mount_source(req, digest).await? else { return Ok(None) };
    let Some(link) = req.state.meta.linked_blob(&from, digest).await? else { return Ok(None) };
    if !crate::storage::link_existing(&req.state, name, digest, link.size).await? {
        return Ok(None);
    }
    Ok(Some(created(&req.state, &req.headers, name, digest)))
}

/// Where to mount from: `from` when the caller may read it, else (the spec lets `from` be
/// left out) a repository holding the blob that the caller may read.
async fn mount_source(req: &Req, digest: &Digest) -> OciResult<Option<RepoName>> {
    if let Some(from) = req.params.get("from") {
        let Ok(from) = from.parse::<RepoName>() else { return Ok(None) };
        return Ok(req.can_pull(&from).await.then_some(from));
    }
    for candidate in req.state.meta.repositories_with_blob(digest, ANONYMOUS_MOUNT_SOURCES).await? {
        if let Ok(repo) = candidate.parse::<RepoName>()
            && req.can_pull(&repo).await
        {
            return Ok(Some(repo));
        }
    }
    Ok(None)
}

pub async fn status(req: Req, name: RepoName, id: &str) -> OciResult {
    let session = load(&req, &name, id).await?;
    Ok(progress(&req, &name, id, session.offset, StatusCode::NO_CONTENT))
}

/// `Content-Range: <start>-<end>` (inclusive; `bytes=` tolerated) of a chunk.
fn content_range(headers: &HeaderMap) -> OciResult<Option<(u64, u64)>> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else { return Ok(None) };
    let invalid = || OciError::new(ErrorCode::BlobUploadInvalid, "malformed Content-Range");
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let text = text.strip_prefix("bytes=").or_else(|| text.strip_prefix("bytes ")).unwrap_or(text);
    let text = text.split('/').next().unwrap_or_default();
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let (start, end) = (start.trim().parse::<u64>().map_err(|_| invalid())?, end.trim().parse::<u64>().map_err(|_| invalid())?);
    if end < start {
        return Err(invalid());
    }
    Ok(Some((start, end)))
}

fn out_of_order(state: &AppState, headers: &HeaderMap, name: &RepoName, id: &str, offset: u64) -> OciError {
    let location = format!("{}/v2/{name}/blobs/uploads/{id}", base_url(state, headers));
    OciError::new(ErrorCode::BlobUploadInvalid, format!("chunk does not start at the upload's offset {offset}"))
        .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
        .with_header(header::LOCATION, &location)
        .with_header(header::RANGE, &format!("0-{}", offset.saturating_sub(1)))
        .with_header(axum::http::HeaderName::from_static("docker-upload-uuid"), id)
}

/// Stores the request body as the session's next chunk and advances the session.
async fn append_chunk(req: &Req, body: Body, name: &RepoName, session: &UploadSession) -> OciResult<u64> {
    let range = content_range(&req.headers)?;
    if let Some((start, _)) = range
        && start != session.offset {
            return Err(out_of_order(&req.state, &req.headers, name, &session.id, session.offset));
        }
    let (data, leftover) = drainable_body(body);
    let chunk = match crate::storage::write_chunk(&req.state, session, data).await {
        Ok(chunk) => chunk,
        Err(e) => {
            leftover.drain().await;
            return Err(e.into());
        }
    };
    let written = chunk.as_ref().map_or(0, |c| c.written);
    if let Some((start, end)) = range
        && written != end - start + 1 {
            return Err(OciError::new(
                ErrorCode::BlobUploadInvalid,
                format!("Content-Range announced {} bytes, the body had {written}", end - start + 1),
            ));
        }
    let Some(chunk) = chunk else { return Ok(session.offset) };
    let new_offset = session.offset + written;
    match req.state.meta.advance_upload(&session.id, session.offset, new_offset, &chunk.state).await {
        Ok(()) => Ok(new_offset),
        // Another request moved the session first: this chunk was out of order.
        Err(registry_core::store::StoreError::UploadOffsetMismatch { actual, .. }) => {
            Err(out_of_order(&req.state, &req.headers, name, &session.id, actual))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn patch(req: Req, body: Body, name: RepoName, id: &str) -> OciResult {
    let session = load(&req, &name, id).await?;
    let offset = append_chunk(&req, body, &name, &session).await?;
    Ok(progress(&req, &name, id, offset, StatusCode::ACCEPTED))
}

pub async fn finish(req: Req, body: Body, name: RepoName, id: &str) -> OciResult {
    let Some(digest) = req.params.digest("digest")? else {
        return Err(OciError::new(ErrorCode::DigestInvalid, "the final PUT needs ?digest="));
    };
    let session = load(&req, &name, id).await?;
    let Req { state, headers, .. } = req;
    if let Some((start, _)) = content_range(&headers)?
        && start != session.offset {
            return Err(out_of_order(&state, &headers, &name, id, session.offset));
        }
    // This request's body is the upload's last object; the chunks before it were hashed as they
    // arrived.
    let (body, leftover) = drainable_body(body);
    let outcome = crate::storage::finish_upload(&state, &session, body, Some(&digest)).await;
    if outcome.is_err() {
        leftover.drain().await;
    }
    if let Err(crate::storage::StoreBlobError::Blob(registry_core::blob::BlobError::Input(e))) = &outcome {
        // The client went away: the session stays, it may retry the PUT.
        return Err(OciError::new(ErrorCode::BlobUploadInvalid, format!("reading the upload failed: {e}")));
    }
    let info = match outcome {
        Ok(info) => info,
        Err(e) => {
            end_session(&state, id).await;
            return Err(e.into());
        }
    };
    Ok(created(&state, &headers, &name, &info.digest))
}

pub async fn cancel(req: Req, name: RepoName, id: &str) -> OciResult {
    load(&req, &name, id).await?;
    end_session(&req.state, id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn end_session(state: &AppState, id: &str) {
    crate::storage::end_upload(state.meta.as_ref(), state.blobs.as_ref(), id).await;
}

/// Removes sessions untouched for longer than the configured expiry. Returns how many.
pub async fn expire_stale_uploads(state: &AppState, now_millis: i64) -> Result<usize, registry_core::store::StoreError> {
    let ttl = i64::try_from(state.config.oci.upload_expiry_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    crate::gc::expire_uploads(state.meta.as_ref(), state.blobs.as_ref(), now_millis.saturating_sub(ttl), false).await
}
