//! The `ChartMuseum` API (what `helm cm-push` and CI scripts call), per namespace:
//! `POST /api/<ns>/charts` (raw `.tgz` body, or multipart `chart` + `prov`; `?force`),
//! `DELETE /api/<ns>/charts/<name>/<version>`, `GET /api/<ns>/charts[/<name>[/<version>|latest]]`,
//! `GET /health`, `GET /info`. Errors are `{"error": "..."}`. Uploads become OCI artifacts.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use registry_core::RepoName;
use registry_core::auth::{Action, Outcome, Principal, policy_allows_overwrite};
use serde_json::{Value, json};

use super::ClientAddress;
use super::helm::{RepoError, caller};
use crate::AppState;
use crate::auth::{Caller, Denial};
use crate::packs::index::Entry;
use crate::packs::publish::{self, PublishError};
use crate::packs::signatures;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(|| async { axum::Json(json!({ "healthy": true })) }))
        .route("/info", get(|| async { axum::Json(json!({ "version": env!("CARGO_PKG_VERSION"), "server": "sherpack-registry" })) }))
        .route("/api/{namespace}/charts", get(list).post(upload))
        .route("/api/{namespace}/prov", axum::routing::post(upload_signature))
        .route("/api/{namespace}/charts/{name}", get(versions))
        .route("/api/{namespace}/charts/{name}/{version}", get(version).delete(remove))
}

fn error(status: StatusCode, message: impl Into<String>) -> RepoError {
    RepoError::new(status, message)
}

/// Maps an authorization refusal: 401 to anonymous callers, 404 when the namespace is hidden.
fn denied(caller: &Caller, denial: Denial) -> RepoError {
    match denial {
        Denial::Store(e) => e.into(),
        Denial::NotFound => error(StatusCode::NOT_FOUND, "repository not found"),
        Denial::Mirror { namespace, source } => error(StatusCode::FORBIDDEN, Denial::mirror_message(&namespace, &source)),
        _ if caller.principal == Principal::Anonymous => error(StatusCode::UNAUTHORIZED, "authentication required"),
        Denial::Challenge { .. } => error(StatusCode::UNAUTHORIZED, "authentication required"),
        Denial::Forbidden => error(StatusCode::FORBIDDEN, "not allowed in this namespace"),
    }
}

async fn authorize(state: &AppState, caller: &Caller, repo: &RepoName, action: Action) -> Result<(), RepoError> {
    state.auth.authorize(caller, repo, action).await.map(|_| ()).map_err(|d| denied(caller, d))
}

/// A repository name standing for a whole namespace in permission checks.
fn namespace_repo(namespace: &str) -> Result<RepoName, RepoError> {
    namespace.parse().map_err(|_| error(StatusCode::NOT_FOUND, "repository not found"))
}

/// The pack versions of a namespace the caller may pull from.
async fn readable_entries(state: &AppState, headers: &HeaderMap, address: Option<std::net::IpAddr>, namespace: &str) -> Result<Vec<Entry>, RepoError> {
    let caller = caller(state, headers, address).await?;
    authorize(state, &caller, &namespace_repo(namespace)?, Action::Pull).await?;
    Ok(state.index.entries(state.meta.as_ref(), namespace).await?)
}

type Aliases = std::collections::BTreeMap<(String, String), Vec<String>>;

