//! Web UI rendering: the home page, a search page and every view of a pack as large as the
//! big charts of public collections (`sherpack_test_support::large_pack`: a README of about
//! 100 KiB, 2,000+ lines of values, a schema of 400+ properties), over 500 packs; server and
//! client p50/p99 at concurrency 1 and 16, the bytes each page ships, and the CSS and JS in
//! total. Prints a Markdown table. Run through `bench/web.sh`.

use std::time::Instant;

use sherpack_test_support::bench::{Load, env_usize, load, quiet};
use sherpack_test_support::fixtures::{PackSpec, spec_archive};
use sherpack_test_support::large_pack::LargePack;
use sherpack_test_support::server::ServerProcess;

#[tokio::main]
async fn main() {
    let seconds: u64 = env_usize("BENCH_SECONDS", 5) as u64;
    let packs = env_usize("WEB_PACKS", 500);
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(quiet(dir.path()));
    let base = server.url.clone();
    let http = reqwest::Client::new();
    let large = LargePack::new();
    for version in ["17.0.0", "17.1.0"] {
        let r = http.post(format!("{base}/api/bench/charts")).body(large.archive("large", version)).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let words = ["redis", "postgres", "nginx", "prometheus", "grafana", "kafka", "vault", "minio", "keycloak", "traefik"];
    for i in 0..packs {
        let name = format!("{}-{i}", words[i % words.len()]);
        let description = format!("The {} chart number {i}", words[i % words.len()]);
        let spec = PackSpec { helm: i % 3 != 0, description: &description, keywords: &["bench"], ..PackSpec::new(&name, "1.0.0") };
        let r = http.post(format!("{base}/api/bench/charts")).body(spec_archive(&spec)).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let pages = [
        ("home", "/"),
        ("search `redis`, facets, 20 results", "/-/search?q=redis"),
        ("large pack: README (the default view)", "/-/packs/bench/large"),
        ("large pack: values", "/-/packs/bench/large/values"),
        ("large pack: schema", "/-/packs/bench/large/schema"),
        ("large pack: templates, one open", "/-/packs/bench/large/templates"),
        ("large pack: versions", "/-/packs/bench/large/versions"),
    ];
    let mut rows = Vec::new();
    for (label, path) in &pages {
        let t = Instant::now();
        let first = http.get(format!("{base}{path}")).send().await.unwrap().bytes().await.unwrap();
        let first_ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut loads: Vec<Load> = Vec::new();
        for concurrency in [1, 16] {
            let url = format!("{base}{path}");
            loads.push(load(move |h| h.get(&url), 200, concurrency, seconds).await);
        }
        rows.push((label, first.len(), first_ms, loads));
    }
    let css = http.get(format!("{base}/-/static/app.css")).send().await.unwrap().bytes().await.unwrap().len();
    let js = http.get(format!("{base}/-/static/app.js")).send().await.unwrap().bytes().await.unwrap().len();
    drop(server);

    #[allow(clippy::cast_precision_loss)]
    let kib = |b: usize| b as f64 / 1024.0;
    println!(
        "{packs} packs plus a large one: README {:.0} KiB, values.yaml {} lines, schema {:.0} KiB; the first request renders a view, the others find it kept.",
        kib(large.readme.len()),
        large.values.lines().count(),
        kib(large.schema.len())
    );
    println!();
    println!("Server time is the page's `Server-Timing` (handler start to rendered page); client time adds the HTTP stack,");
    println!("loopback and, at c=16, waiting for one of the 2 cores the client shares with the server.");
    println!();
    println!("| page | HTML | first request | server p50 / p99, c=1 | server p50 / p99, c=16 | client p50 / p99, c=1 | client p50 / p99, c=16 | c=16 pages/s |");
    println!("|---|---|---|---|---|---|---|---|");
    for (label, bytes, first_ms, loads) in rows {
        let server = |l: &Load| l.server_ms.map_or_else(|| "n/a".to_owned(), |(p50, p99)| format!("{p50:.2} / {p99:.2} ms"));
        println!(
            "| {label} | {:.1} KiB | {first_ms:.1} ms | {} | {} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.0} |",
            kib(bytes),
            server(&loads[0]),
            server(&loads[1]),
            loads[0].p50_ms,
            loads[0].p99_ms,
            loads[1].p50_ms,
            loads[1].p99_ms,
            loads[1].rps
        );
    }
    println!("| CSS + JS (every page, cached for a year) | {:.1} KiB + {:.1} KiB = {:.1} KiB | | | | | | target < 100 KiB |", kib(css), kib(js), kib(css + js));
}
