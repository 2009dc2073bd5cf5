//! Helm chart repositories: `/<namespace>/index.yaml` (and `index.json`), `/index.yaml` for
//! every namespace the caller may read, and chart downloads at
//! `/<namespace>/charts/<name>-<version>.tgz`. Errors are `ChartMuseum`'s `{"error": "..."}`;
//! credentials are HTTP Basic (what `helm repo add --username` sends).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use registry_core::auth::{Action, Principal};

use super::ClientAddress;
use crate::AppState;
use crate::auth::{AuthError, Caller};
use crate::packs::index::View;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/index.yaml", get(global_yaml))
        .route("/index.json", get(global_json))
        .route("/{namespace}/index.yaml", get(namespace_yaml))
        .route("/{namespace}/index.json", get(namespace_json))
        .route("/{namespace}/charts/{file}", get(download))
}

#[derive(Debug)]
pub struct RepoError {
    status: StatusCode,
    message: String,
}

impl RepoError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for RepoError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"sherpack-registry\""));
        }
        crate::routes::unavailable::add_retry_after(&mut response);
        response
    }
}

impl From<AuthError> for RepoError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::RateLimited(_) => Self::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
            AuthError::Store(s) => s.into(),
            other => Self::new(StatusCode::UNAUTHORIZED, other.to_string()),
        }
    }
}

