//! Helm index at scale: a namespace of `INDEX_CHARTS` × `INDEX_VERSIONS` packs (default
//! 10,000 × 10), seeded straight into the server's `SQLite` database, then: the first index
//! load; `index.yaml` and `index.json` served from cache (p50/p99 at concurrency 16 and 1,
//! gzip and plain), side by side with nginx serving the same bytes as static files (sendfile,
//! `gzip_static`: the fastest a fixed document can be served here); time from a push's 201 to
//! the version being in the index; server memory; and `helm repo index` over the same number
//! of chart files. Prints Markdown tables. Run through `bench/index.sh`.

use std::time::{Duration, Instant};

use sherpack_test_support::bench::{Load, chart_metadata as metadata, cpu_seconds, env_usize, load, quiet, rss_mib, seed_sqlite};
use sherpack_test_support::fixtures::{push_like_upstream_sherpack, sherpack_archive, tar_gz};
use sherpack_test_support::oci::Oci;
use sherpack_test_support::peers::Nginx;
use sherpack_test_support::server::ServerProcess;
use sherpack_test_support::tools::{self, run_ok};

/// `helm repo index` over `count` minimal chart archives.
fn helm_repo_index(count: usize) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..count {
        let (chart, version) = (format!("chart-{:05}", i / 10), format!("1.{}.0", i % 10));
        let yaml = format!("apiVersion: v2\nname: {chart}\nversion: {version}\ndescription: A Helm chart for {chart}\n");
        let bytes = tar_gz(&[(&format!("{chart}/Chart.yaml"), yaml.as_bytes())]);
        std::fs::write(dir.path().join(format!("{chart}-{version}.tgz")), bytes).unwrap();
    }
    let home = tempfile::tempdir().unwrap();
    let start = Instant::now();
    run_ok(tools::helm_command(&tools::helm(), home.path()).arg("repo").arg("index").arg(dir.path()));
    let seconds = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(dir.path().join("index.yaml")).map_or(0, |m| m.len());
    (seconds, size)
}

/// Push → served: the time until the index the server serves changes (its `ETag`, from HEAD
/// requests), without a client's download of the whole document in the way; then one
/// download checks the version is in it. Sorted milliseconds of 10 pushes.
async fn push_to_served(http: &reqwest::Client, oci: &Oci, base: &str) -> Vec<f64> {
    let etag = |r: &reqwest::Response| r.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
    let mut times = Vec::new();
    for round in 0..10 {
        let before = etag(&http.head(format!("{base}/bench/index.yaml")).send().await.unwrap());
        let version = format!("9.9.{round}");
        let archive = sherpack_archive("chart-00001", &version, 64);
        push_like_upstream_sherpack(oci, "bench/chart-00001", &version, &archive).await;
        let pushed = Instant::now();
        while etag(&http.head(format!("{base}/bench/index.yaml")).send().await.unwrap()) == before {
            assert!(pushed.elapsed() < Duration::from_secs(30), "the index never changed");
        }
        times.push(pushed.elapsed().as_secs_f64() * 1000.0);
        let body = http.get(format!("{base}/bench/index.json")).send().await.unwrap().text().await.unwrap();
        assert!(body.contains(&format!("\"{version}\"")), "the changed index lacks {version}");
    }
    times.sort_by(f64::total_cmp);
    times
}

/// One load point: a document, gzip or not, at a concurrency; ours and nginx's.
struct Point {
    file: &'static str,
    gzip: bool,
    concurrency: usize,
    ours: Load,
    nginx: Load,
    /// CPU milliseconds per response: ours, nginx's.
    cpu_ms: (f64, f64),
}

/// A load point, with the CPU time per response the serving process (and its children) used.
async fn measured(url: String, encoding: &'static str, concurrency: usize, seconds: u64, pid: u32) -> (Load, f64) {
    let before = cpu_seconds(pid);
    let l = load(move |h| h.get(&url).header("accept-encoding", encoding), 200, concurrency, seconds).await;
    #[allow(clippy::cast_precision_loss)]
    let per_response = (cpu_seconds(pid) - before) * 1000.0 / (l.rps * seconds as f64);
    (l, per_response)
}

