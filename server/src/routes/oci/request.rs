//! Request helpers shared by the OCI handlers: query parameters, body streams, absolute URLs.

use axum::body::Body;
use axum::http::HeaderMap;
use futures::{StreamExt, TryStreamExt};
use registry_core::Digest;
use registry_core::blob::ByteStream;

use super::error::{ErrorCode, OciError};
use crate::AppState;

/// Decoded query parameters (first value wins).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    #[must_use]
    pub fn parse(query: Option<&str>) -> Self {
        Self(query.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default())
    }

    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn digest(&self, key: &str) -> Result<Option<Digest>, OciError> {
        self.get(key).map(parse_digest).transpose()
    }
}

pub fn parse_digest(s: &str) -> Result<Digest, OciError> {
    s.parse().map_err(|e: registry_core::DigestError| OciError::new(ErrorCode::DigestInvalid, e.to_string()))
}

/// The request body as a stream for the blob store; a client that disconnects turns into an
/// I/O error, which aborts the write.
pub fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream().map_err(std::io::Error::other).boxed()
}

/// What a failed store left unread of a request body.
pub struct Leftover(std::sync::Arc<std::sync::Mutex<Option<axum::body::BodyDataStream>>>);

/// [`body_stream`], plus a handle on the rest of the body: when the store gives up mid-upload
/// (storage down), the handler reads the rest before answering, so the client — still sending —
/// receives the error instead of a cut connection.
#[must_use]
pub fn drainable_body(body: Body) -> (ByteStream, Leftover) {
    let shared = std::sync::Arc::new(std::sync::Mutex::new(Some(body.into_data_stream())));
    let reader = std::sync::Arc::clone(&shared);
    let stream = futures::stream::poll_fn(move |cx| match reader.lock().ok().as_deref_mut().and_then(Option::as_mut) {
        Some(inner) => inner.poll_next_unpin(cx).map(|item| item.map(|r| r.map_err(std::io::Error::other))),
        None => std::task::Poll::Ready(None),
    });
    (stream.boxed(), Leftover(shared))
}

impl Leftover {
    /// Reads and drops the rest of the body: at most 64 MiB and 10 s, then gives up.
    pub async fn drain(self) {
        let Some(mut stream) = self.0.lock().ok().and_then(|mut s| s.take()) else { return };
        let mut read = 0usize;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while read < 64 << 20 {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(chunk))) => read += chunk.len(),
                _ => break,
            }
        }
    }
}

/// The registry's own URL as the client sees it: the configured public URL, else the
/// request's `Host` (and `X-Forwarded-Proto` from a proxy).
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let host = header("x-forwarded-host").or_else(|| header("host")).map_or_else(|| state.config.listen.to_string(), str::to_owned);
    let default_scheme = if state.config.tls.is_some() { "https" } else { "http" };
    let scheme = header("x-forwarded-proto").filter(|p| *p == "http" || *p == "https").unwrap_or(default_scheme);
    format!("{scheme}://{host}")
}
