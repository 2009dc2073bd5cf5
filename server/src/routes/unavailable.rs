//! A backend that does not answer (see `registry_store::deadline`): every API says so with
//! 503 and `Retry-After`, each in its own error format, and logs it once as a warning.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use registry_core::blob::BlobError;
use registry_core::store::StoreError;

/// Seconds a client is asked to wait before retrying.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The backend a store error says is unavailable.
#[must_use]
pub fn store(e: &StoreError) -> Option<&'static str> {
    matches!(e, StoreError::Unavailable(_)).then_some("database")
}

/// The backend a blob error says is unavailable (any storage failure: the request changed
/// nothing and may be retried).
#[must_use]
pub fn blob(e: &BlobError) -> Option<&'static str> {
    matches!(e, BlobError::Unavailable(_) | BlobError::Backend(_)).then_some("storage")
}

/// Logs the failure, once, where it is answered.
pub fn log(backend: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(error = %error, "{backend} unavailable: {error}");
}

/// Logs the failure and gives the sentence the client reads.
#[must_use]
pub fn message(backend: &str, error: &dyn std::fmt::Display) -> String {
    log(backend, error);
    format!("the registry's {backend} is unavailable; retry shortly")
}

/// Adds `Retry-After` to a 503.
pub fn add_retry_after(response: &mut Response) {
    if response.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
}
