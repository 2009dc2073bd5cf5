//! Benchmark: a large blob uploaded to the registry on S3 (moto), monolithic (`POST ?digest=`
//! with the whole body) and chunked (`POST`, `PATCH`es, closing `PUT`), each on a fresh server:
//! MiB/s from the first request to the `201`, and the server's peak RSS. Prints Markdown rows.
//! Run through `bench/s3_upload.sh`, which starts moto and sets `SHERPACK_TEST_S3_ENDPOINT`.
//!
//! `BENCH_MIB` (default 1024) is the blob size, `BENCH_CHUNK_MIB` (default 64) the chunk size.

use std::time::Instant;

use bytes::Bytes;
use sherpack_test_support::bench::{client, env_usize, rss_mib};
use sherpack_test_support::s3;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

const MIB: usize = 1024 * 1024;

/// One MiB of the blob: xorshift bytes seeded by its index, so nothing repeats or compresses.
fn chunk(index: usize) -> Bytes {
    let mut x = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(MIB);
    while out.len() < MIB {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    Bytes::from(out)
}

/// MiB `from..to` of the blob as a request body, generated as it is sent.
fn body(from: usize, to: usize) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures::stream::iter((from..to).map(|i| Ok::<_, std::io::Error>(chunk(i)))))
}

fn blob_digest(mib: usize) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for i in 0..mib {
        hasher.update(chunk(i));
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

fn location(base: &str, r: &reqwest::Response) -> String {
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    if loc.starts_with("http") { loc } else { format!("{base}{loc}") }
}

async fn monolithic(http: &reqwest::Client, base: &str, mib: usize, d: &str) {
    let r = http.post(format!("{base}/v2/bench/mono/blobs/uploads/?digest={d}")).body(body(0, mib)).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

async fn chunked(http: &reqwest::Client, base: &str, mib: usize, chunk_mib: usize, d: &str) {
    let r = http.post(format!("{base}/v2/bench/chunked/blobs/uploads/")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let mut loc = location(base, &r);
    for from in (0..mib).step_by(chunk_mib) {
        let to = (from + chunk_mib).min(mib);
        let range = format!("{}-{}", from * MIB, to * MIB - 1);
        let r = http.patch(&loc).header("content-range", range).body(body(from, to)).send().await.unwrap();
        assert_eq!(r.status(), 202);
        loc = location(base, &r);
    }
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = http.put(format!("{loc}{sep}digest={d}")).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

#[tokio::main]
async fn main() {
    let mib = env_usize("BENCH_MIB", 1024);
    let chunk_mib = env_usize("BENCH_CHUNK_MIB", 64);
    let d = blob_digest(mib);
    let http = client();
    println!("| upload of {mib} MiB to S3 (moto) | MiB/s | server peak RSS |");
    println!("|---|---|---|");
    for mode in ["monolithic (POST ?digest=)", "chunked (PATCH × {n}, PUT)"] {
        let bucket = s3::create_bucket().await;
        let mut env = s3::server_env();
        env.push(("SHERPACK_REGISTRY_STORAGE_URL".into(), format!("s3://{bucket}/registry")));
        let server = ServerProcess::start(ServerOptions { args: vec!["--log-level".into(), "warn,sherpack_registry::serve=info".into()], env, ..ServerOptions::default() });
        let started = Instant::now();
        if mode.starts_with("mono") {
            monolithic(&http, &server.url, mib, &d).await;
        } else {
            chunked(&http, &server.url, mib, chunk_mib, &d).await;
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = mib as f64 / started.elapsed().as_secs_f64();
        let label = mode.replace("{n}", &mib.div_ceil(chunk_mib).to_string());
        println!("| {label} | {rate:.1} | {:.1} MiB |", rss_mib(server.pid(), "VmHWM:"));
    }
}
