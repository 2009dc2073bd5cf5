//! An import described as data: where it reads from ([`SourceSpec`]) and with which options
//! ([`ImportRequest`]), as the admin API receives it, the store keeps it (without the password)
//! and a mirror syncs with it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ImportOptions, OciSource, OciSpec, Source, helm::HelmSource, storage::StorageSource};

/// Where versions come from: `{"helm_repo": "https://…"}`,
/// `{"chartmuseum_storage": "/dir" | "s3://bucket/prefix"}` or
/// `{"oci": {"location": "host[:port]/namespace", "repositories": […], "plain_http": false}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    HelmRepo(String),
    ChartmuseumStorage(String),
    Oci(OciLocation),
}

/// An OCI registry's namespace as a source (`--from-oci`, `--repositories`, `--plain-http`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OciLocation {
    /// `host[:port]/namespace`, an `oci://` prefix allowed.
    pub location: String,
    /// Repositories under the namespace; empty: every one the registry's `_catalog` lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    #[serde(default)]
    pub plain_http: bool,
}

impl SourceSpec {
    /// The source's address as shown.
    #[must_use]
    pub fn url(&self) -> &str {
        match self {
            Self::HelmRepo(u) | Self::ChartmuseumStorage(u) => u,
            Self::Oci(o) => &o.location,
        }
    }

    /// Reads the server's own storage or files: for registry admins only.
    #[must_use]
    pub fn is_server_side(&self) -> bool {
        matches!(self, Self::ChartmuseumStorage(_))
    }

    /// The source itself; an address that is not one is an error naming it.
    pub fn open(&self, options: &ImportOptions, password: Option<String>, s3: registry_store::S3Options) -> anyhow::Result<Source> {
        Ok(match self {
            Self::HelmRepo(url) => Source::Helm(HelmSource::new(url, options, password)?),
            Self::ChartmuseumStorage(location) => Source::Storage(StorageSource::new(location, s3, false)?),
            Self::Oci(oci) => {
                let (host, namespace) = OciSpec::location(&oci.location)?;
                let credentials = options.username.clone().map(|u| (u, password.unwrap_or_default()));
                let spec = OciSpec {
                    host,
                    namespace,
                    repositories: oci.repositories.clone(),
                    plain_http: oci.plain_http,
                    credentials,
                    ca_file: options.ca_file.clone(),
                    timeout: options.timeout,
                };
                Source::Oci(OciSource::new(spec)?)
            }
        })
    }
}

fn default_concurrency() -> u16 {
    8
}

fn default_timeout() -> u64 {
    60
}

/// The body of `POST /api/v1/namespaces/<ns>/imports`; stored with the job, the password left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub source: SourceSpec,
    /// Only these charts.
    #[serde(default)]
    pub charts: Vec<String>,
    /// Only versions in this semver range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
    #[serde(default)]
    pub overwrite: bool,
    #[serde(default = "default_concurrency")]
    pub concurrency: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Give up on a source silent this many seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl ImportRequest {
    /// The options of the run, or why the request is not one.
    pub fn options(&self) -> Result<ImportOptions, String> {
        if !(1..=256).contains(&self.concurrency) {
            return Err("concurrency must be between 1 and 256".into());
        }
        if !(1..=3600).contains(&self.timeout_secs) {
            return Err("timeout_secs must be between 1 and 3600".into());
        }
        if self.charts.iter().any(|c| c.is_empty() || c.len() > 255) {
            return Err("charts must be names of 1 to 255 characters".into());
        }
        if let Some(range) = &self.versions {
            client_lib::helmrepo::parse_range(range).map_err(|e| format!("versions: {e}"))?;
        }
        if self.password.is_some() && self.username.is_none() {
            return Err("a password needs a username".into());
        }
        if self.username.is_some() && self.source.is_server_side() {
            return Err("username and password are for a Helm repository or OCI registry source".into());
        }
        Ok(ImportOptions {
            charts: self.charts.clone(),
            versions: self.versions.clone(),
            overwrite: self.overwrite,
            concurrency: self.concurrency,
            username: self.username.clone(),
            ca_file: None,
            timeout: Duration::from_secs(self.timeout_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Result<ImportRequest, String> {
        serde_json::from_str::<ImportRequest>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn requests_parse_and_refuse_what_is_not_an_import() {
        let r = request(r#"{"source":{"helm_repo":"https://charts.example"},"versions":"^1","username":"u","password":"p"}"#).unwrap();
        assert_eq!(r.source, SourceSpec::HelmRepo("https://charts.example".into()));
        assert!(r.options().is_ok());
        let stored = serde_json::to_string(&r).unwrap();
        assert!(!stored.contains("password") && !stored.contains("\"p\""), "{stored}");
        assert!(request(r#"{"source":{"ftp":"x"}}"#).is_err());
        assert!(request(r#"{"source":{"helm_repo":"x"},"extra":1}"#).is_err());
        assert!(request(r#"{"charts":[]}"#).is_err());
        let bad = |json: &str| request(json).unwrap().options().unwrap_err();
        assert!(bad(r#"{"source":{"helm_repo":"x"},"concurrency":0}"#).contains("concurrency"));
        assert!(bad(r#"{"source":{"helm_repo":"x"},"versions":"not a range"}"#).contains("versions"));
        assert!(bad(r#"{"source":{"helm_repo":"x"},"password":"p"}"#).contains("username"));
        assert!(bad(r#"{"source":{"chartmuseum_storage":"/d"},"username":"u"}"#).contains("Helm repository"));
        let oci = request(r#"{"source":{"oci":{"location":"127.0.0.1:5000/team","plain_http":true}},"username":"u","password":"p"}"#).unwrap();
        assert_eq!(oci.source.url(), "127.0.0.1:5000/team");
        assert!(oci.options().is_ok());
        assert!(request(r#"{"source":{"oci":{"location":"h/n","tls":false}}}"#).is_err(), "unknown OCI source fields are refused");
    }
}
