//! Namespaces that mirror another repository: declared by a registry admin (the API's
//! `PUT /api/v1/namespaces/<ns>/mirror`, `sherpack-registry admin mirror add`), synced on their
//! interval by whichever replica holds the mirrors' lease (`sync.rs`), read-only to everyone
//! else: every push or delete into one is refused (`Auth::authorize`, `Denial::Mirror`).

pub mod cli;
pub mod sync;

use std::time::Duration;

use registry_core::jobs::Mirror;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::admin::{Admin, AdminError, AdminResult};
use crate::auth::now_millis;
use crate::import::SourceSpec;

/// The shortest interval between syncs.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// What the store keeps as a mirror's source: where, and the credentials to read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSource {
    pub source: SourceSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The body of `PUT /api/v1/namespaces/<ns>/mirror`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorRequest {
    pub source: SourceSpec,
    /// Between syncs, e.g. `1h`, `15m`, `30s`.
    pub interval: String,
    /// Remove versions the source no longer lists.
    #[serde(default)]
    pub prune: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// A mirror as shown: never its credentials.
#[derive(Debug, Serialize)]
pub struct MirrorView {
    pub namespace: String,
    pub source: SourceSpec,
    pub interval: String,
    pub interval_secs: u64,
    pub prune: bool,
    pub next_sync_at: i64,
    pub last_sync_at: Option<i64>,
    /// `succeeded` or `failed`.
    pub last_outcome: Option<String>,
    pub last_message: Option<String>,
    /// The last sync's import summary.
    pub last_summary: Option<serde_json::Value>,
}

impl MirrorView {
    #[must_use]
    pub fn of(m: Mirror) -> Self {
        let source = serde_json::from_str::<StoredSource>(&m.source).map_or_else(|_| SourceSpec::HelmRepo(m.source_url.clone()), |s| s.source);
        Self {
            namespace: m.namespace,
            source,
            interval: humantime::format_duration(Duration::from_secs(m.interval_secs)).to_string(),
            interval_secs: m.interval_secs,
            prune: m.prune,
            next_sync_at: m.next_sync_at,
            last_sync_at: m.last_sync_at,
            last_outcome: m.last_outcome,
            last_message: m.last_message,
            last_summary: m.last_summary.and_then(|s| serde_json::from_str(&s).ok()),
        }
    }
}

fn not_a_mirror(namespace: &str) -> AdminError {
    AdminError::NotFound(format!("namespace {namespace} is not a mirror"))
}

/// Declares `namespace` a mirror (or changes its settings); its first sync is due at once.
pub async fn put(state: &AppState, admin: &Admin<'_>, namespace: &str, request: MirrorRequest) -> AdminResult<MirrorView> {
    admin.require_registry_admin()?;
    admin.namespace_admin(namespace).await?;
    let interval = humantime::parse_duration(&request.interval).map_err(|e| AdminError::Invalid(format!("interval `{}`: {e}", request.interval)))?;
    if interval < MIN_INTERVAL {
        return Err(AdminError::Invalid("interval must be at least 1s".into()));
    }
    if request.password.is_some() && request.username.is_none() {
        return Err(AdminError::Invalid("a password needs a username".into()));
    }
    let stored = StoredSource { source: request.source, username: request.username, password: request.password };
    // Checked now, so a mistyped address is refused here and not at the first sync.
    sync::open_source(state, &stored).map_err(|e| AdminError::Invalid(format!("source: {e:#}")))?;
    let now = now_millis();
    let mirror = Mirror {
        namespace: namespace.to_owned(),
        source: serde_json::to_string(&stored).expect("a source serialises"),
        source_url: stored.source.url().to_owned(),
        interval_secs: interval.as_secs(),
        prune: request.prune,
        next_sync_at: now,
        last_sync_at: None,
        last_outcome: None,
        last_message: None,
        last_summary: None,
        created_at: now,
    };
    state.auth.store().put_mirror(&mirror).await?;
    let detail = format!("{} every {}{}", mirror.source_url, humantime::format_duration(interval), if mirror.prune { ", prune" } else { "" });
    admin.audit("mirror.set", namespace, &detail).await;
    get(state, admin, namespace).await
}

/// A namespace's mirror settings and last sync, for anyone who sees the namespace.
pub async fn get(state: &AppState, admin: &Admin<'_>, namespace: &str) -> AdminResult<MirrorView> {
    admin.namespace(namespace).await?;
    let mirror = state.auth.store().mirror(namespace).await?.ok_or_else(|| not_a_mirror(namespace))?;
    Ok(MirrorView::of(mirror))
}

pub async fn list(state: &AppState, admin: &Admin<'_>) -> AdminResult<Vec<MirrorView>> {
    admin.require_registry_admin()?;
    Ok(state.auth.store().mirrors().await?.into_iter().map(MirrorView::of).collect())
}

/// Ends mirroring: the namespace keeps its versions and takes pushes again.
pub async fn remove(state: &AppState, admin: &Admin<'_>, namespace: &str) -> AdminResult<()> {
    admin.require_registry_admin()?;
    admin.namespace_admin(namespace).await?;
    if !state.auth.store().delete_mirror(namespace).await? {
        return Err(not_a_mirror(namespace));
    }
    admin.audit("mirror.remove", namespace, "").await;
    Ok(())
}

/// Makes a mirror due now: the replica holding the lease syncs it within a second or so.
pub async fn sync_soon(state: &AppState, admin: &Admin<'_>, namespace: &str) -> AdminResult<MirrorView> {
    admin.require_registry_admin()?;
    if !state.auth.store().sync_mirror_now(namespace, now_millis()).await? {
        return Err(not_a_mirror(namespace));
    }
    admin.audit("mirror.sync", namespace, "").await;
    get(state, admin, namespace).await
}
