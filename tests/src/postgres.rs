//! Fresh Postgres databases, one per test, dropped afterwards even when the test panics.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use sqlx::Connection;

/// The Postgres server tests create their databases on (`scripts/test.sh` exports it).
#[must_use]
pub fn admin_url() -> String {
    std::env::var("SHERPACK_TEST_POSTGRES_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of the database `name` on the tests' Postgres server.
#[must_use]
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    let (base, _) = admin.rsplit_once('/').expect("admin URL names a database");
    format!("{base}/{name}")
}

/// Runs one statement on the server's administrative database.
pub async fn admin_sql(statement: &str) {
    let admin = admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("Postgres is required for this test and {admin} does not answer: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        Self::create_with("").await
    }

    /// A fresh database holding a copy of the database `template` (which no session may be
    /// connected to), copied file by file.
    pub async fn copy_of(template: &str) -> Self {
        Self::create_with(&format!(" TEMPLATE {template} STRATEGY FILE_COPY")).await
    }

    async fn create_with(options: &str) -> Self {
        let name = format!("sherpack_test_{}", uuid::Uuid::new_v4().simple());
        admin_sql(&format!("CREATE DATABASE {name}{options}")).await;
        Self {
            url: database_url(&name),
            name,
        }
    }

    pub async fn drop_now(self) {
        admin_sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }

    /// Runs `test` with the database's URL, then drops the database whatever happened.
    pub async fn with<F, Fut>(test: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = ()>,
    {
        let db = Self::create().await;
        let outcome = AssertUnwindSafe(test(db.url.clone())).catch_unwind().await;
        db.drop_now().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Options for a server on the Postgres database at `url`, its blobs under `blobs`.
#[must_use]
pub fn server_options(url: String, blobs: &std::path::Path) -> crate::server::ServerOptions {
    crate::server::ServerOptions {
        env: vec![
            ("SHERPACK_REGISTRY_DATABASE_URL".to_owned(), url),
            ("SHERPACK_REGISTRY_STORAGE_URL".to_owned(), format!("file://{}", blobs.display())),
        ],
        ..crate::server::ServerOptions::default()
    }
}

impl PgDatabase {
    /// Runs a blocking `test` (clients driven as processes) against a server on a fresh
    /// database, its blobs in a temporary directory; removes both afterwards.
    pub async fn with_server<F>(test: F)
    where
        F: FnOnce(&crate::server::ServerProcess) + Send + 'static,
    {
        Self::with(|url| async move {
            let blobs = tempfile::tempdir().unwrap();
            let server = crate::server::ServerProcess::start(server_options(url, blobs.path()));
            tokio::task::spawn_blocking(move || test(&server)).await.unwrap();
        })
        .await;
    }
}
