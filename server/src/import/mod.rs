//! `sherpack-registry import`: bring the versions of another repository in, each through the
//! same path as a push (`packs::publish::Upload`: limits, metadata, signature check against the
//! namespace's keys, signature policy, quota). Versions already here with the same archive
//! digest are skipped, with another digest reported as conflicts (replaced with `--overwrite`);
//! every version is stored in one transaction, so an interrupted import run again continues
//! where it stopped. `source.rs` lists and fetches what a source holds, `summary.rs` reports.
//! An OCI registry (`oci.rs`) is copied tag by tag instead (`oci_copy.rs`): manifests byte for
//! byte through the manifest `PUT`'s code, skip and conflict by manifest digest.

mod helm;
pub mod job;
mod oci;
mod oci_copy;
mod source;
mod spec;
mod storage;
mod summary;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use registry_core::Digest;
use registry_core::auth::{Actions, Outcome, Principal};

pub use oci::{OciSource, OciSpec};
pub use source::{Candidate, Fetched, Source};
pub use spec::{ImportRequest, OciLocation, SourceSpec};
pub use summary::{Item, Summary};

use crate::AppState;
use crate::auth::Caller;
use crate::packs::publish::{PublishError, Upload};

/// `sherpack-registry import`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from_helm_repo", "from_chartmuseum_storage", "from_oci"])))]
pub struct ImportArgs {
    #[command(flatten)]
    pub store: crate::cli::StoreArgs,
    /// The namespace the versions go into (not with `--per-tenant`).
    #[arg(long, required_unless_present = "per_tenant", conflicts_with = "per_tenant")]
    pub namespace: Option<String>,
    /// A Helm HTTP repository (static, `ChartMuseum`, another registry's namespace): its `index.yaml`.
    #[arg(long, value_name = "URL")]
    pub from_helm_repo: Option<String>,
    /// `ChartMuseum`'s storage: a directory or `s3://bucket/prefix` (with the `[s3]` settings
    /// of the configuration) holding `<name>-<version>.tgz` and `.prov` files.
    #[arg(long, value_name = "DIR or S3 URL")]
    pub from_chartmuseum_storage: Option<String>,
    /// An OCI registry's namespace, `host[:port]/namespace`: every tag of every repository
    /// under it (from `/v2/_catalog`, or `--repositories`), with their signatures.
    #[arg(long, value_name = "HOST/NAMESPACE")]
    pub from_oci: Option<String>,
    /// With `--from-oci`: these repositories under the namespace (comma-separated), for a
    /// registry that does not list its catalog.
    #[arg(long, value_delimiter = ',', requires = "from_oci")]
    pub repositories: Vec<String>,
    /// With `--from-oci`: talk plain HTTP to the registry.
    #[arg(long, requires = "from_oci")]
    pub plain_http: bool,
    /// Each folder of the storage is a tenant, imported into the namespace of its name.
    #[arg(long, requires = "from_chartmuseum_storage")]
    pub per_tenant: bool,
    #[command(flatten)]
    pub options: ImportOptions,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ImportOptions {
    /// Only these charts (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub charts: Vec<String>,
    /// Only versions in this semver range (`^1.2`, `>=1, <2`, `1.x`).
    #[arg(long, value_name = "RANGE")]
    pub versions: Option<String>,
    /// Replace versions present here with another digest (else they are reported as conflicts).
    #[arg(long)]
    pub overwrite: bool,
    /// Transfers at a time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Basic auth user at the source; the password is read from standard input.
    #[arg(long)]
    pub username: Option<String>,
    /// A PEM CA bundle to trust for the source's TLS.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Give up on a source that stays silent this long, e.g. `30s`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub timeout: Duration,
}

/// Runs the command: opens the configured stores and imports, printing a progress bar on a
/// terminal. The summary is the caller's to print; an unreadable source is an error.
pub async fn run_command(config: crate::Config, args: ImportArgs) -> anyhow::Result<Summary> {
    let password = match &args.options.username {
        Some(_) => Some(crate::admin_cli::read_password()?),
        None => None,
    };
    let source = match (&args.from_helm_repo, &args.from_chartmuseum_storage, &args.from_oci) {
        (Some(url), _, _) => Source::Helm(helm::HelmSource::new(url, &args.options, password)?),
        (_, Some(location), _) => Source::Storage(storage::StorageSource::new(location, config.s3.clone(), args.per_tenant)?),
        (_, _, Some(location)) => {
            let (host, namespace) = OciSpec::location(location)?;
            let o = &args.options;
            let credentials = o.username.clone().map(|u| (u, password.unwrap_or_default()));
            let spec = OciSpec { host, namespace, repositories: args.repositories.clone(), plain_http: args.plain_http, credentials, ca_file: o.ca_file.clone(), timeout: o.timeout };
            Source::Oci(OciSource::new(spec)?)
        }
        _ => anyhow::bail!("name a source: --from-helm-repo <url>, --from-chartmuseum-storage <dir or s3 URL> or --from-oci <host/namespace>"),
    };
    let state = crate::serve::open_stores(config).await?;
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let namespace = args.namespace.as_deref().unwrap_or(PER_TENANT);
    let summary = import(&state, namespace, &source, &args.options, show_progress).await?;
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let caller = Caller {
        principal: Principal::User { name: format!("cli:{who}"), is_admin: true, scopes: Actions::ALL, token: None },
        claims: None,
        address: None,
    };
    let outcome = if summary.failed.is_empty() { Outcome::Ok } else { Outcome::Failed };
    state.auth.audit_caller(&caller, "import", namespace, outcome, &summary.headline()).await;
    Ok(summary)
}

/// The summary's namespace when each tenant goes into its own.
const PER_TENANT: &str = "(one namespace per tenant)";

/// Imports what `source` lists (after the filters) into `namespace`.
pub async fn import(state: &AppState, namespace: &str, source: &Source, options: &ImportOptions, show_progress: bool) -> anyhow::Result<Summary> {
    let range = options.versions.as_deref().map(client_lib::helmrepo::parse_range).transpose()?;
    let candidates: Vec<Candidate> = source
        .list()
        .await?
        .into_iter()
        // A repository path's last segment is the chart's name; an OCI tag has `_` for `+`.
        .filter(|c| options.charts.is_empty() || options.charts.iter().any(|n| c.name.rsplit('/').next() == Some(n)))
        .filter(|c| range.as_ref().is_none_or(|r| semver::Version::parse(&c.version.trim_start_matches('v').replace('_', "+")).is_ok_and(|v| r.matches(&v))))
        .collect();
    let progress = if show_progress { indicatif::ProgressBar::new(candidates.len() as u64) } else { indicatif::ProgressBar::hidden() };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut summary = Summary::new(source.describe(), namespace);
    let outcomes = futures::stream::iter(candidates)
        .map(|c| {
            let progress = progress.clone();
            async move {
                let into = c.namespace.as_deref().unwrap_or(namespace);
                let outcome = match source {
                    Source::Oci(oci) => oci_copy::import_tag(state, into, oci, &c, options.overwrite).await,
                    _ => import_one(state, into, source, &c, options.overwrite).await,
                };
                progress.inc(1);
                progress.set_message(format!("{} {}", c.name, c.version));
                (c, outcome)
            }
        })
        .buffer_unordered(usize::from(options.concurrency));
    futures::pin_mut!(outcomes);
    while let Some((candidate, outcome)) = outcomes.next().await {
        summary.record(&candidate, outcome);
    }
    progress.finish_and_clear();
    summary.sort();
    Ok(summary)
}

/// What became of one version.
pub enum Fate {
    Imported(Digest),
    Skipped(Digest),
    /// Present here with `existing`; the source has `source`.
    Conflict { existing: Digest, source: String },
    Failed(String),
}

fn same_digest(a: &Digest, hex: &str) -> bool {
    let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
    a.to_string().strip_prefix("sha256:").is_some_and(|h| h.eq_ignore_ascii_case(hex))
}

/// The archive digest of the version already here, if any.
async fn existing(state: &AppState, namespace: &str, name: &str, version: &str) -> Result<Option<Digest>, String> {
    let record = state.meta.pack(&format!("{namespace}/{name}"), version).await.map_err(|e| format!("database error: {e}"))?;
    Ok(record.map(|r| r.pack.archive_digest))
}

/// Skip or conflict when the version is here, from the digest the source announced.
fn settle(here: Option<&Digest>, source: &str, overwrite: bool) -> Option<Fate> {
    let here = here?;
    if source.is_empty() {
        return None;
    }
    if same_digest(here, source) {
        Some(Fate::Skipped(here.clone()))
    } else if overwrite {
        None
    } else {
        Some(Fate::Conflict { existing: here.clone(), source: source.to_owned() })
    }
}

async fn import_one(state: &AppState, namespace: &str, source: &Source, c: &Candidate, overwrite: bool) -> Fate {
    match existing(state, namespace, &c.name, &c.version).await {
        Err(e) => return Fate::Failed(e),
        Ok(here) => {
            if let Some(settled) = settle(here.as_ref(), &c.digest, overwrite) {
                return settled;
            }
        }
    }
    let fetched = match source.fetch(c, state.config.packs.max_archive_bytes).await {
        Ok(f) => f,
        Err(e) => return Fate::Failed(e),
    };
    let digest = Digest::of(&fetched.archive);
    let upload = match Upload::read(state, namespace, fetched.archive, fetched.prov).await {
        Ok(u) => u.with_minisig(fetched.minisig),
        Err(e) => return Fate::Failed(format!("refused: {e}")),
    };
    if upload.meta.name != c.name || upload.meta.version.trim_start_matches('v') != c.version.trim_start_matches('v') {
        return Fate::Failed(format!("the archive holds {} {}, not what the source lists", upload.meta.name, upload.meta.version));
    }
    // A source that announced no digest: compare what was downloaded.
    match existing(state, namespace, &upload.meta.name, &upload.meta.version).await {
        Err(e) => return Fate::Failed(e),
        Ok(here) => {
            if let Some(settled) = settle(here.as_ref(), &digest.to_string(), overwrite) {
                return settled;
            }
        }
    }
    match upload.store(state, overwrite).await {
        Ok(_) => Fate::Imported(digest),
        // Stored meanwhile by another import or a push.
        Err(PublishError::Exists) => match existing(state, namespace, &c.name, &c.version).await {
            Ok(here) => settle(here.as_ref(), &digest.to_string(), false).unwrap_or_else(|| Fate::Failed("stored meanwhile".into())),
            Err(e) => Fate::Failed(e),
        },
        Err(PublishError::Internal(m)) => {
            tracing::error!(pack.name = %c.name, pack.version = %c.version, "import failed: {m}");
            Fate::Failed(format!("internal error: {m}"))
        }
        Err(e) => Fate::Failed(format!("refused: {e}")),
    }
}

/// Shared by the sources: the HTTP options of an import.
fn http_options(options: &ImportOptions) -> client_lib::http::HttpOptions {
    client_lib::http::HttpOptions {
        ca_file: options.ca_file.clone(),
        read_timeout: Some(options.timeout),
        same_host_redirects: true,
        ..Default::default()
    }
}
