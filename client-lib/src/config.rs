//! Where the CLI keeps its files, and the two files it shares with the upstream client:
//! `credentials.yaml` (per repository name or registry host) and `repositories.yaml`.
//! Docker's `config.json` is read as a fallback for registry credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `$SHERPACK_CONFIG_HOME`, else `$XDG_CONFIG_HOME/sherpack`, else `~/.config/sherpack`.
#[must_use]
pub fn config_home() -> PathBuf {
    dir_from_env("SHERPACK_CONFIG_HOME", "XDG_CONFIG_HOME", ".config")
}

/// `$SHERPACK_CACHE_HOME`, else `$XDG_CACHE_HOME/sherpack`, else `~/.cache/sherpack`.
#[must_use]
pub fn cache_home() -> PathBuf {
    dir_from_env("SHERPACK_CACHE_HOME", "XDG_CACHE_HOME", ".cache")
}

fn dir_from_env(own: &str, xdg: &str, fallback: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(own).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os(xdg).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("sherpack");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(fallback).join("sherpack")
}

/// Reads a YAML file, or the default when it does not exist.
fn load_yaml<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(T::default()),
        Ok(text) => serde_saphyr::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(Error::io(path)(e)),
    }
}

/// Writes a file atomically (temporary file in the same directory, then rename), private to
/// the user when `private`.
pub fn write_atomic(path: &Path, data: &[u8], private: bool) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(Error::io(dir))?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600)).map_err(Error::io(path))?;
    }
    std::io::Write::write_all(&mut file, data).map_err(Error::io(path))?;
    file.as_file().sync_all().map_err(Error::io(path))?;
    file.persist(path).map_err(|e| Error::io(path)(e.error))?;
    Ok(())
}

fn save_yaml<T: Serialize>(path: &Path, value: &T, private: bool) -> Result<()> {
    let text = serde_saphyr::to_string(value).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    write_atomic(path, text.as_bytes(), private)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Credential {
    Basic { username: String, password: String },
    Bearer { token: String },
}

/// `credentials.yaml`: credentials by repository name or registry host.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CredentialStore {
    #[serde(default)]
    pub credentials: BTreeMap<String, Credential>,
}

impl CredentialStore {
    #[must_use]
    pub fn path() -> PathBuf {
        config_home().join("credentials.yaml")
    }

    pub fn load() -> Result<Self> {
        load_yaml(&Self::path())
    }

    pub fn save(&self) -> Result<()> {
        save_yaml(&Self::path(), self, true)
    }

    /// The credential for the first of `keys` (repository name, then host) that has one, then
    /// Docker's `config.json` for the host.
    #[must_use]
    pub fn find(&self, keys: &[&str], host: &str) -> Option<Credential> {
        keys.iter().find_map(|k| self.credentials.get(*k).cloned()).or_else(|| docker_credential(host))
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// Credentials for `host` in `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`).
fn docker_credential(host: &str) -> Option<Credential> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: DockerConfig = serde_json::from_str(&text).ok()?;
    let auth = [host.to_owned(), format!("https://{host}"), format!("http://{host}")]
        .iter()
        .find_map(|k| config.auths.get(k.as_str()).or_else(|| config.auths.get(&format!("{k}/"))))?;
    if let Some(token) = &auth.identitytoken {
        return Some(Credential::Bearer { token: token.clone() });
    }
    if let (Some(username), Some(password)) = (&auth.username, &auth.password) {
        return Some(Credential::Basic { username: username.clone(), password: password.clone() });
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(auth.auth.as_ref()?.trim()).ok()?;
    let (username, password) = String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some(Credential::Basic { username, password })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    #[default]
    Http,
    Oci,
    File,
}

impl RepoType {
    pub fn detect(url: &str) -> Result<Self> {
        if url.starts_with("oci://") {
            Ok(Self::Oci)
        } else if url.starts_with("file://") || url.starts_with('/') {
            Ok(Self::File)
        } else if url.starts_with("http://") || url.starts_with("https://") {
            Ok(Self::Http)
        } else {
            Err(Error::Usage(format!("`{url}` is not a repository URL: use http(s)://, oci://host/namespace or file://")))
        }
    }
}

/// One entry of `repositories.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub repo_type: RepoType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// `repositories.yaml`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repositories {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default)]
    pub repositories: Vec<Repository>,
}

fn api_version() -> String {
    "sherpack.io/v1".into()
}

impl Default for Repositories {
    fn default() -> Self {
        Self { api_version: api_version(), repositories: Vec::new() }
    }
}

impl Repositories {
    #[must_use]
    pub fn path() -> PathBuf {
        config_home().join("repositories.yaml")
    }

    pub fn load() -> Result<Self> {
        load_yaml(&Self::path())
    }

    pub fn save(&self) -> Result<()> {
        save_yaml(&Self::path(), self, false)
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Repository> {
        self.repositories.iter().find(|r| r.name == name)
    }

    /// The repository called `name`, or an error listing the configured ones.
    pub fn require(&self, name: &str) -> Result<&Repository> {
        self.get(name).ok_or_else(|| Error::NotFound {
            what: format!("repository `{name}`"),
            hint: if self.repositories.is_empty() {
                ": no repositories are configured, add one with `sherpack repo add <name> <url>`".into()
            } else {
                format!(" (configured: {})", self.repositories.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "))
            },
        })
    }

    /// The configured repository whose URL is `url` (ignoring a trailing slash).
    #[must_use]
    pub fn by_url(&self, url: &str) -> Option<&Repository> {
        let url = url.trim_end_matches('/');
        self.repositories.iter().find(|r| r.url.trim_end_matches('/') == url)
    }
}

/// The host (with port) of a URL or `oci://` reference.
#[must_use]
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest).rsplit('@').next().unwrap_or_default().to_owned()
}
