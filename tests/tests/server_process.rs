//! The real `sherpack-registry serve` process: zero-config start, configuration layering and
//! refusals, Postgres + S3 mode, TLS, shutdown.


use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn zero_config_serves_v2_and_readiness() {
    let mut server = ServerProcess::start(ServerOptions::default());
    let http = reqwest::Client::new();
    let v2 = http
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 200);
    assert_eq!(
        v2.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let ready = http
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(
        http.get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    assert!(
        server.logs().contains("embedded default mode"),
        "{}",
        server.logs()
    );
    assert!(
        server.cwd.join("data/registry.db").is_file(),
        "SQLite database under ./data"
    );
    assert!(server.cwd.join("data/blobs").is_dir(), "blobs under ./data");
    // The request log names the matched route and the duration.
    assert!(
        server.logs().contains("/readyz") && server.logs().contains("duration_ms"),
        "{}",
        server.logs()
    );
    assert!(server.terminate().success(), "a SIGTERM is a clean exit");
    assert!(server.logs().contains("shutting down"));
}

#[test]
fn the_sherpack_cli_recognises_the_registry() {
    let server = ServerProcess::start(ServerOptions::default());
    let cli = sherpack_test_support::cli::Sherpack::new();
    let host = server.url.trim_start_matches("http://");
    cli.ok(&["repo", "add", "ours", &format!("oci://{host}/team"), "--plain-http"]);
    // A web server that is not a registry is told apart.
    let other = sherpack_test_support::peers::StaticRepo::start();
    let err = cli.fails(&["repo", "add", "other", &format!("oci://{}/team", other.url.trim_start_matches("http://")), "--plain-http"], 1);
    assert!(err.contains("not an OCI distribution registry"), "{err}");
}

#[tokio::test]
async fn postgres_and_s3_mode() {
    let bucket = sherpack_test_support::s3::create_bucket().await;
    PgDatabase::with(|db_url| async move {
        let mut server_env = sherpack_test_support::s3::server_env();
        server_env.push((
            "SHERPACK_REGISTRY_STORAGE_URL".into(),
            format!("s3://{bucket}/registry"),
        ));
        server_env.push(("SHERPACK_REGISTRY_DATABASE_URL".into(), db_url));
        let server = ServerProcess::start(ServerOptions {
            env: server_env,
            ..ServerOptions::default()
        });
        let ready = reqwest::get(format!("{}/readyz", server.url))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200, "{}", server.logs());
        assert!(!server.logs().contains("embedded default mode"));
        assert!(!server.cwd.join("data").exists(), "nothing written locally");
    })
    .await;
}

#[tokio::test]
async fn a_config_file_env_and_flags_layer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.toml");
    let blobs = dir.path().join("from-file");
    std::fs::write(
        &file,
        format!(
            "storage_url = \"file://{}\"\n[log]\nformat = \"json\"\n",
            blobs.display()
        ),
    )
    .unwrap();
    let db = dir.path().join("from-env.db");
    let server = ServerProcess::start(ServerOptions {
        args: args(&["--config", file.to_str().unwrap(), "--log-level", "debug"]),
        env: env(&[(
            "SHERPACK_REGISTRY_DATABASE_URL",
            &format!("sqlite://{}", db.display()),
        )]),
        ..ServerOptions::default()
    });
    assert_eq!(
        reqwest::get(format!("{}/readyz", server.url))
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(blobs.is_dir() && db.is_file());
    let first = server.logs().lines().next().unwrap_or_default().to_owned();
    assert!(
        serde_json::from_str::<serde_json::Value>(&first).is_ok(),
        "JSON logs: {first}"
    );
}

#[test]
fn malformed_configuration_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\nstorage_ur = \"file:///tmp/x\"\n",
    )
    .unwrap();
    let cases: Vec<(ServerOptions, &str)> = vec![
        (
            ServerOptions {
                args: args(&["--config", file.to_str().unwrap()]),
                ..ServerOptions::default()
            },
            "storage_ur",
        ),
        (
            ServerOptions {
                env: env(&[("SHERPACK_REGISTRY_LISTEN", "nowhere")]),
                ..ServerOptions::default()
            },
            "listen",
        ),
        (
            ServerOptions {
                env: env(&[("SHERPACK_REGISTRY_STORAGE_URL", "gopher://x")]),
                ..ServerOptions::default()
            },
            "gopher://x",
        ),
        (
            ServerOptions {
                env: env(&[("SHERPACK_REGISTRY_LOG__FORMAT", "xml")]),
                ..ServerOptions::default()
            },
            "log.format",
        ),
        (
            ServerOptions {
                env: env(&[("SHERPACK_REGISTRY_NO_SUCH_KEY", "1")]),
                ..ServerOptions::default()
            },
            "no_such_key",
        ),
        (
            ServerOptions {
                args: args(&["--config", "/nonexistent/registry.toml"]),
                ..ServerOptions::default()
            },
            "/nonexistent/registry.toml",
        ),
    ];
    for (options, named) in cases {
        let out = ServerProcess::refuse(&options);
        assert_eq!(out.status.code(), Some(2), "{named}: {}", out.stderr);
        assert!(
            out.stderr.contains(named),
            "stderr should name `{named}`: {}",
            out.stderr
        );
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "one readable line: {}",
            out.stderr
        );
    }
    let out = ServerProcess::refuse(&ServerOptions {
        args: args(&["--listen", "not-an-address"]),
        ..ServerOptions::default()
    });
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
}

#[test]
fn unusable_backends_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let cases = [
        (
            format!("sqlite://{}/sub/registry.db", not_a_dir.display()),
            "memory://".to_owned(),
            "plain-file",
        ),
        (
            "sqlite://./data/r.db".to_owned(),
            format!("file://{}/blobs", not_a_dir.display()),
            "plain-file",
        ),
        (
            "postgres://postgres:hunter2@127.0.0.1:1/nothing".to_owned(),
            "memory://".to_owned(),
            "127.0.0.1:1",
        ),
    ];
    for (db, storage, named) in cases {
        let out = ServerProcess::refuse(&ServerOptions {
            args: args(&[
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &db,
                "--storage-url",
                &storage,
            ]),
            ..ServerOptions::default()
        });
        assert_eq!(out.status.code(), Some(1), "{db} {storage}: {}", out.stderr);
        assert!(
            out.stderr.contains(named),
            "stderr should name {named}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("hunter2"),
            "{}",
            out.stderr
        );
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "one line: {}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn serves_https_with_its_own_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = sherpack_test_support::tls::make(dir.path());
    let (cert, key) = (&certs.cert, &certs.key);
    let server = ServerProcess::start(ServerOptions {
        args: args(&[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]),
        ..ServerOptions::default()
    });
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let v2 = client
        .get(format!("{}/v2/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 200);
    // Plain HTTP to the TLS port is not served.
    let plain = server.url.replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/v2/")).await.is_err());
}
