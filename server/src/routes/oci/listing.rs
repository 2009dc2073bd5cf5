//! Content discovery: `tags/list`, `_catalog` (both paginated with `n`, `last` and a `Link`
//! header) and the referrers API.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use registry_core::RepoName;
use registry_core::manifest::{self, Descriptor, OCI_INDEX};
use serde_json::json;

use super::Req;
use super::error::{ErrorCode, OciError, OciResult};
use super::request::parse_digest;

/// Most entries a page holds, asked for or not.
const MAX_PAGE: u32 = 10_000;

/// The page size asked for (`n`), and whether one was asked for.
fn page_size(req: &Req) -> OciResult<(u32, bool)> {
    match req.params.get("n") {
        None => Ok((MAX_PAGE, false)),
        Some(n) => n
            .parse::<u32>()
            .map(|n| (n.min(MAX_PAGE), true))
            .map_err(|_| OciError::new(ErrorCode::PaginationNumberInvalid, format!("n=`{n}` is not a number"))),
    }
}

/// Fetches one more than a page to learn whether a next page exists, and answers with a
/// `Link: <...>; rel="next"` header when it does.
async fn paged<F, Fut>(req: &Req, path: &str, fetch: F) -> OciResult<(Vec<String>, Option<HeaderValue>)>
where
    F: FnOnce(Option<String>, u32) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, registry_core::store::StoreError>>,
{
    let (n, asked) = page_size(req)?;
    if n == 0 {
        return Ok((Vec::new(), None));
    }
    let mut items = fetch(req.params.get("last").map(str::to_owned), n + 1).await?;
    let more = items.len() > n as usize;
    items.truncate(n as usize);
    let link = match (more, items.last()) {
        (true, Some(last)) => {
            let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
            let n_param = if asked { format!("n={n}&") } else { String::new() };
            HeaderValue::from_str(&format!("<{path}?{n_param}last={last}>; rel=\"next\"")).ok()
        }
        _ => None,
    };
    Ok((items, link))
}

fn with_link(body: serde_json::Value, link: Option<HeaderValue>) -> axum::response::Response {
    let mut response = Json(body).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

pub async fn tags(req: Req, name: RepoName) -> OciResult {
    if !req.state.meta.repository_exists(&name).await? {
        return Err(OciError::new(ErrorCode::NameUnknown, format!("repository {name} is unknown")));
    }
    let meta = req.state.meta.clone();
    let path = format!("/v2/{name}/tags/list");
    let (tags, link) = paged(&req, &path, |last, n| {
        let name = name.clone();
        async move { meta.list_tags(&name, last.as_deref(), n).await }
    })
    .await?;
    Ok(with_link(json!({ "name": name.as_str(), "tags": tags }), link))
}

/// Only the repositories the caller may pull from: pages are filled from the store in batches
/// until full, so a page is never short while more readable names follow.
pub async fn catalog(req: Req) -> OciResult {
    let state = req.state.clone();
    let caller = req.caller.clone();
    let (repositories, link) = paged(&req, "/v2/_catalog", |last, n| async move {
        let mut readable = Vec::new();
        let mut seen: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
        let mut after = last;
        loop {
            let batch = state.meta.list_repositories(after.as_deref(), n.max(100)).await?;
            let exhausted = batch.len() < n.max(100) as usize;
            for name in batch {
                after = Some(name.clone());
                let namespace = name.split('/').next().unwrap_or_default().to_owned();
                let allowed = if let Some(a) = seen.get(&namespace) { *a } else {
                    let a = state.auth.permissions(&caller.principal, &namespace).await?.allows(registry_core::auth::Action::Pull);
                    seen.insert(namespace, a);
                    a
                };
                if allowed {
                    readable.push(name);
                    if readable.len() == n as usize {
                        return Ok(readable);
                    }
                }
            }
            if exhausted {
                return Ok(readable);
            }
        }
    })
    .await?;
    Ok(with_link(json!({ "repositories": repositories }), link))
}

pub async fn referrers(req: Req, name: RepoName, digest: &str) -> OciResult {
    let subject = parse_digest(digest)?;
    let filter = req.params.get("artifactType");
    let mut manifests = Vec::new();
    for record in req.state.meta.referrers(&name, &subject).await? {
        let Ok(parsed) = manifest::parse(&record.content, Some(&record.media_type)) else { continue };
        let artifact_type = parsed.effective_artifact_type().map(str::to_owned);
        if filter.is_some_and(|f| artifact_type.as_deref() != Some(f)) {
            continue;
        }
        manifests.push(Descriptor {
            media_type: record.media_type,
            digest: record.digest,
            size: record.size,
            artifact_type,
            annotations: (!parsed.annotations.is_empty()).then_some(parsed.annotations),
            platform: None,
            urls: None,
        });
    }
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, OCI_INDEX)], body.to_string()).into_response();
    if filter.is_some() {
        response.headers_mut().insert("oci-filters-applied", HeaderValue::from_static("artifactType"));
    }
    Ok(response)
}