impl From<registry_core::blob::BlobError> for RepoError {
    fn from(e: registry_core::blob::BlobError) -> Self {
        if let Some(backend) = crate::routes::unavailable::blob(&e) {
            return Self::new(StatusCode::SERVICE_UNAVAILABLE, crate::routes::unavailable::message(backend, &e));
        }
        tracing::error!("reading a blob failed: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }
}

impl From<crate::storage::StoreBlobError> for RepoError {
    fn from(e: crate::storage::StoreBlobError) -> Self {
        match e {
            crate::storage::StoreBlobError::Blob(e) => e.into(),
            crate::storage::StoreBlobError::Store(e) => e.into(),
            quota @ crate::storage::StoreBlobError::Quota { .. } => Self::new(StatusCode::FORBIDDEN, quota.to_string()),
        }
    }
}

impl From<registry_core::store::StoreError> for RepoError {
    fn from(e: registry_core::store::StoreError) -> Self {
        if let Some(backend) = crate::routes::unavailable::store(&e) {
            return Self::new(StatusCode::SERVICE_UNAVAILABLE, crate::routes::unavailable::message(backend, &e));
        }
        tracing::error!("repository request failed: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }
}

type RepoResult = Result<Response, RepoError>;

pub async fn caller(state: &AppState, headers: &HeaderMap, address: Option<std::net::IpAddr>) -> Result<Caller, RepoError> {
    Ok(state.auth.authenticate(headers, address).await?)
}

/// Pull rights on a namespace: 401 to anonymous callers, 404 to those who may not see it.
async fn require_pull(state: &AppState, caller: &Caller, namespace: &str) -> Result<(), RepoError> {
    let perms = state.auth.permissions(&caller.principal, namespace).await?;
    if perms.allows(Action::Pull) {
        Ok(())
    } else if caller.principal == Principal::Anonymous {
        Err(RepoError::new(StatusCode::UNAUTHORIZED, "authentication required"))
    } else {
        Err(RepoError::new(StatusCode::NOT_FOUND, "repository not found"))
    }
}

fn serve_index(rendered: &crate::packs::index::Rendered, json: bool, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&rendered.etag).expect("ascii etag");
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, etag);
        return r;
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
    let (parts, length) = rendered.body(json, gzip);
    let body = Body::from_stream(futures::stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>)));
    let content_type = if json { "application/json" } else { "application/x-yaml" };
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ETAG, etag);
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&httpdate(rendered.last_modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// The provenance layer of a pack's manifest, if it has one.
async fn provenance_of(state: &AppState, entry: &crate::packs::index::Entry) -> Result<Option<registry_core::Digest>, RepoError> {
    let repo: registry_core::RepoName = entry.repository.parse().map_err(|_| RepoError::new(StatusCode::NOT_FOUND, "not found"))?;
    let Some(digest) = state.meta.resolve_tag(&repo, &crate::packs::tag_of(&entry.version)).await? else { return Ok(None) };
    let Some(record) = state.meta.manifest(&repo, &digest).await? else { return Ok(None) };
    let parsed = registry_core::manifest::parse(&record.content, Some(&record.media_type)).ok();
    Ok(parsed.and_then(|p| p.layers.into_iter().find(|l| l.media_type == crate::packs::publish::PROV_LAYER).map(|l| l.digest)))
}

/// An HTTP date (RFC 7231, IMF-fixdate).
fn httpdate(t: std::time::SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

async fn namespace_index(state: AppState, headers: HeaderMap, address: Option<std::net::IpAddr>, namespace: String, json: bool) -> RepoResult {
    let caller = caller(&state, &headers, address).await?;
    require_pull(&state, &caller, &namespace).await?;
    let rendered = state.index.rendered(state.meta.as_ref(), View::Namespace(&namespace)).await?;
    if rendered.empty && state.auth.store().namespace(&namespace).await?.is_none() {
        return Err(RepoError::new(StatusCode::NOT_FOUND, "repository not found"));
    }
    Ok(serve_index(&rendered, json, &headers))
}

async fn global_index(state: AppState, headers: HeaderMap, address: Option<std::net::IpAddr>, json: bool) -> RepoResult {
    let caller = caller(&state, &headers, address).await?;
    let readable = super::search::readable_namespaces(&state, &caller).await?;
    let rendered = state.index.rendered(state.meta.as_ref(), View::Global(&readable)).await?;
    Ok(serve_index(&rendered, json, &headers))
}

async fn global_yaml(State(state): State<AppState>, headers: HeaderMap, ClientAddress(a): ClientAddress) -> RepoResult {
    global_index(state, headers, a, false).await
}

async fn global_json(State(state): State<AppState>, headers: HeaderMap, ClientAddress(a): ClientAddress) -> RepoResult {
    global_index(state, headers, a, true).await
}

async fn namespace_yaml(State(state): State<AppState>, headers: HeaderMap, ClientAddress(a): ClientAddress, Path(ns): Path<String>) -> RepoResult {
    namespace_index(state, headers, a, ns, false).await
}

async fn namespace_json(State(state): State<AppState>, headers: HeaderMap, ClientAddress(a): ClientAddress, Path(ns): Path<String>) -> RepoResult {
    namespace_index(state, headers, a, ns, true).await
}

async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    Path((namespace, file)): Path<(String, String)>,
) -> RepoResult {
    let caller = caller(&state, &headers, address).await?;
    require_pull(&state, &caller, &namespace).await?;
    let (chart_file, suffix) = match (file.strip_suffix(".prov"), file.strip_suffix(".minisig")) {
        (Some(chart), _) => (chart, "prov"),
        (_, Some(chart)) => (chart, "minisig"),
        _ => (file.as_str(), ""),
    };
    let not_found = || RepoError::new(StatusCode::NOT_FOUND, format!("{file} not found"));
    let Some(entry) = state.index.find_file(state.meta.as_ref(), &namespace, chart_file).await? else {
        return Err(not_found());
    };
    let digest = match suffix {
        "prov" => provenance_of(&state, &entry).await?.ok_or_else(not_found)?,
        "minisig" => entry.signature.as_ref().map(|s| s.blob.clone()).ok_or_else(not_found)?,
        _ => entry.archive_digest.clone(),
    };
    let read = crate::storage::read_blob(&state, &digest).await.map_err(RepoError::from)?;
    let mut response = Body::from_stream(read.stream).into_response();
    let h = response.headers_mut();
    let content_type = match suffix {
        "prov" => "application/pgp-signature",
        "minisig" => "text/plain; charset=utf-8",
        _ => "application/gzip",
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(read.size));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{digest}\"")) {
        h.insert(header::ETAG, v);
    }
    Ok(response)
}
