//! The metadata store on sqlx.
//!
//! The queries are written once in `queries.rs` in SQL that Postgres and `SQLite` both accept
//! (`$n` parameters, `ON CONFLICT`, `RETURNING`); that file is compiled twice, once per
//! database, with `Db` naming the sqlx driver. Migrations live in `migrations/<database>/` and
//! run when the store opens.

use std::sync::Arc;

use registry_core::store::{MetadataStore, RegistryStore, StoreError};

pub mod postgres;
pub mod sqlite;

fn db_err(e: sqlx::Error) -> StoreError {
    let unavailable = match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        // Postgres: connection exceptions (08…), shutting down or starting up (57P01–57P03).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    };
    if unavailable { StoreError::Unavailable(e.to_string()) } else { StoreError::Backend(e.to_string()) }
}

/// Process-local blob locks, striped by digest: few enough that the Postgres advisory lock
/// taken behind each never holds more than this many pool connections. Digests in sorted order
/// share stripes (the stripe is their first byte's), so a batch of them takes few.
const STRIPES: usize = 8;

/// The stripe of a digest.
fn blob_stripe(digest: &registry_core::Digest) -> usize {
    usize::from_str_radix(digest.hex().get(..2).unwrap_or_default(), 16).unwrap_or(0) % STRIPES
}

fn stripe_lock(stripe: usize) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::LazyLock<Vec<std::sync::Arc<tokio::sync::Mutex<()>>>> =
        std::sync::LazyLock::new(|| (0..STRIPES).map(|_| std::sync::Arc::default()).collect());
    std::sync::Arc::clone(&LOCKS[stripe])
}

/// The advisory lock key of a digest: the first 64 bits of its hex (of any algorithm; every
/// supported one has at least 16 hex digits), the algorithm mixed in so that the same prefix
/// in sha256 and sha512 names two locks.
#[allow(clippy::cast_possible_wrap)]
fn blob_lock_key(digest: &registry_core::Digest) -> i64 {
    let prefix = u64::from_str_radix(digest.hex().get(..16).unwrap_or_default(), 16).unwrap_or(0);
    let salt = match digest.algorithm() {
        registry_core::Algorithm::Sha256 => 0,
        registry_core::Algorithm::Sha512 => 0x5a5a_5a5a_5a5a_5a5a,
    };
    (prefix ^ salt) as i64
}

fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database URL `{0}` must start with sqlite:// or postgres://")]
    UnknownScheme(String),
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate database {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot create the directory of database {url}: {source}")]
    Directory { url: String, source: std::io::Error },
}

/// Opens (and migrates) the metadata store named by a `sqlite://` or `postgres://` URL.
pub async fn open_metadata(url: &str) -> Result<Arc<dyn MetadataStore>, OpenError> {
    Ok(open_store(url).await?)
}

/// Opens (and migrates) the whole store, OCI metadata and auth records.
pub async fn open_store(url: &str) -> Result<Arc<dyn RegistryStore>, OpenError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(OpenError::UnknownScheme(url.to_owned()))
    }
}

/// Hides the password of a database URL before it reaches a log line or an error message.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            super::redact_url("sqlite://./data/x.db"),
            "sqlite://./data/x.db"
        );
    }
}
