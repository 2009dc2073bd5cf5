//! The administration API under `/api/v1`: JSON in and out, errors as
//! `{"errors":[{"code","message"}]}`. Credentials: HTTP Basic (password or API token) or
//! `Authorization: Bearer <API token>`. The operations themselves live in [`crate::admin`].

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use registry_core::auth::{AuditQuery, Mode, NamespacePolicy, Principal, Role, Visibility};
use serde::Deserialize;
use serde_json::json;

use super::ClientAddress;
use crate::AppState;
use crate::admin::{Admin, AdminError, NewToken};
use crate::auth::{AuthError, Caller};

/// Largest JSON body accepted.
const MAX_BODY: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{name}", axum::routing::patch(update_user).delete(delete_user))
        .route("/namespaces", get(list_namespaces).post(create_namespace))
        .route("/namespaces/{ns}", get(namespace).patch(update_namespace).delete(delete_namespace))
        .route("/namespaces/{ns}/members", get(members))
        .route("/namespaces/{ns}/members/{user}", put(set_member).delete(remove_member))
        .route("/namespaces/{ns}/keys", get(keys).post(add_key))
        .route("/namespaces/{ns}/keys/{id}", delete(remove_key))
        .route("/namespaces/{ns}/policy", get(policy).put(set_policy))
        .route("/namespaces/{ns}/webhooks", get(list_webhooks).post(add_webhook))
        .route("/namespaces/{ns}/webhooks/{id}", delete(remove_webhook))
        .route("/namespaces/{ns}/webhooks/{id}/deliveries", get(webhook_deliveries))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/audit", get(audit))
        .merge(super::imports::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such API endpoint") })
}

pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "errors": [{ "code": self.code, "message": self.message }] }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"sherpack-registry\""));
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let (status, code) = match &e {
            AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "DENIED"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            AdminError::Invalid(_) => (StatusCode::BAD_REQUEST, "INVALID"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            AdminError::Store(s) if crate::routes::unavailable::store(s).is_some() => {
                let message = crate::routes::unavailable::message("database", s);
                return Self {
                    retry_after: Some(crate::routes::unavailable::RETRY_AFTER_SECS),
                    ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
                };
            }
            AdminError::Store(_) => {
                tracing::error!("admin request failed: {e}");
                return Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal server error");
            }
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Malformed(m) => Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m),
            AuthError::Invalid(m) => Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m),
            AuthError::RateLimited(wait) => Self {
                retry_after: Some(wait.as_secs().max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", e.to_string())
            },
            AuthError::Store(s) => AdminError::Store(s).into(),
        }
    }
}

pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

/// The authenticated caller of an admin request. With users configured, anonymous callers
/// get the Basic challenge.
pub struct ApiCaller {
    pub(crate) state: AppState,
    pub(crate) caller: Caller,
}

impl ApiCaller {
    pub(crate) fn admin(&self) -> Admin<'_> {
        Admin { auth: &self.state.auth, caller: &self.caller }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddress(address) = ClientAddress::from_request_parts(parts, state).await.unwrap_or(ClientAddress(None));
        let caller = state.auth.authenticate(&parts.headers, address).await?;
        // Bearer tokens of the OCI flow are for /v2 only.
        if caller.claims.is_some() {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "use a password or an API token here"));
        }
        if caller.principal == Principal::Anonymous && state.auth.mode() == Mode::Enforced {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required"));
        }
        Ok(Self { state: state.clone(), caller })
    }
}

/// A JSON body, refused in the API's own error format (size, syntax, unknown fields).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "INVALID", format!("the body is larger than {MAX_BODY} bytes")))?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID", format!("invalid JSON body: {e}")))
    }
}

/// Query parameters, refused in the API's error format.
pub struct ApiQuery<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID", e.body_text()))
    }
}

#[allow(clippy::unnecessary_wraps)] // handlers end in `ok(...)` the way they end in `?`
pub(crate) fn ok<T: serde::Serialize>(value: T) -> ApiResult {
    Ok(Json(value).into_response())
}

