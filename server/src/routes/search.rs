//! Search APIs over the pack index, each answering only from namespaces the caller may read:
//! - `GET /api/chartsvc/v1/charts/search?q=`: the Monocular contract `helm search hub
//!   --endpoint <url>` speaks (its `packageUrl`, the URL helm prints, is the pack page);
//! - `GET /api/v1/packages/search`: Artifact Hub's (`ts_query_web`, `limit` ≤ 60, `offset`,
//!   `kind`, `repo`/`org`, `deprecated`, `signed`, `sort`, `facets`; the total in
//!   `Pagination-Total-Count`);
//! - `GET /api/v1/packages/autocomplete?q=`: name completions for the web page.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use registry_core::auth::Action;
use serde::Serialize;
use serde_json::{Value, json};

use super::ClientAddress;
use super::helm::{RepoError, caller};
use crate::AppState;
use crate::auth::Caller;
use crate::packs::search::{Facets, Hit, Request, Sort};

/// Longest query accepted; a longer one is refused.
const MAX_QUERY: usize = 1024;
/// Largest page of the Monocular API (helm asks for everything at once).
const MAX_MONOCULAR_LIMIT: usize = 100;
/// Largest page of the Artifact Hub API, as Artifact Hub has it.
const MAX_PAGE: usize = 60;
const MAX_SUGGESTIONS: usize = 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/chartsvc/v1/charts/search", get(monocular))
        .route("/api/v1/packages/search", get(packages))
        .route("/api/v1/packages/autocomplete", get(autocomplete))
}

/// Namespaces holding packs that the caller may pull from.
pub async fn readable_namespaces(state: &AppState, caller: &Caller) -> Result<Vec<String>, RepoError> {
    let namespaces = state.index.namespaces(state.meta.as_ref()).await?;
    let permissions = state.auth.permissions_in(&caller.principal, &namespaces).await?;
    Ok(namespaces.into_iter().zip(permissions).filter(|(_, p)| p.allows(Action::Pull)).map(|(n, _)| n).collect())
}

fn bad(message: impl Into<String>) -> RepoError {
    RepoError::new(StatusCode::BAD_REQUEST, message)
}

/// A query string's parameters, in order (a key may repeat).
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn number(key: &str, value: &str) -> Result<usize, RepoError> {
    value.trim().parse::<usize>().map_err(|_| bad(format!("{key} must be a whole number of at least 0, not `{value}`")))
}

fn boolean(key: &str, value: &str) -> Result<bool, RepoError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(format!("{key} must be true or false, not `{value}`"))),
    }
}

fn text(key: &str, value: String) -> Result<String, RepoError> {
    if value.chars().count() > MAX_QUERY {
        return Err(bad(format!("{key} is longer than {MAX_QUERY} characters")));
    }
    Ok(value)
}

/// The search the Artifact Hub parameters ask for.
fn artifact_hub_request(query: Option<&str>, readable: Vec<String>) -> Result<Request, RepoError> {
    let mut request = Request::new("", Vec::new());
    // Artifact Hub leaves deprecated packages out unless asked for.
    request.deprecated = Some(false);
    let mut wanted: Vec<String> = Vec::new();
    for (key, value) in pairs(query) {
        match key.as_str() {
            "ts_query_web" | "ts_query" => request.query = text(&key, value)?,
            "limit" => {
                let limit = number(&key, &value)?;
                if !(1..=MAX_PAGE).contains(&limit) {
                    return Err(bad(format!("limit must be between 1 and {MAX_PAGE}, not {limit}")));
                }
                request.limit = limit;
            }
            "offset" => request.offset = number(&key, &value)?,
            "kind" => request.kinds.push(match value.as_str() {
                // Artifact Hub's id for Helm charts.
                "helm" | "0" => "helm".to_owned(),
                "sherpack" => "sherpack".to_owned(),
                other => return Err(bad(format!("unknown kind `{other}`: helm (or 0) or sherpack"))),
            }),
            "repo" | "org" => wanted.push(value),
            "deprecated" => request.deprecated = if boolean(&key, &value)? { None } else { Some(false) },
            "signed" => request.signed = Some(boolean(&key, &value)?),
            "sort" => {
                request.sort = match value.as_str() {
                    "relevance" => Sort::Relevance,
                    "last_updated" => Sort::LastUpdated,
                    "name" => Sort::Name,
                    other => return Err(bad(format!("unknown sort `{other}`: relevance, last_updated or name"))),
                }
            }
            "facets" => request.facets = boolean(&key, &value)?,
            _ => {}
        }
    }
    request.namespaces = if wanted.is_empty() { readable } else { readable.into_iter().filter(|n| wanted.contains(n)).collect() };
    Ok(request)
}

fn millis_to_seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// A hit as Artifact Hub's search answers it (a struct, not a `json!` map: a page of 60
/// hits made some 1,200 map insertions per search).
#[derive(Serialize)]
struct FoundPackage<'a> {
    package_id: &'a str,
    name: &'a str,
    normalized_name: &'a str,
    display_name: Option<&'a str>,
    description: Option<&'a str>,
    version: &'a str,
    app_version: Option<&'a str>,
    deprecated: bool,
    signed: bool,
    signature: Option<&'a str>,
    ts: i64,
    pack_kind: &'a str,
    repository: PackageRepository<'a>,
}

#[derive(Serialize)]
struct PackageRepository<'a> {
    repository_id: &'a str,
    name: &'a str,
    display_name: &'a str,
    url: String,
    /// Artifact Hub's kind of a Helm chart repository, which every namespace is.
    kind: u8,
    verified_publisher: bool,
    official: bool,
    organization_name: &'a str,
}

