//! Upload sessions across the life of the process: a restart in the middle of an upload, a
//! client that disconnects mid-stream, a shutdown while an upload is in flight, expiry.

use std::path::Path;
use std::time::{Duration, Instant};

use sherpack_test_support::oci::{Oci, digest, digest512, error_code};
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use tokio::io::AsyncWriteExt;

/// Polls `check` until it holds, for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn dir_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[tokio::test]
async fn an_upload_continues_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = || ServerOptions { cwd: Some(dir.path().to_owned()), ..ServerOptions::default() };
    let mut first = ServerProcess::start(options());
    let oci = Oci::new(&first.url);
    let r = oci.http.post(oci.url("/v2/acme/restart/blobs/uploads/")).send().await.unwrap();
    let id = r.headers()["docker-upload-uuid"].to_str().unwrap().to_owned();
    let r = oci.http.patch(oci.location(&r)).body("before restart|").send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(first.terminate().success());

    let second = ServerProcess::start(options());
    let oci = Oci::new(&second.url);
    let location = oci.url(&format!("/v2/acme/restart/blobs/uploads/{id}"));
    let r = oci.http.get(&location).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["range"].to_str().unwrap()), (204, "0-14"));
    let r = oci.http.patch(&location).header("content-range", "15-28").body("after restart|").send().await.unwrap();
    assert_eq!(r.status(), 202);
    let d = digest(b"before restart|after restart|");
    let r = oci.http.put(format!("{location}?digest={d}")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let body = oci.http.get(oci.url(&format!("/v2/acme/restart/blobs/{d}"))).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body, &b"before restart|after restart|"[..]);
}

