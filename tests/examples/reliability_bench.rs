//! Reliability under failure, two replicas on a private Postgres cluster and the S3-compatible
//! server (`bench/reliability.sh` starts both and passes `PG_BIN`, `PG_DATA`, `PG_PORT`,
//! the S3 endpoint):
//! 1. `kill -9` of one replica in the middle of 100 concurrent pushes: every push that got
//!    201 must be intact and pullable through the other replica; the rest are retried there.
//! 2. Postgres stopped for 10 s under a load of pulls and pushes: what the clients received
//!    (clean 503s with an OCI error body, or anything else), how long recovery took, whether
//!    every acknowledged push is intact.
//! 3. The S3 server unreachable for 10 s under the same load (the registry reaches it through a
//!    TCP proxy that refuses and cuts connections while "down").
//!    Prints a Markdown table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sherpack_test_support::bench::quiet;
use sherpack_test_support::fixtures::{chart_manifest, sherpack_archive};
use sherpack_test_support::oci::digest;
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::ServerProcess;

/// One push; a failure is returned, not asserted: the HTTP status (0 when the connection
/// failed) and the body or error.
async fn try_push(http: &reqwest::Client, base: &str, repo: &str, tag: &str, archive: &[u8]) -> Result<(), (u16, String)> {
    let mut blobs = Vec::new();
    for data in [&b"{}"[..], archive] {
        let d = digest(data);
        let r = http.post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}")).body(data.to_vec()).send().await.map_err(|e| (0, e.to_string()))?;
        if r.status() != 201 {
            return Err((r.status().as_u16(), r.text().await.unwrap_or_default()));
        }
        blobs.push((d, data.len()));
    }
    let manifest = chart_manifest(&blobs[0].0, blobs[0].1, &blobs[1].0, blobs[1].1);
    let r = http
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await
        .map_err(|e| (0, e.to_string()))?;
    if r.status() == 201 { Ok(()) } else { Err((r.status().as_u16(), r.text().await.unwrap_or_default())) }
}

/// A 503 whose body is an OCI error saying the registry is unavailable.
fn clean_503(status: u16, body: &str) -> bool {
    status == 503 && serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v["errors"][0]["code"] == "UNAVAILABLE")
}

/// Is `repo:tag` whole through `base` (manifest, then the archive's exact bytes)?
async fn intact(http: &reqwest::Client, base: &str, repo: &str, tag: &str, archive: &[u8]) -> bool {
    let Ok(m) = http.get(format!("{base}/v2/{repo}/manifests/{tag}")).send().await else { return false };
    if m.status() != 200 {
        return false;
    }
    let Ok(b) = http.get(format!("{base}/v2/{repo}/blobs/{}", digest(archive))).send().await else { return false };
    b.status() == 200 && b.bytes().await.is_ok_and(|bytes| bytes.as_ref() == archive)
}

/// A TCP proxy to `target` that, while `down`, refuses new connections and cuts open ones.
async fn proxy(target: String) -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (down, watch) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { continue };
            if *watch.borrow() {
                drop(client);
                continue;
            }
            let (target, mut watch) = (target.clone(), watch.clone());
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = watch.wait_for(|down| *down) => {}
                }
            });
        }
    });
    (address, down)
}

fn sh(cmd: &str) {
    let status = std::process::Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(status.success(), "{cmd}");
}

#[derive(Default)]
struct Outage {
    requests: usize,
    ok: usize,
    clean_503: usize,
    slowest_ms: f64,
    other: Vec<String>,
    first_ok_after_restore_ms: Option<f64>,
    acknowledged: Vec<(String, Vec<u8>)>,
}

