//! Online garbage collection: the registry keeps serving pushes and pulls while it runs.
//!
//! One run, in order: retention (namespaces whose policy keeps the last N versions of each
//! pack lose the older ones), untagged manifests (when `gc.delete_untagged`), expired upload
//! sessions and their parts, blobs that no manifest references, and objects in storage that
//! no record names (a crash between writing and recording, a racing request's chunk, parts of
//! sessions that are gone, leftovers of earlier versions). Only what has been unreferenced or untouched for the grace period goes:
//! a blob uploaded a moment ago for a manifest not yet pushed is never taken. Each blob is
//! removed under its lock (the one publishing takes, see `crate::storage`), record first,
//! then its objects; manifests are removed in the same transaction check a push makes, so a
//! manifest never ends up naming a blob that is gone. Unreferenced blobs go in batches (their
//! locks, one transaction for their records, one bulk delete for their objects); deletes run
//! concurrently.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use registry_core::blob::{BlobLocation, BlobStore, StoredKind};
use registry_core::store::{Millis, RegistryStore, StoreError};
use serde::Serialize;

/// Objects (or batches of blobs) deleted at once.
const CONCURRENCY: usize = 16;
/// Unreferenced blobs removed together, and batches in flight (each holds two database
/// connections: its locks' and its removal's).
const BATCH: usize = 500;
const BATCHES: usize = 3;

#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    pub grace: Duration,
    pub delete_untagged: bool,
    pub upload_expiry: Duration,
}

impl Options {
    #[must_use]
    pub fn from_config(config: &crate::Config, dry_run: bool) -> Self {
        Self {
            dry_run,
            grace: Duration::from_secs(config.gc.grace_secs),
            delete_untagged: config.gc.delete_untagged,
            upload_expiry: Duration::from_secs(config.oci.upload_expiry_secs),
        }
    }
}

/// What a run found and (unless a dry run) removed.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub retention_manifests: usize,
    pub untagged_manifests: usize,
    pub expired_uploads: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
    pub orphan_objects: usize,
    pub orphan_bytes: u64,
    pub seconds: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run { "would remove" } else { "removed" };
        writeln!(f, "garbage collection {verb}:")?;
        writeln!(f, "  {} manifests past their namespace's retention", self.retention_manifests)?;
        writeln!(f, "  {} untagged manifests", self.untagged_manifests)?;
        writeln!(f, "  {} expired upload sessions", self.expired_uploads)?;
        writeln!(f, "  {} unreferenced blobs ({} bytes)", self.blobs, self.blob_bytes)?;
        writeln!(f, "  {} objects no record names ({} bytes)", self.orphan_objects, self.orphan_bytes)?;
        write!(f, "in {:.2} s", self.seconds)
    }
}

fn now_millis() -> Millis {
    crate::auth::now_millis()
}

fn before(grace: Duration) -> Millis {
    now_millis().saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX))
}

/// Removes upload sessions untouched since `before`, with their parts. Returns how many.
pub async fn expire_uploads(store: &dyn registry_core::store::MetadataStore, blobs: &dyn BlobStore, before: Millis, dry_run: bool) -> Result<usize, StoreError> {
    let expired = store.stale_uploads(before).await?;
    if dry_run {
        return Ok(expired.len());
    }
    for session in &expired {
        tracing::info!(upload.id = %session.id, repo.name = %session.repository, "expiring abandoned upload {}", session.id);
        crate::storage::end_upload(store, blobs, &session.id).await;
    }
    Ok(expired.len())
}

/// Manifests of packs beyond their namespace's `keep_last_versions`: `(repository, digest)`.
async fn past_retention(store: &dyn RegistryStore) -> Result<Vec<(String, registry_core::Digest)>, StoreError> {
    let mut keep: BTreeMap<String, u32> = BTreeMap::new();
    for ns in store.list_namespaces().await? {
        if let Some(n) = serde_json::from_str::<registry_core::auth::NamespacePolicy>(&ns.policy).ok().and_then(|p| p.keep_last_versions) {
            keep.insert(ns.name, n);
        }
    }
    if keep.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_repo: BTreeMap<String, Vec<(semver::Version, registry_core::Digest)>> = BTreeMap::new();
    for pack in store.packs(None).await? {
        let ns = pack.repository.split('/').next().unwrap_or_default();
        if keep.contains_key(ns)
            && let Ok(v) = semver::Version::parse(&pack.pack.version)
        {
            by_repo.entry(pack.repository.clone()).or_default().push((v, pack.manifest_digest.clone()));
        }
    }
    let mut out = Vec::new();
    for (repo, mut versions) in by_repo {
        let n = keep[repo.split('/').next().unwrap_or_default()] as usize;
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        out.extend(versions.into_iter().skip(n).map(|(_, d)| (repo.clone(), d)));
    }
    Ok(out)
}