/// Sends a request head announcing `announced` bytes, then only `sent` of them, then hangs up.
async fn send_and_disconnect(base: &str, method: &str, path: &str, announced: usize, sent: usize) {
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {announced}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![1u8; sent]).await.unwrap();
    stream.flush().await.unwrap();
    drop(stream);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_nothing() {
    let server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    let mib = 1024 * 1024;
    let full = vec![1u8; 24 * mib];

    // Monolithic POST ?digest= cut after 12 MiB (past the first multipart part).
    let d = digest(&full);
    send_and_disconnect(&oci.base, "POST", &format!("/v2/acme/cut/blobs/uploads/?digest={d}"), full.len(), 12 * mib).await;
    // A chunk cut short.
    let r = oci.http.post(oci.url("/v2/acme/cut/blobs/uploads/")).send().await.unwrap();
    let id = r.headers()["docker-upload-uuid"].to_str().unwrap().to_owned();
    send_and_disconnect(&oci.base, "PATCH", &format!("/v2/acme/cut/blobs/uploads/{id}"), full.len(), 12 * mib).await;

    let written = server.cwd.join("data/blobs/data");
    eventually(Duration::from_secs(20), "the aborted writes are cleaned up", || files_under(&written).is_empty()).await;
    assert_eq!(oci.http.head(oci.url(&format!("/v2/acme/cut/blobs/{d}"))).send().await.unwrap().status(), 404);
    let location = oci.url(&format!("/v2/acme/cut/blobs/uploads/{id}"));
    let r = oci.http.get(&location).send().await.unwrap();
    assert_eq!(r.headers()["range"], "0-0", "the cut chunk did not count");
    // The session still works: the whole blob, then the final PUT.
    let r = oci.http.patch(&location).header("content-range", format!("0-{}", full.len() - 1)).body(full.clone()).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(oci.http.put(format!("{location}?digest={d}")).send().await.unwrap().status(), 201);
    assert_eq!(oci.http.head(oci.url(&format!("/v2/acme/cut/blobs/{d}"))).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_shutdown_lets_the_upload_in_flight_finish() {
    let mut server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    let r = oci.http.post(oci.url("/v2/acme/drain/blobs/uploads/")).send().await.unwrap();
    let id = r.headers()["docker-upload-uuid"].to_str().unwrap().to_owned();
    let location = oci.location(&r);

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let patch = tokio::spawn({
        let http = oci.http.clone();
        async move { http.patch(location).body(body).send().await }
    });
    // 10 MiB first: past one part, so the chunk object exists on disk while the request runs.
    tx.send(Ok(vec![2u8; 10 * 1024 * 1024])).await.unwrap();
    let uploads = server.cwd.join("data/blobs/data").join(&id);
    eventually(Duration::from_secs(20), "the chunk is being written", || !dir_is_empty(&uploads)).await;
    let pid = server.pid();
    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    eventually(Duration::from_secs(10), "the server says it is shutting down", || server.logs().contains("shutting down")).await;
    tx.send(Ok(vec![3u8; 1024 * 1024])).await.unwrap();
    drop(tx);
    let response = patch.await.unwrap().expect("the in-flight request was answered");
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["range"], format!("0-{}", 11 * 1024 * 1024 - 1).as_str());
    assert!(server.terminate().success());
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn abandoned_uploads_expire() {
    let server = ServerProcess::start(ServerOptions {
        env: vec![("SHERPACK_REGISTRY_OCI__UPLOAD_EXPIRY_SECS".into(), "1".into())],
        ..ServerOptions::default()
    });
    let oci = Oci::new(&server.url);
    let r = oci.http.post(oci.url("/v2/acme/old/blobs/uploads/")).send().await.unwrap();
    let id = r.headers()["docker-upload-uuid"].to_str().unwrap().to_owned();
    let location = oci.location(&r);
    assert_eq!(oci.http.patch(&location).body("abandoned").send().await.unwrap().status(), 202);
    let uploads = server.cwd.join("data/blobs/data").join(&id);
    assert!(!dir_is_empty(&uploads));
    let start = Instant::now();
    loop {
        if oci.http.get(&location).send().await.unwrap().status() == 404 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the session never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually(Duration::from_secs(10), "its chunks are removed", || files_under(&uploads).is_empty()).await;
}

#[tokio::test]
async fn racing_chunks_for_one_offset_keep_exactly_one() {
    let server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    for round in 0..5u8 {
        let r = oci.http.post(oci.url("/v2/acme/race/blobs/uploads/")).send().await.unwrap();
        let location = oci.location(&r);
        let bodies: Vec<Vec<u8>> = (0..2u8).map(|i| vec![round * 2 + i; 6 * 1024 * 1024]).collect();
        let sends = bodies.iter().map(|b| {
            oci.http.patch(&location).header("content-range", format!("0-{}", b.len() - 1)).body(b.clone()).send()
        });
        let statuses: Vec<u16> = futures::future::join_all(sends).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
        let winner = match statuses.as_slice() {
            [202, 416] => 0,
            [416, 202] => 1,
            other => panic!("exactly one chunk must be kept, got {other:?}"),
        };
        let d = digest(&bodies[winner]);
        assert_eq!(oci.http.put(format!("{location}?digest={d}")).send().await.unwrap().status(), 201);
        let got = oci.http.get(oci.url(&format!("/v2/acme/race/blobs/{d}"))).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(got, bodies[winner], "the kept chunk's bytes, not the loser's");
    }
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

/// POST, `PATCH`es of `chunk` bytes with `Content-Range`, then the closing PUT with `d`.
async fn push_in_chunks(oci: &Oci, repo: &str, data: &[u8], chunk: usize, d: &str) -> reqwest::Response {
    let r = oci.http.post(oci.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await.unwrap();
    let mut location = oci.location(&r);
    for (i, part) in data.chunks(chunk).enumerate() {
        let start = i * chunk;
        let r = oci.http.patch(&location).header("content-range", format!("{start}-{}", start + part.len() - 1)).body(part.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 202);
        location = oci.location(&r);
    }
    oci.http.put(format!("{location}?digest={d}")).send().await.unwrap()
}

#[tokio::test]
async fn a_100_mib_sha512_blob_in_chunks() {
    let server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let data: Vec<u8> = (0..100 * 1024 * 1024 / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    let d = digest512(&data);
    let r = push_in_chunks(&oci, "acme/big", &data, 8 * 1024 * 1024 + 13, &d).await;
    assert_eq!((r.status().as_u16(), r.headers()["docker-content-digest"].to_str().unwrap()), (201, d.as_str()));
    let pulled = oci.http.get(oci.url(&format!("/v2/acme/big/blobs/{d}"))).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(pulled.len(), data.len());
    assert!(pulled == data, "the pull is byte-identical");

    // The same bytes announced under a sha512 they do not have: refused, and nothing stored.
    let storage = server.cwd.join("data/blobs");
    let before = files_under(&storage);
    let wrong = digest512(b"not these bytes");
    let r = push_in_chunks(&oci, "acme/big", &data, 8 * 1024 * 1024 + 13, &wrong).await;
    assert_eq!((r.status().as_u16(), error_code(r).await.as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(oci.http.head(oci.url(&format!("/v2/acme/big/blobs/{wrong}"))).send().await.unwrap().status(), 404);
    assert_eq!(files_under(&storage), before, "no object left behind");
}
