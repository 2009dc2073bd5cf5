//! Search APIs over the pack index. `GET /api/chartsvc/v1/charts/search?q=` is the Monocular
//! contract `helm search hub --endpoint <url>` speaks. Results only come from namespaces the
//! caller may read.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use registry_core::auth::Action;
use serde_json::json;

use super::ClientAddress;
use super::helm::{RepoError, caller};
use crate::AppState;
use crate::auth::Caller;

/// Longest query accepted; a longer one is refused.
const MAX_QUERY: usize = 1024;
const MAX_LIMIT: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/chartsvc/v1/charts/search", get(monocular))
}

/// Namespaces holding packs that the caller may pull from.
pub async fn readable_namespaces(state: &AppState, caller: &Caller) -> Result<Vec<String>, RepoError> {
    let mut readable = Vec::new();
    for namespace in state.index.namespaces(state.meta.as_ref()).await? {
        if state.auth.permissions(&caller.principal, &namespace).await?.allows(Action::Pull) {
            readable.push(namespace);
        }
    }
    Ok(readable)
}

struct Params {
    q: String,
    offset: usize,
    limit: usize,
}

fn params(query: Option<&str>) -> Result<Params, RepoError> {
    let mut p = Params { q: String::new(), offset: 0, limit: 50 };
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let number = |v: &str| v.parse::<usize>().map_err(|_| RepoError::new(StatusCode::BAD_REQUEST, format!("{k} must be a non-negative number")));
        match &*k {
            "q" => p.q = v.into_owned(),
            "offset" => p.offset = number(&v)?.min(100_000),
            "limit" => p.limit = number(&v)?.clamp(1, MAX_LIMIT),
            _ => {}
        }
    }
    if p.q.len() > MAX_QUERY {
        return Err(RepoError::new(StatusCode::BAD_REQUEST, format!("the query is longer than {MAX_QUERY} characters")));
    }
    Ok(p)
}

async fn monocular(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    RawQuery(query): RawQuery,
) -> Result<Response, RepoError> {
    let caller = caller(&state, &headers, a).await?;
    let p = params(query.as_deref())?;
    let namespaces = readable_namespaces(&state, &caller).await?;
    let (hits, _) = state.index.search(state.meta.as_ref(), &p.q, &namespaces, p.offset, p.limit).await?;
    let base = crate::routes::oci::request::base_url(&state, &headers);
    let data: Vec<_> = hits
        .iter()
        .map(|h| {
            json!({
                "id": h.repository,
                "type": "chart",
                "attributes": {
                    "name": h.name,
                    "description": h.description.clone().unwrap_or_default(),
                    "repo": { "name": h.namespace, "url": format!("{base}/{}", h.namespace) },
                },
                "relationships": {
                    "latestChartVersion": { "data": { "version": h.version, "app_version": h.app_version.clone().unwrap_or_default() } }
                },
                "artifactHub": { "packageUrl": format!("{base}/{}/charts/{}-{}.tgz", h.namespace, h.name, h.version) },
            })
        })
        .collect();
    Ok(axum::Json(json!({ "data": data })).into_response())
}
