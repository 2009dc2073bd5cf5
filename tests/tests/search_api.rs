//! The Artifact-Hub-style search API (every parameter, facets, the total header, bad
//! parameters), autocompletion, the search index on disk (kept across restarts, rebuilt when
//! stale and by `sherpack-registry reindex`), and two servers on one Postgres.

use std::process::Command;

use serde_json::Value;
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::{PackSpec, pack_archive, spec_archive};
use sherpack_test_support::postgres::{PgDatabase, server_options};
use sherpack_test_support::server::{ServerOptions, ServerProcess, workspace_binary};
use sherpack_test_support::signing::{keygen, sign, trust};

/// Packs of the private `team` namespace (Sherpack packs), one of them deprecated.
const TEAM: &[(&str, &str, &[&str], bool)] = &[
    ("redis", "Redis in-memory data store, replicated", &["cache", "database"], false),
    ("keydb", "A fast drop-in alternative to Redis", &["cache", "database"], false),
    ("prometheus", "Prometheus monitoring system and time series database", &["monitoring"], false),
    ("kube-prometheus-stack", "Prometheus, Grafana and alerting rules for Kubernetes", &["monitoring"], false),
    ("ingress-nginx", "Ingress controller for Kubernetes using NGINX", &["ingress", "nginx"], false),
    ("nginx-ingress", "Old NGINX ingress controller, replaced by ingress-nginx", &["ingress", "nginx"], true),
];

fn at(url: &str, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(url, params).unwrap()
}

