//! Shared test harness. Components a test needs must be present: a missing one fails the test
//! with a message saying what to start, it never skips. The Docker tests alone are `#[ignore]`d:
//! `scripts/test.sh` includes them when a Docker engine is usable, and they count as skipped
//! otherwise.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod corpus;
pub mod docker;
pub mod browser;
pub mod chart;
pub mod fixtures;
pub mod import;
pub mod import_oci;
pub mod large_pack;
pub mod oci;
pub mod outage;
pub mod peers;
pub mod postgres;
pub mod proxy;
pub mod scale;
pub mod s3;
pub mod server;
pub mod signing;
pub mod tls;
pub mod tools;

/// Runs each async `fn(&Oci)` as two tests: on a fresh server backed by `SQLite` (module
/// `sqlite`), and on one backed by a fresh Postgres database (module `postgres`).
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   let server = $crate::server::ServerProcess::start(Default::default());
                   super::$name(&$crate::oci::Oci::new(&server.url)).await;
               } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   $crate::postgres::PgDatabase::with(|url| async move {
                       let server = $crate::server::ServerProcess::start($crate::server::ServerOptions {
                           args: vec!["--database-url".into(), url],
                           ..Default::default()
                       });
                       super::$name(&$crate::oci::Oci::new(&server.url)).await;
                   }).await;
               } )*
        }
    };
}
