//! The Helm repository index, kept in memory and brought up to date from the store's change
//! sequence: at start it is loaded from its state on disk (`state.rs`, beside the search
//! index) or, when there is none, from the store a page at a time; after that each request
//! first applies the changes committed since (usually none: one `MAX(seq)` query), reloading
//! only the repositories they touched, in memory and on disk. So a push is in the next index
//! fetch on every replica, and no request ever rebuilds the index from the store. Each
//! repository's versions keep only names, versions and times unpacked (`repo.rs`); rendered
//! documents (YAML, JSON, and their gzip forms) are cached per view, deflated, until the next
//! change.

use std::collections::BTreeMap;
use std::sync::Arc;

use registry_core::store::{MetadataStore, PackRecord, StoreError};
use tokio::sync::Mutex;

mod chunks;
mod entry;
mod repo;
mod state;
mod views;

pub use entry::Entry;
use repo::Repo;
pub use views::{Rendered, View};
use views::Views;

#[derive(Default)]
struct Inner {
    /// `repos` reflect change `seq`.
    loaded: bool,
    /// The search index has been brought to `seq` since the process started.
    search_synced: bool,
    seq: i64,
    last_change_at: i64,
    /// Repository → its versions.
    repos: BTreeMap<String, Repo>,
    /// Namespaces holding packs, once asked for since the last change.
    namespaces: Option<Vec<String>>,
    /// The rendered indexes and their parts.
    views: Views,
}

pub struct IndexCache {
    inner: Mutex<Inner>,
    search: Arc<super::search::SearchIndex>,
    /// Search index updates, in change order, applied by one worker thread: a Tantivy commit
    /// takes tens of milliseconds and must not hold up index fetches. Bounded, so a load of
    /// the whole store waits for the worker instead of queueing every pack in memory.
    search_updates: tokio::sync::mpsc::Sender<SearchUpdate>,
    /// The Helm index's state on disk (none when the search index is in memory).
    state: Option<state::State>,
    /// The change sequence number the search index has caught up with.
    search_applied: tokio::sync::watch::Receiver<i64>,
    /// The change the search index on disk reflected when opened (`None`: empty, rebuild).
    search_opened_at: Option<i64>,
    /// When the store's change sequence was last read, with the count of known changes then and
    /// the sequence number the indexes had reached: requests within [`FRESH`] of it, with no
    /// change known since, skip the database round trip.
    checked: std::sync::Mutex<Option<(std::time::Instant, u64, i64)>>,
    /// Held while the change sequence is read: requests that find the last read too old while
    /// another is under way wait for its answer rather than each asking the database.
    reading: tokio::sync::Mutex<()>,
}

/// How long a read of the change sequence stands for requests that follow it. Writes through
/// this server are seen at once (they count in [`KNOWN_CHANGES`]); writes through another
/// replica at once when Postgres notifies of them, else within this bound.
const FRESH: std::time::Duration = std::time::Duration::from_millis(100);

