//! Load generation shared by the benchmarks (`tests/examples/*_bench.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};

#[must_use]
pub fn client() -> Client {
    Client::builder().pool_max_idle_per_host(256).build().unwrap()
}

/// Requests per second and 99th-percentile latency of one load point.
pub struct Load {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Sends the request `make` builds from `concurrency` tasks for `seconds`, each response
/// checked for `status` and read whole.
pub async fn load<F>(make: F, status: u16, concurrency: usize, seconds: u64) -> Load
where
    F: Fn(&Client) -> RequestBuilder + Send + Sync + 'static,
{
    let http = client();
    let make = Arc::new(make);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, make) = (http.clone(), Arc::clone(&make));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = make(&http).send().await.unwrap();
                    assert_eq!(r.status().as_u16(), status, "{}", r.url());
                    r.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    #[allow(clippy::cast_precision_loss)]
    let rps = all.len() as f64 / seconds as f64;
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    let p50 = all[all.len() / 2];
    Load { rps, p50_ms: p50.as_secs_f64() * 1000.0, p99_ms: p99.as_secs_f64() * 1000.0 }
}
