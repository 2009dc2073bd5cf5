//! `sherpack-registry admin mirror add|list|remove|sync`: the mirror operations of the API run
//! against the configured stores as a registry admin; `sync` syncs at once in this process,
//! under the same lease the servers take, and prints the outcome.

use clap::Subcommand;
use registry_core::jobs::JobState;

use super::{MirrorRequest, MirrorView, StoredSource};
use crate::admin::{Admin, AdminError};
use crate::auth::Caller;
use crate::import::{OciLocation, SourceSpec};

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Makes a namespace a mirror of a Helm repository or an OCI registry's namespace (or changes
    /// its settings); the password of `--username` is read from standard input.
    Add {
        namespace: String,
        /// A Helm repository (`https://…`, its `index.yaml` is read), an OCI registry's namespace
        /// (`oci://host[:port]/namespace`) or `ChartMuseum`'s storage (a directory or `s3://…`).
        source: String,
        /// With an `oci://` source: these repositories under its namespace (comma-separated),
        /// for a registry whose `_catalog` is not offered.
        #[arg(long, value_delimiter = ',')]
        repositories: Vec<String>,
        /// With an `oci://` source: talk plain HTTP to it.
        #[arg(long)]
        plain_http: bool,
        /// Between syncs, e.g. `1h`, `15m`.
        #[arg(long, default_value = "1h")]
        interval: String,
        /// Remove versions the source no longer lists.
        #[arg(long)]
        prune: bool,
        #[arg(long)]
        username: Option<String>,
    },
    List,
    /// Ends mirroring; the namespace keeps its versions and takes pushes again.
    Remove { namespace: String },
    /// Syncs a mirror now and prints the outcome.
    Sync { namespace: String },
}

/// The source an address names: `oci://…` an OCI namespace, `http(s)://…` a Helm repository,
/// anything else `ChartMuseum`'s storage.
fn source_spec(source: String, repositories: Vec<String>, plain_http: bool) -> anyhow::Result<SourceSpec> {
    if source.starts_with("oci://") {
        return Ok(SourceSpec::Oci(OciLocation { location: source, repositories, plain_http }));
    }
    anyhow::ensure!(repositories.is_empty() && !plain_http, "--repositories and --plain-http are for an oci:// source");
    Ok(if source.starts_with("http://") || source.starts_with("https://") { SourceSpec::HelmRepo(source) } else { SourceSpec::ChartmuseumStorage(source) })
}

fn show(value: impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

pub async fn run(config: &crate::Config, caller: &Caller, command: MirrorCommand) -> anyhow::Result<()> {
    let state = crate::serve::open_stores(config.clone()).await?;
    let admin = Admin { auth: &state.auth, caller };
    let shown = |e: AdminError| match e {
        AdminError::Store(s) => anyhow::anyhow!("database error: {s}"),
        other => anyhow::anyhow!("{other}"),
    };
    match command {
        MirrorCommand::Add { namespace, source, repositories, plain_http, interval, prune, username } => {
            let password = match &username {
                Some(_) => Some(crate::admin_cli::read_password()?),
                None => None,
            };
            let source = source_spec(source, repositories, plain_http)?;
            let request = MirrorRequest { source, interval, prune, username, password };
            show(super::put(&state, &admin, &namespace, request).await.map_err(shown)?)
        }
        MirrorCommand::List => show(super::list(&state, &admin).await.map_err(shown)?),
        MirrorCommand::Remove { namespace } => super::remove(&state, &admin, &namespace).await.map_err(shown),
        MirrorCommand::Sync { namespace } => {
            admin.require_registry_admin().map_err(shown)?;
            let store = state.auth.store();
            let mirror = store.mirror(&namespace).await?.ok_or_else(|| anyhow::anyhow!("namespace {namespace} is not a mirror"))?;
            // Checked before taking the lease: an unreadable record is no reason to hold it.
            serde_json::from_str::<StoredSource>(&mirror.source)?;
            let owner = format!("cli-{}", uuid::Uuid::new_v4());
            // A server may be syncing: wait for it, a while.
            let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
            loop {
                let now = crate::auth::now_millis();
                if store.claim_lease("mirrors", &owner, now, now + 60_000).await? {
                    break;
                }
                anyhow::ensure!(std::time::Instant::now() < deadline, "a server has been syncing mirrors for a minute; try again later");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            let outcome = super::sync::sync_one(&state, &mirror).await;
            let next = crate::auth::now_millis() + i64::try_from(mirror.interval_secs * 1000).unwrap_or(i64::MAX / 2);
            let recorded = store.record_sync(&namespace, &outcome, next).await;
            store.release_lease("mirrors", &owner).await?;
            recorded?;
            let view = MirrorView::of(store.mirror(&namespace).await?.ok_or_else(|| anyhow::anyhow!("the mirror was removed meanwhile"))?);
            show(&view)?;
            anyhow::ensure!(view.last_outcome.as_deref() == Some(JobState::Succeeded.as_str()), "the sync failed: {}", outcome.message);
            Ok(())
        }
    }
}