/// Four clients pull and push through `base` for `total`; `down` runs at `start`, `up` at
/// `start + outage`. Outcomes are classified inside the outage window.
async fn outage(base: &str, label: &str, start: Duration, outage: Duration, total: Duration, down: impl FnOnce(), up: impl FnOnce()) -> Outage {
    let http = reqwest::Client::builder().timeout(Duration::from_mins(1)).build().unwrap();
    let seed = sherpack_archive("seed", "1.0.0", 500);
    try_push(&http, base, &format!("{label}/seed"), "1.0.0", &seed).await.expect("seed push");
    let t0 = Instant::now();
    let results = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (http, base, results, label) = (http.clone(), base.to_owned(), Arc::clone(&results), label.to_owned());
            tokio::spawn(async move {
                let mut i = 0;
                while t0.elapsed() < total {
                    let sent = t0.elapsed();
                    let (status, body, pushed) = if i % 2 == 0 {
                        match http.get(format!("{base}/v2/{label}/seed/manifests/1.0.0")).send().await {
                            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default(), None),
                            Err(e) => (0, e.to_string(), None),
                        }
                    } else {
                        let archive = sherpack_archive(&format!("c{c}"), &format!("1.{i}.0"), 300 + i);
                        match try_push(&http, &base, &format!("{label}/c{c}"), &format!("1.{i}.0"), &archive).await {
                            Ok(()) => (201, String::new(), Some((format!("{label}/c{c}:1.{i}.0"), archive))),
                            Err((status, body)) => (status, body, None),
                        }
                    };
                    results.lock().await.push((sent, t0.elapsed(), status, body, pushed));
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(start).await;
    down();
    tokio::time::sleep(outage).await;
    up();
    let restored_at = t0.elapsed();
    for c in clients {
        c.await.unwrap();
    }
    let mut report = Outage::default();
    for (sent, done, status, body, pushed) in results.lock().await.drain(..) {
        if let Some(p) = pushed {
            report.acknowledged.push(p);
        }
        let in_window = done >= start && sent <= start + outage;
        if in_window {
            report.requests += 1;
            report.slowest_ms = report.slowest_ms.max(done.saturating_sub(sent).as_secs_f64() * 1000.0);
            match status {
                200 | 201 => report.ok += 1,
                503 if clean_503(status, &body) => report.clean_503 += 1,
                other => report.other.push(format!("{other}: {}", body.chars().take(80).collect::<String>())),
            }
        } else if sent >= restored_at && (200..300).contains(&status) {
            let after = sent.saturating_sub(restored_at).as_secs_f64() * 1000.0;
            report.first_ok_after_restore_ms = Some(report.first_ok_after_restore_ms.map_or(after, |f: f64| f.min(after)));
        }
    }
    report
}

#[tokio::main]
async fn main() {
    let pg_bin = std::env::var("PG_BIN").expect("PG_BIN");
    let pg_data = std::env::var("PG_DATA").expect("PG_DATA");
    let pg_port = std::env::var("PG_PORT").expect("PG_PORT");
    let db = PgDatabase::create().await;
    let bucket = sherpack_test_support::s3::create_bucket().await;
    let s3 = sherpack_test_support::s3::endpoint();
    let (s3_proxy, s3_down) = proxy(s3.trim_start_matches("http://").to_owned()).await;
    let mut env = sherpack_test_support::s3::server_env();
    for (k, v) in &mut env {
        if k == "SHERPACK_REGISTRY_S3__ENDPOINT" {
            v.clone_from(&s3_proxy);
        }
    }
    env.push(("SHERPACK_REGISTRY_DATABASE_URL".into(), db.url.clone()));
    env.push(("SHERPACK_REGISTRY_STORAGE_URL".into(), format!("s3://{bucket}/registry")));
    let start = |dir: &std::path::Path| {
        let mut options = quiet(dir);
        options.env.clone_from(&env);
        ServerProcess::start(options)
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start(dir_a.path());
    let b = start(dir_b.path());
    let http = reqwest::Client::builder().timeout(Duration::from_mins(1)).build().unwrap();

    // 1. kill -9 of a replica during 100 concurrent pushes, once a fifth of its own have
    //    been acknowledged.
    let through_a = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pushes: Vec<_> = (0..100)
        .map(|i| {
            let base = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
            let (http, through_a) = (http.clone(), Arc::clone(&through_a));
            tokio::spawn(async move {
                let archive = sherpack_archive(&format!("k{i}"), "1.0.0", 200_000 + i * 101);
                let outcome = try_push(&http, &base, &format!("kill/k{i}"), "1.0.0", &archive).await;
                if outcome.is_ok() && i % 2 == 0 {
                    through_a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                (i, archive, outcome)
            })
        })
        .collect();
    let waiting = Instant::now();
    while through_a.load(std::sync::atomic::Ordering::SeqCst) < 10 && waiting.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sh(&format!("kill -9 {}", a.pid()));
    let mut acknowledged = Vec::new();
    let mut failed = Vec::new();
    let mut acknowledged_by_killed = 0;
    for p in pushes {
        let (i, archive, outcome) = p.await.unwrap();
        match outcome {
            Ok(()) => {
                acknowledged_by_killed += usize::from(i % 2 == 0);
                acknowledged.push((i, archive));
            }
            Err(_) => failed.push((i, archive)),
        }
    }
    let mut whole = 0;
    for (i, archive) in &acknowledged {
        if intact(&http, &b.url, &format!("kill/k{i}"), "1.0.0", archive).await {
            whole += 1;
        }
    }
    let mut retried = 0;
    for (i, archive) in &failed {
        if try_push(&http, &b.url, &format!("kill/k{i}"), "1.0.0", archive).await.is_ok() && intact(&http, &b.url, &format!("kill/k{i}"), "1.0.0", archive).await {
            retried += 1;
        }
    }
    let _ = a.terminate();
    println!("| scenario | measure | value |");
    println!("|---|---|---|");
    println!("| kill -9 of one of two replicas during 100 concurrent pushes (200 KiB each) | acknowledged (201) | {} ({acknowledged_by_killed} by the killed replica) |", acknowledged.len());
    println!("| | acknowledged and intact through the other replica | {whole} / {} |", acknowledged.len());
    println!("| | **lost after acknowledgement** | **{}** |", acknowledged.len() - whole);
    println!("| | failed (connection cut or refused) | {} |", failed.len());
    println!("| | failed, then retried successfully on the other replica | {retried} / {} |", failed.len());

    // 2. Postgres down for 10 s.
    let pg_ctl = format!("runuser -u postgres -- {pg_bin}/pg_ctl -D {pg_data}");
    let report = outage(
        &b.url,
        "pgdown",
        Duration::from_secs(2),
        Duration::from_secs(10),
        Duration::from_secs(20),
        || sh(&format!("{pg_ctl} -m fast stop >/dev/null")),
        || sh(&format!("{pg_ctl} -l {pg_data}/log -w -o '-c listen_addresses=127.0.0.1 -p {pg_port} -k {pg_data}' start >/dev/null")),
    )
    .await;
    print_outage("Postgres stopped for 10 s (pulls and pushes, 4 clients, one replica)", &http, &b.url, &report).await;

    // 3. The S3 server unreachable for 10 s.
    let report = outage(&b.url, "s3down", Duration::from_secs(2), Duration::from_secs(10), Duration::from_secs(20), || { let _ = s3_down.send(true); }, || { let _ = s3_down.send(false); }).await;
    print_outage("S3 server unreachable for 10 s (connections refused and cut)", &http, &b.url, &report).await;
    drop(b);
    db.drop_now().await;
}

async fn print_outage(title: &str, http: &reqwest::Client, base: &str, r: &Outage) {
    let mut whole = 0;
    for (reference, archive) in &r.acknowledged {
        let (repo, tag) = reference.split_once(':').unwrap();
        if intact(http, base, repo, tag, archive).await {
            whole += 1;
        }
    }
    println!("| {title} | requests answered during the outage | {} |", r.requests);
    println!("| | succeeded anyway | {} |", r.ok);
    println!("| | clean 503 with an OCI `UNAVAILABLE` body | {} |", r.clean_503);
    println!("| | slowest answer in the window | {:.0} ms |", r.slowest_ms);
    println!("| | anything else | {} {} |", r.other.len(), r.other.iter().take(3).cloned().collect::<Vec<_>>().join("; "));
    println!(
        "| | first success after the backend came back | {} |",
        r.first_ok_after_restore_ms.map_or_else(|| "none".to_owned(), |ms| format!("{ms:.0} ms"))
    );
    println!("| | acknowledged pushes intact afterwards | {whole} / {} (**lost: {}**) |", r.acknowledged.len(), r.acknowledged.len() - whole);
}
