//! Helm-style HTTP repositories (ours, `ChartMuseum`, a static directory behind any web server):
//! the index (`index.json` when the server offers it, else `index.yaml`), cached on disk,
//! version lookup by semver range, digest-checked downloads, and the `ChartMuseum` upload API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::config::Credential;
use crate::error::{Error, Result};
use crate::http::{Body, HttpOptions, Session, expect_success};

/// Indexes larger than this are refused.
const MAX_INDEX_BYTES: u64 = 512 << 20;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "scalar")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_scalar")]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// YAML writes `version: 1.0` as a number: keep its text.
fn scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_scalar(d)?.unwrap_or_default())
}

fn opt_scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(registry_core::pack::scalar(Some(serde_json::Value::deserialize(d)?)))
}

impl Index {
    /// The newest version of `name` matching `range` (`None`: the newest stable one).
    pub fn find(&self, name: &str, range: Option<&str>, repo: &str) -> Result<&IndexEntry> {
        let versions = self.entries.get(name).filter(|v| !v.is_empty()).ok_or_else(|| Error::NotFound {
            what: format!("pack `{name}` in {repo}"),
            hint: String::new(),
        })?;
        best_match(versions.iter().map(|e| (e.version.as_str(), e)), range).ok_or_else(|| Error::NotFound {
            what: format!("a version of `{name}` matching `{}` in {repo}", range.unwrap_or("*")),
            hint: format!(" (versions available: {})", sorted_versions(versions.iter().map(|e| e.version.as_str())).join(", ")),
        })
    }
}

/// Parses a semver range the way Helm writes them (`^1.2`, `~1.2.3`, `>=1, <2`, `1.2.x`, `*`).
pub fn parse_range(range: &str) -> Result<semver::VersionReq> {
    let normalized = range.trim().replace(".x", ".*").replace(".X", ".*");
    let normalized = if normalized.contains(',') || !normalized.contains(' ') {
        normalized
    } else {
        // `>=1.0 <2.0` (space-separated, as Masterminds/semver allows) → comma-separated.
        normalized.split_whitespace().collect::<Vec<_>>().join(", ")
    };
    if normalized.is_empty() {
        return Ok(semver::VersionReq::STAR);
    }
    // A bare full version is exact, as in Helm (Cargo would read it as `^`).
    let normalized = normalized
        .split(',')
        .map(|part| {
            let part = part.trim();
            if semver::Version::parse(part.trim_start_matches('v')).is_ok() { format!("={}", part.trim_start_matches('v')) } else { part.to_owned() }
        })
        .collect::<Vec<_>>()
        .join(", ");
    semver::VersionReq::parse(&normalized).map_err(|e| Error::Usage(format!("`{range}` is not a version range: {e}")))
}

/// The newest item whose version matches `range`; with no range, the newest stable version
/// (a pre-release only when nothing else exists). An exact version matches itself.
pub fn best_match<'a, T>(items: impl Iterator<Item = (&'a str, T)>, range: Option<&str>) -> Option<T> {
    let req = match range {
        Some(r) => Some(parse_range(r).ok()?),
        None => None,
    };
    let mut candidates: Vec<(semver::Version, T)> = items
        .filter_map(|(v, item)| semver::Version::parse(v.trim_start_matches('v')).ok().map(|v| (v, item)))
        .filter(|(v, _)| match (&req, range) {
            (Some(req), Some(text)) => req.matches(v) || text.trim().trim_start_matches(['=', 'v']) == v.to_string(),
            _ => true,
        })
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0));
    let stable = candidates.iter().position(|(v, _)| v.pre.is_empty());
    let pick = if range.is_none() { stable.unwrap_or(0) } else { 0 };
    if pick < candidates.len() { Some(candidates.swap_remove(pick).1) } else { None }
}

#[must_use]
pub fn sorted_versions<'a>(versions: impl Iterator<Item = &'a str>) -> Vec<String> {
    crate::oci::newest_first(versions.map(str::to_owned).collect())
}

pub struct HelmRepo {
    pub url: String,
    session: Session,
}

