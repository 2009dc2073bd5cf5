//! The OCI distribution API under `/v2`. One catch-all route parses the path into an
//! [`path::Endpoint`] and dispatches on it and the method. Every response carries
//! `Docker-Distribution-API-Version: registry/2.0`.

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;

mod blobs;
pub mod error;
mod listing;
mod manifests;
pub mod path;
mod request;
mod uploads;

use error::{ErrorCode, OciError};
use path::{Endpoint, PathError};
use request::Params;

pub use uploads::expire_stale_uploads;

pub const API_VERSION_HEADER: HeaderName = HeaderName::from_static("docker-distribution-api-version");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/", any(base))
        .route("/v2", any(base))
        .route("/v2/{*rest}", any(dispatch))
        .layer(SetResponseHeaderLayer::overriding(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0")))
}

async fn base(method: Method) -> Response {
    match method {
        Method::GET | Method::HEAD => {
            (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], "{}").into_response()
        }
        _ => unsupported(&method),
    }
}

fn unsupported(method: &Method) -> Response {
    OciError::new(ErrorCode::Unsupported, format!("{method} is not supported here")).into_response()
}

/// Everything a handler may need of the request but its body, parsed once. The body (not
/// `Sync`) is handed separately to the handlers that read one.
pub struct Req {
    pub state: AppState,
    pub method: Method,
    pub headers: HeaderMap,
    pub params: Params,
}

async fn dispatch(
    State(state): State<AppState>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    // The raw path, not a percent-decoded one: `%2F` must not become a segment separator.
    let rest = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let endpoint = match path::parse(rest) {
        Ok(e) => e,
        Err(PathError::Name(e)) => return OciError::new(ErrorCode::NameInvalid, e.to_string()).into_response(),
        Err(PathError::Unknown) => {
            return OciError::new(ErrorCode::NameUnknown, format!("no OCI endpoint at /v2/{rest}")).into_response();
        }
    };
    let req = Req { state, method: method.clone(), headers, params: Params::parse(query.as_deref()) };
    let result = match (endpoint, &method) {
        (Endpoint::Base, &Method::GET | &Method::HEAD) => return base(method).await,
        (Endpoint::Catalog, &Method::GET) => listing::catalog(req).await,
        (Endpoint::Tags(name), &Method::GET) => listing::tags(req, name).await,
        (Endpoint::Referrers(name, digest), &Method::GET) => listing::referrers(req, name, &digest).await,
        (Endpoint::Manifest(name, reference), &Method::GET | &Method::HEAD) => manifests::get(req, name, &reference).await,
        (Endpoint::Manifest(name, reference), &Method::PUT) => manifests::put(req, body, name, &reference).await,
        (Endpoint::Manifest(name, reference), &Method::DELETE) => manifests::delete(req, name, &reference).await,
        (Endpoint::Blob(name, digest), &Method::GET | &Method::HEAD) => blobs::get(req, name, &digest).await,
        (Endpoint::Blob(name, digest), &Method::DELETE) => blobs::delete(req, name, &digest).await,
        (Endpoint::UploadStart(name), &Method::POST) => uploads::start(req, body, name).await,
        (Endpoint::Upload(name, id), &Method::GET) => uploads::status(req, name, &id).await,
        (Endpoint::Upload(name, id), &Method::PATCH) => uploads::patch(req, body, name, &id).await,
        (Endpoint::Upload(name, id), &Method::PUT) => uploads::finish(req, body, name, &id).await,
        (Endpoint::Upload(name, id), &Method::DELETE) => uploads::cancel(req, name, &id).await,
        _ => return unsupported(&method),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The headers every content response carries: digest, ETag, length and type.
pub fn content_headers(response: &mut Response, digest: &registry_core::Digest, length: Option<u64>, content_type: Option<&str>) {
    let headers = response.headers_mut();
    let digest = digest.to_string();
    headers.insert("docker-content-digest", HeaderValue::from_str(&digest).expect("digest is ascii"));
    headers.insert(axum::http::header::ETAG, HeaderValue::from_str(&format!("\"{digest}\"")).expect("ascii"));
    if let Some(length) = length {
        headers.insert(axum::http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Some(t) = content_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(axum::http::header::CONTENT_TYPE, t);
    }
}
