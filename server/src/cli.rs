//! Command-line interface of `sherpack-registry`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, LogOverrides, Overrides, TlsConfig};

#[derive(Debug, Parser)]
#[command(
    name = "sherpack-registry",
    version,
    about = "A registry for Sherpack packs and Helm charts"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Administer users, namespaces, members, tokens, keys and policies; read the audit log.
    Admin(crate::admin_cli::AdminArgs),
    /// Import the versions of a Helm repository into a namespace, each as if pushed, while
    /// servers keep running; present versions are skipped, so it can be run again.
    Import(Box<crate::import::ImportArgs>),
    /// Rebuild the Helm and search indexes from the database, on every server using it.
    Reindex(StoreArgs),
    /// Garbage-collect unreferenced blobs, expired uploads, manifests past retention (and
    /// untagged ones with `gc.delete_untagged`) while servers keep running.
    Gc(GcArgs),
    /// Exit 0 when the server at `--url` answers 200 (for container health checks, which have
    /// no curl in the image). Without `--url`: `/readyz` on the port of the configured `listen`
    /// (from `SHERPACK_REGISTRY_LISTEN` or `--config`), on loopback.
    Healthcheck {
        #[arg(long)]
        url: Option<String>,
        /// TOML configuration file (the server's), for its `listen`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Read the configuration (file, environment, flags) as `serve` would, and stop: exit 0
    /// when it is valid, 2 naming the key that is not (unknown keys included).
    CheckConfig(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Report what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Override `gc.grace_secs`, e.g. `10m`, `1h`, `0s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub grace: Option<std::time::Duration>,
    /// Override `gc.delete_untagged`.
    #[arg(long)]
    pub delete_untagged: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where a maintenance command finds the store.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// TOML configuration file (the server's).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// sqlite://<path> or postgres://...
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    #[must_use]
    pub fn overrides(&self) -> Overrides {
        Overrides { database_url: self.database_url.clone(), ..Overrides::default() }
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:5050 or 0.0.0.0:443.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// URL clients use to reach the registry.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// sqlite://<path> or postgres://...
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// file://<path>, s3://<bucket>/<prefix> or memory://
    #[arg(long, value_name = "URL")]
    pub storage_url: Option<String>,
    /// Log filter (info, debug, ...).
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// PEM certificate chain; serves HTTPS together with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServeArgs {
    #[must_use]
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            public_url: self.public_url.clone(),
            database_url: self.database_url.clone(),
            storage_url: self.storage_url.clone(),
            log: LogOverrides {
                level: self.log_level.clone(),
                format: self.log_format,
            },
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsConfig {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
        }
    }
}
