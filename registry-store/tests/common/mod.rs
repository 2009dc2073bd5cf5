//! Test harness: fresh databases for the store suite, a real S3-compatible server for the blob
//! suite. Components a test needs must be there: a missing one fails the test, never skips it.

#![allow(dead_code)]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use registry_core::store::MetadataStore;
use sqlx::Connection;

pub mod blobs;

/// The Postgres server tests create their databases on (`scripts/test.sh` exports it).
pub fn postgres_admin_url() -> String {
    std::env::var("SHERPACK_TEST_POSTGRES_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database created for one test and dropped after it, even when the test panics.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let admin = postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("Postgres is required for this test and {admin} does not answer: {e}"));
        let name = format!("sherpack_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        let (base, _) = admin.rsplit_once('/').expect("admin URL names a database");
        Self { url: format!("{base}/{name}"), name }
    }

    pub async fn drop_now(self) {
        let mut conn = sqlx::PgConnection::connect(&postgres_admin_url()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn MetadataStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = PgDatabase::create().await;
    let outcome = AssertUnwindSafe(async {
        let store = registry_store::open_metadata(&db.url).await.expect("open postgres store");
        test(store).await;
    })
    .catch_unwind()
    .await;
    db.drop_now().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

pub async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn MetadataStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let store = registry_store::open_metadata(&url).await.expect("open sqlite store");
    test(store).await;
}

/// Generates `sqlite::<test>` and `postgres::<test>` for each store test function.
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { $crate::common::with_sqlite(super::$name).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { $crate::common::with_postgres(super::$name).await } )*
        }
    };
}
