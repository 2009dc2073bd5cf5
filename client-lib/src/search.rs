//! `search repo` (the cached indexes of configured repositories) and `search hub` (an Artifact
//! Hub compatible API: ours, or artifacthub.io).

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::helmrepo::{Index, sorted_versions};
use crate::http::{HttpOptions, expect_success};

#[derive(Debug, Serialize)]
pub struct Hit {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Matches `query` (every word, case-insensitive) against names, descriptions and keywords of
/// one repository's index; `repo` prefixes the names. With `all_versions`, one hit per version.
#[must_use]
pub fn search_index(index: &Index, repo: &str, query: &str, all_versions: bool) -> Vec<Hit> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut hits = Vec::new();
    for (name, entries) in &index.entries {
        let order = sorted_versions(entries.iter().map(|e| e.version.as_str()));
        let mut ordered: Vec<_> = order.iter().filter_map(|v| entries.iter().find(|e| &e.version == v)).collect();
        if ordered.is_empty() {
            ordered = entries.iter().collect();
        }
        let Some(latest) = ordered.first() else { continue };
        let haystack = format!("{repo}/{name} {} {}", latest.description.as_deref().unwrap_or_default(), latest.keywords.join(" ")).to_lowercase();
        if !words.iter().all(|w| haystack.contains(w.as_str())) {
            continue;
        }
        for e in if all_versions { ordered.clone() } else { vec![*latest] } {
            hits.push(Hit {
                name: format!("{repo}/{name}"),
                version: e.version.clone(),
                app_version: e.app_version.clone(),
                description: e.description.clone().unwrap_or_default(),
                url: None,
            });
        }
    }
    hits
}

/// Artifact Hub `GET /api/v1/packages/search?ts_query_web=…`.
pub async fn search_hub(options: &HttpOptions, endpoint: &str, query: &str, limit: usize) -> Result<Vec<Hit>> {
    let endpoint = endpoint.trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{endpoint}/api/v1/packages/search")).map_err(|_| Error::Usage(format!("`{endpoint}` is not a URL")))?;
    url.query_pairs_mut().append_pair("ts_query_web", query).append_pair("limit", &limit.to_string()).append_pair("offset", "0");
    let response = options.client()?.get(url.as_str()).send().await.map_err(|e| Error::transport(url.as_str(), &e))?;
    let response = expect_success(response, &format!("the search API at {endpoint}")).await?;
    let body: Value = response.json().await.map_err(|e| Error::Invalid(format!("{endpoint} did not answer with Artifact Hub JSON: {e}")))?;
    let packages = body.get("packages").and_then(Value::as_array).ok_or_else(|| Error::Invalid(format!("{endpoint}: no `packages` in the search answer")))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(packages
        .iter()
        .map(|p| {
            let repo = p.get("repository").map(|r| text(r, "name")).unwrap_or_default();
            let name = text(p, "name");
            Hit {
                name: if repo.is_empty() { name.clone() } else { format!("{repo}/{name}") },
                version: text(p, "version"),
                app_version: p.get("app_version").and_then(Value::as_str).map(str::to_owned),
                description: text(p, "description"),
                url: Some(format!("{endpoint}/packages/helm/{repo}/{name}")),
            }
        })
        .collect())
}