/// Changes this process knows of: write requests it answered with success and other
/// processes' commits (Postgres notifications).
static KNOWN_CHANGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Called when a change may have happened: a write through this server, or the database
/// reporting another process's. The next index or search request re-reads the sequence.
pub fn note_change() {
    KNOWN_CHANGES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Middleware: a successful write request is noted before its answer goes out, so the client
/// that made it reads its own write from the indexes.
pub async fn note_writes(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let is_write = matches!(*request.method(), axum::http::Method::POST | axum::http::Method::PUT | axum::http::Method::PATCH | axum::http::Method::DELETE);
    let response = next.run(request).await;
    if is_write && response.status().as_u16() < 400 {
        note_change();
    }
    response
}

/// Versions of each repository newest first, with their READMEs, for the search index.
type ForSearch = Vec<(String, super::search::Versions)>;

/// Work for the search index worker: these repositories' versions (with `all`, after removing
/// every document), current as of change `seq`; committed, and so visible, with `commit`.
struct SearchUpdate {
    seq: i64,
    all: bool,
    commit: bool,
    repositories: ForSearch,
}

/// Versions read from the store per page when loading everything.
const PAGE: u32 = 5000;

impl Default for IndexCache {
    /// With the search index in memory.
    fn default() -> Self {
        Self::open(None, "").expect("an in-memory search index")
    }
}

/// The setting naming a database, so a search index built from another one is rebuilt.
const STORE_ID_SETTING: &str = "store_id";

impl IndexCache {
    /// The indexes for the store, with the search index where the configuration puts it.
    pub async fn for_store(store: &dyn registry_core::store::RegistryStore, config: &crate::Config) -> Result<Self, String> {
        let store_id = store
            .setting_or_insert(STORE_ID_SETTING, &crate::auth::credentials::new_signing_secret()[..32])
            .await
            .map_err(|e| format!("reading the store id: {e}"))?;
        Self::open(config.search_dir().as_deref(), &store_id)
    }

    /// The Helm index and the search index kept in `search_dir` (the Helm index's state in
    /// `<search_dir>-helm.redb` beside it), or in memory (the Helm index then filled from the
    /// store on first use); `store_id` names the database, so an index written from another
    /// is rebuilt.
    pub fn open(search_dir: Option<&std::path::Path>, store_id: &str) -> Result<Self, String> {
        let (search, opened_at) = super::search::SearchIndex::open(search_dir, store_id)?;
        let search = Arc::new(search);
        let (updates, mut queue) = tokio::sync::mpsc::channel::<SearchUpdate>(2);
        let (applied_tx, applied) = tokio::sync::watch::channel(opened_at.unwrap_or(0));
        let worker = Arc::clone(&search);
        std::thread::Builder::new()
            .name("search-index".into())
            .spawn(move || {
                let mut rebuild_started = None;
                while let Some(update) = queue.blocking_recv() {
                    if update.all {
                        rebuild_started = Some(std::time::Instant::now());
                    }
                    if let Err(e) = worker.apply(&update.repositories, update.all, update.commit.then_some(update.seq)) {
                        tracing::error!("updating the search index failed: {e}");
                    }
                    if update.commit {
                        if let Some(started) = rebuild_started.take() {
                            tracing::info!(documents = worker.documents(), seconds = started.elapsed().as_secs_f64(), "search index rebuilt");
                        }
                        applied_tx.send_replace(update.seq);
                    }
                }
            })
            .map_err(|e| format!("spawning the search index worker: {e}"))?;
        let mut inner = Inner::default();
        let state = match search_dir {
            Some(dir) => {
                let mut file = dir.file_name().unwrap_or_default().to_os_string();
                file.push("-helm.redb");
                let (state, saved) = state::State::open(&dir.with_file_name(file), store_id)?;
                if let Some(saved) = saved {
                    inner = Inner { loaded: true, seq: saved.seq, last_change_at: saved.at, repos: saved.repos, ..Inner::default() };
                }
                Some(state)
            }
            None => None,
        };
        Ok(Self {
            inner: Mutex::new(inner),
            search,
            search_updates: updates,
            state,
            search_applied: applied,
            search_opened_at: opened_at,
            checked: std::sync::Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
        })
    }

    /// The search index, for statistics.
    #[must_use]
    pub fn search_index(&self) -> &super::search::SearchIndex {
        &self.search
    }

    /// The change sequence number the search index has applied.
    #[must_use]
    pub fn search_seq(&self) -> i64 {
        *self.search_applied.borrow()
    }
}

fn group_for_search(records: Vec<PackRecord>) -> ForSearch {
    let mut by_repo: BTreeMap<String, Vec<(Entry, Option<String>)>> = BTreeMap::new();
    for (entry, readme) in records.into_iter().filter_map(Entry::from_record) {
        by_repo.entry(entry.repository.clone()).or_default().push((entry, readme));
    }
    for versions in by_repo.values_mut() {
        versions.sort_by(|(a, _), (b, _)| Entry::newest_first(a, b));
    }
    by_repo.into_iter().collect()
}

/// Each repository's latest version alone: all the search index keeps.
fn latest_only(grouped: ForSearch) -> ForSearch {
    grouped
        .into_iter()
        .map(|(repository, mut versions)| {
            versions.truncate(1);
            (repository, versions)
        })
        .collect()
}

/// The repositories touched by the changes after `after` (up to `last`), or `None` when one
/// of them asks for a full rebuild.
async fn touched_since(store: &dyn MetadataStore, mut after: i64) -> Result<(Option<std::collections::BTreeSet<String>>, i64, i64), StoreError> {
    let mut touched = std::collections::BTreeSet::new();
    let mut at = 0;
    let mut rebuild = false;
    loop {
        let changes = store.changes_since(after, 1000).await?;
        let Some(last) = changes.last() else { break };
        after = last.seq;
        at = last.at;
        for change in changes {
            match change.kind {
                registry_core::store::ChangeKind::Reindex => rebuild = true,
                // Not about packs: the auth layer follows these.
                registry_core::store::ChangeKind::Credentials => {}
                _ => {
                    touched.insert(change.repository);
                }
            }
        }
    }
    Ok(((!rebuild).then_some(touched), after, at))
}

impl IndexCache {
    /// Applies the changes committed since the last call: loads everything when nothing is
    /// loaded yet and after a `Reindex` change, brings the search index on disk up to date
    /// once after the start, then reloads the repositories changed since.
    async fn catch_up(&self, inner: &mut Inner, store: &dyn MetadataStore, last: i64) -> Result<(), StoreError> {
        if !inner.loaded {
            let search_too = !inner.search_synced && self.search_opened_at.is_none();
            self.load_all(inner, store, last, search_too).await?;
        }
        if !inner.search_synced {
            inner.search_synced = true;
            // The index on disk reflects an earlier change: apply what changed since (or
            // everything, when a `Reindex` came since).
            let touched = match self.search_opened_at {
                Some(opened) => touched_since(store, opened).await?.0,
                None => None,
            };
            match touched {
                Some(touched) => {
                    let mut repositories = ForSearch::new();
                    for repository in touched {
                        let versions = group_for_search(store.packs(Some(&repository)).await?).pop().map(|(_, v)| v).unwrap_or_default();
                        repositories.push((repository, versions));
                    }
                    self.send_search(SearchUpdate { seq: inner.seq, all: false, commit: true, repositories }).await;
                }
                None => self.load_search(store, inner.seq).await?,
            }
        }
        if last <= inner.seq {
            return Ok(());
        }
        let (touched, seq, at) = touched_since(store, inner.seq).await?;
        let Some(touched) = touched else {
            tracing::info!(seq, "reindex requested: rebuilding the Helm and search indexes");
            return self.load_all(inner, store, seq, true).await;
        };
        inner.seq = seq;
        inner.last_change_at = at;
        self.reload(inner, store, touched).await
    }

    async fn send_search(&self, update: SearchUpdate) {
        if self.search_updates.send(update).await.is_err() {
            tracing::error!("the search index worker is gone");
        }
    }

    fn save(&self, repos: &BTreeMap<String, Repo>, names: &[String], reached: Option<(i64, i64)>) {
        if let Some(state) = &self.state
            && let Err(e) = state.save(names.iter().map(|n| (n.as_str(), repos.get(n))), reached)
        {
            tracing::warn!(error = %e, "writing the Helm index state failed: the next start reads the store");
        }
    }

    /// Every repository from the store, a page at a time, into the Helm index and its state
    /// (and the search index, rebuilt, with `search`), as of change `last`.
    async fn load_all(&self, inner: &mut Inner, store: &dyn MetadataStore, last: i64, search: bool) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        inner.repos.clear();
        inner.namespaces = None;
        inner.views = Views::default();
        if let Some(state) = &self.state
            && let Err(e) = state.clear()
        {
            tracing::warn!(error = %e, "clearing the Helm index state failed");
        }
        if search {
            self.send_search(SearchUpdate { seq: last, all: true, commit: false, repositories: Vec::new() }).await;
        }
        let mut after = String::new();
        loop {
            let page = store.packs_after(&after, PAGE).await?;
            let Some(record) = page.last() else { break };
            after.clone_from(&record.repository);
            let grouped = group_for_search(page);
            let names: Vec<String> = grouped.iter().map(|(r, _)| r.clone()).collect();
            for (repository, versions) in &grouped {
                inner.repos.insert(repository.clone(), Repo::new(versions.iter().map(|(e, _)| e.clone()).collect()));
            }
            self.save(&inner.repos, &names, None);
            if search {
                self.send_search(SearchUpdate { seq: last, all: false, commit: false, repositories: latest_only(grouped) }).await;
            }
        }
        inner.seq = last;
        inner.loaded = true;
        inner.last_change_at = crate::auth::now_millis();
        self.save(&inner.repos, &[], Some((inner.seq, inner.last_change_at)));
        if search {
            inner.search_synced = true;
            self.send_search(SearchUpdate { seq: last, all: false, commit: true, repositories: Vec::new() }).await;
        }
        tracing::info!(repositories = inner.repos.len(), seconds = started.elapsed().as_secs_f64(), "Helm index loaded from the store");
        Ok(())
    }

    /// The search index rebuilt from the store, a page at a time, as of change `seq`.
    async fn load_search(&self, store: &dyn MetadataStore, seq: i64) -> Result<(), StoreError> {
        self.send_search(SearchUpdate { seq, all: true, commit: false, repositories: Vec::new() }).await;
        let mut after = String::new();
        loop {
            let page = store.packs_after(&after, PAGE).await?;
            let Some(record) = page.last() else { break };
            after.clone_from(&record.repository);
            self.send_search(SearchUpdate { seq, all: false, commit: false, repositories: latest_only(group_for_search(page)) }).await;
        }
        self.send_search(SearchUpdate { seq, all: false, commit: true, repositories: Vec::new() }).await;
        Ok(())
    }

    /// Reloads the touched repositories from the store into both indexes and the state.
    async fn reload(&self, inner: &mut Inner, store: &dyn MetadataStore, touched: std::collections::BTreeSet<String>) -> Result<(), StoreError> {
        let mut reindex: ForSearch = Vec::new();
        for repository in &touched {
            let versions = group_for_search(store.packs(Some(repository)).await?).pop().map(|(_, v)| v).unwrap_or_default();
            let namespace = repository.split('/').next().unwrap_or_default().to_owned();
            let name = repository.rsplit('/').next().unwrap_or_default().to_owned();
            let before = inner.repos.get(repository).map(|r| r.heads.len()).unwrap_or_default();
            inner.namespaces = None;
            if versions.is_empty() {
                inner.repos.remove(repository);
            } else {
                inner.repos.insert(repository.clone(), Repo::new(versions.iter().map(|(e, _)| e.clone()).collect()));
            }
            reindex.push((repository.clone(), versions));
            let shown = before > 0 || in_namespace(&inner.repos, &namespace).next().is_some();
            inner.views.forget_chart(&namespace, &name, shown);
        }
        let names: Vec<String> = touched.into_iter().collect();
        self.save(&inner.repos, &names, Some((inner.seq, inner.last_change_at)));
        // Sent even when empty: searches wait for the worker to reach this sequence number.
        self.send_search(SearchUpdate { seq: inner.seq, all: false, commit: true, repositories: reindex }).await;
        Ok(())
    }

    /// The indexes, current with the store. The change sequence is read before taking the
    /// lock, so requests only wait for one another when there is something to apply, and by
    /// one request at a time: the others use its answer.
    async fn current(&self, store: &dyn MetadataStore) -> Result<tokio::sync::MutexGuard<'_, Inner>, StoreError> {
        if let Some(inner) = self.current_without_reading().await {
            return Ok(inner);
        }
        let _reading = self.reading.lock().await;
        if let Some(inner) = self.current_without_reading().await {
            return Ok(inner);
        }
        let changes = KNOWN_CHANGES.load(std::sync::atomic::Ordering::SeqCst);
        let last = store.last_change_seq().await?;
        let mut inner = self.inner.lock().await;
        if !inner.loaded || !inner.search_synced || last > inner.seq {
            self.catch_up(&mut inner, store, last).await?;
        }
        if let Ok(mut checked) = self.checked.lock() {
            *checked = Some((std::time::Instant::now(), changes, inner.seq));
        }
        Ok(inner)
    }

    /// The indexes, when the last read of the change sequence still stands and they are loaded.
    async fn current_without_reading(&self) -> Option<tokio::sync::MutexGuard<'_, Inner>> {
        self.fresh(KNOWN_CHANGES.load(std::sync::atomic::Ordering::SeqCst))?;
        let inner = self.inner.lock().await;
        (inner.loaded && inner.search_synced).then_some(inner)
    }

    /// The sequence number reached at the last read of the store, if that read still stands.
    fn fresh(&self, changes: u64) -> Option<i64> {
        let checked = self.checked.lock().ok()?;
        let (at, seen, seq) = (*checked)?;
        (seen == changes && at.elapsed() < FRESH).then_some(seq)
    }

    /// Applies whatever changed in the store (run periodically, so an idle replica keeps up).
    pub async fn refresh(&self, store: &dyn MetadataStore) -> Result<(), StoreError> {
        self.current(store).await.map(drop)
    }

    /// Waits until the search index reflects every change applied so far (at most
    /// `timeout`); false when it did not get there.
    pub async fn wait_for_search(&self, store: &dyn MetadataStore, timeout: std::time::Duration) -> Result<bool, StoreError> {
        let target = match self.fresh(KNOWN_CHANGES.load(std::sync::atomic::Ordering::SeqCst)) {
            Some(seq) => seq,
            None => self.current(store).await?.seq,
        };
        let mut applied = self.search_applied.clone();
        let waited = tokio::time::timeout(timeout, applied.wait_for(|seq| *seq >= target)).await;
        Ok(matches!(waited, Ok(Ok(_))))
    }

    /// The index for a view, current with the store.
    pub async fn rendered(&self, store: &dyn MetadataStore, view: View<'_>) -> Result<Arc<Rendered>, StoreError> {
        let mut inner = self.current(store).await?;
        let key = view.key();
        if let Some(rendered) = inner.views.get(&key) {
            return Ok(rendered);
        }
        let generated = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(inner.last_change_at).unwrap_or(0));
        let etag = format!("\"{}-{}\"", inner.seq, registry_core::Digest::of(key.as_bytes()).hex().get(..12).unwrap_or_default());
        let Inner { repos, views, .. } = &mut *inner;
        views.render(repos, &view, key, etag, generated)
    }

    /// Runs a search once the index reflects the store (read-after-write).
    pub async fn search(&self, store: &dyn MetadataStore, request: super::search::Request) -> Result<super::search::Results, StoreError> {
        self.search_current(store).await?;
        // About a millisecond of CPU: run where we are, a hand-off to the blocking pool costs
        // more than it saves.
        self.search.search(&request).map_err(|e| StoreError::Backend(format!("search: {e}")))
    }

    /// Name completions for a prefix, in `namespaces`.
    pub async fn suggest(&self, store: &dyn MetadataStore, prefix: &str, namespaces: Vec<String>, limit: usize) -> Result<Vec<super::search::Hit>, StoreError> {
        self.search_current(store).await?;
        self.search.suggest(prefix, &namespaces, limit).map_err(|e| StoreError::Backend(format!("search: {e}")))
    }

    async fn search_current(&self, store: &dyn MetadataStore) -> Result<(), StoreError> {
        // A commit takes tens of milliseconds; a full rebuild may take longer, and then the
        // search answers from the previous index rather than wait.
        if !self.wait_for_search(store, std::time::Duration::from_secs(5)).await? {
            tracing::warn!("the search index is behind the store");
        }
        Ok(())
    }

    /// Namespaces that hold at least one pack.
    pub async fn namespaces(&self, store: &dyn MetadataStore) -> Result<Vec<String>, StoreError> {
        let mut inner = self.current(store).await?;
        let inner = &mut *inner;
        let names = inner.namespaces.get_or_insert_with(|| {
            let mut names: Vec<String> = inner.repos.keys().map(|r| r.split('/').next().unwrap_or_default().to_owned()).collect();
            names.dedup();
            names
        });
        Ok(names.clone())
    }

    /// A namespace's pack versions, by name, newest first.
    pub async fn entries(&self, store: &dyn MetadataStore, namespace: &str) -> Result<Vec<Entry>, StoreError> {
        let inner = self.current(store).await?;
        let mut found: Vec<Entry> = in_namespace(&inner.repos, namespace).flat_map(|(name, repo)| repo.entries(name)).collect();
        found.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| Entry::newest_first(a, b)));
        Ok(found)
    }

    /// How many pack versions these namespaces hold.
    pub async fn version_count(&self, store: &dyn MetadataStore, namespaces: &[String]) -> Result<usize, StoreError> {
        let inner = self.current(store).await?;
        Ok(namespaces.iter().flat_map(|ns| in_namespace(&inner.repos, ns)).map(|(_, repo)| repo.heads.len()).sum())
    }

    /// A repository's pack versions, newest first.
    pub async fn versions(&self, store: &dyn MetadataStore, repository: &str) -> Result<Vec<Entry>, StoreError> {
        let inner = self.current(store).await?;
        Ok(inner.repos.get(repository).map(|repo| repo.entries(repository)).unwrap_or_default())
    }

    /// The pack a download file name (`<name>-<version>.tgz`) names in a namespace.
    pub async fn find_file(&self, store: &dyn MetadataStore, namespace: &str, file: &str) -> Result<Option<Entry>, StoreError> {
        let inner = self.current(store).await?;
        for (repository, repo) in in_namespace(&inner.repos, namespace) {
            if let Some(at) = repo.heads.iter().position(|h| h.file_name() == file) {
                return Ok(repo.entries(repository).into_iter().nth(at));
            }
        }
        Ok(None)
    }

    /// Memory the Helm index holds, by part: `(versions, packed entry bytes, rendered views'
    /// bytes)`, for the logs and the scale benchmark's breakdown.
    pub async fn footprint(&self) -> (usize, usize, usize) {
        let inner = self.inner.lock().await;
        let versions = inner.repos.values().map(|r| r.heads.len()).sum();
        let packed = inner.repos.values().map(Repo::packed_bytes).sum();
        (versions, packed, inner.views.held_bytes())
    }
}

/// The repositories of a namespace, by name.
fn in_namespace<'a>(repos: &'a BTreeMap<String, Repo>, namespace: &str) -> impl Iterator<Item = (&'a String, &'a Repo)> + 'a {
    let prefix = format!("{namespace}/");
    repos.range(prefix.clone()..).take_while(move |(name, _)| name.starts_with(&prefix))
}
