//! OCI benchmark: Sherpack Registry side by side with CNCF distribution (Debian's
//! `docker-registry`), same machine, same run. Prints a Markdown table with ratios.
//! Run through `bench/oci.sh`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use sherpack_test_support::bench::{Load, client, load};
use sherpack_test_support::oci::{Oci, digest, digest512};
use sherpack_test_support::peers::Distribution;
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

const MIB: usize = 1024 * 1024;

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// POST then PUT, the way helm uploads.
async fn upload(http: &reqwest::Client, base: &str, repo: &str, data: Vec<u8>) {
    let d = digest(&data);
    assert_eq!(upload_as(http, base, repo, data, &d).await, 201, "upload to {base}");
}

/// POST then PUT under the digest `d`; the final status.
async fn upload_as(http: &reqwest::Client, base: &str, repo: &str, data: Vec<u8>, d: &str) -> u16 {
    let r = http.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let loc = if loc.starts_with("http") { loc } else { format!("{base}{loc}") };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = http.put(format!("{loc}{sep}digest={d}")).body(data).send().await.unwrap();
    r.status().as_u16()
}

async fn manifest_load(base: &str, concurrency: usize, seconds: u64) -> Load {
    let url = format!("{base}/v2/bench/app/manifests/1.0.0");
    load(move |http| http.get(&url).header("accept", "application/vnd.oci.image.manifest.v1+json"), 200, concurrency, seconds).await
}

/// One 100 MiB transfer lasts well under a second: the median of several is steadier.
async fn median_of<F, Fut>(runs: usize, measure: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let mut values = Vec::with_capacity(runs);
    for _ in 0..runs {
        values.push(measure().await);
    }
    values.sort_by(f64::total_cmp);
    values[runs / 2]
}

async fn blob_get(base: &str, d: &str, streams: usize, size: usize) -> f64 {
    let http = client();
    let start = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let http = http.clone();
            let url = format!("{base}/v2/bench/app/blobs/{d}");
            tokio::spawn(async move {
                let mut s = http.get(url).send().await.unwrap().bytes_stream();
                let mut n = 0;
                while let Some(c) = s.next().await {
                    n += c.unwrap().len();
                }
                n
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), size);
    }
    #[allow(clippy::cast_precision_loss)]
    let mib = (streams * size) as f64 / MIB as f64;
    mib / start.elapsed().as_secs_f64()
}

async fn small_uploads(base: &str, count: usize, concurrency: usize, seed: u8) -> f64 {
    let http = client();
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, next, base) = (http.clone(), Arc::clone(&next), base.to_owned());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let mut data = vec![seed; 1024];
                    data[..8].copy_from_slice(&(i as u64).to_le_bytes());
                    upload(&http, &base, "bench/small", data).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = count as f64 / start.elapsed().as_secs_f64();
    rate
}

fn helm_push_pull(base: &str, home: &Path, archive: &Path, round: usize) -> f64 {
    let host = base.trim_start_matches("http://");
    let start = Instant::now();
    run_ok(helm_command(&tools::helm(), home).arg("push").arg(archive).args([&format!("oci://{host}/helm{round}"), "--plain-http"]));
    let dest = home.join(format!("pulled-{host}-{round}").replace(':', "_"));
    std::fs::create_dir_all(&dest).unwrap();
    run_ok(helm_command(&tools::helm(), home).args(["pull", &format!("oci://{host}/helm{round}/mychart"), "--version", "0.1.0", "--plain-http", "-d"]).arg(&dest));
    start.elapsed().as_secs_f64() * 1000.0
}

struct Results {
    manifest: Vec<Load>,
    get1: f64,
    get8: f64,
    upload100: f64,
    /// `None` when the server refused sha512.
    upload100_sha512: Option<f64>,
    small_seq: f64,
    small_c16: f64,
    helm_ms: f64,
    rss: f64,
}

async fn run_suite(base: &str, pid: u32, helm_home: &Path, archive: &Path, seconds: u64) -> Results {
    let oci = Oci::new(base);
    oci.push_image("bench/app", "1.0.0", b"bench layer").await;
    let big: Vec<u8> = (0..100 * MIB).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let big_digest = digest(&big);
    let t = Instant::now();
    upload(&client(), base, "bench/app", big).await;
    #[allow(clippy::cast_precision_loss)]
    let upload100 = 100.0 / t.elapsed().as_secs_f64();
    // The same size under sha512 (other bytes, so nothing is deduplicated).
    let big512: Vec<u8> = (0..100 * MIB).map(|i| u8::try_from(i % 241).unwrap()).collect();
    let d512 = digest512(&big512);
    let t = Instant::now();
    let status = upload_as(&client(), base, "bench/app", big512, &d512).await;
    #[allow(clippy::cast_precision_loss)]
    let upload100_sha512 = (status == 201).then(|| 100.0 / t.elapsed().as_secs_f64());
    let mut manifest = Vec::new();
    for c in [1, 16, 64] {
        manifest.push(manifest_load(base, c, seconds).await);
    }
    let get1 = median_of(5, || blob_get(base, &big_digest, 1, 100 * MIB)).await;
    let get8 = median_of(5, || blob_get(base, &big_digest, 8, 100 * MIB)).await;
    let small_seq = small_uploads(base, 500, 1, 1).await;
    let small_c16 = small_uploads(base, 500, 16, 2).await;
    let mut helm = Vec::new();
    for round in 0..3 {
        helm.push(helm_push_pull(base, helm_home, archive, round));
    }
    helm.sort_by(f64::total_cmp);
    Results { manifest, get1, get8, upload100, upload100_sha512, small_seq, small_c16, helm_ms: helm[1], rss: peak_rss_mib(pid) }
}

