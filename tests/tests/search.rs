//! Search: `helm search hub --endpoint` (helm 4 and 3; the URL it prints is the pack page,
//! which opens) against the real server, ranking (exact name first, prefixes, typos,
//! deprecated packs below current ones), read-after-write, private namespaces, and bad queries.

use reqwest::Method;
use serde_json::Value;
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::pack_archive;
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

/// A small catalogue shaped like real charts, near-duplicates and a deprecated fork included.
const CATALOGUE: &[(&str, &str, &[&str], bool)] = &[
    ("redis", "Redis in-memory data store, replicated", &["cache", "database", "key-value"], false),
    ("redis-cluster", "Redis Cluster with sharding across nodes", &["cache", "database"], false),
    ("keydb", "A fast drop-in alternative to Redis", &["cache", "database"], false),
    ("postgresql", "PostgreSQL relational database with replication", &["database", "sql"], false),
    ("prometheus", "Prometheus monitoring system and time series database", &["monitoring", "metrics"], false),
    ("kube-prometheus-stack", "Prometheus, Grafana and alerting rules for Kubernetes", &["monitoring", "operator"], false),
    ("grafana", "Dashboards for metrics and logs", &["monitoring", "dashboards"], false),
    ("ingress-nginx", "Ingress controller for Kubernetes using NGINX", &["ingress", "nginx"], false),
    ("nginx-ingress", "Old NGINX ingress controller, replaced by ingress-nginx", &["ingress", "nginx"], true),
];

/// `url` with query parameters, encoded.
fn at(url: &str, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(url, params).unwrap()
}

async fn seed(base: &str, http: &reqwest::Client, cred: &Cred, namespace: &str) {
    for (name, description, keywords, deprecated) in CATALOGUE {
        let archive = pack_archive(name, "1.0.0", description, keywords, *deprecated, 10);
        let r = cred.apply(http.post(format!("{base}/api/{namespace}/charts"))).body(archive).send().await.unwrap();
        assert_eq!(r.status(), 201, "{name}");
    }
}

async fn names(http: &reqwest::Client, base: &str, cred: &Cred, q: &str) -> Vec<String> {
    let r = cred.apply(http.get(at(&format!("{base}/api/chartsvc/v1/charts/search"), &[("q", q)]))).send().await.unwrap();
    assert_eq!(r.status(), 200, "{q}");
    let body: Value = r.json().await.unwrap();
    body["data"].as_array().unwrap().iter().map(|d| d["attributes"]["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranking_prefixes_typos_and_deprecation() {
    let server = ServerProcess::start(ServerOptions::default());
    let http = reqwest::Client::new();
    seed(&server.url, &http, &Cred::Anonymous, "charts").await;
    let search = |q: &'static str| names(&http, &server.url, &Cred::Anonymous, q);
    let redis = search("redis").await;
    assert_eq!(redis[0], "redis", "the exact name first: {redis:?}");
    assert!(redis.contains(&"keydb".to_owned()), "found through the description: {redis:?}");
    assert_eq!(search("prom").await, ["prometheus", "kube-prometheus-stack"], "a name starting with the query before one containing it");
    assert_eq!(search("postgress").await, ["postgresql"], "one typo on a long word");
    assert_eq!(search("prometeus").await[0], "prometheus");
    let ingress = search("ingress").await;
    assert_eq!(ingress, ["ingress-nginx", "nginx-ingress"], "the deprecated fork comes last");
    assert_eq!(search("monitoring dashboards").await, ["grafana"], "every word must match");
    assert_eq!(search("").await.len(), CATALOGUE.len(), "an empty query lists everything");
    // Read-after-write, both ways.
    let archive = pack_archive("valkey", "8.0.0", "Valkey key-value store", &["cache"], false, 10);
    http.post(format!("{}/api/charts/charts", server.url)).body(archive).send().await.unwrap();
    assert_eq!(search("valkey").await, ["valkey"]);
    http.delete(format!("{}/api/charts/charts/valkey/8.0.0", server.url)).send().await.unwrap();
    assert!(search("valkey").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_get_answers_not_errors() {
    let server = ServerProcess::start(ServerOptions::default());
    let http = reqwest::Client::new();
    seed(&server.url, &http, &Cred::Anonymous, "charts").await;
    let url = format!("{}/api/chartsvc/v1/charts/search", server.url);
    for q in ["\"redis", "name:redis", "(redis", "redis*", "redis~2", "a AND OR NOT", "\u{1F600}", "   "] {
        let r = http.get(at(&url, &[("q", q)])).send().await.unwrap();
        assert_eq!(r.status(), 200, "{q}");
    }
    let r = http.get(at(&url, &[("q", &"x".repeat(10_000))])).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("longer than"));
    let r = http.get(at(&url, &[("q", "redis"), ("offset", "-1")])).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http.get(at(&url, &[("q", ""), ("limit", "99999999999"), ("offset", "99999999999")])).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(at(&url, &[("q", ""), ("limit", "2")])).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["data"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_namespaces_stay_out_of_results() {
    let t = Tenants::start(ServerOptions::default()).await;
    let http = reqwest::Client::new();
    seed(&t.server.url, &http, &Cred::admin(), "team").await;
    let archive = pack_archive("public-redis", "1.0.0", "Redis for everyone", &["cache"], false, 10);
    t.api.expect(&Cred::admin(), Method::POST, "/api/pub/charts", None, 400).await;
    let r = Cred::admin().apply(http.post(format!("{}/api/pub/charts", t.server.url))).body(archive).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let anonymous = names(&http, &t.server.url, &Cred::Anonymous, "redis").await;
    assert_eq!(anonymous, ["public-redis"]);
    assert_eq!(names(&http, &t.server.url, &Cred::user("otto"), "redis").await, ["public-redis"]);
    let rita = names(&http, &t.server.url, &Cred::user("rita"), "redis").await;
    assert_eq!(rita[0], "redis");
    assert!(rita.contains(&"public-redis".to_owned()));
}

fn helm_search_hub(helm: &std::path::Path) {
    let server = ServerProcess::start(ServerOptions::default());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(seed(&server.url, &reqwest::Client::new(), &Cred::Anonymous, "charts"));
    let home = tempfile::tempdir().unwrap();
    let out = run_ok(helm_command(helm, home.path()).args(["search", "hub", "postgres", "--endpoint", &server.url, "-o", "json"]));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &found[0];
    assert_eq!(first["version"], "1.0.0", "{found}");
    assert!(first["description"].as_str().unwrap().contains("PostgreSQL"), "{found}");
    // The URL helm prints is the pack page, and it opens.
    let url = first["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/-/packs/charts/postgresql", server.url), "{found}");
    let page = runtime.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() });
    assert!(page.contains("<h1>postgresql <span class=\"version\">1.0.0</span></h1>"), "{page}");
    let out = run_ok(helm_command(helm, home.path()).args(["search", "hub", "monitoring", "--endpoint", &server.url]));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("prometheus") && table.contains("grafana"), "{table}");
}

#[test]
fn helm4_search_hub() {
    helm_search_hub(&tools::helm());
}

#[test]
fn helm3_search_hub() {
    helm_search_hub(&tools::helm3());
}
