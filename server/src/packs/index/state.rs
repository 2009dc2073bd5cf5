//! The Helm index's state on disk (a redb file beside the search index): every repository's
//! versions in [`Repo`]'s form, and the change sequence number they reflect, written in the
//! same transaction. A server that starts on it loads it (no database read of every pack) and
//! applies the changes made since. Losing a commit only makes the state older, never
//! inconsistent, so most commits skip the fsync: at most one in [`DURABLE_EVERY`] waits for
//! the disk (redb keeps the last durable commit when a later one is lost).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::repo::Repo;

/// Repository → [`Repo::to_bytes`].
const REPOS: TableDefinition<&str, &[u8]> = TableDefinition::new("repos");
/// `seq`, `at` (i64, little endian), `store` and `schema`: what the repositories reflect.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Bumped whenever [`Repo::to_bytes`]'s form changes: a state written with another is rebuilt.
const SCHEMA: &[u8] = b"1";
const DURABLE_EVERY: Duration = Duration::from_secs(5);
/// redb's page cache: reads happen at start only.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

pub struct State {
    db: Database,
    store_id: String,
    /// When a commit last waited for the disk (`None`: not yet).
    last_durable: std::sync::Mutex<Option<Instant>>,
}

/// What a state held when opened.
pub struct Saved {
    pub seq: i64,
    pub at: i64,
    pub repos: BTreeMap<String, Repo>,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("the Helm index state: {e}")
}

impl State {
    /// The state file at `path` (created when missing), and what it holds when it was written
    /// from this database with this schema (`None`: start from the database).
    pub fn open(path: &Path, store_id: &str) -> Result<(Self, Option<Saved>), String> {
        let db = match Database::builder().set_cache_size(CACHE_BYTES).create(path) {
            Ok(db) => db,
            Err(e @ redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(format!("{} is in use by another process (every server needs its own search.index_dir): {e}", path.display()));
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "the Helm index state is unreadable: starting from the database");
                std::fs::remove_file(path).map_err(|e| format!("removing {}: {e}", path.display()))?;
                Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(err)?
            }
        };
        let state = Self { db, store_id: store_id.to_owned(), last_durable: std::sync::Mutex::new(None) };
        let saved = state.read().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the Helm index state is unreadable: starting from the database");
            None
        });
        Ok((state, saved))
    }

    fn read(&self) -> Result<Option<Saved>, String> {
        let read = self.db.begin_read().map_err(err)?;
        let meta = match read.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        let text = |key: &str| -> Result<Option<Vec<u8>>, String> { Ok(meta.get(key).map_err(err)?.map(|v| v.value().to_vec())) };
        let number = |key: &str| -> Result<Option<i64>, String> { Ok(text(key)?.and_then(|v| v.try_into().ok()).map(i64::from_le_bytes)) };
        if text("store")?.as_deref() != Some(self.store_id.as_bytes()) || text("schema")?.as_deref() != Some(SCHEMA) {
            return Ok(None);
        }
        let (Some(seq), Some(at)) = (number("seq")?, number("at")?) else { return Ok(None) };
        let table = read.open_table(REPOS).map_err(err)?;
        let mut repos = BTreeMap::new();
        for row in table.iter().map_err(err)? {
            let (key, value) = row.map_err(err)?;
            let repo = Repo::from_bytes(value.value()).ok_or_else(|| err(format!("repository {} is unreadable", key.value())))?;
            repos.insert(key.value().to_owned(), repo);
        }
        tracing::info!(seq, repositories = table.len().unwrap_or_default(), "Helm index state loaded");
        Ok(Some(Saved { seq, at, repos }))
    }

    /// Forgets everything (before a load from the database, written page by page).
    pub fn clear(&self) -> Result<(), String> {
        let mut write = self.db.begin_write().map_err(err)?;
        write.set_durability(Durability::None);
        write.delete_table(REPOS).map_err(err)?;
        write.delete_table(META).map_err(err)?;
        write.commit().map_err(err)
    }

    /// Writes these repositories (`None`: gone) and, when given, the change they bring the
    /// state to, `(seq, at)`; without it the state stays unusable until a write that has it.
    pub fn save<'a>(&self, repos: impl IntoIterator<Item = (&'a str, Option<&'a Repo>)>, reached: Option<(i64, i64)>) -> Result<(), String> {
        let mut write = self.db.begin_write().map_err(err)?;
        // A state without its sequence number is of no use after a crash: only commits that
        // reach a change wait for the disk, at most one every `DURABLE_EVERY`.
        let durable = reached.is_some() && {
            let mut last = self.last_durable.lock().expect("not poisoned");
            let due = last.is_none_or(|at| at.elapsed() >= DURABLE_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        write.set_durability(if durable { Durability::Immediate } else { Durability::None });
        {
            let mut table = write.open_table(REPOS).map_err(err)?;
            for (name, repo) in repos {
                match repo {
                    Some(repo) => table.insert(name, repo.to_bytes().as_slice()).map(drop),
                    None => table.remove(name).map(drop),
                }
                .map_err(err)?;
            }
            let mut meta = write.open_table(META).map_err(err)?;
            match reached {
                Some((seq, at)) => {
                    meta.insert("seq", seq.to_le_bytes().as_slice()).map_err(err)?;
                    meta.insert("at", at.to_le_bytes().as_slice()).map_err(err)?;
                    meta.insert("store", self.store_id.as_bytes()).map_err(err)?;
                    meta.insert("schema", SCHEMA).map_err(err)?;
                }
                None => {
                    meta.remove("seq").map_err(err)?;
                }
            }
        }
        write.commit().map_err(err)
    }
}

impl Drop for State {
    /// Makes the last commits durable.
    fn drop(&mut self) {
        if let Ok(mut write) = self.db.begin_write() {
            write.set_durability(Durability::Immediate);
            let _ = write.commit();
        }
    }
}