impl<'a> FoundPackage<'a> {
    fn of(hit: &'a Hit, base: &str) -> Self {
        Self {
            package_id: &hit.repository,
            name: &hit.name,
            normalized_name: &hit.name,
            display_name: hit.display_name.as_deref(),
            description: hit.description.as_deref(),
            version: &hit.version,
            app_version: hit.app_version.as_deref(),
            deprecated: hit.deprecated,
            signed: hit.signed(),
            signature: hit.signature.as_deref(),
            ts: millis_to_seconds(hit.updated),
            pack_kind: &hit.kind,
            repository: PackageRepository {
                repository_id: &hit.namespace,
                name: &hit.namespace,
                display_name: &hit.namespace,
                url: format!("{base}/{}", hit.namespace),
                kind: 0,
                verified_publisher: false,
                official: false,
                organization_name: &hit.namespace,
            },
        }
    }
}

#[derive(Serialize)]
struct Packages<'a> {
    packages: Vec<FoundPackage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facets: Option<Value>,
}

fn facets_json(facets: &Facets) -> Value {
    let options = |counts: &std::collections::BTreeMap<String, u64>, label: &dyn Fn(&str) -> String| -> Vec<Value> {
        counts.iter().map(|(id, total)| json!({ "id": id, "name": label(id), "total": total })).collect()
    };
    let kind_name = |k: &str| if k == "helm" { "Helm chart".to_owned() } else { "Sherpack pack".to_owned() };
    json!([
        { "title": "Kind", "filter_key": "kind", "options": options(&facets.kinds, &kind_name) },
        { "title": "Repository", "filter_key": "repo", "options": options(&facets.namespaces, &str::to_owned) },
        { "title": "Deprecated", "filter_key": "deprecated", "options": [{ "id": "true", "name": "Deprecated", "total": facets.deprecated }] },
        { "title": "Signed", "filter_key": "signed", "options": [{ "id": "true", "name": "Signed", "total": facets.signed }] },
    ])
}

async fn packages(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    RawQuery(query): RawQuery,
) -> Result<Response, RepoError> {
    let caller = caller(&state, &headers, a).await?;
    // Parameters are checked before anything is read, so a bad one costs nothing.
    artifact_hub_request(query.as_deref(), Vec::new())?;
    let request = artifact_hub_request(query.as_deref(), readable_namespaces(&state, &caller).await?)?;
    let results = state.index.search(state.meta.as_ref(), request).await?;
    let base = crate::routes::oci::request::base_url(&state, &headers);
    let body = Packages { packages: results.hits.iter().map(|h| FoundPackage::of(h, &base)).collect(), facets: results.facets.as_ref().map(facets_json) };
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert("pagination-total-count", HeaderValue::from(results.total));
    Ok(response)
}

async fn monocular(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    RawQuery(query): RawQuery,
) -> Result<Response, RepoError> {
    let caller = caller(&state, &headers, a).await?;
    let mut request = Request::new("", Vec::new());
    request.limit = 50;
    for (key, value) in pairs(query.as_deref()) {
        match key.as_str() {
            "q" => request.query = text(&key, value)?,
            "offset" => request.offset = number(&key, &value)?,
            "limit" => request.limit = number(&key, &value)?.clamp(1, MAX_MONOCULAR_LIMIT),
            _ => {}
        }
    }
    request.namespaces = readable_namespaces(&state, &caller).await?;
    let results = state.index.search(state.meta.as_ref(), request).await?;
    let base = crate::routes::oci::request::base_url(&state, &headers);
    let data: Vec<_> = results
        .hits
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
                // What `helm search hub` prints as the URL to look at: the pack page.
                "artifactHub": { "packageUrl": crate::web::pack_url(&base, &h.namespace, &h.name) },
            })
        })
        .collect();
    Ok(axum::Json(json!({ "data": data })).into_response())
}

async fn autocomplete(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    RawQuery(query): RawQuery,
) -> Result<Response, RepoError> {
    let caller = caller(&state, &headers, a).await?;
    let (mut prefix, mut limit) = (String::new(), 8);
    for (key, value) in pairs(query.as_deref()) {
        match key.as_str() {
            "q" => prefix = text(&key, value)?,
            "limit" => limit = number(&key, &value)?.clamp(1, MAX_SUGGESTIONS),
            _ => {}
        }
    }
    let namespaces = readable_namespaces(&state, &caller).await?;
    let hits = state.index.suggest(state.meta.as_ref(), &prefix, namespaces, limit).await?;
    let suggestions: Vec<Value> = hits
        .iter()
        .map(|h| json!({ "name": h.name, "namespace": h.namespace, "repository": h.repository, "version": h.version, "description": h.description, "deprecated": h.deprecated }))
        .collect();
    Ok(axum::Json(json!({ "suggestions": suggestions })).into_response())
}

#[cfg(test)]
mod tests {
    use super::artifact_hub_request;

    #[test]
    fn artifact_hub_parameters() {
        let r = artifact_hub_request(Some("ts_query_web=redis&limit=5&offset=10&kind=0&kind=sherpack&repo=a&deprecated=true&sort=name&facets=true"), vec!["a".into(), "b".into()]).unwrap();
        assert_eq!((r.query.as_str(), r.limit, r.offset), ("redis", 5, 10));
        assert_eq!(r.kinds, ["helm", "sherpack"]);
        assert_eq!(r.namespaces, ["a"]);
        assert_eq!(r.deprecated, None);
        assert!(r.facets);
        let defaults = artifact_hub_request(None, vec![]).unwrap();
        assert_eq!(defaults.deprecated, Some(false), "deprecated packages are left out unless asked for");
        for bad in ["limit=0", "limit=61", "offset=-1", "kind=falco", "sort=stars", "deprecated=maybe", "facets=yes"] {
            assert!(artifact_hub_request(Some(bad), vec![]).is_err(), "{bad}");
        }
    }
}
