//! A registry under a backend outage: pushes that report their failure instead of asserting
//! it, a load of pulls and pushes while a backend is stopped and started again, and what the
//! clients received. Used by the reliability benchmark and the compose stack's fault test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fixtures::{chart_manifest, sherpack_archive};
use crate::oci::digest;

/// One push; a failure is returned, not asserted: the HTTP status (0 when the connection
/// failed) and the body or error.
pub async fn try_push(http: &reqwest::Client, base: &str, repo: &str, tag: &str, archive: &[u8]) -> Result<(), (u16, String)> {
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

/// When the backend goes down and comes back, and how long the load runs, from its start.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub down_at: Duration,
    pub down_for: Duration,
    pub total: Duration,
}

/// A 503 whose body is an OCI error saying the registry is unavailable.
#[must_use]
pub fn clean_503(status: u16, body: &str) -> bool {
    status == 503 && serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v["errors"][0]["code"] == "UNAVAILABLE")
}

/// Is `repo:tag` whole through `base` (manifest, then the archive's exact bytes)?
pub async fn intact(http: &reqwest::Client, base: &str, repo: &str, tag: &str, archive: &[u8]) -> bool {
    let Ok(m) = http.get(format!("{base}/v2/{repo}/manifests/{tag}")).send().await else { return false };
    if m.status() != 200 {
        return false;
    }
    let Ok(b) = http.get(format!("{base}/v2/{repo}/blobs/{}", digest(archive))).send().await else { return false };
    b.status() == 200 && b.bytes().await.is_ok_and(|bytes| bytes.as_ref() == archive)
}

/// What the clients received in the outage window, and every push acknowledged (201) during
/// the whole run (reference `repo:tag`, archive).
#[derive(Default)]
pub struct Outage {
    pub requests: usize,
    pub ok: usize,
    pub clean_503: usize,
    pub slowest_ms: f64,
    /// How long each clean 503 took to come.
    pub unavailable_ms: Vec<f64>,
    pub other: Vec<String>,
    pub first_ok_after_restore_ms: Option<f64>,
    /// Requests sent after the backend came back that did not succeed.
    pub failed_after_restore: usize,
    pub acknowledged: Vec<(String, Vec<u8>)>,
}

/// Four clients pull and push through `base` for `total`; `down` runs at `start`, `up` at
/// `start + outage`. Outcomes are classified inside the outage window.
pub async fn outage(http: &reqwest::Client, base: &str, label: &str, schedule: Schedule, down: impl FnOnce(), up: impl FnOnce()) -> Outage {
    let Schedule { down_at: start, down_for: outage, total } = schedule;
    let seed = sherpack_archive("seed", "1.0.0", 500);
    try_push(http, base, &format!("{label}/seed"), "1.0.0", &seed).await.expect("seed push");
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
            let took = done.saturating_sub(sent).as_secs_f64() * 1000.0;
            report.slowest_ms = report.slowest_ms.max(took);
            match status {
                200 | 201 => report.ok += 1,
                503 if clean_503(status, &body) => {
                    report.clean_503 += 1;
                    report.unavailable_ms.push(took);
                }
                other => report.other.push(format!("{other}: {}", body.chars().take(80).collect::<String>())),
            }
        } else if sent >= restored_at && (200..300).contains(&status) {
            let after = sent.saturating_sub(restored_at).as_secs_f64() * 1000.0;
            report.first_ok_after_restore_ms = Some(report.first_ok_after_restore_ms.map_or(after, |f: f64| f.min(after)));
        } else if sent >= restored_at {
            report.failed_after_restore += 1;
        }
    }
    report
}