#[allow(clippy::unnecessary_wraps)]
fn created<T: serde::Serialize>(value: T) -> ApiResult {
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

#[allow(clippy::unnecessary_wraps)]
pub(crate) fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn whoami(c: ApiCaller) -> ApiResult {
    ok(c.admin().whoami().await?)
}

async fn list_users(c: ApiCaller) -> ApiResult {
    ok(c.admin().list_users().await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn create_user(c: ApiCaller, ApiJson(u): ApiJson<NewUser>) -> ApiResult {
    created(c.admin().create_user(&u.name, &u.password, u.admin).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    password: Option<String>,
    admin: Option<bool>,
}

async fn update_user(c: ApiCaller, Path(name): Path<String>, ApiJson(u): ApiJson<UserChange>) -> ApiResult {
    ok(c.admin().update_user(&name, u.password.as_deref(), u.admin).await?)
}

async fn delete_user(c: ApiCaller, Path(name): Path<String>) -> ApiResult {
    c.admin().delete_user(&name).await?;
    no_content()
}

async fn list_namespaces(c: ApiCaller) -> ApiResult {
    ok(c.admin().list_namespaces().await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNamespace {
    name: String,
    #[serde(default = "private")]
    visibility: Visibility,
}

fn private() -> Visibility {
    Visibility::Private
}

async fn create_namespace(c: ApiCaller, ApiJson(n): ApiJson<NewNamespace>) -> ApiResult {
    created(c.admin().create_namespace(&n.name, n.visibility).await?)
}

async fn namespace(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    ok(c.admin().namespace(&ns).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamespaceChange {
    visibility: Option<Visibility>,
    policy: Option<NamespacePolicy>,
}

async fn update_namespace(c: ApiCaller, Path(ns): Path<String>, ApiJson(n): ApiJson<NamespaceChange>) -> ApiResult {
    ok(c.admin().update_namespace(&ns, n.visibility, n.policy.as_ref()).await?)
}

async fn delete_namespace(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    c.admin().delete_namespace(&ns).await?;
    no_content()
}

async fn members(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    ok(c.admin().members(&ns).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Role,
}

async fn set_member(c: ApiCaller, Path((ns, user)): Path<(String, String)>, ApiJson(r): ApiJson<RoleBody>) -> ApiResult {
    ok(c.admin().set_member(&ns, &user, r.role).await?)
}

async fn remove_member(c: ApiCaller, Path((ns, user)): Path<(String, String)>) -> ApiResult {
    c.admin().remove_member(&ns, &user).await?;
    no_content()
}

async fn keys(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    ok(c.admin().signing_keys(&ns).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    public_key: String,
}

async fn add_key(c: ApiCaller, Path(ns): Path<String>, ApiJson(k): ApiJson<NewKey>) -> ApiResult {
    created(c.admin().add_signing_key(&ns, &k.name, &k.public_key).await?)
}

async fn remove_key(c: ApiCaller, Path((ns, id)): Path<(String, String)>) -> ApiResult {
    c.admin().remove_signing_key(&ns, &id).await?;
    no_content()
}

async fn list_webhooks(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    ok(c.admin().list_webhooks(&ns).await?)
}

async fn add_webhook(c: ApiCaller, Path(ns): Path<String>, ApiJson(w): ApiJson<crate::webhooks::NewWebhook>) -> ApiResult {
    created(c.admin().add_webhook(&ns, w).await?)
}

async fn remove_webhook(c: ApiCaller, Path((ns, id)): Path<(String, String)>) -> ApiResult {
    c.admin().remove_webhook(&ns, &id).await?;
    no_content()
}

async fn webhook_deliveries(c: ApiCaller, Path((ns, id)): Path<(String, String)>) -> ApiResult {
    ok(c.admin().webhook_deliveries(&ns, &id).await?)
}

async fn policy(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    ok(c.admin().namespace(&ns).await?.policy)
}

async fn set_policy(c: ApiCaller, Path(ns): Path<String>, ApiJson(p): ApiJson<NamespacePolicy>) -> ApiResult {
    ok(c.admin().update_namespace(&ns, None, Some(&p)).await?.policy)
}

#[derive(Deserialize)]
struct TokenListQuery {
    #[serde(default)]
    all: bool,
}

async fn list_tokens(c: ApiCaller, ApiQuery(q): ApiQuery<TokenListQuery>) -> ApiResult {
    ok(c.admin().list_tokens(q.all).await?)
}

async fn create_token(c: ApiCaller, ApiJson(t): ApiJson<NewToken>) -> ApiResult {
    created(c.admin().create_token(&t).await?)
}

async fn revoke_token(c: ApiCaller, Path(id): Path<String>) -> ApiResult {
    c.admin().revoke_token(&id).await?;
    no_content()
}

#[derive(Deserialize)]
struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

async fn audit(c: ApiCaller, ApiQuery(q): ApiQuery<AuditParams>) -> ApiResult {
    let query = AuditQuery { actor: q.actor, action: q.action, before: q.before, limit: q.limit.unwrap_or(100) };
    ok(c.admin().audit_log(&query).await?)
}
