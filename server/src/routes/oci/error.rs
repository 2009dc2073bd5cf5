//! OCI error responses: `{"errors":[{"code","message","detail"}]}` with the spec's codes.

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use registry_core::blob::BlobError;
use registry_core::store::StoreError;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    // Authentication and rate limiting answer with these; every spec code has its place here.
    #[allow(dead_code)]
    Unauthorized,
    #[allow(dead_code)]
    Denied,
    Unsupported,
    #[allow(dead_code)]
    Toomanyrequests,
    /// Not a spec code: distribution's answer to a bad `n` in pagination.
    PaginationNumberInvalid,
    /// Not a spec code: an unexpected server failure (500).
    Unknown,
    /// Not a spec code (distribution's): the database or the storage cannot be reached (503).
    Unavailable,
}

impl ErrorCode {
    fn status(self) -> StatusCode {
        match self {
            Self::BlobUnknown | Self::BlobUploadUnknown | Self::ManifestUnknown | Self::NameUnknown => StatusCode::NOT_FOUND,
            Self::BlobUploadInvalid
            | Self::DigestInvalid
            | Self::ManifestBlobUnknown
            | Self::ManifestInvalid
            | Self::NameInvalid
            | Self::SizeInvalid
            | Self::PaginationNumberInvalid => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Denied => StatusCode::FORBIDDEN,
            Self::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Self::Toomanyrequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug)]
pub struct OciError {
    pub code: ErrorCode,
    pub status: StatusCode,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    /// Boxed: errors travel in `Result`s, which should stay small.
    pub headers: Box<HeaderMap>,
}

pub type OciResult<T = Response> = Result<T, OciError>;

impl OciError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, status: code.status(), message: message.into(), detail: None, headers: Box::default() }
    }

    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    #[must_use]
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    /// An unexpected failure: logged here, once, and answered with a generic 500.
    /// 503 with `Retry-After`: a backend is down; the request changed nothing and may be retried.
    pub fn unavailable(what: &str, error: &dyn std::fmt::Display) -> Self {
        Self::new(ErrorCode::Unavailable, crate::routes::unavailable::message(what, error))
            .with_header(axum::http::header::RETRY_AFTER, &crate::routes::unavailable::RETRY_AFTER_SECS.to_string())
    }

    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed: {error}");
        Self::new(ErrorCode::Unknown, "internal server error")
    }
}

#[derive(Serialize)]
struct Body<'a> {
    errors: [Entry<'a>; 1],
}

#[derive(Serialize)]
struct Entry<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = Body { errors: [Entry { code: self.code, message: &self.message, detail: self.detail.as_ref() }] };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().extend(*self.headers);
        response
    }
}

impl From<StoreError> for OciError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::MissingReference(d) => Self::new(ErrorCode::ManifestBlobUnknown, format!("manifest references unknown {d}"))
                .with_detail(serde_json::json!({ "digest": d.to_string() })),
            StoreError::ManifestUnknown(d) => Self::new(ErrorCode::ManifestUnknown, format!("manifest {d} is unknown")),
            StoreError::VersionHeld { .. } => Self::new(ErrorCode::ManifestInvalid, e.to_string()),
            StoreError::UploadUnknown(id) => Self::new(ErrorCode::BlobUploadUnknown, format!("upload {id} is unknown")),
            StoreError::RepositoryUnknown(n) => Self::new(ErrorCode::NameUnknown, format!("repository {n} is unknown")),
            StoreError::UploadOffsetMismatch { actual, .. } => {
                Self::new(ErrorCode::BlobUploadInvalid, format!("upload is at offset {actual}"))
                    .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            }
            StoreError::Backend(_) => Self::internal(&e),
            StoreError::Unavailable(_) => Self::unavailable("database", &e),
        }
    }
}

impl From<crate::storage::StoreBlobError> for OciError {
    fn from(e: crate::storage::StoreBlobError) -> Self {
        match e {
            crate::storage::StoreBlobError::Blob(e) => e.into(),
            crate::storage::StoreBlobError::Store(e) => e.into(),
            quota @ crate::storage::StoreBlobError::Quota { .. } => Self::new(ErrorCode::Denied, quota.to_string()),
        }
    }
}

impl From<BlobError> for OciError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(d) => Self::new(ErrorCode::BlobUnknown, format!("blob {d} is unknown")),
            BlobError::DigestMismatch { expected, actual } => Self::new(
                ErrorCode::DigestInvalid,
                format!("content digest {actual} does not match {expected}"),
            ),
            BlobError::RangeNotSatisfiable { size, .. } => {
                Self::new(ErrorCode::BlobUnknown, "requested range is not satisfiable")
                    .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .with_header(axum::http::header::CONTENT_RANGE, &format!("bytes */{size}"))
            }
            BlobError::Input(io) => Self::new(ErrorCode::BlobUploadInvalid, format!("reading the request body failed: {io}")),
            BlobError::Backend(_) | BlobError::Unavailable(_) => Self::unavailable("storage", &e),
        }
    }
}