/// A version as the API shows it: its index entry, and the alias tags pointing at it.
fn chart_json(e: &Entry, aliases: &Aliases) -> Value {
    let mut json = e.helm_entry(format!("charts/{}", e.file_name()));
    if let Some(tags) = aliases.get(&(e.repository.clone(), e.version.clone())) {
        json["aliases"] = json!(tags);
    }
    json
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    Path(namespace): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, RepoError> {
    let entries = readable_entries(&state, &headers, a, &namespace).await?;
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let number = |k: &str, default: usize| -> Result<usize, RepoError> {
        params.get(k).map_or(Ok(default), |v| v.parse().map_err(|_| error(StatusCode::BAD_REQUEST, format!("{k} must be a number"))))
    };
    let (offset, limit) = (number("offset", 0)?, number("limit", usize::MAX)?);
    let aliases = crate::packs::aliases(state.meta.as_ref(), &namespace, None).await?;
    let mut charts: serde_json::Map<String, Value> = serde_json::Map::new();
    for e in entries {
        charts.entry(e.name.clone()).or_insert_with(|| json!([])).as_array_mut().expect("array").push(chart_json(&e, &aliases));
    }
    let page: serde_json::Map<String, Value> = charts.into_iter().skip(offset).take(limit).collect();
    Ok(axum::Json(Value::Object(page)).into_response())
}

async fn versions(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, RepoError> {
    let entries = readable_entries(&state, &headers, a, &namespace).await?;
    let aliases = crate::packs::aliases(state.meta.as_ref(), &namespace, Some(&format!("{namespace}/{name}"))).await?;
    let found: Vec<Value> = entries.iter().filter(|e| e.name == name).map(|e| chart_json(e, &aliases)).collect();
    if found.is_empty() {
        return Err(error(StatusCode::NOT_FOUND, format!("chart not found: {name}")));
    }
    Ok(axum::Json(found).into_response())
}

async fn version(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<Response, RepoError> {
    let entries = readable_entries(&state, &headers, a, &namespace).await?;
    // Newest first: `latest` is the first of the name.
    let found = entries.iter().find(|e| e.name == name && (version == "latest" || e.version == version));
    match found {
        Some(e) => {
            let aliases = crate::packs::aliases(state.meta.as_ref(), &namespace, Some(&e.repository)).await?;
            Ok(axum::Json(chart_json(e, &aliases)).into_response())
        }
        None => Err(error(StatusCode::NOT_FOUND, format!("chart not found: {name}-{version}"))),
    }
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    Path((namespace, name, version)): Path<(String, String, String)>,
) -> Result<Response, RepoError> {
    let caller = caller(&state, &headers, a).await?;
    let repo: RepoName = format!("{namespace}/{name}").parse().map_err(|_| error(StatusCode::NOT_FOUND, "chart not found"))?;
    authorize(&state, &caller, &repo, Action::Delete).await?;
    let not_found = || error(StatusCode::NOT_FOUND, format!("chart not found: {name}-{version}"));
    let Some(digest) = state.meta.resolve_tag(&repo, &crate::packs::tag_of(&version)).await? else { return Err(not_found()) };
    if !state.meta.delete_manifest(&repo, &digest).await? {
        return Err(not_found());
    }
    state.auth.audit_caller(&caller, "delete", &format!("{repo}:{version}"), Outcome::Ok, "chartmuseum api").await;
    Ok(axum::Json(json!({ "deleted": true })).into_response())
}

/// The chart (and provenance) of an upload: a raw body, or multipart fields `chart`/`prov`.
async fn upload_parts(request: Request, limit: usize) -> Result<(Bytes, Option<Bytes>), RepoError> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let body = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| error(StatusCode::BAD_REQUEST, format!("the package is larger than {limit} bytes")))?;
        return Ok((body, None));
    }
    let mut form = Multipart::from_request(request, &()).await.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    let (mut chart, mut prov) = (None, None);
    while let Some(field) = form.next_field().await.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))? {
        let name = field.name().unwrap_or_default().to_owned();
        let data = field.bytes().await.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
        if data.len() > limit {
            return Err(error(StatusCode::BAD_REQUEST, format!("the {name} field is larger than {limit} bytes")));
        }
        match name.as_str() {
            "chart" => chart = Some(data),
            "prov" => prov = Some(data),
            _ => {}
        }
    }
    let chart = chart.ok_or_else(|| error(StatusCode::BAD_REQUEST, "the form has no `chart` field"))?;
    Ok((chart, prov))
}

