//! Test harness: fresh databases for the store suite, a real S3-compatible server for the blob
//! suite. Components a test needs must be there: a missing one fails the test, never skips it.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;

use registry_core::store::RegistryStore;

pub mod blobs;

pub use sherpack_test_support::postgres::PgDatabase;

pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn RegistryStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    PgDatabase::with(|url| async move {
        let store = registry_store::open_store(&url)
            .await
            .expect("open postgres store");
        test(store).await;
    })
    .await;
}

pub async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn RegistryStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let store = registry_store::open_store(&url)
        .await
        .expect("open sqlite store");
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
