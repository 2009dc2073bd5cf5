//! A registry of many pack versions, generated through the store's own write path
//! (`MetadataStore::put_manifests`, in batches) for `bench/scale.sh`: charts of the corpus
//! (`crate::corpus`), 20 versions each, 100 charts per namespace — the shape of a large
//! organisation's registry — and one namespace holding a single chart of 20 versions.

use std::time::Instant;

use futures::StreamExt as _;
use registry_core::store::{NewManifest, NewPack};
use registry_core::{Digest, RepoName};

/// Versions of each generated chart.
pub const VERSIONS_PER_CHART: usize = 20;
/// Charts of each generated namespace.
pub const CHARTS_PER_NAMESPACE: usize = 100;
/// The namespace of one chart of [`VERSIONS_PER_CHART`] versions.
pub const SMALL_NAMESPACE: &str = "small";
/// The small namespace's chart.
pub const SMALL_CHART: &str = "lonely-chart";
/// Words of each README (about 5 KiB, the size of a typical chart's).
pub const README_WORDS: usize = 600;
/// The corpus pack the small namespace's chart takes its metadata from. Not pack 0: the corpus
/// deprecates every 50th pack, and a deprecated pack is left out of Artifact Hub searches
/// unless asked for, so readiness probes searching for it would never match.
const SMALL_CHART_SEED: usize = 1;
/// Versions written per transaction.
const BATCH: usize = 1000;
/// Transactions in flight.
const CONCURRENCY: usize = 2;

/// The namespace of chart `i`.
#[must_use]
pub fn namespace(i: usize) -> String {
    format!("team-{:03}", i / CHARTS_PER_NAMESPACE)
}

/// The repository of chart `i`.
#[must_use]
pub fn repository(i: usize) -> String {
    format!("{}/{}", namespace(i), crate::corpus::name(i))
}

/// Version `v` of a generated chart.
#[must_use]
pub fn version(v: usize) -> String {
    format!("1.{v}.0")
}

/// One version as a push stores it: the manifest of a Helm chart artifact (config and chart
/// layer) and its pack record.
fn push(repo: &str, name: &str, v: usize, i: usize) -> (RepoName, NewManifest, Option<String>) {
    let version = version(v);
    let metadata = crate::corpus::metadata(name, &version, i, README_WORDS);
    let archive = Digest::of(format!("{repo}:{version}:archive").as_bytes());
    let config = Digest::of(format!("{repo}:{version}:config").as_bytes());
    let kind = if i.is_multiple_of(5) { "sherpack" } else { "helm" };
    let content = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config.to_string(), "size": 412 },
        "layers": [{ "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": archive.to_string(), "size": 6144 }],
        "annotations": { "org.opencontainers.image.title": name, "org.opencontainers.image.version": version },
    })
    .to_string()
    .into_bytes();
    let manifest = NewManifest {
        digest: Digest::of(&content),
        media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        artifact_type: Some("application/vnd.cncf.helm.config.v1+json".to_owned()),
        subject: None,
        content,
        references: Vec::new(),
        pack: Some(NewPack {
            name: name.to_owned(),
            version: version.clone(),
            kind: kind.to_owned(),
            archive_digest: archive,
            archive_size: 6144,
            metadata,
            signature: None,
        }),
    };
    (repo.parse().expect("a valid repository name"), manifest, Some(version))
}

/// What generating took.
pub struct Generated {
    pub versions: usize,
    pub seconds: f64,
}

/// Writes `total` versions (rounded up to whole charts) plus the small namespace into the
/// store at `url` (created and migrated if new).
pub async fn generate(url: &str, total: usize) -> Generated {
    let store = registry_store::open_store(url).await.expect("opening the store");
    let started = Instant::now();
    let charts = total.div_ceil(VERSIONS_PER_CHART);
    let mut versions: Vec<(usize, usize)> = (0..charts).flat_map(|i| (0..VERSIONS_PER_CHART).map(move |v| (i, v))).collect();
    // The small namespace's chart: index `usize::MAX` names it apart from the others.
    versions.extend((0..VERSIONS_PER_CHART).map(|v| (usize::MAX, v)));
    let count = versions.len();
    let store = &store;
    futures::stream::iter(versions.chunks(BATCH))
        .map(|batch| async move {
            let pushes: Vec<_> = batch
                .iter()
                .map(|&(i, v)| {
                    if i == usize::MAX {
                        push(&format!("{SMALL_NAMESPACE}/{SMALL_CHART}"), SMALL_CHART, v, SMALL_CHART_SEED)
                    } else {
                        let name = crate::corpus::name(i);
                        push(&format!("{}/{name}", namespace(i)), &name, v, i)
                    }
                })
                .collect();
            store.put_manifests(&pushes).await.expect("writing a batch of versions");
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    // As after any bulk load: the planner's statistics, which autovacuum may not have gathered
    // yet (without them a pack page's tag query at 1,000,000 versions took 60 ms, not 0.1).
    if url.starts_with("postgres") {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.expect("connecting to analyze");
        sqlx::query("ANALYZE").execute(&mut conn).await.expect("ANALYZE");
    }
    Generated { versions: count, seconds }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_small_chart_is_current_so_searches_find_it() {
        let meta: serde_json::Value = serde_json::from_str(&crate::corpus::metadata(super::SMALL_CHART, "1.0.0", super::SMALL_CHART_SEED, 10)).unwrap();
        assert_eq!(meta["deprecated"], false, "Artifact Hub searches leave deprecated packs out");
    }
}
