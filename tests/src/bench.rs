//! Load generation shared by the benchmarks (`tests/examples/*_bench.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};
use sqlx::Connection;

use crate::oci::digest;
use crate::server::ServerOptions;

#[must_use]
pub fn client() -> Client {
    Client::builder().pool_max_idle_per_host(256).build().unwrap()
}

/// Requests per second and latency (request sent → body read whole) of one load point; the
/// time to the response's head (p50, p99); and the server's own time (p50, p99) when its
/// responses carry `Server-Timing: app;dur=<ms>`.
pub struct Load {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub head_ms: (f64, f64),
    pub server_ms: Option<(f64, f64)>,
    /// Body bytes read per response (the last one).
    pub body_bytes: usize,
}

/// The `dur` of a `Server-Timing` header, in milliseconds.
fn server_timing(response: &reqwest::Response) -> Option<f64> {
    let value = response.headers().get("server-timing")?.to_str().ok()?;
    value.split(';').find_map(|part| part.trim().strip_prefix("dur="))?.parse().ok()
}

fn percentiles(mut values: Vec<f64>) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((values[values.len() / 2], values[(values.len() * 99 / 100).min(values.len() - 1)]))
}

/// Sends the request `make` builds from `concurrency` tasks for `seconds`, each response
/// checked for `status` and read whole; bodies are counted and dropped as they arrive (as
/// `wrk` and `oha` do), so the load generator, which shares the machine, copies no more than
/// it must.
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
                let mut heads = Vec::new();
                let mut server = Vec::new();
                let mut body_bytes = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let mut r = make(&http).send().await.unwrap();
                    heads.push(t.elapsed().as_secs_f64() * 1000.0);
                    assert_eq!(r.status().as_u16(), status, "{}", r.url());
                    server.extend(server_timing(&r));
                    body_bytes = 0;
                    while let Some(chunk) = r.chunk().await.unwrap() {
                        body_bytes += chunk.len();
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, heads, server, body_bytes)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut heads = Vec::new();
    let mut server = Vec::new();
    let mut body_bytes = 0;
    for t in tasks {
        let (latencies, head_times, timings, bytes) = t.await.unwrap();
        all.extend(latencies);
        heads.extend(head_times);
        server.extend(timings);
        body_bytes = bytes;
    }
    all.sort();
    #[allow(clippy::cast_precision_loss)]
    let rps = all.len() as f64 / seconds as f64;
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    let p50 = all[all.len() / 2];
    Load {
        rps,
        p50_ms: p50.as_secs_f64() * 1000.0,
        p99_ms: p99.as_secs_f64() * 1000.0,
        head_ms: percentiles(heads).expect("at least one request"),
        server_ms: percentiles(server),
        body_bytes,
    }
}

/// Wall milliseconds and peak RSS (MiB) of one run, measured by GNU time.
pub fn measure(cmd: &mut std::process::Command) -> (f64, f64) {
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M").arg("-o").arg(rss_file.path()).arg(program).args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let t = Instant::now();
    crate::tools::run_ok(&mut timed);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let kib: f64 = std::fs::read_to_string(rss_file.path()).unwrap().trim().lines().last().unwrap().parse().unwrap();
    (ms, kib / 1024.0)
}

#[must_use]
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The CPU time (user + system, seconds) used so far by a process and its direct children
/// (nginx's workers, say), from `/proc`.
#[must_use]
pub fn cpu_seconds(pid: u32) -> f64 {
    // After the command name in parentheses: state, ppid, ... utime (14th field), stime (15th).
    let fields = |stat: &str| -> Vec<String> { stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().map(str::to_owned).collect() };
    let ticks = |f: &[String]| -> f64 { f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) };
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(other) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let f = fields(&stat);
        if other == pid || f.get(1).and_then(|ppid| ppid.parse::<u32>().ok()) == Some(pid) {
            total += ticks(&f);
        }
    }
    // Linux counts in USER_HZ, 100 per second on every architecture this runs on.
    total / 100.0
}

/// A `/proc/<pid>/status` memory field (`VmRSS:`, `VmHWM:`) in MiB.
#[must_use]
pub fn rss_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A server in `dir` that logs warnings, and its start and index rebuilds.
#[must_use]
pub fn quiet(dir: &std::path::Path) -> ServerOptions {
    ServerOptions {
        args: vec!["--log-level".into(), "warn,sherpack_registry::serve=info,sherpack_registry::packs::index=info".into()],
        cwd: Some(dir.to_owned()),
        ..ServerOptions::default()
    }
}

/// Realistic-looking metadata for chart `i`, version `v`.
#[must_use]
pub fn chart_metadata(name: &str, version: &str, i: usize) -> String {
    serde_json::json!({
        "kind": "helm",
        "name": name,
        "version": version,
        "api_version": "v2",
        "app_version": format!("{}.{}", i % 7, i % 13),
        "description": format!("A Helm chart for {name}: deploys the service with sane defaults, probes and an optional ingress"),
        "keywords": ["database", "web", format!("k{}", i % 50)],
        "maintainers": [{ "name": "Platform Team", "email": "platform@example.com" }],
        "home": format!("https://example.com/{name}"),
        "sources": [format!("https://github.com/example/{name}")],
        "annotations": { "category": "Infrastructure" },
        "deprecated": false,
        "chart_type": "application",
    })
    .to_string()
}

/// Seeds a stopped server's `SQLite` database, in one transaction, with `charts` charts of the
/// `bench` namespace, chart `i` named `name(i)`, × `versions` versions (`1.0.0`, `1.1.0`, ...):
/// repositories, manifests, tags and packs whose metadata `metadata(name, version, i)` writes.
pub async fn seed_sqlite(
    db: &std::path::Path,
    charts: usize,
    versions: usize,
    name: &dyn Fn(usize) -> String,
    metadata: &dyn Fn(&str, &str, usize) -> String,
) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    let now = 1_760_000_000_000_i64;
    for i in 0..charts {
        let name = name(i);
        let repo = format!("bench/{name}");
        let (id,): (i64,) = sqlx::query_as("INSERT INTO repositories (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(&repo)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        for v in 0..versions {
            let version = format!("1.{v}.0");
            let content = format!("{{\"schemaVersion\":2,\"chart\":\"{repo}\",\"version\":\"{version}\"}}");
            let d = digest(content.as_bytes());
            let archive = digest(format!("{repo}-{version}.tgz").as_bytes());
            let at = now + i64::try_from(i * versions + v).unwrap();
            sqlx::query("INSERT INTO manifests (repository_id, digest, media_type, size, content, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id)
                .bind(&d)
                .bind("application/vnd.oci.image.manifest.v1+json")
                .bind(i64::try_from(content.len()).unwrap())
                .bind(content.as_bytes())
                .bind(at)
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query("INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(&version)
                .bind(&d)
                .bind(at)
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO packs (repository_id, manifest_digest, repository, namespace, name, version, kind, archive_digest,
                 archive_size, metadata, created_at) VALUES ($1, $2, $3, 'bench', $4, $5, 'helm', $6, 4096, $7, $8)",
            )
            .bind(id)
            .bind(&d)
            .bind(&repo)
            .bind(&name)
            .bind(&version)
            .bind(&archive)
            .bind(metadata(&name, &version, i))
            .bind(at)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    sqlx::query("INSERT INTO changes (kind, repository, at) VALUES ('manifest_put', 'bench/seed', $1)").bind(now).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

