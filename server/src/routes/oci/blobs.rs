//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`: blobs stream straight from object storage,
//! with byte ranges; a repository serves only the blobs it links.

use std::ops::Range;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use registry_core::RepoName;

use super::error::{ErrorCode, OciError, OciResult};
use super::request::parse_digest;
use super::{Req, content_headers};

pub async fn get(req: Req, name: RepoName, digest: &str) -> OciResult {
    let digest = parse_digest(digest)?;
    let Some(link) = req.state.meta.linked_blob(&name, &digest).await? else {
        return Err(OciError::new(ErrorCode::BlobUnknown, format!("blob {digest} is unknown in {name}")));
    };
    let etag = format!("\"{digest}\"");
    if req.headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        content_headers(&mut response, &digest, None, None);
        return Ok(response);
    }
    if req.method == Method::HEAD {
        // The link records the size: a HEAD never touches object storage.
        let mut response = StatusCode::OK.into_response();
        content_headers(&mut response, &digest, Some(link.size), Some("application/octet-stream"));
        response.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        return Ok(response);
    }
    let range = match req.headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => parse_range(r, link.size)?,
        None => None,
    };
    let ranged = range.is_some();
    let read = req.state.blobs.get(&link, range).await?;
    let length = read.range.end - read.range.start;
    let mut response = Body::from_stream(read.stream).into_response();
    content_headers(&mut response, &digest, Some(length), Some("application/octet-stream"));
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if ranged {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {}-{}/{}", read.range.start, read.range.end - 1, read.size);
        response.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).expect("ascii"));
    }
    Ok(response)
}

pub async fn delete(req: Req, name: RepoName, digest: &str) -> OciResult {
    if !req.state.config.oci.delete_enabled {
        return Err(OciError::new(ErrorCode::Unsupported, "deletion is disabled on this registry"));
    }
    let digest = parse_digest(digest)?;
    if req.state.meta.unlink_blob(&name, &digest).await? {
        Ok(StatusCode::ACCEPTED.into_response())
    } else {
        Err(OciError::new(ErrorCode::BlobUnknown, format!("blob {digest} is unknown in {name}")))
    }
}

/// One `bytes=` range of a blob of `size` bytes, as a half-open range. Several ranges, or a
/// header in another unit, are ignored (the whole blob is served), as HTTP allows.
fn parse_range(value: &str, size: u64) -> Result<Option<Range<u64>>, OciError> {
    let unsatisfiable = || {
        OciError::new(ErrorCode::BlobUnknown, format!("range `{value}` is not satisfiable"))
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            .with_header(header::CONTENT_RANGE, &format!("bytes */{size}"))
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else { return Ok(None) };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(s), Ok(e)) if s <= e => s..(e + 1).min(size),
        (Ok(s), Err(_)) if end.is_empty() => s..size,
        (Err(_), Ok(n)) if start.is_empty() && n > 0 => size.saturating_sub(n)..size,
        (Ok(_), Ok(_)) => return Err(unsatisfiable()),
        _ => return Ok(None),
    };
    if range.start >= size || range.is_empty() {
        return Err(unsatisfiable());
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn byte_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some(0..10));
        assert_eq!(parse_range("bytes=90-200", 100).unwrap(), Some(90..100));
        assert_eq!(parse_range("bytes=95-", 100).unwrap(), Some(95..100));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some(90..100));
        assert_eq!(parse_range("bytes=-1000", 100).unwrap(), Some(0..100));
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=5-2", 100).is_err());
        assert!(parse_range("bytes=0-0", 0).is_err());
    }
}
