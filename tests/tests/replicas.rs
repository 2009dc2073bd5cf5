//! Three `sherpack-registry` processes on one Postgres and one S3-compatible store behave as
//! one registry: an upload split across them (POST on one, PATCH on another, PUT on the
//! third), a push through one visible in every replica's index.yaml, search and web page,
//! deletes seen everywhere, and garbage collection through one while the others take pushes.

use std::time::{Duration, Instant};

use sherpack_test_support::fixtures::{chart_manifest, sherpack_archive};
use sherpack_test_support::oci::{Oci, digest};
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::{ServerOptions, ServerProcess, workspace_binary};

/// Polls `check` until it holds (at most 20 s); returns how long it took.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(20), "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_on_postgres_and_s3_are_one_registry() {
    PgDatabase::with(|url| async move {
        let bucket = sherpack_test_support::s3::create_bucket().await;
        let mut env = sherpack_test_support::s3::server_env();
        env.push(("SHERPACK_REGISTRY_DATABASE_URL".into(), url));
        env.push(("SHERPACK_REGISTRY_STORAGE_URL".into(), format!("s3://{bucket}/registry")));
        let replicas: Vec<ServerProcess> = (0..3).map(|_| ServerProcess::start(ServerOptions { env: env.clone(), ..ServerOptions::default() })).collect();
        let oci: Vec<Oci> = replicas.iter().map(|r| Oci::new(&r.url)).collect();

        // One upload, three replicas: POST on the first, PATCH on the second, PUT on the third.
        let archive = sherpack_archive("split", "1.0.0", 200_000);
        let (head, tail) = archive.split_at(archive.len() / 2);
        let r = oci[0].http.post(oci[0].url("/v2/team/split/blobs/uploads/")).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let path = r.headers()["location"].to_str().unwrap().trim_start_matches(&replicas[0].url).to_owned();
        let r = oci[1]
            .http
            .patch(oci[1].url(&path))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("0-{}", head.len() - 1))
            .body(head.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let path = r.headers()["location"].to_str().unwrap().trim_start_matches(&replicas[1].url).to_owned();
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = oci[2].http.put(oci[2].url(&format!("{path}{sep}digest={}", digest(&archive)))).body(tail.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let config = oci[1].push_blob("team/split", b"{}").await;
        let manifest = chart_manifest(&config, 2, &digest(&archive), archive.len());
        let r = oci[0].put_manifest("team/split", "1.0.0", "application/vnd.oci.image.manifest.v1+json", &manifest).await;
        assert_eq!(r.status(), 201);
        for o in &oci {
            let r = o.http.get(o.url(&format!("/v2/team/split/blobs/{}", digest(&archive)))).send().await.unwrap();
            assert_eq!(r.bytes().await.unwrap().as_ref(), &archive[..], "every replica serves the whole blob");
        }

        // Visible in every replica's Helm index, search and pack page.
        for (i, r) in replicas.iter().enumerate() {
            let http = reqwest::Client::new();
            let base = r.url.clone();
            let took = eventually(&format!("replica {i} lists split 1.0.0"), || {
                let (http, base) = (http.clone(), base.clone());
                async move {
                    let index = http.get(format!("{base}/team/index.yaml")).send().await.unwrap().text().await.unwrap();
                    let search = http.get(format!("{base}/api/v1/packages/search?ts_query_web=split")).send().await.unwrap().text().await.unwrap();
                    index.contains("split-1.0.0.tgz") && search.contains("\"name\":\"split\"")
                }
            })
            .await;
            eprintln!("replica {i}: index and search current after {took:?}");
            let page = http.get(format!("{base}/-/packs/team/split")).send().await.unwrap();
            assert_eq!(page.status(), 200);
        }

        // A delete through one replica is seen by the others.
        let r = oci[2].http.delete(oci[2].url(&format!("/v2/team/split/manifests/{}", digest(&manifest)))).send().await.unwrap();
        assert_eq!(r.status(), 202);
        for o in &oci {
            assert_eq!(o.http.get(o.url("/v2/team/split/manifests/1.0.0")).send().await.unwrap().status(), 404);
        }
        let http = reqwest::Client::new();
        let base = replicas[0].url.clone();
        eventually("the deleted version leaves replica 0's index", || {
            let (http, base) = (http.clone(), base.clone());
            async move { !http.get(format!("{base}/team/index.yaml")).send().await.unwrap().text().await.unwrap().contains("split-1.0.0.tgz") }
        })
        .await;

        // Garbage collection through replica 1's configuration while 0 and 2 take pushes.
        let gc_env = env.clone();
        let cwd = replicas[1].cwd.clone();
        let collector = tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(workspace_binary("sherpack-registry"))
                .args(["gc", "--grace", "0s", "--json"])
                .current_dir(cwd)
                .envs(gc_env)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
        });
        let mut pushed = Vec::new();
        for i in 0..6 {
            let o = &oci[if i % 2 == 0 { 0 } else { 2 }];
            let archive = sherpack_archive("busy", &format!("1.{i}.0"), 5_000 + i);
            let config = o.push_blob("team/busy", b"{}").await;
            let layer = o.push_blob("team/busy", &archive).await;
            let manifest = chart_manifest(&config, 2, &layer, archive.len());
            let r = o.put_manifest("team/busy", &format!("1.{i}.0"), "application/vnd.oci.image.manifest.v1+json", &manifest).await;
            // With no grace period a push may lose the race for a blob it just uploaded: it is
            // refused (and may be retried), never acknowledged with a hole.
            if r.status() == 201 {
                pushed.push(archive);
            } else {
                assert_eq!(r.status(), 400, "a refused push says MANIFEST_BLOB_UNKNOWN");
            }
        }
        let report = collector.await.unwrap();
        assert!(report["blobs"].as_u64().unwrap() >= 1, "the deleted version's archive was collected: {report}");
        for archive in &pushed {
            for o in &oci {
                let r = o.http.get(o.url(&format!("/v2/team/busy/blobs/{}", digest(archive)))).send().await.unwrap();
                assert_eq!(r.status(), 200, "an acknowledged push lost its archive");
            }
        }
        drop(replicas);
    })
    .await;
}
