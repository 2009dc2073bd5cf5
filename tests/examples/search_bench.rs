//! Search at scale: `SEARCH_PACKS` packs × `SEARCH_VERSIONS` versions (default 10,000 × 10)
//! with names, descriptions and keywords drawn from a vocabulary of real chart words and
//! READMEs of install-and-configure prose that mention a few related tools (an earlier
//! version made every README half of all chart names, so each word matched 40 % of packs;
//! `bench/results/search-20261124-200418.md` has that run), seeded straight into the
//! server's `SQLite` database. Measures the search index build from
//! scratch at start, its size on disk, query latency (p50/p99) at concurrency 1 and 16 for
//! one-word, multi-word, prefix and typo queries through the HTTP API, push-to-searchable
//! time, and server memory. Prints a Markdown table. Run through `bench/search.sh`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sherpack_test_support::bench::{Load, env_usize, load, quiet, rss_mib, seed_sqlite};
use sherpack_test_support::corpus::{MULTI_WORD, ONE_WORD, PREFIX, TYPO, WORDS, metadata, name};
use sherpack_test_support::fixtures::{push_like_upstream_sherpack, sherpack_archive};
use sherpack_test_support::oci::Oci;
use sherpack_test_support::server::ServerProcess;

/// Bytes of the files under `dir`.
fn du(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
}

/// The seconds the server's log gave for its search index build, once it is there.
async fn rebuilt_seconds(server: &ServerProcess) -> f64 {
    let deadline = Instant::now() + Duration::from_mins(10);
    loop {
        if let Some(line) = server.logs().lines().find(|l| l.contains("search index rebuilt")) {
            let seconds = line.split("seconds=").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok());
            return seconds.unwrap_or(f64::NAN);
        }
        assert!(Instant::now() < deadline, "the search index was not built: {}", server.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Load through the Artifact Hub API with queries taken in turn.
async fn query_load(base: &str, queries: &'static [&'static str], concurrency: usize, seconds: u64) -> Load {
    let url = format!("{base}/api/v1/packages/search");
    let next = Arc::new(AtomicUsize::new(0));
    load(
        move |h| {
            let q = queries[next.fetch_add(1, Ordering::Relaxed) % queries.len()];
            h.get(reqwest::Url::parse_with_params(&url, &[("ts_query_web", q), ("limit", "20")]).unwrap())
        },
        200,
        concurrency,
        seconds,
    )
    .await
}


#[tokio::main]
async fn main() {
    let packs = env_usize("SEARCH_PACKS", 10_000);
    let versions = env_usize("SEARCH_VERSIONS", 10);
    let seconds: u64 = env_usize("BENCH_SECONDS", 5) as u64;
    let dir = tempfile::tempdir().unwrap();
    drop(ServerProcess::start(quiet(dir.path())));
    let t = Instant::now();
    seed_sqlite(&dir.path().join("data/registry.db"), packs, versions, &name, &|pack, version, i| metadata(pack, version, i, 60)).await;
    let seed_s = t.elapsed().as_secs_f64();
    // Built again from scratch at the next start.
    std::fs::remove_dir_all(dir.path().join("data/search")).unwrap();

    let started = Instant::now();
    let server = ServerProcess::start(quiet(dir.path()));
    let build_s = rebuilt_seconds(&server).await;
    let ready_s = started.elapsed().as_secs_f64();
    let base = server.url.clone();
    let index_bytes = du(&dir.path().join("data/search"));
    let rss_built = rss_mib(server.pid(), "VmRSS:");

    let mut rows = Vec::new();
    for (label, queries) in [("one word", ONE_WORD), ("several words", MULTI_WORD), ("prefix", PREFIX), ("typo", TYPO)] {
        for concurrency in [1, 16] {
            rows.push((label, concurrency, query_load(&base, queries, concurrency, seconds).await));
        }
    }
    let all: &'static [&'static str] = Box::leak([ONE_WORD, MULTI_WORD, PREFIX, TYPO].concat().into_boxed_slice());
    let mixed = [query_load(&base, all, 1, seconds).await, query_load(&base, all, 16, seconds).await];

    // Push → searchable: the 201, then the search polled until the version is there.
    let oci = Oci::new(&base);
    let http = reqwest::Client::new();
    let mut visible = Vec::new();
    for round in 0..10 {
        let version = format!("9.{round}.0");
        let archive = sherpack_archive("fresh-pack", &version, 64);
        push_like_upstream_sherpack(&oci, "bench/fresh-pack", &version, &archive).await;
        let pushed = Instant::now();
        loop {
            let url = reqwest::Url::parse_with_params(&format!("{base}/api/v1/packages/search"), &[("ts_query_web", "fresh-pack")]).unwrap();
            let body: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            if body["packages"][0]["version"] == version.as_str() {
                break;
            }
            assert!(pushed.elapsed() < Duration::from_secs(30), "push never became searchable");
        }
        visible.push(pushed.elapsed().as_secs_f64() * 1000.0);
    }
    visible.sort_by(f64::total_cmp);
    let rss_now = rss_mib(server.pid(), "VmRSS:");
    let rss_peak = rss_mib(server.pid(), "VmHWM:");
    drop(server);

    #[allow(clippy::cast_precision_loss)]
    let mib = |b: u64| b as f64 / 1_048_576.0;
    println!("Corpus: {packs} packs × {versions} versions ({} versions, every one indexed), seeded in {seed_s:.1} s; {} vocabulary words.", packs * versions, WORDS.len());
    println!("Queries go through `GET /api/v1/packages/search?ts_query_web=…&limit=20` over HTTP: client-measured latency (server time + loopback");
    println!("+ client, which shares the 2 cores), and in brackets the server's own p50 / p99 from its `Server-Timing` header.");
    println!();
    println!("| measure | value | | |");
    println!("|---|---|---|---|");
    println!("| search index built from scratch at start | {build_s:.1} s | start to built: {ready_s:.1} s | target < 60 s |");
    println!("| index size on disk | {:.1} MiB | | |", mib(index_bytes));
    let server = |l: &Load| l.server_ms.map_or_else(|| "n/a".to_owned(), |(p50, p99)| format!("server {p50:.2} / {p99:.2} ms"));
    for (label, concurrency, l) in &rows {
        println!("| {label} queries, c={concurrency} | {:.0} req/s | {:.2} ms p50 | {:.2} ms p99 ({}) |", l.rps, l.p50_ms, l.p99_ms, server(l));
    }
    for (concurrency, l) in [1, 16].iter().zip(&mixed) {
        println!("| all kinds mixed, c={concurrency} | {:.0} req/s | {:.2} ms p50 | {:.2} ms p99 ({}) |", l.rps, l.p50_ms, l.p99_ms, server(l));
    }
    println!("| push 201 → in search results (10 pushes) | {:.0} ms median | {:.0} ms max | target < 1000 ms |", visible[visible.len() / 2], visible[visible.len() - 1]);
    println!("| server RSS: index built / after the load / peak | {rss_built:.0} MiB | {rss_now:.0} MiB | {rss_peak:.0} MiB |");
}
