//! Webhooks: a namespace admin registers an endpoint; pushes and deletes are delivered to it
//! with an HMAC-SHA256 signature of the body (checked here with `openssl`), failures retried
//! with backoff until the endpoint answers; the deliveries API shows attempts; bad
//! registrations refused; removal stops deliveries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{Cred, PASSWORD, Tenants};
use sherpack_test_support::fixtures::{push_like_upstream_sherpack, sherpack_archive};
use sherpack_test_support::oci::Oci;
use sherpack_test_support::postgres::{PgDatabase, server_options};
use sherpack_test_support::server::ServerOptions;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

type Received = Arc<Mutex<Vec<(HashMap<String, String>, String, u16)>>>;

/// An HTTP endpoint on a free port that answers 500 to its first `fail_first` requests, then
/// 200, and records each request (headers, body, the status it answered).
async fn receiver(fail_first: usize) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/registry", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let log = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut data = Vec::new();
            let mut buf = [0u8; 8192];
            let (head, body) = loop {
                let n = socket.read(&mut buf).await.unwrap();
                data.extend_from_slice(&buf[..n]);
                if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&data[..end]).into_owned();
                    let length: usize = head.lines().find_map(|l| l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())).unwrap_or(0);
                    while data.len() < end + 4 + length {
                        let n = socket.read(&mut buf).await.unwrap();
                        data.extend_from_slice(&buf[..n]);
                    }
                    break (head, String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned());
                }
            };
            let headers = head.lines().skip(1).filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned())).collect();
            let status = if log.lock().unwrap().len() < fail_first { 500 } else { 200 };
            log.lock().unwrap().push((headers, body, status));
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    (url, received)
}

fn openssl_hmac(secret: &str, body: &str) -> String {
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).rsplit(' ').next().unwrap().trim().to_owned()
}

async fn until<F: Fn() -> bool>(what: &str, check: F) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(30), "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_on_sqlite() {
    pushes_and_deletes_are_delivered_signed_and_retried(ServerOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_on_postgres() {
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        pushes_and_deletes_are_delivered_signed_and_retried(server_options(url, blobs.path())).await;
    })
    .await;
}

async fn pushes_and_deletes_are_delivered_signed_and_retried(options: ServerOptions) {
    let t = Tenants::start(options).await;
    let (url, received) = receiver(2).await;
    let alice = Cred::user("alice");
    let path = "/api/v1/namespaces/team/webhooks";

    // Refusals: a bad URL, an unknown event, a writer, a stranger.
    t.api.expect(&alice, Method::POST, path, Some(json!({ "url": "ftp://example.com/x" })), 400).await;
    t.api.expect(&alice, Method::POST, path, Some(json!({ "url": url, "events": ["push", "bogus"] })), 400).await;
    t.api.expect(&Cred::user("walt"), Method::POST, path, Some(json!({ "url": url })), 403).await;
    t.api.expect(&Cred::user("otto"), Method::POST, path, Some(json!({ "url": url })), 404).await;

    let hook = t.api.expect(&alice, Method::POST, path, Some(json!({ "url": url })), 201).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let id = hook["id"].as_str().unwrap().to_owned();
    assert_eq!(hook["events"], json!(["delete", "push"]));
    let listed = t.api.expect(&alice, Method::GET, path, None, 200).await;
    assert!(listed[0].get("secret").is_none(), "the secret is shown once");

    // A push: the endpoint fails twice, the third attempt (after 1 s, then 2 s) succeeds.
    let oci = Oci::with_basic(&t.server.url, "alice", PASSWORD);
    let archive = sherpack_archive("web", "1.0.0", 100);
    push_like_upstream_sherpack(&oci, "team/web", "1.0.0", &archive).await;
    until("the push is delivered", || received.lock().unwrap().iter().any(|(_, _, s)| *s == 200)).await;
    let (headers, body, _) = received.lock().unwrap().iter().find(|(_, _, s)| *s == 200).cloned().unwrap();
    assert_eq!(received.lock().unwrap().len(), 3, "two failures, then the delivery");
    assert_eq!(headers["x-sherpack-event"], "push");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-sherpack-signature-256"], format!("sha256={}", openssl_hmac(&secret, &body)));
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((event["event"].as_str(), event["repository"].as_str(), event["tag"].as_str()), (Some("push"), Some("team/web"), Some("1.0.0")));
    assert_eq!(event["pack"]["version"], "1.0.0");
    let deliveries = t.api.expect(&alice, Method::GET, &format!("{path}/{id}/deliveries"), None, 200).await;
    assert_eq!(deliveries[0]["attempts"], 3);
    assert_eq!(deliveries[0]["last_status"], "200");
    assert!(deliveries[0]["delivered_at"].is_i64());

    // A delete is delivered too.
    let digest = event["digest"].as_str().unwrap().to_owned();
    let r = oci.http.delete(oci.url(&format!("/v2/team/web/manifests/{digest}"))).send().await.unwrap();
    assert_eq!(r.status(), 202);
    until("the delete is delivered", || received.lock().unwrap().iter().any(|(h, _, s)| *s == 200 && h["x-sherpack-event"] == "delete")).await;
    let delete: Value = serde_json::from_str(&received.lock().unwrap().last().unwrap().1).unwrap();
    assert_eq!(delete["tags"], json!(["1.0.0"]));

    // Removed: nothing more arrives.
    t.api.expect(&alice, Method::DELETE, &format!("{path}/{id}"), None, 204).await;
    let before = received.lock().unwrap().len();
    push_like_upstream_sherpack(&oci, "team/web", "2.0.0", &sherpack_archive("web", "2.0.0", 100)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(received.lock().unwrap().len(), before);
    // Pushes to a namespace without webhooks are not held up by any of this.
    t.api.expect(&alice, Method::GET, &format!("{path}/{id}/deliveries"), None, 404).await;
}