async fn upload(http: &reqwest::Client, base: &str, cred: &Cred, namespace: &str, archive: Vec<u8>) {
    let r = cred.apply(http.post(format!("{base}/api/{namespace}/charts"))).body(archive).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// `GET /api/v1/packages/search` as `cred`: the status, the body and the total header.
async fn packages(http: &reqwest::Client, base: &str, cred: &Cred, params: &[(&str, &str)]) -> (u16, Value, Option<usize>) {
    let r = cred.apply(http.get(at(&format!("{base}/api/v1/packages/search"), params))).send().await.unwrap();
    let status = r.status().as_u16();
    let total = r.headers().get("pagination-total-count").map(|v| v.to_str().unwrap().parse().unwrap());
    (status, r.json().await.unwrap(), total)
}

/// `namespace/name` of each package found.
fn ids(body: &Value) -> Vec<String> {
    body["packages"].as_array().unwrap().iter().map(|p| format!("{}/{}", p["repository"]["name"].as_str().unwrap(), p["name"].as_str().unwrap())).collect()
}

fn facet(body: &Value, key: &str, id: &str) -> u64 {
    body["facets"].as_array().unwrap().iter().find(|f| f["filter_key"] == key).unwrap()["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .map_or(0, |o| o["total"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_hub_search_parameters_facets_and_totals() {
    let t = Tenants::start(ServerOptions::default()).await;
    let (http, base) = (reqwest::Client::new(), t.server.url.clone());
    for (name, description, keywords, deprecated) in TEAM {
        upload(&http, &base, &Cred::admin(), "team", pack_archive(name, "1.0.0", description, keywords, *deprecated, 0)).await;
    }
    // Public Helm charts, and a signed pack in the private namespace, pushed last.
    for (name, description) in [("redis", "Redis chart for Helm users"), ("traefik", "Traefik proxy and ingress controller")] {
        let spec = PackSpec { helm: true, description, keywords: &["proxy"], ..PackSpec::new(name, "2.0.0") };
        upload(&http, &base, &Cred::admin(), "pub", spec_archive(&spec)).await;
    }
    let key = keygen();
    trust(&t, &key, "release").await;
    let signed = pack_archive("signed-redis", "1.0.0", "Redis with a signature", &["cache"], false, 0);
    let form = reqwest::multipart::Form::new()
        .part("chart", reqwest::multipart::Part::bytes(signed.clone()).file_name("p.tgz"))
        .part("prov", reqwest::multipart::Part::bytes(sign(&key, &signed, "signed-redis", "1.0.0")).file_name("p.tgz.minisig"));
    let r = Cred::admin().apply(http.post(format!("{base}/api/team/charts"))).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let rita = Cred::user("rita");
    let search = |params: &'static [(&'static str, &'static str)]| packages(&http, &base, &rita, params);

    let (status, body, total) = search(&[("ts_query_web", "redis")]).await;
    assert_eq!(status, 200);
    let found = ids(&body);
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(total, Some(4));
    assert!(found[..2].contains(&"team/redis".to_owned()) && found[..2].contains(&"pub/redis".to_owned()), "exact names first: {found:?}");
    let first = &body["packages"][0];
    assert_eq!(first["repository"]["url"], format!("{base}/{}", first["repository"]["name"].as_str().unwrap()));
    assert!(first["ts"].as_i64().unwrap() > 1_700_000_000, "seconds since the epoch");

    // Pages: no overlap, same total.
    let (_, page1, total1) = search(&[("ts_query_web", "redis"), ("limit", "2")]).await;
    let (_, page2, total2) = search(&[("ts_query_web", "redis"), ("limit", "2"), ("offset", "2")]).await;
    assert_eq!((total1, total2), (Some(4), Some(4)));
    let (p1, p2) = (ids(&page1), ids(&page2));
    assert_eq!((p1.len(), p2.len()), (2, 2));
    assert!(p1.iter().all(|p| !p2.contains(p)), "{p1:?} {p2:?}");
    assert_eq!([p1, p2].concat(), found, "pages follow the ranking");

    // Filters.
    assert_eq!(ids(&search(&[("ts_query_web", "redis"), ("kind", "helm")]).await.1), ["pub/redis"]);
    assert_eq!(ids(&search(&[("ts_query_web", "redis"), ("kind", "0")]).await.1), ["pub/redis"], "Artifact Hub's id for Helm");
    assert!(ids(&search(&[("ts_query_web", "redis"), ("kind", "sherpack")]).await.1).iter().all(|p| p.starts_with("team/")));
    assert_eq!(ids(&search(&[("ts_query_web", "")]).await.1).len(), 8, "an empty query lists every current pack");
    let mut public = ids(&search(&[("repo", "pub")]).await.1);
    public.sort();
    assert_eq!(public, ["pub/redis", "pub/traefik"]);
    assert_eq!(ids(&search(&[("ts_query_web", "signature"), ("repo", "pub")]).await.1), Vec::<String>::new(), "repo narrows the namespaces");
    assert_eq!(ids(&search(&[("ts_query_web", "ingress")]).await.1), ["team/ingress-nginx", "pub/traefik"], "deprecated packages are left out by default");
    let with_deprecated = ids(&search(&[("ts_query_web", "ingress"), ("deprecated", "true")]).await.1);
    assert_eq!(with_deprecated.len(), 3);
    assert_eq!(with_deprecated.last().unwrap(), "team/nginx-ingress", "and ranked last when asked for");
    assert_eq!(ids(&search(&[("signed", "true")]).await.1), ["team/signed-redis"]);
    assert_eq!(ids(&search(&[("signed", "false"), ("ts_query_web", "signature")]).await.1), Vec::<String>::new());

    // Phrases match words in order; loose words match anywhere.
    assert_eq!(ids(&search(&[("ts_query_web", "\"nginx ingress\""), ("deprecated", "true")]).await.1), ["team/nginx-ingress"]);
    assert_eq!(ids(&search(&[("ts_query_web", "nginx ingress"), ("deprecated", "true")]).await.1).len(), 2);

    // Sorting.
    let by_name = ids(&search(&[("sort", "name")]).await.1);
    let mut sorted = by_name.clone();
    sorted.sort_by_key(|p| p.split('/').nth(1).unwrap().to_owned());
    assert_eq!(by_name, sorted);
    assert_eq!(ids(&search(&[("sort", "last_updated")]).await.1)[0], "team/signed-redis", "the newest first");

    // Facets count the words' matches in readable namespaces, before the other filters.
    let (_, faceted, _) = search(&[("ts_query_web", "redis"), ("kind", "helm"), ("facets", "true")]).await;
    assert_eq!(ids(&faceted), ["pub/redis"]);
    assert_eq!((facet(&faceted, "kind", "helm"), facet(&faceted, "kind", "sherpack")), (1, 3));
    assert_eq!((facet(&faceted, "repo", "pub"), facet(&faceted, "repo", "team")), (1, 3));
    assert_eq!(facet(&faceted, "signed", "true"), 1);
    let (_, all, _) = search(&[("facets", "true"), ("deprecated", "true")]).await;
    assert_eq!(facet(&all, "deprecated", "true"), 1);

    // Anonymous callers see the public namespace only, in results and in facets.
    let (_, anonymous, total) = packages(&http, &base, &Cred::Anonymous, &[("ts_query_web", "redis"), ("facets", "true")]).await;
    assert_eq!(ids(&anonymous), ["pub/redis"]);
    assert_eq!(total, Some(1));
    assert_eq!(facet(&anonymous, "repo", "team"), 0);
    assert_eq!(ids(&packages(&http, &base, &Cred::Anonymous, &[("repo", "team")]).await.1), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_hub_bad_parameters_get_clear_400s() {
    let server = ServerProcess::start(ServerOptions::default());
    let http = reqwest::Client::new();
    upload(&http, &server.url, &Cred::Anonymous, "charts", pack_archive("redis", "1.0.0", "Redis", &["cache"], false, 0)).await;
    let long = "x".repeat(10_000);
    for (params, says) in [
        (vec![("limit", "61")], "limit must be between 1 and 60"),
        (vec![("limit", "0")], "limit must be between 1 and 60"),
        (vec![("limit", "-5")], "limit must be a whole number"),
        (vec![("offset", "-1")], "offset must be a whole number"),
        (vec![("offset", "ten")], "offset must be a whole number"),
        (vec![("kind", "falco")], "unknown kind `falco`"),
        (vec![("sort", "stars")], "unknown sort `stars`"),
        (vec![("deprecated", "maybe")], "deprecated must be true or false"),
        (vec![("facets", "yes")], "facets must be true or false"),
        (vec![("ts_query_web", long.as_str())], "longer than 1024 characters"),
    ] {
        let (status, body, _) = packages(&http, &server.url, &Cred::Anonymous, &params).await;
        assert_eq!(status, 400, "{params:?}");
        assert!(body["error"].as_str().unwrap().contains(says), "{params:?}: {body}");
    }
    for q in ["\"redis", "name:redis", "(redis", "redis*", "redis~2", "\"\"", "-", "\u{1F600}"] {
        let (status, body, _) = packages(&http, &server.url, &Cred::Anonymous, &[("ts_query_web", q)]).await;
        assert_eq!(status, 200, "{q}: {body}");
    }
    let (_, body, _) = packages(&http, &server.url, &Cred::Anonymous, &[("ts_query_web", "redis*")]).await;
    assert_eq!(ids(&body), ["charts/redis"], "syntax characters are read as text");
    let (status, body, total) = packages(&http, &server.url, &Cred::Anonymous, &[("offset", "99999999999")]).await;
    assert_eq!((status, total), (200, Some(1)), "a page past the end is empty, with the total");
    assert!(ids(&body).is_empty());
    let (status, _, _) = packages(&http, &server.url, &Cred::Anonymous, &[("repo", "nowhere"), ("kind", "sherpack")]).await;
    assert_eq!(status, 200, "an unknown namespace is an empty answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_completes_names_the_caller_may_read() {
    let t = Tenants::start(ServerOptions::default()).await;
    let http = reqwest::Client::new();
    for (name, description, keywords, deprecated) in TEAM {
        upload(&http, &t.server.url, &Cred::admin(), "team", pack_archive(name, "1.0.0", description, keywords, *deprecated, 0)).await;
    }
    upload(&http, &t.server.url, &Cred::admin(), "pub", pack_archive("promtail", "3.0.0", "Log shipper", &["logs"], false, 0)).await;
    let complete = |cred: Cred, q: &'static str| {
        let http = http.clone();
        let url = at(&format!("{}/api/v1/packages/autocomplete", t.server.url), &[("q", q)]);
        async move {
            let r = cred.apply(http.get(url)).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            body["suggestions"].as_array().unwrap().iter().map(|s| format!("{}/{}", s["namespace"].as_str().unwrap(), s["name"].as_str().unwrap())).collect::<Vec<_>>()
        }
    };
    assert_eq!(complete(Cred::user("rita"), "prom").await, ["pub/promtail", "team/prometheus", "team/kube-prometheus-stack"], "names starting with it, shorter first, then names with a word starting with it");
    assert_eq!(complete(Cred::user("rita"), "kube-prom").await, ["team/kube-prometheus-stack"]);
    assert_eq!(complete(Cred::user("rita"), "Prometheus").await[0], "team/prometheus");
    assert_eq!(complete(Cred::Anonymous, "prom").await, ["pub/promtail"], "private namespaces stay out");
    assert!(complete(Cred::user("rita"), "zzz").await.is_empty());
    assert!(complete(Cred::user("rita"), "").await.is_empty());
}

fn reindex(cwd: &std::path::Path) -> String {
    let out = Command::new(workspace_binary("sherpack-registry")).arg("reindex").current_dir(cwd).env_clear().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn names(base: &str, q: &str) -> Vec<String> {
    let r = reqwest::get(at(&format!("{base}/api/chartsvc/v1/charts/search"), &[("q", q)])).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["data"].as_array().unwrap().iter().map(|d| d["attributes"]["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_on_disk_survives_restarts_and_is_rebuilt_when_stale_or_asked() {
    let home = tempfile::tempdir().unwrap();
    let options = || ServerOptions { cwd: Some(home.path().to_owned()), ..ServerOptions::default() };
    let mut server = ServerProcess::start(options());
    let http = reqwest::Client::new();
    for (name, description, keywords, deprecated) in TEAM {
        upload(&http, &server.url, &Cred::Anonymous, "charts", pack_archive(name, "1.0.0", description, keywords, *deprecated, 0)).await;
    }
    assert_eq!(names(&server.url, "redis").await, ["redis", "keydb"]);
    assert!(server.logs().contains("search index rebuilt"), "built once, at the first start");
    server.terminate();
    assert!(home.path().join("data/search/meta.json").is_file(), "kept in data/search");

    // A restart reads the index as it was left: no rebuild.
    let mut server = ServerProcess::start(options());
    assert_eq!(names(&server.url, "redis").await, ["redis", "keydb"]);
    assert!(!server.logs().contains("search index rebuilt"), "{}", server.logs());

    // With the server running, reindex asks it to rebuild (the index is its to write).
    let said = reindex(home.path());
    assert!(said.contains("reindex requested"), "{said}");
    assert!(said.contains("in use by another process"), "{said}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !server.logs().contains("search index rebuilt") {
        assert!(std::time::Instant::now() < deadline, "the running server did not rebuild: {}", server.logs());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(names(&server.url, "redis").await, ["redis", "keydb"]);
    server.terminate();

    // Stopped: reindex rebuilds the index itself.
    let said = reindex(home.path());
    assert!(said.contains("search index rebuilt here: 6 documents"), "{said}");

    // An unreadable index is rebuilt at start.
    std::fs::write(home.path().join("data/search/meta.json"), b"{ not json").unwrap();
    let server = ServerProcess::start(options());
    assert_eq!(names(&server.url, "redis").await, ["redis", "keydb"]);
    assert!(server.logs().contains("stale or unreadable"), "{}", server.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_search_each_others_pushes() {
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        let one = ServerProcess::start(server_options(url.clone(), blobs.path()));
        let two = ServerProcess::start(server_options(url, blobs.path()));
        let http = reqwest::Client::new();
        assert!(names(&two.url, "").await.is_empty());
        upload(&http, &one.url, &Cred::Anonymous, "charts", pack_archive("valkey", "8.0.0", "Valkey key-value store", &["cache"], false, 0)).await;
        // Another server learns of the push from Postgres (NOTIFY, usually within a
        // millisecond; at worst its next read of the change sequence, 100 ms later): poll.
        let started = std::time::Instant::now();
        while names(&two.url, "valkey").await.is_empty() && started.elapsed() < std::time::Duration::from_secs(5) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(names(&two.url, "valkey").await, ["valkey"], "pushed through one, found through the other");
        upload(&http, &two.url, &Cred::Anonymous, "charts", pack_archive("valkey", "8.1.0", "Valkey key-value store", &["cache"], false, 0)).await;
        // The other way, through the Helm index first, then search.
        let started = std::time::Instant::now();
        let mut index = String::new();
        while !index.contains("charts/valkey-8.1.0.tgz") && started.elapsed() < std::time::Duration::from_secs(5) {
            index = reqwest::get(format!("{}/charts/index.yaml", one.url)).await.unwrap().text().await.unwrap();
        }
        assert!(index.contains("charts/valkey-8.1.0.tgz"), "{index}");
        let r: Value = reqwest::get(at(&format!("{}/api/v1/packages/search", one.url), &[("ts_query_web", "valkey")])).await.unwrap().json().await.unwrap();
        assert_eq!(r["packages"][0]["version"], "8.1.0", "and back, the index.yaml read having caught up");
    })
    .await;
}
