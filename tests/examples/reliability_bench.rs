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
//! 4. Postgres, then 5. the S3 server, hung for 10 s: the proxy in front of each holds every
//!    byte (a paused process, a network black hole): how long the 503s took to come, and how
//!    soon requests succeed again.
//!
//! Prints a Markdown table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sherpack_test_support::bench::quiet;
use sherpack_test_support::fixtures::sherpack_archive;
use sherpack_test_support::outage::{Outage, Schedule, intact, outage, try_push};
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::proxy::{Fault, Proxy};
use sherpack_test_support::server::ServerProcess;

fn sh(cmd: &str) {
    let status = std::process::Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(status.success(), "{cmd}");
}

/// 2 s of load, 10 s with the backend down, 8 s more.
const OUTAGE: Schedule = Schedule { down_at: Duration::from_secs(2), down_for: Duration::from_secs(10), total: Duration::from_secs(20) };

#[tokio::main]
async fn main() {
    let pg_bin = std::env::var("PG_BIN").expect("PG_BIN");
    let pg_data = std::env::var("PG_DATA").expect("PG_DATA");
    let pg_port = std::env::var("PG_PORT").expect("PG_PORT");
    let db = PgDatabase::create().await;
    let bucket = sherpack_test_support::s3::create_bucket().await;
    let s3 = sherpack_test_support::s3::endpoint();
    let s3_proxy = Proxy::start(s3.trim_start_matches("http://")).await;
    let pg_proxy = Proxy::start(&format!("127.0.0.1:{pg_port}")).await;
    let mut env = sherpack_test_support::s3::server_env();
    for (k, v) in &mut env {
        if k == "SHERPACK_REGISTRY_S3__ENDPOINT" {
            *v = format!("http://{}", s3_proxy.address);
        }
    }
    env.push(("SHERPACK_REGISTRY_DATABASE_URL".into(), pg_proxy.url_through(&db.url)));
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
        &http,
        &b.url,
        "pgdown",
        OUTAGE,
        || sh(&format!("{pg_ctl} -m fast stop >/dev/null")),
        || sh(&format!("{pg_ctl} -l {pg_data}/log -w -o '-c listen_addresses=127.0.0.1 -p {pg_port} -k {pg_data}' start >/dev/null")),
    )
    .await;
    print_outage("Postgres stopped for 10 s (pulls and pushes, 4 clients, one replica)", &http, &b.url, &report).await;

    // 3. The S3 server unreachable for 10 s.
    let report = outage(&http, &b.url, "s3down", OUTAGE, || s3_proxy.set(Fault::Refuse), || s3_proxy.set(Fault::None)).await;
    print_outage("S3 server unreachable for 10 s (connections refused and cut)", &http, &b.url, &report).await;

    // 4. and 5. Hung: connections accepted, nothing answered.
    let report = outage(&http, &b.url, "pghung", OUTAGE, || pg_proxy.set(Fault::Hang), || pg_proxy.set(Fault::None)).await;
    print_outage("Postgres hung for 10 s (nothing forwarded either way: a paused process)", &http, &b.url, &report).await;
    let report = outage(&http, &b.url, "s3hung", OUTAGE, || s3_proxy.set(Fault::Hang), || s3_proxy.set(Fault::None)).await;
    print_outage("S3 server hung for 10 s (nothing forwarded either way)", &http, &b.url, &report).await;
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
    let mut waits = r.unavailable_ms.clone();
    waits.sort_by(f64::total_cmp);
    if let (Some(median), Some(max)) = (waits.get(waits.len() / 2), waits.last()) {
        println!("| | time to a 503, median / max | {median:.0} / {max:.0} ms |");
    }
    println!("| | anything else | {} {} |", r.other.len(), r.other.iter().take(3).cloned().collect::<Vec<_>>().join("; "));
    println!(
        "| | first success after the backend came back | {} |",
        r.first_ok_after_restore_ms.map_or_else(|| "none".to_owned(), |ms| format!("{ms:.0} ms"))
    );
    println!("| | requests sent after it came back that failed | {} |", r.failed_after_restore);
    println!("| | acknowledged pushes intact afterwards | {whole} / {} (**lost: {}**) |", r.acknowledged.len(), r.acknowledged.len() - whole);
}