async fn upload(
    State(state): State<AppState>,
    ClientAddress(a): ClientAddress,
    Path(namespace): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, RepoError> {
    let headers = request.headers().clone();
    let caller = caller(&state, &headers, a).await?;
    authorize(&state, &caller, &namespace_repo(&namespace)?, Action::Push).await?;
    let limit = usize::try_from(state.config.packs.max_archive_bytes).unwrap_or(usize::MAX);
    let (chart, prov) = upload_parts(request, limit).await?;
    let upload = publish::Upload::read(&state, &namespace, chart, prov).await.map_err(publish_error)?;
    let (repo, version) = (upload.repo.clone(), upload.meta.version.clone());
    authorize(&state, &caller, &repo, Action::Push).await?;
    let force = query.as_deref().is_some_and(|q| q.split('&').any(|p| p == "force" || p.starts_with("force=") && p != "force=false"));
    let policy = state.auth.store().namespace(&namespace).await?.map(|n| n.policy).unwrap_or_default();
    let overwrite = force || state.config.chartmuseum.allow_overwrite || policy_allows_overwrite(&policy);
    upload.store(&state, overwrite).await.map_err(publish_error)?;
    state.auth.audit_caller(&caller, "push", &format!("{repo}:{version}"), Outcome::Ok, "chartmuseum api").await;
    Ok((StatusCode::CREATED, axum::Json(json!({ "saved": true }))).into_response())
}

/// `POST /api/<ns>/prov`: a `.minisig` alone, for a pack already here (named by the
/// signature's trusted comment, `sherpack:<name> v<version>`).
async fn upload_signature(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    Path(namespace): Path<String>,
    request: Request,
) -> Result<Response, RepoError> {
    let caller = caller(&state, &headers, a).await?;
    authorize(&state, &caller, &namespace_repo(&namespace)?, Action::Push).await?;
    let (file, _) = upload_parts(request, signatures::MAX_SIGNATURE).await?;
    if !signatures::is_minisig(&file) {
        return Err(error(StatusCode::BAD_REQUEST, "only minisign signatures are accepted alone; send a Helm .prov with its chart"));
    }
    let sig = signatures::parse(&file).map_err(|m| error(StatusCode::BAD_REQUEST, m))?;
    let (name, version) = signatures::signed_pack(&sig)
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "the signature's trusted comment does not name a pack (sherpack:<name> v<version>)"))?;
    let repo: RepoName = format!("{namespace}/{name}").parse().map_err(|_| error(StatusCode::BAD_REQUEST, "the signature names an invalid pack"))?;
    authorize(&state, &caller, &repo, Action::Push).await?;
    let entries = state.index.entries(state.meta.as_ref(), &namespace).await?;
    let Some(entry) = entries.iter().find(|e| e.name == name && e.version == version) else {
        return Err(error(StatusCode::NOT_FOUND, format!("chart not found: {name}-{version}")));
    };
    if entry.signature.is_some() {
        return Err(error(StatusCode::CONFLICT, "file already exists"));
    }
    let Some(manifest) = state.meta.resolve_tag(&repo, &crate::packs::tag_of(&version)).await? else {
        return Err(error(StatusCode::NOT_FOUND, format!("chart not found: {name}-{version}")));
    };
    let archive = signatures::read_blob(&state, &entry.archive_digest, state.config.packs.max_archive_bytes).await.map_err(oci_error)?;
    let signature = signatures::check(&state, &namespace, &sig, archive, registry_core::Digest::of(&file)).await.map_err(oci_error)?;
    let size = state.meta.manifest(&repo, &manifest).await?.map_or(0, |m| m.size);
    signatures::store_referrer(&state, &repo, &manifest, size, file).await.map_err(oci_error)?;
    state.meta.set_pack_signature(&repo, &version, &signature).await?;
    state.auth.audit_caller(&caller, "sign", &format!("{repo}:{version}"), Outcome::Ok, &signature.status).await;
    Ok((StatusCode::CREATED, axum::Json(json!({ "saved": true, "signature": signature.status }))).into_response())
}

fn oci_error(e: crate::routes::oci::error::OciError) -> RepoError {
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        error(e.status, e.message)
    } else if e.status.is_server_error() {
        error(e.status, "internal server error")
    } else {
        error(e.status, e.message)
    }
}

fn publish_error(e: PublishError) -> RepoError {
    match e {
        PublishError::BadPackage(m) => error(StatusCode::BAD_REQUEST, m),
        PublishError::Exists => error(StatusCode::CONFLICT, "file already exists"),
        PublishError::Refused(m) => error(StatusCode::FORBIDDEN, m),
        PublishError::Oci(e) => oci_error(e),
        PublishError::Unavailable(backend, m) => error(StatusCode::SERVICE_UNAVAILABLE, crate::routes::unavailable::message(backend, &m)),
        PublishError::Internal(m) => {
            tracing::error!("chart upload failed: {m}");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        }
    }
}
