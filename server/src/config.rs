//! Configuration: defaults, then a TOML file (`--config`), then `SHERPACK_REGISTRY_*`
//! environment variables (nested keys joined by `__`, e.g. `SHERPACK_REGISTRY_S3__ENDPOINT`),
//! then command-line flags. Unknown keys and malformed values are errors that name the key.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use registry_store::S3Options;
use serde::{Deserialize, Serialize};

/// Where `sherpack-registry serve` listens with no configuration.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5050";
pub const ENV_PREFIX: &str = "SHERPACK_REGISTRY_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// The URL clients reach the registry at (behind a proxy); absent: taken from each request.
    pub public_url: Option<String>,
    /// `sqlite://<path>` or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// `file://<path>`, `s3://<bucket>/<prefix>` or `memory://`.
    pub storage_url: String,
    /// Settings for an `s3://` storage URL.
    #[serde(default)]
    pub s3: S3Options,
    pub log: LogConfig,
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub oci: OciConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Limits on the chart and pack archives read at push.
    #[serde(default)]
    pub packs: registry_core::pack::Limits,
    #[serde(default)]
    pub chartmuseum: ChartMuseumConfig,
    #[serde(default)]
    pub search: SearchConfig,
    #[serde(default)]
    pub gc: GcConfig,
    /// Deadlines on calls to the database and the storage.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
}

/// How long a backend may take before the request that waits on it is answered 503 (see
/// `registry_store::deadline`). A transfer that keeps moving is never cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsConfig {
    /// One database call (a transaction as a whole), getting a connection included.
    pub database_ms: u64,
    /// A storage call until it answers: the first byte of a read, a stat, a delete.
    pub storage_ms: u64,
    /// A blob transfer waiting on the storage with nothing moving (either way).
    pub idle_ms: u64,
    /// Calls whose length grows with the data or waits for other writers: publishing a blob,
    /// garbage-collection listings, loading every pack at start, waiting for a blob's lock.
    pub long_ms: u64,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        let d = registry_store::deadline::Deadlines::default();
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self { database_ms: ms(d.database), storage_ms: ms(d.storage), idle_ms: ms(d.idle), long_ms: ms(d.long) }
    }
}

