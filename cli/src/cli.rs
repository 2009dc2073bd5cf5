//! The command line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "sherpack", version, about = "Push, pull, search and resolve Sherpack packs and Helm charts, against any OCI registry or Helm repository")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Use plain HTTP (no TLS) for OCI registries.
    #[arg(long, global = true, env = "SHERPACK_PLAIN_HTTP")]
    pub plain_http: bool,
    /// Trust the CA certificates in this PEM file.
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Skip TLS certificate verification.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// No progress bars and no informational messages.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Output format of listings.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store credentials for a registry or repository host (checked against it first).
    Login(Login),
    /// Forget the credentials stored for a host.
    Logout {
        host: String,
    },
    /// Push an archive to an OCI registry (`oci://host/namespace`) or a ChartMuseum-API repository (`--repo`).
    Push(Push),
    /// Download a pack: `oci://host/repo[:version|@digest]` or `<repo>/<name>`.
    Pull(Pull),
    /// Manage repositories (Helm HTTP repositories and OCI namespaces).
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Search the configured repositories or a hub.
    #[command(subcommand)]
    Search(SearchCommand),
    /// Resolve, lock and fetch a pack's dependencies.
    #[command(subcommand, alias = "dep")]
    Dependency(DependencyCommand),
    /// Package a pack or chart directory into a reproducible archive.
    Package {
        /// The directory holding Pack.yaml or Chart.yaml.
        dir: PathBuf,
        /// Where to write the archive.
        #[arg(short = 'd', long, default_value = ".")]
        destination: PathBuf,
        /// Also sign it with this minisign secret key.
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
    },
    /// Sign an archive with a minisign secret key (writes `<archive>.minisig`).
    Sign {
        archive: PathBuf,
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
    },
    /// Verify an archive's minisign signature.
    Verify {
        archive: PathBuf,
        /// The public key: a minisign `.pub` file or a base64 key.
        #[arg(long, value_name = "PUB")]
        key: String,
        /// The signature file (default: `<archive>.minisig`).
        #[arg(long)]
        signature: Option<PathBuf>,
    },
    /// Generate a minisign key pair (`<name>.key`, `<name>.pub`).
    Keygen {
        #[arg(long, default_value = "sherpack")]
        name: String,
        #[arg(short = 'd', long, default_value = ".")]
        destination: PathBuf,
    },
    /// Print shell completions.
    Completion {
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct Login {
    /// Registry host (`host[:port]`) or repository URL.
    pub host: String,
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password (or token) from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The password on the command line (visible to other users: prefer --password-stdin).
    #[arg(short, long, env = "SHERPACK_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

#[derive(Debug, Args)]
pub struct Push {
    /// The archive (`.tgz`).
    pub archive: PathBuf,
    /// `oci://host/namespace[/name]`.
    pub destination: Option<String>,
    /// A configured HTTP repository with the `ChartMuseum` API.
    #[arg(long, conflicts_with = "destination")]
    pub repo: Option<String>,
    /// Replace a version that already exists (`ChartMuseum` API).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct Pull {
    /// `oci://host/repo[:version|@digest]` or `<repo>/<name>`.
    pub reference: String,
    /// A version or semver range (default: the newest stable version).
    #[arg(long)]
    pub version: Option<String>,
    /// Unpack the archive into `<dir>/<name>`.
    #[arg(long)]
    pub untar: bool,
    #[arg(short = 'd', long, default_value = ".")]
    pub destination: PathBuf,
    /// Check the minisign signature with this public key (file or base64).
    #[arg(long, value_name = "PUB")]
    pub verify: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Add a repository: `https://…` (Helm repository) or `oci://host/namespace`.
    Add {
        name: String,
        url: String,
        #[arg(short, long)]
        username: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        #[arg(short, long, env = "SHERPACK_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Replace a repository of the same name.
        #[arg(long)]
        force_update: bool,
    },
    /// List the repositories.
    List,
    /// Refresh the cached indexes (all, or the named ones).
    Update { names: Vec<String> },
    /// Remove repositories (and their cached index and stored credentials).
    #[command(alias = "rm")]
    Remove {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SearchCommand {
    /// Search the cached indexes of the configured repositories.
    Repo {
        #[arg(default_value = "")]
        query: String,
        /// One line per version.
        #[arg(long)]
        versions: bool,
    },
    /// Search an Artifact Hub compatible API (a Sherpack registry, or artifacthub.io).
    Hub {
        query: String,
        #[arg(long, env = "SHERPACK_HUB", default_value = "https://artifacthub.io")]
        endpoint: String,
        #[arg(long, default_value_t = 25)]
        max_results: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum DependencyCommand {
    /// The dependencies with their locked versions and whether charts/ holds them.
    List {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Resolve the ranges, write Pack.lock.yaml and fetch the archives into charts/.
    Update {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Fetch exactly the versions in Pack.lock.yaml into charts/, checking their digests.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}
