//! `/api/v1` endpoints of background work in a namespace: import jobs
//! (`POST /namespaces/<ns>/imports`, `GET /namespaces/<ns>/imports/<id>`) and the namespace's
//! mirror (`PUT`, `GET`, `DELETE /namespaces/<ns>/mirror`, `POST /namespaces/<ns>/mirror/sync`,
//! `GET /mirrors`). Errors in the admin API's format.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use super::admin::{ApiCaller, ApiError, ApiJson, ApiResult, no_content, ok};
use crate::AppState;
use crate::admin::AdminError;
use crate::import::ImportRequest;
use crate::import::job::{self, StartError};
use crate::mirrors::{self, MirrorRequest};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/namespaces/{ns}/imports", post(start_import))
        .route("/namespaces/{ns}/imports/{id}", get(import_status))
        .route("/namespaces/{ns}/mirror", get(mirror).put(set_mirror).delete(remove_mirror))
        .route("/namespaces/{ns}/mirror/sync", post(sync_mirror))
        .route("/mirrors", get(list_mirrors))
}

/// 202 with the job and its `Location`. Namespace admins import from Helm repositories; a
/// source on the server's own storage takes a registry admin.
async fn start_import(c: ApiCaller, Path(ns): Path<String>, ApiJson(request): ApiJson<ImportRequest>) -> ApiResult {
    let admin = c.admin();
    admin.namespace_admin(&ns).await?;
    if request.source.is_server_side() {
        admin.require_registry_admin()?;
    }
    if let Some(m) = c.state.auth.store().mirror(&ns).await.map_err(AdminError::from)? {
        return Err(AdminError::Conflict(format!("namespace {ns} is a mirror of {}: its sync alone writes into it", m.source_url)).into());
    }
    let created_by = c.caller.principal.actor();
    let view = job::start(&c.state, &ns, request, created_by).await.map_err(|e| match e {
        StartError::Invalid(m) => AdminError::Invalid(m),
        StartError::Store(s) => AdminError::Store(s),
    })?;
    admin.audit("import.start", &ns, &format!("job {}", view.id)).await;
    let location = format!("/api/v1/namespaces/{ns}/imports/{}", view.id);
    let mut response = (StatusCode::ACCEPTED, axum::Json(view)).into_response();
    response.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).map_err(|_| AdminError::Invalid("namespace".into()))?);
    Ok(response)
}

/// Anyone who may administer the namespace reads its jobs.
async fn import_status(c: ApiCaller, Path((ns, id)): Path<(String, String)>) -> ApiResult {
    c.admin().namespace_admin(&ns).await?;
    match job::get(&c.state, &ns, &id).await.map_err(AdminError::from)? {
        Some(view) => ok(view),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no import job {id} in namespace {ns}"))),
    }
}

async fn mirror(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    ok(mirrors::get(&c.state, &c.admin(), &ns).await?)
}

async fn set_mirror(c: ApiCaller, Path(ns): Path<String>, ApiJson(request): ApiJson<MirrorRequest>) -> ApiResult {
    ok(mirrors::put(&c.state, &c.admin(), &ns, request).await?)
}

async fn remove_mirror(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    mirrors::remove(&c.state, &c.admin(), &ns).await?;
    no_content()
}

async fn sync_mirror(c: ApiCaller, Path(ns): Path<String>) -> ApiResult {
    ok(mirrors::sync_soon(&c.state, &c.admin(), &ns).await?)
}

async fn list_mirrors(c: ApiCaller) -> ApiResult {
    ok(mirrors::list(&c.state, &c.admin()).await?)
}
