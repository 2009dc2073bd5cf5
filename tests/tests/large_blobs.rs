//! Large blobs on S3 (moto): a blob pushed in chunks is published where its chunks were written
//! — no object is copied, so no single-copy limit (5 GiB on S3) applies — and pulled
//! byte-identical, on the path every upload takes; a `kill -9` in the middle of publication
//! leaves no record without bytes, an upload that can go on, and garbage that GC removes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use sherpack_test_support::oci::{OCI_MANIFEST, Oci, digest, digest512};
use sherpack_test_support::s3;
use sherpack_test_support::server::{ServerOptions, ServerProcess, workspace_binary};

const MIB: usize = 1024 * 1024;

/// Deterministic pseudo-random bytes (xorshift): nothing compresses or repeats.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn s3_env(bucket: &str) -> Vec<(String, String)> {
    let mut env = s3::server_env();
    env.push(("SHERPACK_REGISTRY_STORAGE_URL".into(), format!("s3://{bucket}/registry")));
    env
}

async fn start_upload(oci: &Oci, repo: &str, query: &str) -> String {
    let r = oci.http.post(oci.url(&format!("/v2/{repo}/blobs/uploads/{query}"))).send().await.unwrap();
    assert_eq!(r.status(), 202);
    oci.location(&r)
}

/// `PATCH`es `data` from offset `start` in chunks of `chunk` bytes; the next location.
async fn patch_chunks(oci: &Oci, mut location: String, data: &[u8], start: usize, chunk: usize) -> String {
    for (i, part) in data.chunks(chunk).enumerate() {
        let from = start + i * chunk;
        let r = oci.http.patch(&location).header("content-range", format!("{from}-{}", from + part.len() - 1)).body(part.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 202, "chunk at {from}");
        location = oci.location(&r);
    }
    location
}

async fn pull(oci: &Oci, repo: &str, d: &str) -> Vec<u8> {
    let r = oci.http.get(oci.url(&format!("/v2/{repo}/blobs/{d}"))).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {repo}@{d}");
    r.bytes().await.unwrap().to_vec()
}

