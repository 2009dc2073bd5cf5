//! Syncing mirrors: every replica looks for due mirrors each second; the one that claims the
//! `mirrors` lease (one row, taken atomically, renewed while it works, free again when it stops
//! or dies) syncs them one at a time. A sync is an import of the source into the namespace (new
//! versions come in through the push path; versions already here are skipped by digest), then,
//! with `prune`, the removal of versions the source no longer lists. A source that cannot be read
//! changes nothing: the namespace keeps serving what it has, the failure is recorded and counted.

use std::collections::HashSet;
use std::time::Duration;

use registry_core::RepoName;
use registry_core::jobs::{Mirror, SyncOutcome};

use super::StoredSource;
use crate::AppState;
use crate::auth::now_millis;
use crate::import::{ImportOptions, Source, Summary};

const LEASE: &str = "mirrors";
/// How long a claim holds without renewal: a replica that dies frees the mirrors after this.
const LEASE_MS: i64 = 60_000;
const RENEW: Duration = Duration::from_secs(15);
const TICK: Duration = Duration::from_secs(1);

fn options(stored: &StoredSource) -> ImportOptions {
    ImportOptions {
        charts: Vec::new(),
        versions: None,
        // The source's bytes for a version do not replace different bytes here: a conflict,
        // reported in the summary.
        overwrite: false,
        concurrency: 4,
        username: stored.username.clone(),
        ca_file: None,
        timeout: Duration::from_mins(1),
    }
}

pub fn open_source(state: &AppState, stored: &StoredSource) -> anyhow::Result<Source> {
    stored.source.open(&options(stored), stored.password.clone(), state.config.s3.clone())
}

/// Syncs due mirrors whenever this replica holds the lease, forever.
pub async fn sync_forever(state: AppState) {
    let owner = uuid::Uuid::new_v4().to_string();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = sync_due(&state, &owner).await {
            tracing::warn!(error = %e, "syncing mirrors failed");
        }
    }
}

/// Syncs every due mirror if the lease can be had; returns how many were synced.
pub async fn sync_due(state: &AppState, owner: &str) -> Result<usize, registry_core::store::StoreError> {
    let store = state.auth.store();
    let due = |m: &Mirror| m.next_sync_at <= now_millis();
    if !store.mirror_due(now_millis()).await? {
        return Ok(0);
    }
    let now = now_millis();
    if !store.claim_lease(LEASE, owner, now, now + LEASE_MS).await? {
        return Ok(0);
    }
    let work = async {
        let mut synced = 0;
        // Read again under the lease: another replica may have synced them meanwhile.
        for mirror in store.mirrors().await?.into_iter().filter(due) {
            let outcome = sync_one(state, &mirror).await;
            let next = now_millis() + i64::try_from(mirror.interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
            store.record_sync(&mirror.namespace, &outcome, next).await?;
            synced += 1;
        }
        Ok(synced)
    };
    let result = renewing(state, owner, work).await;
    if let Err(e) = store.release_lease(LEASE, owner).await {
        tracing::warn!(error = %e, "releasing the mirrors lease failed; it expires by itself");
    }
    result
}

/// Runs `work`, renewing the lease meanwhile.
async fn renewing<T>(state: &AppState, owner: &str, work: impl Future<Output = T>) -> T {
    futures::pin_mut!(work);
    let mut ticker = tokio::time::interval(RENEW);
    ticker.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticker.tick() => {
                let now = now_millis();
                if let Err(e) = state.auth.store().claim_lease(LEASE, owner, now, now + LEASE_MS).await {
                    tracing::warn!(error = %e, "renewing the mirrors lease failed");
                }
            }
        }
    }
}

/// One sync of one mirror, its outcome recorded in the metrics and returned for the store.
pub async fn sync_one(state: &AppState, mirror: &Mirror) -> SyncOutcome {
    let namespace = mirror.namespace.clone();
    let result = async {
        let stored: StoredSource = serde_json::from_str(&mirror.source)?;
        let source = open_source(state, &stored)?;
        let summary = crate::import::import(state, &namespace, &source, &options(&stored), false).await?;
        let pruned = if mirror.prune { prune(state, &namespace, &summary).await? } else { 0 };
        anyhow::Ok((summary, pruned))
    }
    .await;
    let at = now_millis();
    match result {
        Ok((summary, pruned)) => {
            let imported = summary.imported.len() as u64;
            metrics::counter!("sherpack_mirror_synced_versions_total", "namespace" => namespace.clone()).increment(imported);
            metrics::counter!("sherpack_mirror_pruned_versions_total", "namespace" => namespace.clone()).increment(pruned);
            let succeeded = summary.failed.is_empty();
            if !succeeded {
                metrics::counter!("sherpack_mirror_sync_failures_total", "namespace" => namespace.clone()).increment(1);
            }
            let message = format!("{}, pruned {pruned}", summary.headline());
            tracing::info!(namespace, source = mirror.source_url, "mirror {namespace} synced: {message}");
            SyncOutcome { at, succeeded, message, summary: serde_json::to_string(&summary).ok() }
        }
        Err(e) => {
            metrics::counter!("sherpack_mirror_sync_failures_total", "namespace" => namespace.clone()).increment(1);
            let message = format!("{e:#}");
            tracing::warn!(namespace, source = mirror.source_url, "mirror {namespace} sync failed: {message}");
            SyncOutcome { at, succeeded: false, message, summary: None }
        }
    }
}

/// A version as compared for pruning: without a leading `v`, and `+` for the `_` of an OCI tag.
fn same_version(version: &str) -> String {
    version.trim_start_matches('v').replace('_', "+")
}

/// Removes the versions of `namespace` its source did not list in `summary` (the source's
/// whole listing: imported, skipped, in conflict or failed). Returns how many went.
async fn prune(state: &AppState, namespace: &str, summary: &Summary) -> anyhow::Result<u64> {
    let listed: HashSet<(String, String)> = [&summary.imported, &summary.skipped, &summary.conflicts, &summary.failed]
        .into_iter()
        .flatten()
        .map(|i| (format!("{namespace}/{}", i.name), same_version(&i.version)))
        .collect();
    let here: HashSet<(String, String)> = state.meta.pack_tags(namespace, None).await?.into_iter().map(|t| (t.repository, t.version)).collect();
    let mut removed = 0;
    for (repository, version) in here {
        if listed.contains(&(repository.clone(), same_version(&version))) {
            continue;
        }
        let repo: RepoName = repository.parse()?;
        let Some(digest) = state.meta.resolve_tag(&repo, &crate::packs::tag_of(&version)).await? else { continue };
        if state.meta.delete_manifest(&repo, &digest).await? {
            tracing::info!(namespace, pack.name = %repository, pack.version = %version, "pruned: the source no longer lists it");
            removed += 1;
        }
    }
    Ok(removed)
}