impl TimeoutsConfig {
    #[must_use]
    pub fn deadlines(&self) -> registry_store::deadline::Deadlines {
        use std::time::Duration;
        registry_store::deadline::Deadlines {
            database: Duration::from_millis(self.database_ms),
            storage: Duration::from_millis(self.storage_ms),
            idle: Duration::from_millis(self.idle_ms),
            long: Duration::from_millis(self.long_ms),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [("database_ms", self.database_ms), ("storage_ms", self.storage_ms), ("idle_ms", self.idle_ms), ("long_ms", self.long_ms)] {
            if !(100..=3_600_000).contains(&value) {
                return Err(ConfigError::Invalid(format!("timeouts.{key} is {value}: it must be between 100 and 3600000 (ms)")));
            }
        }
        if self.long_ms < self.database_ms.max(self.storage_ms).max(self.idle_ms) {
            return Err(ConfigError::Invalid(format!(
                "timeouts.long_ms ({}) must be at least timeouts.database_ms, storage_ms and idle_ms",
                self.long_ms
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    /// Run garbage collection every this many seconds; 0 leaves it to `sherpack-registry gc`.
    pub interval_secs: u64,
    /// Only what has been unreferenced (or untouched) this long is removed: uploads in flight
    /// and manifests about to be pushed keep their blobs.
    pub grace_secs: u64,
    /// Also remove manifests no tag, index or live subject keeps.
    pub delete_untagged: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self { interval_secs: 0, grace_secs: 3600, delete_untagged: false }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Where the full-text index lives (one directory per server process; rebuilt from the
    /// database when missing or stale). Unset: `./data/search` with an `SQLite` database, in
    /// memory with Postgres (replicas stay stateless and rebuild it at start).
    pub index_dir: Option<PathBuf>,
    /// Keep the index in memory even when `index_dir` is set.
    pub in_memory: bool,
}

impl Config {
    /// The search index directory, `None` for an in-memory index.
    #[must_use]
    pub fn search_dir(&self) -> Option<PathBuf> {
        if self.search.in_memory {
            return None;
        }
        self.search.index_dir.clone().or_else(|| self.database_url.starts_with("sqlite:").then(|| PathBuf::from("./data/search")))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChartMuseumConfig {
    /// Accept an upload of an existing version (else 409 unless `?force`).
    pub allow_overwrite: bool,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Registry administrator created on first start when the store has no user yet.
    pub admin_user: Option<String>,
    /// Its password (prefer the environment or `admin_password_file`).
    pub admin_password: Option<String>,
    /// A file holding the password (a mounted secret); trailing newlines are ignored.
    pub admin_password_file: Option<PathBuf>,
    /// `service` of the OCI token flow: the audience of the bearer tokens this registry signs.
    pub service: String,
    /// Lifetime of bearer tokens from `/v2/token`.
    pub token_ttl_secs: u64,
    /// Visibility of a namespace created by a registry admin's first push into it.
    pub default_visibility: registry_core::auth::Visibility,
    /// Credential checks (password or token) allowed per client address and per user name
    /// per minute, failed or not; beyond it: 429.
    pub login_attempts_per_minute: u32,
    /// Requests to `/v2/token` allowed per client address per minute.
    pub token_requests_per_minute: u32,
    /// How long a verified password or API token is trusted without asking the database
    /// again (0: ask on every request).
    pub credential_cache_secs: u64,
    /// A revoked token, a changed password or admin flag, a removed user is refused by every
    /// server within this many milliseconds: a server that has not read the database's change
    /// sequence for this long trusts none of the credentials it verified.
    pub revocation_bound_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            admin_user: None,
            admin_password: None,
            admin_password_file: None,
            service: "sherpack-registry".to_owned(),
            token_ttl_secs: 300,
            default_visibility: registry_core::auth::Visibility::Private,
            login_attempts_per_minute: 30,
            token_requests_per_minute: 600,
            credential_cache_secs: 60,
            revocation_bound_ms: 2000,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("admin_user", &self.admin_user)
            .field("admin_password", &self.admin_password.as_ref().map(|_| "***"))
            .field("admin_password_file", &self.admin_password_file)
            .field("service", &self.service)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("default_visibility", &self.default_visibility)
            .field("login_attempts_per_minute", &self.login_attempts_per_minute)
            .field("token_requests_per_minute", &self.token_requests_per_minute)
            .field("credential_cache_secs", &self.credential_cache_secs)
            .field("revocation_bound_ms", &self.revocation_bound_ms)
            .finish()
    }
}

impl AuthConfig {
    /// The configured initial admin, reading the password file if one is named.
    pub fn initial_admin(&self) -> Result<Option<(String, String)>, ConfigError> {
        let Some(user) = &self.admin_user else { return Ok(None) };
        let password = match (&self.admin_password, &self.admin_password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| ConfigError::Invalid(format!("auth.admin_password_file {}: {e}", file.display())))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None) => {
                return Err(ConfigError::Invalid(
                    "auth.admin_user is set but neither auth.admin_password nor auth.admin_password_file".to_owned(),
                ));
            }
        };
        Ok(Some((user.clone(), password)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OciConfig {
    /// Allow `DELETE` of manifests, tags and blobs; when off they answer 405 UNSUPPORTED.
    pub delete_enabled: bool,
    /// Upload sessions untouched for this long are removed with their data.
    pub upload_expiry_secs: u64,
}

impl Default for OciConfig {
    fn default() -> Self {
        Self { delete_enabled: true, upload_expiry_secs: 24 * 60 * 60 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `sherpack_registry=debug,info`, ...
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address is valid"),
            public_url: None,
            database_url: "sqlite://./data/registry.db".to_owned(),
            storage_url: "file://./data/blobs".to_owned(),
            s3: S3Options::default(),
            log: LogConfig {
                level: "info".to_owned(),
                format: LogFormat::Text,
            },
            tls: None,
            oci: OciConfig::default(),
            auth: AuthConfig::default(),
            packs: registry_core::pack::Limits::default(),
            chartmuseum: ChartMuseumConfig::default(),
            search: SearchConfig::default(),
            gc: GcConfig::default(),
            timeouts: TimeoutsConfig::default(),
        }
    }
}

/// Values given on the command line; only the ones present override.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_url: Option<String>,
    #[serde(skip_serializing_if = "LogOverrides::is_empty")]
    pub log: LogOverrides,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Default, Serialize)]
pub struct LogOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
}

impl LogOverrides {
    fn is_empty(&self) -> bool {
        self.level.is_none() && self.format.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Layers every source in order and validates the result.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let config: Config = Self::layers(file, env, overrides)?
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The `listen` address alone, from the same sources (for `healthcheck`, which must not
    /// fail on settings it does not use).
    pub fn load_listen(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<SocketAddr, ConfigError> {
        Self::layers(file, env, &Overrides::default())?
            .extract_inner("listen")
            .map_err(|e| ConfigError::Invalid(describe(&e)))
    }

    fn layers(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::MissingFile(file.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        // Read the variables handed in rather than the process's, so tests stay hermetic.
        let vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        figment = figment.merge(StaticEnv { vars });
        Ok(figment.merge(Serialized::defaults(overrides)))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(format!(
                "public_url `{url}` must start with http:// or https://"
            )));
        }
        let db = &self.database_url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(format!(
                "database_url `{}` must start with sqlite:// or postgres://",
                registry_store::sql::redact_url(db)
            )));
        }
        registry_store::StorageUrl::parse(&self.storage_url, self.s3.clone())
            .map_err(|e| ConfigError::Invalid(format!("storage_url: {e}")))?;
        if let Some(user) = &self.auth.admin_user
            && !registry_core::auth::is_valid_username(user)
        {
            return Err(ConfigError::Invalid(format!("auth.admin_user `{user}` is not a valid user name")));
        }
        if self.auth.admin_user.is_some() && self.auth.admin_password.is_none() && self.auth.admin_password_file.is_none() {
            return Err(ConfigError::Invalid("auth.admin_user needs auth.admin_password or auth.admin_password_file".to_owned()));
        }
        if self.auth.token_ttl_secs == 0 || self.auth.login_attempts_per_minute == 0 || self.auth.token_requests_per_minute == 0 {
            return Err(ConfigError::Invalid("auth.token_ttl_secs and the auth rate limits must be positive".to_owned()));
        }
        if !(100..=60_000).contains(&self.auth.revocation_bound_ms) {
            return Err(ConfigError::Invalid(format!(
                "auth.revocation_bound_ms is {}: it must be between 100 and 60000",
                self.auth.revocation_bound_ms
            )));
        }
        if self.auth.credential_cache_secs > 3600 {
            return Err(ConfigError::Invalid(format!(
                "auth.credential_cache_secs is {}: at most 3600",
                self.auth.credential_cache_secs
            )));
        }
        self.timeouts.validate()?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::Invalid(format!(
                "log.level `{}` is not a valid log filter",
                self.log.level
            )));
        }
        Ok(())
    }

    /// True when running on the zero-configuration backends (`SQLite` and local files).
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        self.database_url.starts_with("sqlite:") && self.storage_url.starts_with("file://")
    }
}

/// Names every failing key with the source it came from, one per line.
fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("`{}`: ", e.path.join("."))
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An environment provider over a fixed list of variables.
struct StaticEnv {
    vars: Vec<(String, String)>,
}

impl figment::Provider for StaticEnv {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variables")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (key, value) in &self.vars {
            let Some(stripped) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = stripped.split("__").map(str::to_lowercase).collect();
            let parsed: figment::value::Value =
                value.parse().unwrap_or_else(|_| value.clone().into());
            insert_path(&mut dict, &path, parsed)?;
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

#[allow(clippy::result_large_err)] // figment's own error type, returned as figment expects
fn insert_path(
    dict: &mut figment::value::Dict,
    path: &[String],
    value: figment::value::Value,
) -> Result<(), figment::Error> {
    use figment::value::{Dict, Value};
    match path {
        [] => Ok(()),
        [last] => {
            dict.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            match entry {
                Value::Dict(_, inner) => insert_path(inner, rest, value),
                _ => Err(figment::Error::from(format!(
                    "environment key `{first}` is both a value and a table"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_nothing() {
        let c = Config::load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c, Config::default());
        assert!(c.is_embedded());
    }

    #[test]
    fn layers_file_env_flags_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:7000\"\ndatabase_url = \"postgres://file/db\"\nstorage_url = \"s3://b/p\"\n[s3]\nendpoint = \"http://127.0.0.1:9000\"\npath_style = true\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("SHERPACK_REGISTRY_DATABASE_URL", "postgres://env/db"),
                ("SHERPACK_REGISTRY_S3__REGION", "eu-west-1"),
                ("OTHER", "x"),
            ]),
            &Overrides {
                listen: Some("127.0.0.1:7001".parse().unwrap()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen.port(), 7001);
        assert_eq!(c.database_url, "postgres://env/db");
        assert_eq!(c.s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(c.s3.region.as_deref(), Some("eu-west-1"));
        assert!(c.s3.path_style);
        assert_eq!(c.log.format, LogFormat::Json);
        assert!(!c.is_embedded());
    }

    #[test]
    fn auth_settings_are_checked_and_the_password_never_printed() {
        let load = |pairs: &[(&str, &str)]| Config::load(None, env(pairs), &Overrides::default());
        let c = load(&[("SHERPACK_REGISTRY_AUTH__ADMIN_USER", "root"), ("SHERPACK_REGISTRY_AUTH__ADMIN_PASSWORD", "s3cret-value")]).unwrap();
        assert_eq!(c.auth.initial_admin().unwrap(), Some(("root".into(), "s3cret-value".into())));
        assert!(!format!("{c:?}").contains("s3cret-value"));
        let e = load(&[("SHERPACK_REGISTRY_AUTH__ADMIN_USER", "root")]).unwrap_err().to_string();
        assert!(e.contains("auth.admin_password"), "{e}");
        let e = load(&[("SHERPACK_REGISTRY_AUTH__ADMIN_USER", "Root User"), ("SHERPACK_REGISTRY_AUTH__ADMIN_PASSWORD", "x")]).unwrap_err().to_string();
        assert!(e.contains("auth.admin_user"), "{e}");
        let e = load(&[("SHERPACK_REGISTRY_AUTH__DEFAULT_VISIBILITY", "hidden")]).unwrap_err().to_string();
        assert!(e.contains("auth.default_visibility"), "{e}");
        let e = load(&[("SHERPACK_REGISTRY_AUTH__TOKEN_TTL_SECS", "0")]).unwrap_err().to_string();
        assert!(e.contains("token_ttl_secs"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let c = load(&[("SHERPACK_REGISTRY_AUTH__ADMIN_USER", "root"), ("SHERPACK_REGISTRY_AUTH__ADMIN_PASSWORD_FILE", file.to_str().unwrap())]).unwrap();
        assert_eq!(c.auth.initial_admin().unwrap().unwrap().1, "from-a-file");
    }

    #[test]
    fn timeouts_and_the_revocation_bound_are_checked() {
        let load = |pairs: &[(&str, &str)]| Config::load(None, env(pairs), &Overrides::default());
        let c = load(&[("SHERPACK_REGISTRY_TIMEOUTS__DATABASE_MS", "1500"), ("SHERPACK_REGISTRY_AUTH__REVOCATION_BOUND_MS", "500")]).unwrap();
        assert_eq!(c.timeouts.deadlines().database, std::time::Duration::from_millis(1500));
        assert_eq!(c.auth.revocation_bound_ms, 500);
        for (key, value, named) in [
            ("SHERPACK_REGISTRY_TIMEOUTS__STORAGE_MS", "0", "timeouts.storage_ms"),
            ("SHERPACK_REGISTRY_TIMEOUTS__IDLE_MS", "soon", "timeouts.idle_ms"),
            ("SHERPACK_REGISTRY_TIMEOUTS__LONG_MS", "1000", "timeouts.long_ms"),
            ("SHERPACK_REGISTRY_TIMEOUTS__FIRST_BYTE_MS", "1000", "first_byte_ms"),
            ("SHERPACK_REGISTRY_AUTH__REVOCATION_BOUND_MS", "10", "auth.revocation_bound_ms"),
            ("SHERPACK_REGISTRY_AUTH__CREDENTIAL_CACHE_SECS", "86400", "auth.credential_cache_secs"),
        ] {
            let e = load(&[(key, value)]).unwrap_err().to_string();
            assert!(e.contains(named), "{key}={value}: {e}");
        }
    }

    #[test]
    fn unknown_and_malformed_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lissten = \"127.0.0.1:1\"\n").unwrap();
        let e = Config::load(Some(&file), env(&[]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("lissten"), "{e}");

        std::fs::write(&file, "listen = \"not an address\"\n").unwrap();
        let e = Config::load(Some(&file), env(&[]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");

        let e = Config::load(
            None,
            env(&[("SHERPACK_REGISTRY_BOGUS", "1")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bogus"), "{e}");

        let e = Config::load(
            None,
            env(&[("SHERPACK_REGISTRY_LOG__FORMAT", "xml")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("log.format"), "{e}");

        let e = Config::load(
            None,
            env(&[("SHERPACK_REGISTRY_PUBLIC_URL", "ftp://x")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("public_url"), "{e}");

        let e = Config::load(
            None,
            env(&[("SHERPACK_REGISTRY_STORAGE_URL", "ftp://x")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("storage_url") && e.contains("ftp://x"), "{e}");

        let e = Config::load(
            None,
            env(&[("SHERPACK_REGISTRY_DATABASE_URL", "mysql://u:pw@h/db")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("database_url") && !e.contains("pw@"), "{e}");

        let missing = dir.path().join("nope.toml");
        assert!(matches!(
            Config::load(Some(&missing), env(&[]), &Overrides::default()),
            Err(ConfigError::MissingFile(_))
        ));
    }
}