impl HelmRepo {
    pub fn new(options: &HttpOptions, url: &str, credential: Option<Credential>) -> Result<Self> {
        let url = url.trim_end_matches('/').to_owned();
        let host = crate::config::host_of(&url);
        Ok(Self { session: Session::new(options.client()?, &host, credential, true), url })
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response> {
        self.session.send(Method::GET, url, Body::none(), "").await
    }

    /// The index response: `index.json` when the server offers it, else `index.yaml`; its URL
    /// and format.
    async fn index_response(&self) -> Result<(reqwest::Response, String, &'static str)> {
        let json_url = format!("{}/index.json", self.url);
        let response = self.get(&json_url).await?;
        let is_json = response.status().is_success()
            && response.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"));
        let (response, url, ext) = if is_json {
            (response, json_url, "json")
        } else {
            let yaml_url = format!("{}/index.yaml", self.url);
            (self.get(&yaml_url).await?, yaml_url, "yaml")
        };
        if response.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound { what: url.clone(), hint: ": is this a Helm repository URL?".into() });
        }
        Ok((expect_success(response, &url).await?, url, ext))
    }

    /// Downloads the index to `cache` (the format the server offered decides the extension).
    pub async fn fetch_index(&self, cache_stem: &Path) -> Result<PathBuf> {
        let (response, url, ext) = self.index_response().await?;
        let path = cache_stem.with_extension(ext);
        crate::download::to_file(response, &url, "", &path, MAX_INDEX_BYTES, &ProgressBar::hidden()).await?;
        // Remove the other format so a stale copy is never read.
        let other = cache_stem.with_extension(if ext == "json" { "yaml" } else { "json" });
        let _ = std::fs::remove_file(other);
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        parse_index(&text, ext == "json", &url)?;
        Ok(path)
    }

    /// The index, read into memory (not cached).
    pub async fn index(&self) -> Result<Index> {
        let (response, url, ext) = self.index_response().await?;
        let body = crate::download::to_bytes(response, &url, "", MAX_INDEX_BYTES).await?;
        let text = std::str::from_utf8(&body).map_err(|_| Error::Invalid(format!("{url} is not a repository index: not UTF-8 text")))?;
        parse_index(text, ext == "json", &url)
    }

    /// The absolute URL of an index entry's first download URL.
    pub fn download_url(&self, entry: &IndexEntry) -> Result<String> {
        let first = entry.urls.first().ok_or_else(|| Error::Invalid(format!("{} {} has no download URL in the index", entry.name, entry.version)))?;
        let base = url::Url::parse(&format!("{}/", self.url)).map_err(|_| Error::Usage(format!("`{}` is not a URL", self.url)))?;
        base.join(first).map(|u| u.to_string()).map_err(|_| Error::Invalid(format!("bad download URL `{first}`")))
    }

    /// Downloads an entry's archive to `dest`, checking the index digest.
    pub async fn download(&self, entry: &IndexEntry, dest: &Path, progress: &ProgressBar) -> Result<()> {
        let url = self.download_url(entry)?;
        let response = expect_success(self.get(&url).await?, &url).await?;
        crate::download::to_file(response, &url, &entry.digest, dest, registry_core::pack::Limits::default().max_archive_bytes, progress).await
    }

    /// An entry's archive in memory, at most `max` bytes, checked against the index digest.
    pub async fn fetch(&self, entry: &IndexEntry, max: u64) -> Result<bytes::Bytes> {
        let url = self.download_url(entry)?;
        let response = expect_success(self.get(&url).await?, &url).await?;
        crate::download::to_bytes(response, &url, &entry.digest, max).await
    }

    /// A file published next to an entry's archive (`minisig`, `prov`), if there is one. A 403
    /// counts as none, as a 404 does: repositories served from an S3 or GCS bucket answer 403
    /// for a key that does not exist.
    pub async fn companion(&self, entry: &IndexEntry, extension: &str, max: u64) -> Result<Option<bytes::Bytes>> {
        let url = format!("{}.{extension}", self.download_url(entry)?);
        let response = match self.get(&url).await {
            Err(Error::Forbidden { .. }) => return Ok(None),
            other => other?,
        };
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = expect_success(response, &url).await?;
        crate::download::to_bytes(response, &url, "", max).await.map(Some)
    }

    /// The minisign signature published next to an entry's archive, if any.
    pub async fn signature(&self, entry: &IndexEntry) -> Result<Option<Vec<u8>>> {
        Ok(self.companion(entry, "minisig", 64 << 10).await?.map(|b| b.to_vec()))
    }

    /// `ChartMuseum` API upload: `POST <url>/api/charts` (our server: `/api/<namespace>/charts`),
    /// the archive and its signature as multipart fields `chart` and `prov`.
    pub async fn upload(&self, archive: &[u8], file_name: &str, signature: Option<&[u8]>, force: bool) -> Result<()> {
        let api = chartmuseum_api(&self.url)?;
        let url = format!("{api}/charts{}", if force { "?force=true" } else { "" });
        let boundary = format!("sherpack-{}", &crate::oci::sha256_digest(archive)[7..31]);
        let mut body = Vec::with_capacity(archive.len() + 1024);
        let mut part = |field: &str, name: &str, data: &[u8]| {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        };
        part("chart", file_name, archive);
        if let Some(sig) = signature {
            part("prov", &format!("{file_name}.minisig"), sig);
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let response = self.session.send(Method::POST, &url, Body::bytes(body, &format!("multipart/form-data; boundary={boundary}")), "").await?;
        if response.status() == StatusCode::CONFLICT {
            return Err(Error::Server { url, status: 409, message: format!("{file_name} already exists in the repository (use --force to replace it)") });
        }
        expect_success(response, &format!("ChartMuseum API at {api}")).await.map(drop)
    }
}