/// The cached index documents under load, ours and the same bytes as static files served by
/// nginx, one after the other; and nginx serving nothing but the index's digests (gzip, c=16).
async fn beside_nginx(http: &reqwest::Client, base: &str, server_pid: u32, seconds: u64) -> (Vec<Point>, Load) {
    let www = tempfile::tempdir().unwrap();
    for (file, gzip) in [("index.yaml", false), ("index.yaml.gz", true), ("index.json", false), ("index.json.gz", true)] {
        let mut request = http.get(format!("{base}/bench/{}", file.trim_end_matches(".gz")));
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        std::fs::write(www.path().join(file), request.send().await.unwrap().bytes().await.unwrap()).unwrap();
    }
    // The floor for any index of these versions: their digests alone, 32 random bytes each.
    let json = std::fs::read_to_string(www.path().join("index.json")).unwrap();
    let digests: String = json.split("\"digest\":\"").skip(1).flat_map(|rest| [&rest[..64], "\n"]).collect();
    std::fs::write(www.path().join("digests.txt"), &digests).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, digests.as_bytes()).unwrap();
    std::fs::write(www.path().join("digests.txt.gz"), gz.finish().unwrap()).unwrap();
    let nginx = Nginx::serve(www.path());
    let url = format!("{}/digests.txt", nginx.url);
    let floor = load(move |h| h.get(&url).header("accept-encoding", "gzip"), 200, 16, seconds).await;
    let mut points = Vec::new();
    for (file, gzip, concurrency) in
        [("index.yaml", true, 16), ("index.json", true, 16), ("index.yaml", true, 1), ("index.json", true, 1), ("index.yaml", false, 16), ("index.json", false, 16)]
    {
        let encoding = if gzip { "gzip" } else { "identity" };
        let (ours, ours_cpu) = measured(format!("{base}/bench/{file}"), encoding, concurrency, seconds, server_pid).await;
        let (theirs, theirs_cpu) = measured(format!("{}/{file}", nginx.url), encoding, concurrency, seconds, nginx.pid()).await;
        assert_eq!(ours.body_bytes, theirs.body_bytes, "nginx served other bytes");
        points.push(Point { file, gzip, concurrency, ours, nginx: theirs, cpu_ms: (ours_cpu, theirs_cpu) });
    }
    (points, floor)
}

fn print_serving(points: &[Point], floor: &Load, seconds: u64) {
    println!("Served from cache, {seconds} s per point; latency = request sent → body read whole, head = request sent → response head; CPU = the serving processes' user + system time (the kernel's loopback work partly included) per response; nginx serves the same bytes as static files.");
    println!();
    println!("| document | body | ours req/s | ours p50 / p99 ms | ours head p50 / p99 ms | ours CPU ms/resp | nginx req/s | nginx p50 / p99 ms | nginx CPU ms/resp | p50 ours/nginx |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for Point { file, gzip, concurrency, ours, nginx, cpu_ms } in points {
        println!(
            "| {file}{}, c={concurrency} | {:.2} MiB | {:.1} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {:.1} | {:.2} / {:.2} | {:.2} | {:.2} |",
            if *gzip { " gzip" } else { "" },
            mib(ours.body_bytes),
            ours.rps,
            ours.p50_ms,
            ours.p99_ms,
            ours.head_ms.0,
            ours.head_ms.1,
            cpu_ms.0,
            nginx.rps,
            nginx.p50_ms,
            nginx.p99_ms,
            cpu_ms.1,
            ours.p50_ms / nginx.p50_ms
        );
    }
    println!();
    println!(
        "Floor: the index's sha256 digests alone (hex, one per line, gzip -9: {:.2} MiB) from nginx at c=16: {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms.",
        mib(floor.body_bytes),
        floor.rps,
        floor.p50_ms,
        floor.p99_ms
    );
}

