//! A server keeps its Helm index's state on disk beside its search index: restarted on an
//! existing database it answers from that state (it does not read every pack again) and
//! catches up with the changes other servers made while it was down — pushes, new versions,
//! deletes — in its index, its search and its pages.

use std::time::{Duration, Instant};

use sherpack_test_support::fixtures::{push_like_upstream_sherpack, sherpack_archive};
use sherpack_test_support::oci::Oci;
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

/// A server on the database at `url` with its blobs and search index (and so its Helm index
/// state) under `data`; `persistent: false` keeps both in memory.
fn options(url: &str, data: &std::path::Path, persistent: bool) -> ServerOptions {
    let mut env = vec![
        ("SHERPACK_REGISTRY_DATABASE_URL".to_owned(), url.to_owned()),
        ("SHERPACK_REGISTRY_STORAGE_URL".to_owned(), format!("file://{}", data.join("blobs").display())),
    ];
    if persistent {
        env.push(("SHERPACK_REGISTRY_SEARCH__INDEX_DIR".to_owned(), data.join("search").display().to_string()));
    }
    ServerOptions { args: vec!["--log-level".into(), "info".into()], env, cwd: None }
}

async fn index(server: &ServerProcess, namespace: &str) -> String {
    let r = reqwest::get(format!("{}/{namespace}/index.yaml", server.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The `(name, version)` of the search results for `query`.
async fn search(server: &ServerProcess, query: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/packages/search", server.url), &[("ts_query_web", query)]).unwrap();
    let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["version"].as_str().unwrap().to_owned()))
        .collect()
}

async fn push(server: &ServerProcess, repo: &str, version: &str) -> String {
    let name = repo.rsplit('/').next().unwrap();
    push_like_upstream_sherpack(&Oci::new(&server.url), repo, version, &sherpack_archive(name, version, 64)).await
}

/// Waits until the server's log has a line containing `text`.
async fn logged(server: &ServerProcess, text: &str) {
    let started = Instant::now();
    while !server.logs().contains(text) {
        assert!(started.elapsed() < Duration::from_secs(20), "the server never logged {text:?}:\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_answers_from_its_state_and_catches_up_with_changes_made_while_it_was_down() {
    PgDatabase::with(|url| async move {
        let data = tempfile::tempdir().unwrap();
        let mut first = ServerProcess::start(options(&url, data.path(), true));
        push(&first, "team/alpha", "1.0.0").await;
        push(&first, "team/beta", "1.0.0").await;
        let head = reqwest::Client::new()
            .head(format!("{}/v2/team/beta/manifests/1.0.0", first.url))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap();
        let beta = head.headers()["docker-content-digest"].to_str().unwrap().to_owned();
        assert!(index(&first, "team").await.contains("name: beta"));
        assert_eq!(search(&first, "beta").await, [("beta".to_owned(), "1.0.0".to_owned())]);
        logged(&first, "Helm index loaded from the store").await;
        first.terminate();
        drop(first);
        assert!(data.path().join("search-helm.redb").is_file(), "no state file beside the search index");

        // While it is down, another server (its indexes in memory) changes the registry.
        let other = ServerProcess::start(options(&url, data.path(), false));
        push(&other, "team/alpha", "2.0.0").await;
        push(&other, "team/gamma", "0.1.0").await;
        let r = reqwest::Client::new().delete(format!("{}/v2/team/beta/manifests/{beta}", other.url)).send().await.unwrap();
        assert_eq!(r.status(), 202);
        drop(other);

        let second = ServerProcess::start(options(&url, data.path(), true));
        let yaml = index(&second, "team").await;
        let logs = second.logs();
        assert!(logs.contains("Helm index state loaded"), "the state was not used:\n{logs}");
        assert!(!logs.contains("Helm index loaded from the store"), "the index was read from the store again:\n{logs}");
        let parsed: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        let versions = |chart: &str| -> Vec<String> {
            parsed["entries"][chart].as_array().map(|v| v.iter().map(|e| e["version"].as_str().unwrap().to_owned()).collect()).unwrap_or_default()
        };
        assert_eq!(versions("alpha"), ["2.0.0", "1.0.0"]);
        assert_eq!(versions("gamma"), ["0.1.0"]);
        assert!(versions("beta").is_empty(), "the deleted chart is still in the index:\n{yaml}");
        assert_eq!(search(&second, "gamma").await, [("gamma".to_owned(), "0.1.0".to_owned())]);
        assert_eq!(search(&second, "alpha").await, [("alpha".to_owned(), "2.0.0".to_owned())]);
        assert!(search(&second, "beta").await.is_empty());
        let page = reqwest::get(format!("{}/-/packs/team/alpha", second.url)).await.unwrap().text().await.unwrap();
        assert!(page.contains("2.0.0") && page.contains("1.0.0"), "the pack page misses a version");

        // And it goes on following changes, its state with it.
        push(&second, "team/gamma", "0.2.0").await;
        let yaml = index(&second, "team").await;
        assert!(yaml.contains("charts/gamma-0.2.0.tgz"), "the push is not in the index:\n{yaml}\n{}", second.logs());
        drop(second);
        let third = ServerProcess::start(options(&url, data.path(), true));
        assert!(index(&third, "team").await.contains("charts/gamma-0.2.0.tgz"));
        assert!(third.logs().contains("Helm index state loaded"));
    })
    .await;
}