/// The upload id a location names (`.../blobs/uploads/<id>`).
fn upload_id(location: &str) -> String {
    location.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_large_blob_pushed_in_chunks_is_published_where_it_was_written_on_s3() {
    let bucket = s3::create_bucket().await;
    let server = ServerProcess::start(ServerOptions { env: s3_env(&bucket), ..ServerOptions::default() });
    let oci = Oci::new(&server.url);
    // Chunks of 12 MiB + 13 bytes: each one a multipart object of its own, misaligned with
    // S3's part sizes; the final PUT carries the tail.
    let chunk = 12 * MIB + 13;
    let data = pattern(40 * MIB + 7, 1);
    let d = digest(&data);
    let (head, tail) = data.split_at(3 * chunk);
    let location = start_upload(&oci, "acme/big", "").await;
    let id = upload_id(&location);
    let location = patch_chunks(&oci, location, head, 0, chunk).await;
    let r = oci.http.put(format!("{location}?digest={d}")).header("content-range", format!("{}-{}", head.len(), data.len() - 1)).body(tail.to_vec()).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["docker-content-digest"].to_str().unwrap()), (201, d.as_str()));
    assert!(pull(&oci, "acme/big", &d).await == data, "the pull is byte-identical");
    let boundary = chunk;
    let r = oci.http.get(oci.url(&format!("/v2/acme/big/blobs/{d}"))).header("range", format!("bytes={}-{}", boundary - 5, boundary + 4)).send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[boundary - 5..boundary + 5], "a range across two chunks");

    // The blob is the objects its requests wrote, nothing else: no copy was made.
    let objects = s3::list_objects(&bucket, "registry/").await;
    let prefix = format!("registry/data/{id}/");
    assert!(objects.iter().all(|(key, _)| key.starts_with(&prefix)), "{objects:?}");
    let sizes: Vec<u64> = objects.iter().map(|(_, size)| *size).collect();
    assert_eq!(sizes, [chunk as u64, chunk as u64, chunk as u64, tail.len() as u64], "one object per request, in order");

    // Mounted into another repository, with and without `from`: linked, nothing written.
    let r = oci.http.post(oci.url(&format!("/v2/acme/copy/blobs/uploads/?mount={d}&from=acme/big"))).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = oci.http.post(oci.url(&format!("/v2/other/anon/blobs/uploads/?mount={d}"))).send().await.unwrap();
    assert_eq!(r.status(), 201, "an anonymous mount finds the blob");
    assert!(pull(&oci, "other/anon", &d).await == data);
    // The same bytes uploaded again in one request: linked to the blob there is, the new
    // objects removed.
    let r = oci.http.post(oci.url(&format!("/v2/acme/again/blobs/uploads/?digest={d}"))).body(data.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(s3::list_objects(&bucket, "registry/").await, objects, "the duplicate left nothing");
    assert!(pull(&oci, "acme/again", &d).await == data);

    // sha512, announced at the start: hashed as the chunks arrive, like sha256.
    let small = pattern(13 * MIB, 2);
    let d512 = digest512(&small);
    let location = start_upload(&oci, "acme/five", "?digest-algorithm=sha512").await;
    let location = patch_chunks(&oci, location, &small, 0, 6 * MIB).await;
    let r = oci.http.put(format!("{location}?digest={d512}")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(pull(&oci, "acme/five", &d512).await == small);
}

/// Every blob the database records, read through the API in a repository linking it: its
/// bytes are all there and hash to its digest.
async fn assert_every_record_has_its_bytes(cwd: &Path, oci: &Oci) -> usize {
    let url = format!("sqlite://{}", cwd.join("data/registry.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT r.name, b.digest, b.size FROM blobs b JOIN repository_blobs rb ON rb.digest = b.digest
         JOIN repositories r ON r.id = rb.repository_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    for (repo, d, size) in &rows {
        let body = pull(oci, repo, d).await;
        assert_eq!(i64::try_from(body.len()).unwrap(), *size, "{d}");
        let actual = if d.starts_with("sha512:") { digest512(&body) } else { digest(&body) };
        assert_eq!(&actual, d, "the bytes of {d} are whole");
    }
    rows.len()
}

fn kill_9(server: &ServerProcess) {
    let status = Command::new("kill").args(["-KILL", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Starts a request whose body streams from the returned sender.
fn streaming(request: reqwest::RequestBuilder) -> (tokio::sync::mpsc::Sender<Vec<u8>>, tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let body = futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(Ok::<_, std::io::Error>)));
    let handle = tokio::spawn(request.body(reqwest::Body::wrap_stream(body)).send());
    (tx, handle)
}

#[tokio::test]
async fn a_kill_during_publication_leaves_no_record_without_bytes_and_gc_removes_the_rest() {
    let bucket = s3::create_bucket().await;
    let dir = tempfile::tempdir().unwrap();
    let options = || ServerOptions { cwd: Some(dir.path().to_owned()), env: s3_env(&bucket), ..ServerOptions::default() };
    let server = ServerProcess::start(options());
    let oci = Oci::new(&server.url);

    // Two chunked uploads, each killed in its final PUT (the last 12 MiB half sent), and a
    // monolithic one killed mid-body.
    let (kept, abandoned, single) = (pattern(36 * MIB, 3), pattern(30 * MIB, 4), pattern(30 * MIB, 5));
    let mut finals = Vec::new();
    let mut locations = Vec::new();
    for (repo, data) in [("acme/kept", &kept), ("acme/abandoned", &abandoned)] {
        let location = start_upload(&oci, repo, "").await;
        let head = &data[..data.len() - 12 * MIB];
        let location = patch_chunks(&oci, location, head, 0, 12 * MIB).await;
        let (tx, put) = streaming(oci.http.put(format!("{location}?digest={}", digest(data))));
        tx.send(data[head.len()..head.len() + 6 * MIB].to_vec()).await.unwrap();
        finals.push((tx, put));
        locations.push(upload_id(&location));
    }
    let (tx, post) = streaming(oci.http.post(oci.url(&format!("/v2/acme/single/blobs/uploads/?digest={}", digest(&single)))));
    tx.send(single[..12 * MIB].to_vec()).await.unwrap();
    finals.push((tx, post));
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill_9(&server);
    for (tx, request) in finals {
        drop(tx);
        assert!(request.await.unwrap().is_err(), "no answer from a killed server");
    }
    drop(server);

    let server = ServerProcess::start(options());
    let oci = Oci::new(&server.url);
    for (repo, data) in [("acme/kept", &kept), ("acme/abandoned", &abandoned), ("acme/single", &single)] {
        let r = oci.http.head(oci.url(&format!("/v2/{repo}/blobs/{}", digest(data)))).send().await.unwrap();
        assert_eq!(r.status(), 404, "{repo}: not published");
    }
    assert_eq!(assert_every_record_has_its_bytes(&server.cwd, &oci).await, 0);
    // The chunks acknowledged before the crash are there: the upload goes on where it was.
    let kept_location = oci.url(&format!("/v2/acme/kept/blobs/uploads/{}", locations[0]));
    let r = oci.http.get(&kept_location).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["range"].to_str().unwrap()), (204, format!("0-{}", 24 * MIB - 1).as_str()));
    let r = oci.http.put(format!("{kept_location}?digest={}", digest(&kept))).body(kept[24 * MIB..].to_vec()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let config = oci.push_blob("acme/kept", b"{}").await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2 },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(&kept), "size": kept.len() }],
    }))
    .unwrap();
    assert_eq!(oci.put_manifest("acme/kept", "1.0.0", OCI_MANIFEST, &manifest).await.status(), 201);
    assert_eq!(assert_every_record_has_its_bytes(&server.cwd, &oci).await, 2);

    // GC, once the abandoned sessions are past their expiry: only what the manifest names stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut env = s3_env(&bucket);
    env.push(("SHERPACK_REGISTRY_OCI__UPLOAD_EXPIRY_SECS".into(), "1".into()));
    let out = Command::new(workspace_binary("sherpack-registry"))
        .args(["gc", "--json", "--grace", "0s"])
        .current_dir(dir.path())
        .envs(env)
        .output()
        .unwrap();
    assert!(out.status.success(), "gc failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["expired_uploads"], 2, "the abandoned chunked and monolithic sessions: {report}");
    let left: u64 = s3::list_objects(&bucket, "registry/").await.iter().map(|(_, size)| size).sum();
    assert_eq!(left, kept.len() as u64 + 2, "the kept layer and the config, nothing else");
    assert!(pull(&oci, "acme/kept", &digest(&kept)).await == kept);
    assert_eq!(assert_every_record_has_its_bytes(&server.cwd, &oci).await, 2);
}

