//! Web UI rendering: the home page, a search page and a pack page whose README is 200 KiB of
//! Markdown (headings, tables, code blocks), over 500 packs; p50/p99 at concurrency 1 and 16
//! measured by the client over loopback (an upper bound of the server time), the bytes each
//! page ships, and the CSS and JS in total. Prints a Markdown table. Run through
//! `bench/web.sh`.

use std::fmt::Write as _;
use std::time::Instant;

use sherpack_test_support::bench::{Load, env_usize, load, quiet};
use sherpack_test_support::fixtures::{PackSpec, spec_archive};
use sherpack_test_support::server::ServerProcess;

/// About `bytes` of Markdown shaped like a large chart README.
fn big_readme(bytes: usize) -> String {
    let mut out = String::from("# Big chart\n\nA chart with a very long README.\n\n");
    let mut section = 0;
    while out.len() < bytes {
        section += 1;
        let _ = write!(
            out,
            "## Section {section}\n\nThis section explains **option {section}** of the chart, with `inline code`, a [link](https://example.com/{section}) and some prose that goes on for a while so that the paragraph wraps over several lines in the browser.\n\n| parameter | description | default |\n|---|---|---|\n| `option{section}.enabled` | Turns option {section} on | `false` |\n| `option{section}.size` | How big option {section} is | `{section}` |\n\n```yaml\noption{section}:\n  enabled: true # turn it on\n  size: {section}\n  name: \"section-{section}\"\n```\n\n"
        );
    }
    out
}

#[tokio::main]
async fn main() {
    let seconds: u64 = env_usize("BENCH_SECONDS", 5) as u64;
    let packs = env_usize("WEB_PACKS", 500);
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(quiet(dir.path()));
    let base = server.url.clone();
    let http = reqwest::Client::new();
    let readme = big_readme(200 * 1024);
    let spec = PackSpec { helm: true, description: "A chart with a 200 KiB README", readme: Some(&readme), ..PackSpec::new("big", "1.0.0") };
    let r = http.post(format!("{base}/api/bench/charts")).body(spec_archive(&spec)).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let words = ["redis", "postgres", "nginx", "prometheus", "grafana", "kafka", "vault", "minio", "keycloak", "traefik"];
    for i in 0..packs {
        let name = format!("{}-{i}", words[i % words.len()]);
        let description = format!("The {} chart number {i}", words[i % words.len()]);
        let spec = PackSpec { helm: i % 3 != 0, description: &description, keywords: &["bench"], ..PackSpec::new(&name, "1.0.0") };
        let r = http.post(format!("{base}/api/bench/charts")).body(spec_archive(&spec)).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let pages = [("home", "/".to_owned()), ("search `redis`, facets, 20 results", "/-/search?q=redis".to_owned()), ("pack page, 200 KiB README", "/-/packs/bench/big".to_owned())];
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
    println!("{packs} packs plus one with a {:.0} KiB README; client-measured over loopback (server time is below these).", kib(readme.len()));
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