async fn delete_manifests(store: &dyn RegistryStore, manifests: &[(String, registry_core::Digest)]) -> Result<usize, StoreError> {
    let mut removed = 0;
    for (repo, digest) in manifests {
        let Ok(name) = repo.parse::<registry_core::RepoName>() else { continue };
        if store.delete_manifest(&name, digest).await? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// One garbage collection run.
pub async fn run(store: &Arc<dyn RegistryStore>, blobs: &Arc<dyn BlobStore>, options: &Options) -> Result<Report, StoreError> {
    let started = Instant::now();
    let mut report = Report { dry_run: options.dry_run, ..Report::default() };
    let cutoff = before(options.grace);

    let retention = past_retention(store.as_ref()).await?;
    report.retention_manifests = if options.dry_run { retention.len() } else { delete_manifests(store.as_ref(), &retention).await? };
    if options.delete_untagged {
        let untagged = store.untagged_manifests(cutoff).await?;
        report.untagged_manifests = if options.dry_run { untagged.len() } else { delete_manifests(store.as_ref(), &untagged).await? };
    }
    report.expired_uploads = expire_uploads(store.as_ref(), blobs.as_ref(), before(options.upload_expiry), options.dry_run).await?;

    // Blobs no manifest references: record, then objects, under the blob's lock.
    let candidates = store.unreferenced_blobs(cutoff).await?;
    if options.dry_run {
        report.blobs = candidates.len();
        report.blob_bytes = candidates.iter().map(|(_, size)| size).sum();
    } else {
        // In batches of digests in sorted order (which share lock stripes): their locks, their
        // records in one transaction, their objects in one bulk delete.
        let digests: Vec<registry_core::Digest> = candidates.into_iter().map(|(digest, _)| digest).collect();
        let removed: Vec<Result<Vec<(registry_core::Digest, u64)>, StoreError>> = futures::stream::iter(digests.chunks(BATCH).map(<[registry_core::Digest]>::to_vec).collect::<Vec<_>>())
            .map(|batch| async move {
                let _guard = store.lock_blobs(&batch).await?;
                let removed = store.remove_unreferenced_blobs(&batch, cutoff).await?;
                let gone: Vec<(registry_core::Digest, registry_core::blob::BlobLocation)> = removed.iter().map(|b| (b.digest.clone(), b.location.clone())).collect();
                if let Err(e) = blobs.delete_many(&gone).await {
                    // The records are gone: the objects left are orphans the next run removes.
                    tracing::warn!(blobs = gone.len(), error = %e, "deleting collected blobs failed");
                }
                Ok(removed.into_iter().map(|b| (b.digest, b.size)).collect())
            })
            .buffer_unordered(BATCHES)
            .collect()
            .await;
        for batch in removed {
            for (_, size) in batch? {
                report.blobs += 1;
                report.blob_bytes += size;
            }
        }
    }

    let (orphans, bytes) = sweep(store, blobs, cutoff, options.dry_run).await?;
    report.orphan_objects = orphans;
    report.orphan_bytes = bytes;

    report.seconds = started.elapsed().as_secs_f64();
    if !options.dry_run {
        metrics::counter!("sherpack_gc_runs_total").increment(1);
        metrics::counter!("sherpack_gc_deleted_blobs_total").increment(report.blobs as u64 + report.orphan_objects as u64);
        metrics::counter!("sherpack_gc_freed_bytes_total").increment(report.blob_bytes + report.orphan_bytes);
        metrics::counter!("sherpack_gc_deleted_manifests_total").increment((report.retention_manifests + report.untagged_manifests) as u64);
    }
    Ok(report)
}

/// What the records name, for the orphan sweep.
struct Named {
    sessions: HashSet<String>,
    /// Blobs in the digest layout.
    digests: HashSet<registry_core::Digest>,
    /// `(upload, part)` objects holding published blobs.
    parts: HashSet<(String, String)>,
}

impl Named {
    /// Read after the listing, sessions before blobs: an object listed was written before
    /// either read, so a record naming it is in these sets, and a session that ends between
    /// the two reads (its blob published) has that blob in the second.
    async fn read(store: &dyn RegistryStore) -> Result<Self, StoreError> {
        let sessions = store.stale_uploads(Millis::MAX).await?.into_iter().map(|s| s.id).collect();
        let mut named = Self { sessions, digests: HashSet::new(), parts: HashSet::new() };
        for (digest, location) in store.blob_locations().await? {
            match location {
                BlobLocation::Digest => {
                    named.digests.insert(digest);
                }
                BlobLocation::Upload { upload, parts } => named.parts.extend(parts.into_iter().map(|p| (upload.clone(), p.name))),
            }
        }
        Ok(named)
    }

    fn names(&self, kind: &StoredKind) -> bool {
        match kind {
            StoredKind::Blob(digest) => self.digests.contains(digest),
            StoredKind::Data { upload, part } => self.sessions.contains(upload) || self.parts.contains(&(upload.clone(), part.clone())),
            StoredKind::Temporary => false,
            StoredKind::UploadPart(id) => self.sessions.contains(id),
            StoredKind::Other => true,
        }
    }
}

/// Removes objects no record names and older than `cutoff` (a crash between writing and
/// recording, a racing request's chunk, leftovers of earlier versions): how many, how large.
/// An object of the digest layout is checked again under its blob's lock before it goes.
async fn sweep(store: &Arc<dyn RegistryStore>, blobs: &Arc<dyn BlobStore>, cutoff: Millis, dry_run: bool) -> Result<(usize, u64), StoreError> {
    let objects = blobs.list_objects().await.map_err(|e| StoreError::Backend(e.to_string()))?;
    let named = Named::read(store.as_ref()).await?;
    let candidates = objects.into_iter().filter(|o| o.modified < cutoff && !named.names(&o.kind));
    let swept: Vec<Result<Option<u64>, StoreError>> = futures::stream::iter(candidates)
        .map(|object| async move {
            if dry_run {
                return Ok(Some(object.size));
            }
            let _guard = match &object.kind {
                StoredKind::Blob(digest) => {
                    let guard = store.lock_blob(digest).await?;
                    if store.blob(digest).await?.is_some_and(|b| b.location == BlobLocation::Digest) {
                        return Ok(None);
                    }
                    Some(guard)
                }
                _ => None,
            };
            blobs.delete_object(&object.location).await.map_err(|e| StoreError::Backend(e.to_string()))?;
            Ok(Some(object.size))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let (mut count, mut bytes) = (0, 0);
    for r in swept {
        if let Some(size) = r? {
            count += 1;
            bytes += size;
        }
    }
    Ok((count, bytes))
}

/// `sherpack-registry gc`: opens the configured database and storage and runs once.
pub async fn run_command(config: crate::Config, args: crate::cli::GcArgs) -> anyhow::Result<Report> {
    let store = registry_store::open_store(&config.database_url).await?;
    let storage_url = registry_store::StorageUrl::parse(&config.storage_url, config.s3.clone())?;
    let blobs: Arc<dyn BlobStore> = Arc::new(registry_store::ObjectBlobStore::open(&storage_url)?);
    let mut options = Options::from_config(&config, args.dry_run);
    if let Some(grace) = args.grace {
        options.grace = grace;
    }
    options.delete_untagged |= args.delete_untagged;
    Ok(run(&store, &blobs, &options).await?)
}

/// The scheduled runs of a server (`gc.interval_secs`).
pub async fn run_forever(state: crate::AppState) {
    let period = Duration::from_secs(state.config.gc.interval_secs.max(1));
    let mut ticker = tokio::time::interval(period);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let options = Options::from_config(&state.config, false);
        match run(state.auth.store(), &state.blobs, &options).await {
            Ok(report) => tracing::info!(gc.blobs = report.blobs, gc.freed_bytes = report.blob_bytes + report.orphan_bytes, "{report}"),
            Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
        }
    }
}