/// The `ChartMuseum` API base for a repository URL: `<server>/api/<namespace>` for a namespace
/// URL of ours (`https://host/<ns>`), `<url>/api` for a server root.
fn chartmuseum_api(url: &str) -> Result<String> {
    let parsed = url::Url::parse(url).map_err(|_| Error::Usage(format!("`{url}` is not a URL")))?;
    let path = parsed.path().trim_matches('/');
    let root = format!("{}://{}", parsed.scheme(), crate::config::host_of(url));
    Ok(if path.is_empty() { format!("{root}/api") } else { format!("{root}/api/{path}") })
}

/// Reads a cached index (`.json` or `.yaml`).
pub fn parse_index_file(path: &Path) -> Result<Index> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    parse_index(&text, path.extension().is_some_and(|e| e == "json"), &path.display().to_string())
}

/// Parses an index (JSON or YAML); `what` names it in the error.
pub fn parse_index(text: &str, json: bool, what: &str) -> Result<Index> {
    let parsed = if json {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_saphyr::from_str_with_options(text, serde_saphyr::options! { budget: None }).map_err(|e| e.to_string())
    };
    let mut index: Index = parsed.map_err(|e| Error::Invalid(format!("{what} is not a repository index: {e}")))?;
    for (name, versions) in &mut index.entries {
        for v in versions {
            if v.name.is_empty() {
                v.name.clone_from(name);
            }
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_pick_the_newest_match() {
        let versions = ["1.0.0", "1.2.0", "1.10.1", "2.0.0", "2.1.0-rc.1"];
        let pick = |r: Option<&str>| best_match(versions.iter().map(|v| (*v, *v)), r);
        assert_eq!(pick(None), Some("2.0.0"));
        assert_eq!(pick(Some("^1.2")), Some("1.10.1"));
        assert_eq!(pick(Some("~1.2.0")), Some("1.2.0"));
        assert_eq!(pick(Some(">=1.0.0 <1.5.0")), Some("1.2.0"));
        assert_eq!(pick(Some("1.x")), Some("1.10.1"));
        assert_eq!(pick(Some("1.0.0")), Some("1.0.0"));
        assert_eq!(pick(Some("^3")), None);
        assert!(parse_range("not a range").is_err());
    }

    #[test]
    fn chartmuseum_api_follows_the_url() {
        assert_eq!(chartmuseum_api("http://h:1/team").unwrap(), "http://h:1/api/team");
        assert_eq!(chartmuseum_api("http://h:1").unwrap(), "http://h:1/api");
    }
}
