//! Benchmark: peak resident memory while a large blob is streamed into the blob store and read
//! back. Run through `bench/blob_rss.sh`, which prints and saves the table.
//!
//! Usage: `blob_rss <storage-url> <size-in-MiB>`; for `s3://` URLs the `SHERPACK_REGISTRY_S3__*`
//! variables give the endpoint and credentials.

use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use registry_core::{Algorithm, Hasher};
use registry_core::blob::{BlobLocation, BlobStore, Part};
use registry_core::store::BlobLink;
use registry_store::{ObjectBlobStore, S3Options, StorageUrl};

const CHUNK: usize = 256 * 1024;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).map_or("memory://", String::as_str);
    let mib: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let var = |k: &str| std::env::var(format!("SHERPACK_REGISTRY_S3__{k}")).ok();
    let s3 = S3Options {
        endpoint: var("ENDPOINT"),
        region: var("REGION"),
        access_key_id: var("ACCESS_KEY_ID"),
        secret_access_key: var("SECRET_ACCESS_KEY"),
        path_style: var("PATH_STYLE").is_some_and(|v| v == "true"),
    };
    let store = ObjectBlobStore::open(&StorageUrl::parse(url, s3).expect("storage URL"))
        .expect("open store");
    let size = mib * 1024 * 1024;
    let chunk = Bytes::from(
        (0..CHUNK)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect::<Vec<_>>(),
    );
    let chunks = size / CHUNK as u64;
    let data = futures::stream::iter(0..chunks)
        .map(move |_| Ok(chunk.clone()))
        .boxed();
    let baseline = peak_rss_kib();

    let started = Instant::now();
    let upload = uuid::Uuid::new_v4().to_string();
    let mut written = Hasher::new(Algorithm::Sha256);
    let size_written = store.write_part(&upload, "part", data, &mut written).await.expect("write");
    let write_s = started.elapsed().as_secs_f64();
    let parts = vec![Part { name: "part".into(), size: size_written }];
    let info = BlobLink { digest: written.finish(), size: size_written, location: BlobLocation::Upload { upload, parts } };

    let started = Instant::now();
    let mut read = store.get(&info, None).await.expect("read").stream;
    let mut hasher = Hasher::new(Algorithm::Sha256);
    while let Some(c) = read.next().await {
        hasher.update(&c.expect("read chunk"));
    }
    let read_s = started.elapsed().as_secs_f64();
    assert_eq!(hasher.finish(), info.digest, "read back what was written");
    store.delete(&info.digest, &info.location).await.expect("delete");

    #[allow(clippy::cast_precision_loss)]
    let mb = size as f64 / 1_048_576.0;
    println!(
        "| {url} | {mib} MiB | {:.0} MiB/s | {:.0} MiB/s | {:.1} MiB | {:.1} MiB |",
        mb / write_s,
        mb / read_s,
        f64::from(u32::try_from(baseline).unwrap_or(u32::MAX)) / 1024.0,
        f64::from(u32::try_from(peak_rss_kib()).unwrap_or(u32::MAX)) / 1024.0
    );
}