#[tokio::main]
async fn main() {
    let charts = env_usize("INDEX_CHARTS", 10_000);
    let versions = env_usize("INDEX_VERSIONS", 10);
    let seconds: u64 = env_usize("BENCH_SECONDS", 5) as u64;
    let dir = tempfile::tempdir().unwrap();
    // Let the server create the schema, then seed it while it is stopped.
    drop(ServerProcess::start(quiet(dir.path())));
    let t = Instant::now();
    seed_sqlite(&dir.path().join("data/registry.db"), charts, versions, &|i| format!("chart-{i:05}"), &metadata).await;
    let seed_s = t.elapsed().as_secs_f64();

    let server = ServerProcess::start(quiet(dir.path()));
    let base = server.url.clone();
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let rss_idle = rss_mib(server.pid(), "VmRSS:");
    let t = Instant::now();
    let first = http.get(format!("{base}/bench/index.yaml")).send().await.unwrap();
    let yaml_bytes = first.bytes().await.unwrap().len();
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let json_bytes = http.get(format!("{base}/bench/index.json")).send().await.unwrap().bytes().await.unwrap().len();
    let t = Instant::now();
    let gz_bytes = http.get(format!("{base}/bench/index.yaml")).header("accept-encoding", "gzip").send().await.unwrap().bytes().await.unwrap().len();
    let first_gzip_ms = t.elapsed().as_secs_f64() * 1000.0;

    let (serving, floor) = beside_nginx(&http, &base, server.pid(), seconds).await;

    // Push → visible: the 201, then the index polled until the version is there; as index.json
    // (59 MiB to read each time) and as gzip index.yaml (what helm fetches).
    let oci = Oci::new(&base);
    let mut visible = Vec::new();
    let mut visible_gzip = Vec::new();
    for round in 0..10 {
        let version = format!("9.{round}.0");
        let archive = sherpack_archive("chart-00000", &version, 64);
        push_like_upstream_sherpack(&oci, "bench/chart-00000", &version, &archive).await;
        let pushed = Instant::now();
        let gzip = round % 2 == 1;
        let (path, samples) = if gzip { ("index.yaml", &mut visible_gzip) } else { ("index.json", &mut visible) };
        loop {
            let mut request = http.get(format!("{base}/bench/{path}"));
            if gzip {
                request = request.header("accept-encoding", "gzip");
            }
            let raw = request.send().await.unwrap().bytes().await.unwrap();
            let body = if gzip {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).unwrap();
                text
            } else {
                String::from_utf8_lossy(&raw).into_owned()
            };
            if body.contains(&format!("\"{version}\"")) {
                break;
            }
            assert!(pushed.elapsed() < Duration::from_secs(30), "push never appeared");
        }
        samples.push(pushed.elapsed().as_secs_f64() * 1000.0);
    }
    let index_changed = push_to_served(&http, &oci, &base).await;
    visible.sort_by(f64::total_cmp);
    visible_gzip.sort_by(f64::total_cmp);
    let rss_now = rss_mib(server.pid(), "VmRSS:");
    let rss_peak = rss_mib(server.pid(), "VmHWM:");
    drop(server);

    let (helm_s, helm_size) = helm_repo_index(charts * versions);

    println!("Corpus: {charts} charts × {versions} versions in one namespace ({} versions), seeded in {seed_s:.1} s.", charts * versions);
    println!();
    print_serving(&serving, &floor, seconds);
    println!();
    println!("| measure | value | | |");
    println!("|---|---|---|---|");
    println!("| index.yaml size / index.json size / index.yaml gzip | {:.1} MiB | {:.1} MiB | {:.1} MiB |", mib(yaml_bytes), mib(json_bytes), mib(gz_bytes));
    println!("| first index.yaml after start (load {} packs from the store, render) | {first_ms:.0} ms | | |", charts * versions);
    println!("| first gzip index.yaml (every chart's part compressed) | {first_gzip_ms:.0} ms | | |");
    println!(
        "| push 201 → version in index.json (5 pushes) | {:.0} ms median | {:.0} ms max | |",
        visible[visible.len() / 2],
        visible[visible.len() - 1]
    );
    println!(
        "| push 201 → version in gzip index.yaml, as helm fetches it (5 pushes) | {:.0} ms median | {:.0} ms max | |",
        visible_gzip[visible_gzip.len() / 2],
        visible_gzip[visible_gzip.len() - 1]
    );
    println!(
        "| push 201 → the served index changes (ETag, HEAD requests; 10 pushes) | {:.0} ms median | {:.0} ms max | |",
        index_changed[index_changed.len() / 2],
        index_changed[index_changed.len() - 1]
    );
    println!("| server RSS: idle before load / after / peak | {rss_idle:.0} MiB | {rss_now:.0} MiB | {rss_peak:.0} MiB |");
    println!("| `helm repo index` over {} chart files (static-repo alternative) | {helm_s:.1} s | {:.1} MiB index | |", charts * versions, mib(usize::try_from(helm_size).unwrap_or(0)));
}

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
