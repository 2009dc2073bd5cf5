//! The metadata store on `SQLite`, the zero-configuration default: WAL, a read pool and a
//! single-connection write pool so writers queue in the process instead of failing on locks.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::OpenError;

type Db = sqlx::Sqlite;

/// `SQLite` has one writer at a time already: sequence numbers are in commit order.
/// Taken (in a transaction held by the guard) by `lock_blob`, after the process-local stripe.
const BLOB_LOCK: Option<&str> = None;

/// One process writes an `SQLite` database: nobody else to tell.
const CHANGE_NOTIFY: Option<&str> = None;

#[allow(clippy::unused_async)] // the same signature as the Postgres listener's
async fn change_listener(_pool: &sqlx::Pool<Db>) -> registry_core::store::StoreResult<Option<futures::stream::BoxStream<'static, ()>>> {
    Ok(None)
}

const CHANGE_LOCK: Option<&str> = None;

pub struct SqliteStore {
    read: sqlx::Pool<Db>,
    write: sqlx::Pool<Db>,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let connect = |source| OpenError::Connect {
            url: url.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write survives a power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory {
                url: url.to_owned(),
                source,
            })?;
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(connect)?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&write)
            .await
            .map_err(|source| OpenError::Migrate {
                url: url.to_owned(),
                source,
            })?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await
            .map_err(connect)?;
        Ok(Self { read, write })
    }
}

type Store = SqliteStore;
include!("queries.rs");
include!("pack_queries.rs");
include!("gc_queries.rs");
include!("auth_queries.rs");
include!("job_queries.rs");
