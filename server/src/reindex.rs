//! `sherpack-registry reindex`: asks every server on the database to rebuild its Helm and
//! search indexes (a `Reindex` change they all follow), and rebuilds the local search index
//! at once when no server is using it.

use std::time::{Duration, Instant};

use crate::Config;
use crate::packs::index::IndexCache;

/// What a reindex did, for the operator.
pub struct Outcome {
    pub change: i64,
    /// Documents, bytes on disk and seconds, when the local index was rebuilt here.
    pub rebuilt: Option<(u64, u64, f64)>,
    /// Why the local index was left to the server using it.
    pub left: Option<String>,
}

pub async fn run(config: &Config) -> anyhow::Result<Outcome> {
    let store = registry_store::open_store(&config.database_url).await?;
    let change = store.request_reindex().await?;
    if config.search_dir().is_none() {
        return Ok(Outcome { change, rebuilt: None, left: Some("the search index is in memory: servers rebuild it".to_owned()) });
    }
    let index = match IndexCache::for_store(store.as_ref(), config).await {
        Ok(index) => index,
        Err(e) => return Ok(Outcome { change, rebuilt: None, left: Some(e) }),
    };
    let started = Instant::now();
    if !index.wait_for_search(store.as_ref(), Duration::from_hours(1)).await? {
        anyhow::bail!("the search index was not rebuilt within an hour");
    }
    let search = index.search_index();
    Ok(Outcome { change, rebuilt: Some((search.documents(), search.size_on_disk(), started.elapsed().as_secs_f64())), left: None })
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "reindex requested (change {}): running servers on this database rebuild their indexes within a second", self.change)?;
        if let Some((documents, bytes, seconds)) = self.rebuilt {
            #[allow(clippy::cast_precision_loss)]
            let mib = bytes as f64 / 1_048_576.0;
            writeln!(f, "search index rebuilt here: {documents} documents, {mib:.1} MiB on disk, {seconds:.1} s")?;
        }
        if let Some(why) = &self.left {
            writeln!(f, "local search index not rebuilt here: {why}")?;
        }
        Ok(())
    }
}