/// Peak RSS of a fresh server while 1 GiB goes in and comes back out.
async fn gib_rss(base: &str, pid: u32) -> f64 {
    let http = client();
    let chunk = bytes::Bytes::from(vec![7u8; MIB]);
    let mut hasher = sha2::Sha256::new();
    for _ in 0..1024 {
        sha2::Digest::update(&mut hasher, &chunk);
    }
    let d = format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher)));
    let r = http.post(format!("{base}/v2/bench/gib/blobs/uploads/")).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let loc = if loc.starts_with("http") { loc } else { format!("{base}{loc}") };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let body = futures::stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let r = http.put(format!("{loc}{sep}digest={d}")).body(reqwest::Body::wrap_stream(body)).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let mut s = http.get(format!("{base}/v2/bench/gib/blobs/{d}")).send().await.unwrap().bytes_stream();
    let mut n = 0;
    while let Some(c) = s.next().await {
        n += c.unwrap().len();
    }
    assert_eq!(n, 1024 * MIB);
    peak_rss_mib(pid)
}

use sha2::Digest as _;

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let helm_home = tempfile::tempdir().unwrap();
    run_ok(helm_command(&tools::helm(), helm_home.path()).args(["create", "mychart"]));
    run_ok(helm_command(&tools::helm(), helm_home.path()).args(["package", "mychart"]));
    let archive = helm_home.path().join("mychart-0.1.0.tgz");

    let startup = Instant::now();
    let ours = ServerProcess::start(ServerOptions { args: vec!["--log-level".into(), "warn,sherpack_registry::serve=info".into()], ..ServerOptions::default() });
    let startup_ms = startup.elapsed().as_secs_f64() * 1000.0;
    let ours_results = run_suite(&ours.url, ours.pid(), helm_home.path(), &archive, seconds).await;
    drop(ours);
    let theirs = Distribution::start();
    let theirs_results = run_suite(&theirs.url, theirs.pid(), helm_home.path(), &archive, seconds).await;
    drop(theirs);

    let ours = ServerProcess::start(ServerOptions { args: vec!["--log-level".into(), "warn,sherpack_registry::serve=info".into()], ..ServerOptions::default() });
    let ours_gib = gib_rss(&ours.url, ours.pid()).await;
    drop(ours);
    let theirs = Distribution::start();
    let theirs_gib = gib_rss(&theirs.url, theirs.pid()).await;
    drop(theirs);

    let (o, t) = (&ours_results, &theirs_results);
    println!("| measure | sherpack-registry | distribution 2.8 | ratio (ours/theirs) |");
    println!("|---|---|---|---|");
    for (i, c) in [1, 16, 64].iter().enumerate() {
        let (a, b) = (&o.manifest[i], &t.manifest[i]);
        println!("| manifest GET by tag, c={c}, req/s | {:.0} | {:.0} | {:.2}x |", a.rps, b.rps, a.rps / b.rps);
        println!("| manifest GET by tag, c={c}, p99 ms | {:.2} | {:.2} | {:.2}x |", a.p99_ms, b.p99_ms, a.p99_ms / b.p99_ms);
    }
    let row = |name: &str, a: f64, b: f64| println!("| {name} | {a:.1} | {b:.1} | {:.2}x |", a / b);
    row("100 MiB blob GET, 1 stream, median of 5, MiB/s", o.get1, t.get1);
    row("100 MiB blob GET, 8 streams, median of 5, MiB/s", o.get8, t.get8);
    row("100 MiB blob upload (POST+PUT), MiB/s", o.upload100, t.upload100);
    match (o.upload100_sha512, t.upload100_sha512) {
        (Some(a), Some(b)) => row("100 MiB blob upload (POST+PUT), sha512, MiB/s", a, b),
        (Some(a), None) => println!("| 100 MiB blob upload (POST+PUT), sha512, MiB/s | {a:.1} | refused | |"),
        (None, _) => println!("| 100 MiB blob upload (POST+PUT), sha512, MiB/s | refused | | |"),
    }
    row("500 small blob uploads, sequential, blobs/s", o.small_seq, t.small_seq);
    row("500 small blob uploads, c=16, blobs/s", o.small_c16, t.small_c16);
    row("helm 4 push + pull, median of 3, ms", o.helm_ms, t.helm_ms);
    row("peak RSS over this suite, MiB", o.rss, t.rss);
    row("peak RSS, 1 GiB blob up and down, MiB", ours_gib, theirs_gib);
    println!("| start to first answer (ours, embedded default), ms | {startup_ms:.0} | | |");
}
