//! An OCI registry as an import source (`--from-oci <host>/<namespace>`): the repositories
//! under the namespace (from `_catalog`, else the `--repositories` given) and each one's tags.
//! A tag is a candidate; the signature tags the `sherpack` CLI pushes to a registry without the
//! referrers API (`sha256-<hex>.minisig`) are not: they come with their subject
//! (`oci_copy.rs`). Built from plain values ([`OciSpec`]) so other callers can describe one.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use client_lib::config::Credential;
use client_lib::http::HttpOptions;
use client_lib::oci::OciClient;
use futures::{StreamExt as _, TryStreamExt as _};

use super::source::{Candidate, describe};

/// Where and how to read an OCI registry.
#[derive(Debug, Clone, Default)]
pub struct OciSpec {
    /// `host[:port]`.
    pub host: String,
    /// The source namespace (a path prefix, possibly several segments); empty: the whole registry.
    pub namespace: String,
    /// Repositories under `namespace` to import; empty: every one `_catalog` lists.
    pub repositories: Vec<String>,
    pub plain_http: bool,
    /// Basic credentials (answered to Basic and bearer challenges).
    pub credentials: Option<(String, String)>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl OciSpec {
    /// `host[:port]/namespace` (an `oci://` prefix allowed) into host and namespace.
    pub fn location(text: &str) -> anyhow::Result<(String, String)> {
        let rest = text.strip_prefix("oci://").unwrap_or(text).trim_end_matches('/');
        let (host, namespace) = rest.split_once('/').unwrap_or((rest, ""));
        let bad = || anyhow::anyhow!("`{text}` is not <host[:port]>/<namespace>");
        match host.rsplit_once(':') {
            _ if host.is_empty() => return Err(bad()),
            Some((h, port)) if h.is_empty() || port.parse::<u16>().is_err() => return Err(bad()),
            _ => {}
        }
        Ok((host.to_owned(), namespace.to_owned()))
    }
}

pub struct OciSource {
    pub(super) client: OciClient,
    host: String,
    namespace: String,
    repositories: Vec<String>,
    /// By `Candidate::key`: the source repository and the tag.
    tags: Mutex<Vec<(String, String)>>,
    /// By source repository: its signature fallback tags.
    signature_tags: Mutex<HashMap<String, HashSet<String>>>,
}

/// `sha256-<hex>.minisig`: the tag of a signature of `sha256:<hex>` on a registry without referrers.
#[must_use]
pub fn is_signature_tag(tag: &str) -> bool {
    tag.strip_suffix(".minisig").and_then(|t| t.strip_prefix("sha256-")).is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

impl OciSource {
    pub fn new(spec: OciSpec) -> anyhow::Result<Self> {
        let options = HttpOptions {
            ca_file: spec.ca_file,
            plain_http: spec.plain_http,
            read_timeout: Some(spec.timeout),
            same_host_redirects: true,
            ..Default::default()
        };
        let credential = spec.credentials.map(|(username, password)| Credential::Basic { username, password });
        let client = OciClient::new(&options, &spec.host, credential).map_err(|e| anyhow::anyhow!(describe(&e)))?;
        let repositories = spec.repositories.iter().map(|r| r.trim_matches('/').to_owned()).filter(|r| !r.is_empty()).collect();
        Ok(Self { client, host: spec.host, namespace: spec.namespace.trim_matches('/').to_owned(), repositories, tags: Mutex::default(), signature_tags: Mutex::default() })
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("oci://{}/{}", self.host, self.namespace)
    }

    /// The source repository of a path relative to the namespace.
    fn full(&self, relative: &str) -> String {
        if self.namespace.is_empty() { relative.to_owned() } else { format!("{}/{relative}", self.namespace) }
    }

    /// The repositories to import, relative to the namespace.
    async fn repositories(&self) -> anyhow::Result<Vec<String>> {
        if !self.repositories.is_empty() {
            return Ok(self.repositories.clone());
        }
        let hint = "name the repositories to import with --repositories a,b/c";
        let listed = match self.client.catalog().await {
            Ok(Some(listed)) => listed,
            Ok(None) => anyhow::bail!("{} does not offer a catalog (/v2/_catalog): {hint}", self.host),
            Err(e @ client_lib::Error::Unauthorized { .. }) => anyhow::bail!("{}; or {hint}", describe(&e)),
            Err(e @ client_lib::Error::Forbidden { .. }) => anyhow::bail!("{} refuses to list its catalog ({e}): {hint}", self.host),
            Err(e) => anyhow::bail!(describe(&e)),
        };
        let prefix = format!("{}/", self.namespace);
        Ok(listed
            .into_iter()
            .filter_map(|r| if self.namespace.is_empty() { Some(r) } else { r.strip_prefix(&prefix).map(str::to_owned) })
            .collect())
    }

    /// Every tag of every repository; an unreachable source, refused credentials or a missing
    /// repository end the import here, before anything is stored.
    pub async fn list(&self) -> anyhow::Result<Vec<Candidate>> {
        let repositories = self.repositories().await?;
        let listed: Vec<(String, Vec<String>)> = futures::stream::iter(repositories)
            .map(|relative| async move {
                let tags = self.client.tags(&self.full(&relative)).await.map_err(|e| anyhow::anyhow!(describe(&e)))?;
                Ok::<_, anyhow::Error>((relative, tags))
            })
            .buffered(8)
            .try_collect()
            .await?;
        let (mut tags, mut signatures) = (Vec::new(), HashMap::new());
        for (relative, repo_tags) in listed {
            let (sigs, versions): (Vec<String>, Vec<String>) = repo_tags.into_iter().partition(|t| is_signature_tag(t));
            signatures.insert(self.full(&relative), sigs.into_iter().collect::<HashSet<_>>());
            tags.extend(versions.into_iter().map(|t| (relative.clone(), t)));
        }
        let candidates = tags
            .iter()
            .enumerate()
            .map(|(key, (relative, tag))| Candidate { name: relative.clone(), version: tag.clone(), digest: String::new(), namespace: None, key })
            .collect();
        *self.tags.lock().expect("tags lock") = tags.into_iter().map(|(r, t)| (self.full(&r), t)).collect();
        *self.signature_tags.lock().expect("signature tags lock") = signatures;
        Ok(candidates)
    }

    /// The source repository and tag of a candidate.
    pub(super) fn tag(&self, key: usize) -> Option<(String, String)> {
        self.tags.lock().expect("tags lock").get(key).cloned()
    }

    /// The signature fallback tag of `subject` in `repository`, if the source has one.
    pub(super) fn signature_tag(&self, repository: &str, subject: &str) -> Option<String> {
        let tag = format!("{}.minisig", subject.replace(':', "-"));
        self.signature_tags.lock().expect("signature tags lock").get(repository).filter(|s| s.contains(&tag)).map(|_| tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_signature_tags_parse() {
        assert_eq!(OciSpec::location("oci://r.example:5000/team/apps/").unwrap(), ("r.example:5000".into(), "team/apps".into()));
        assert_eq!(OciSpec::location("r.example").unwrap(), ("r.example".into(), String::new()));
        assert!(OciSpec::location("/team").is_err());
        assert!(OciSpec::location("host:port/team").is_err());
        assert!(is_signature_tag(&format!("sha256-{}.minisig", "a".repeat(64))));
        assert!(!is_signature_tag("sha256-abc.minisig"));
        assert!(!is_signature_tag("1.0.0"));
    }
}
