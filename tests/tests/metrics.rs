//! `/metrics`, read by a Prometheus text-format parser: requests by route, method and status,
//! latency histograms, bytes in and out, uploads in flight, storage per namespace, search index
//! lag; admin-only once authentication is on. Every answer also carries `Server-Timing`.
#![allow(clippy::cast_precision_loss, clippy::float_cmp)] // counters are whole numbers in f64

use prometheus_parse::{Scrape, Value};
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::{push_like_upstream_sherpack, sherpack_archive};
use sherpack_test_support::oci::Oci;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

async fn scrape(http: &reqwest::Client, base: &str) -> Scrape {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the Prometheus text format")
}

/// The value of the sample named `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.samples.iter().filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).find_map(|s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
        _ => None,
    })
}

#[tokio::test]
async fn metrics_count_requests_bytes_uploads_and_storage() {
    let server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    let archive = sherpack_archive("web", "1.0.0", 50_000);
    push_like_upstream_sherpack(&oci, "team/web", "1.0.0", &archive).await;
    let pulled = oci.http.get(oci.url("/v2/team/web/manifests/1.0.0")).send().await.unwrap();
    assert_eq!(pulled.status(), 200);
    assert_eq!(oci.http.get(oci.url("/v2/team/web/manifests/9.9.9")).send().await.unwrap().status(), 404);
    // An upload left open.
    assert_eq!(oci.http.post(oci.url("/v2/team/open/blobs/uploads/")).send().await.unwrap().status(), 202);

    let http = reqwest::Client::new();
    // Every answer says how long the server took (`Server-Timing`), OCI and Helm routes too.
    for path in ["/v2/_catalog", "/v2/team/web/tags/list", "/team/index.yaml", "/"] {
        let response = http.get(format!("{}{path}", server.url)).send().await.unwrap();
        let timing = response.headers().get("server-timing").map(|v| v.to_str().unwrap().to_owned());
        let ms = timing.as_deref().and_then(|t| t.strip_prefix("app;dur=")).and_then(|d| d.parse::<f64>().ok());
        assert!(ms.is_some_and(|ms| ms >= 0.0), "{path}: Server-Timing {timing:?}");
    }
    let m = scrape(&http, &server.url).await;
    let manifests = "/v2/<name>/manifests/<reference>";
    assert_eq!(value(&m, "sherpack_http_requests_total", &[("route", manifests), ("method", "PUT"), ("status", "201")]), Some(1.0));
    assert_eq!(value(&m, "sherpack_http_requests_total", &[("route", manifests), ("method", "GET"), ("status", "200")]), Some(1.0));
    assert_eq!(value(&m, "sherpack_http_requests_total", &[("route", manifests), ("method", "GET"), ("status", "404")]), Some(1.0));
    assert!(!m.samples.iter().any(|s| s.labels.values().any(|v| v.contains("team/web"))), "repository names never become labels");
    // Bytes in: at least the archive went through the upload routes.
    let received = value(&m, "sherpack_http_received_bytes_total", &[("route", "/v2/<name>/blobs/uploads")]).unwrap();
    assert!(received >= archive.len() as f64, "{received}");
    assert!(value(&m, "sherpack_http_sent_bytes_total", &[("route", manifests)]).unwrap() > 0.0);
    // A latency histogram per route, with buckets.
    let histogram = m.samples.iter().find(|s| s.metric == "sherpack_http_request_duration_seconds" && s.labels.get("route") == Some(manifests) && s.labels.get("method") == Some("PUT"));
    match histogram.map(|s| &s.value) {
        Some(Value::Histogram(buckets)) => {
            assert!(buckets.len() >= 10);
            assert_eq!(buckets.last().unwrap().count, 1.0, "one PUT, counted in the +Inf bucket");
        }
        other => panic!("no histogram for manifest PUTs: {other:?}"),
    }
    assert_eq!(value(&m, "sherpack_uploads_in_flight", &[]), Some(1.0));
    let stored = value(&m, "sherpack_storage_bytes", &[("namespace", "team")]).unwrap();
    assert!(stored >= archive.len() as f64 + 2.0, "{stored}");
    assert!(value(&m, "sherpack_search_index_lag_changes", &[]).is_some());
    assert!(value(&m, "sherpack_change_sequence", &[]).unwrap() >= 1.0);
    // Searchable soon: the lag comes back to zero.
    let mut lag = f64::MAX;
    for _ in 0..50 {
        lag = value(&scrape(&http, &server.url).await, "sherpack_search_index_lag_changes", &[]).unwrap();
        if lag == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(lag, 0.0);
}

#[tokio::test]
async fn metrics_are_for_registry_admins_when_authentication_is_on() {
    let t = Tenants::start(ServerOptions::default()).await;
    let url = format!("{}/metrics", t.server.url);
    let http = reqwest::Client::new();
    for (cred, expected) in [(Cred::Anonymous, 401), (Cred::user("walt"), 403), (Cred::admin(), 200)] {
        let response = cred.apply(http.get(&url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{cred:?}");
        let body = response.text().await.unwrap();
        if expected == 200 {
            assert!(body.contains("sherpack_http_requests_total"));
        } else {
            assert!(!body.contains("team"), "no namespace names without admin rights");
        }
    }
}