/// A registry upgraded in place serves what it had: blobs an earlier version stored under their
/// digest (`blobs/sha256/<xx>/<hex>`, recorded without a location) are read, ranged, mounted,
/// referenced and collected like any other.
#[tokio::test]
async fn blobs_of_the_earlier_layout_stay_readable_after_an_upgrade() {
    let bucket = s3::create_bucket().await;
    let dir = tempfile::tempdir().unwrap();
    let options = || ServerOptions { cwd: Some(dir.path().to_owned()), env: s3_env(&bucket), ..ServerOptions::default() };
    // A first start creates the database; stopped, it is left as an earlier version would be.
    let mut server = ServerProcess::start(options());
    let status = server.terminate();
    drop(server);
    eprintln!("first server exited with {status}");

    // What an earlier version left: objects under their digest, rows without a location.
    let (layer, lonely) = (pattern(3 * MIB, 6), b"stored long ago, referenced by nothing".to_vec());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("data/registry.db").display())).await.unwrap();
    sqlx::query("INSERT INTO repositories (name, created_at) VALUES ('acme/old', 0)").execute(&pool).await.unwrap();
    for data in [&layer, &lonely] {
        let d = digest(data);
        let key = format!("registry/blobs/sha256/{}/{}", &d[7..9], &d[7..]);
        let r = reqwest::Client::new().put(format!("{}/{bucket}/{key}", s3::endpoint())).body(data.clone()).send().await.unwrap();
        assert!(r.status().is_success());
        sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, 0)").bind(&d).bind(i64::try_from(data.len()).unwrap()).execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO repository_blobs (repository_id, digest, created_at) SELECT id, $1, 0 FROM repositories WHERE name = 'acme/old'")
            .bind(&d)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let server = ServerProcess::start(options());
    let oci = Oci::new(&server.url);
    let d = digest(&layer);
    assert!(pull(&oci, "acme/old", &d).await == layer);
    let r = oci.http.get(oci.url(&format!("/v2/acme/old/blobs/{d}"))).header("range", "bytes=100-199").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.bytes().await.unwrap().as_ref()), (206, &layer[100..200]));
    let r = oci.http.post(oci.url(&format!("/v2/acme/new/blobs/uploads/?mount={d}&from=acme/old"))).send().await.unwrap();
    assert_eq!(r.status(), 201);
    // Uploaded again: linked to what is stored, no second copy of the bytes.
    let r = oci.http.post(oci.url(&format!("/v2/acme/again/blobs/uploads/?digest={d}"))).body(layer.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(s3::list_objects(&bucket, "registry/data/").await.is_empty(), "the new upload's object was dropped");
    let config = oci.push_blob("acme/new", b"{}").await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2 },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": layer.len() }],
    }))
    .unwrap();
    assert_eq!(oci.put_manifest("acme/new", "1.0.0", OCI_MANIFEST, &manifest).await.status(), 201);

    let out = Command::new(workspace_binary("sherpack-registry"))
        .args(["gc", "--json", "--grace", "0s"])
        .current_dir(dir.path())
        .envs(s3_env(&bucket))
        .output()
        .unwrap();
    assert!(out.status.success(), "gc failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["blobs"].as_u64(), report["blob_bytes"].as_u64()), (Some(1), Some(lonely.len() as u64)), "{report}");
    let keys: Vec<String> = s3::list_objects(&bucket, "registry/blobs/").await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [format!("registry/blobs/sha256/{}/{}", &d[7..9], &d[7..])], "the unreferenced old blob is gone, the referenced one stays");
    assert!(pull(&oci, "acme/new", &d).await == layer);
}
