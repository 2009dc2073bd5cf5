//! The OCI distribution API under `/v2`. One catch-all route parses the path into an
//! [`path::Endpoint`] and dispatches on it and the method. Every response carries
//! `Docker-Distribution-API-Version: registry/2.0`.

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use registry_core::auth::{Action, Outcome};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;
use crate::auth::Caller;
use crate::routes::ClientAddress;

pub mod access;
mod blobs;
pub mod error;
mod listing;
pub mod manifests;
pub mod path;
pub mod request;
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
        .route("/v2/token", axum::routing::get(access::token).post(access::token))
        .route("/v2/{*rest}", any(dispatch))
        .layer(SetResponseHeaderLayer::overriding(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0")))
}

async fn base(State(state): State<AppState>, method: Method, headers: HeaderMap, ClientAddress(address): ClientAddress) -> Response {
    match method {
        Method::GET | Method::HEAD => match access::check_base(&state, &headers, address).await {
            Ok(()) => (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], "{}").into_response(),
            Err(e) => e.into_response(),
        },
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
    pub caller: Caller,
    pub method: Method,
    pub headers: HeaderMap,
    pub params: Params,
}

impl Req {
    /// Whether the caller may pull from `repo` (for cross-repository mounts).
    pub async fn can_pull(&self, repo: &registry_core::RepoName) -> bool {
        self.state.auth.authorize(&self.caller, repo, Action::Pull).await.is_ok()
    }
}

async fn dispatch(
    State(state): State<AppState>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
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
    if endpoint == Endpoint::Base {
        return base(State(state), method, headers, ClientAddress(address)).await;
    }
    let caller = match state.auth.authenticate(&headers, address).await {
        Ok(c) => c,
        Err(e) => {
            let scope = access::needed(&endpoint, &method);
            return access::auth_error(&state, &headers, scope.as_ref().map(|(r, a)| (r, *a)), e).into_response();
        }
    };
    let needed = access::needed(&endpoint, &method);
    if let Some((repo, action)) = &needed
        && let Err(denial) = state.auth.authorize(&caller, repo, *action).await
    {
        let audit_denial = !matches!(denial, crate::auth::Denial::Store(_)) && *action != Action::Pull;
        let response = access::denial(&state, &headers, repo, *action, denial).into_response();
        if audit_denial {
            state.auth.audit_caller(&caller, action.as_str(), repo.as_str(), Outcome::Denied, &format!("{method} {}", uri.path())).await;
        }
        return response;
    }
    let audited = audited_change(&endpoint, &method);
    let req = Req { state: state.clone(), caller, method: method.clone(), headers, params: Params::parse(query.as_deref()) };
    let caller = audited.as_ref().map(|_| req.caller.clone());
    let result = match (endpoint, &method) {
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
    let response = result.unwrap_or_else(IntoResponse::into_response);
    if let (Some((action, target)), Some(caller)) = (audited, caller)
        && response.status().is_success()
    {
        if action == "push" {
            ensure_namespace(&state, &caller, &target).await;
        }
        state.auth.audit_caller(&caller, action, &target, Outcome::Ok, "").await;
    }
    response
}

/// Pushes and deletes go to the audit log: the action and `repo:reference` of one.
fn audited_change(endpoint: &Endpoint, method: &Method) -> Option<(&'static str, String)> {
    match (endpoint, method) {
        (Endpoint::Manifest(name, reference), &Method::PUT) => Some(("push", format!("{name}:{reference}"))),
        (Endpoint::Manifest(name, reference), &Method::DELETE) => Some(("delete", format!("{name}:{reference}"))),
        (Endpoint::Blob(name, digest), &Method::DELETE) => Some(("delete", format!("{name}@{digest}"))),
        _ => None,
    }
}

/// A registry admin's first push into a namespace without a record creates it, with the
/// configured default visibility, so members can be added to it.
async fn ensure_namespace(state: &AppState, caller: &Caller, target: &str) {
    if state.auth.mode() != registry_core::auth::Mode::Enforced {
        return;
    }
    let namespace = target.split(['/', ':', '@']).next().unwrap_or_default();
    let store = state.auth.store();
    if let Ok(None) = store.namespace(namespace).await {
        let ns = registry_core::auth::Namespace {
            name: namespace.to_owned(),
            visibility: state.auth.config().default_visibility,
            policy: "{}".to_owned(),
            created_at: crate::auth::now_millis(),
        };
        if let Ok(true) = store.create_namespace(&ns).await {
            state.auth.forget_verified();
            state.auth.audit_caller(caller, "namespace.create", namespace, Outcome::Ok, "created by first push").await;
        }
    }
}

/// The headers every content response carries: digest, `ETag`, length and type.
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
