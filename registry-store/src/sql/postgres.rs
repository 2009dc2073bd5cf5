//! The metadata store on Postgres: one pool for reads and writes.

use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::OpenError;

type Db = sqlx::Postgres;

/// Every transaction that appends to `changes` takes this lock first, so sequence numbers
/// become visible in commit order and a follower reading `seq > last` never skips a change.
/// Taken (in a transaction held by the guard) by `lock_blob`, after the process-local stripe.
const BLOB_LOCK: Option<&str> = Some("SELECT pg_advisory_xact_lock($1)");

/// Sent in every transaction that appends to `changes`; delivered to listeners at commit.
const CHANGE_NOTIFY: Option<&str> = Some("SELECT pg_notify('sherpack_changes', '')");

/// Every other process's committed changes, as they happen (LISTEN). The listener reconnects
/// by itself; a lost connection is reported as a change (something may have been missed).
async fn change_listener(pool: &sqlx::Pool<Db>) -> registry_core::store::StoreResult<Option<futures::stream::BoxStream<'static, ()>>> {
    use futures::StreamExt as _;
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await.map_err(super::db_err)?;
    listener.listen("sherpack_changes").await.map_err(super::db_err)?;
    Ok(Some(listener.into_stream().map(|_| ()).boxed()))
}

const CHANGE_LOCK: Option<&str> = Some("SELECT pg_advisory_xact_lock(7262737)");

pub struct PgStore {
    read: sqlx::Pool<Db>,
    write: sqlx::Pool<Db>,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let redacted = super::redact_url(url);
        let options = PgConnectOptions::from_str(url).map_err(|source| OpenError::Connect {
            url: redacted.clone(),
            source,
        })?;
        // One direct connection first: a refused or unknown server fails at once, where the
        // pool would keep retrying until its acquire timeout.
        sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(|source| OpenError::Connect {
                url: redacted.clone(),
                source,
            })?
            .close()
            .await
            .map_err(|source| OpenError::Connect {
                url: redacted.clone(),
                source,
            })?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|source| OpenError::Connect {
                url: redacted.clone(),
                source,
            })?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|source| OpenError::Migrate {
                url: redacted,
                source,
            })?;
        Ok(Self {
            read: pool.clone(),
            write: pool,
        })
    }
}

type Store = PgStore;
include!("queries.rs");
include!("pack_queries.rs");
include!("gc_queries.rs");
include!("auth_queries.rs");
include!("job_queries.rs");
