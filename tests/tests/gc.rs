//! Garbage collection while the registry serves: only what nothing references and what has
//! been so for the grace period goes (unreferenced blobs, objects no record names, temporary
//! leftovers, expired uploads), `--dry-run` removes nothing; under concurrent pushes on
//! Postgres and S3, with the server's schedule and the command running at once, nothing an
//! acknowledged push references is ever lost. Retention and quotas are namespace policy.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::{sherpack_archive, upload_chart_blobs};
use sherpack_test_support::oci::{OCI_MANIFEST, Oci, digest, digest512};
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::{ServerOptions, ServerProcess, workspace_binary};

/// `sherpack-registry gc --json <args>` in the server's directory, with its environment.
fn gc(cwd: &Path, env: &[(String, String)], args: &[&str]) -> Value {
    let out = Command::new(workspace_binary("sherpack-registry"))
        .arg("gc")
        .arg("--json")
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(out.status.success(), "gc failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn push(oci: &Oci, repo: &str, tag: &str, archive: &[u8]) -> String {
    let manifest = upload_chart_blobs(oci, repo, archive).await;
    let r = oci.put_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &manifest).await;
    assert_eq!(r.status(), 201, "push {repo}:{tag}");
    digest(&manifest)
}

async fn blob_status(oci: &Oci, repo: &str, d: &str) -> u16 {
    oci.http.get(oci.url(&format!("/v2/{repo}/blobs/{d}"))).send().await.unwrap().status().as_u16()
}

fn set_old(path: &Path) {
    let status = Command::new("touch").args(["-d", "2 hours ago"]).arg(path).status().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn gc_removes_only_what_nothing_references() {
    let server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    let kept = sherpack_archive("web", "2.0.0", 3000);
    let dropped = sherpack_archive("web", "1.0.0", 2000);
    push(&oci, "team/web", "2.0.0", &kept).await;
    let old_manifest = push(&oci, "team/web", "1.0.0", &dropped).await;
    let lonely = oci.push_blob("team/web", b"a blob no manifest will ever name").await;
    let r = oci.http.delete(oci.url(&format!("/v2/team/web/manifests/{old_manifest}"))).send().await.unwrap();
    assert_eq!(r.status(), 202);
    // An object no record names (as a crash between write and record leaves), a temporary file.
    let storage = server.cwd.join("data/blobs");
    let orphan_data = b"written, never recorded";
    let orphan = digest(orphan_data);
    let orphan_path = storage.join(format!("blobs/sha256/{}/{}", &orphan[7..9], &orphan[7..]));
    std::fs::create_dir_all(orphan_path.parent().unwrap()).unwrap();
    std::fs::write(&orphan_path, orphan_data).unwrap();
    set_old(&orphan_path);
    let leftover = storage.join("tmp/leftover-from-a-crash");
    std::fs::write(&leftover, b"partial").unwrap();
    set_old(&leftover);
    let cwd = server.cwd.clone();

    // Everything is younger than an hour: the default grace keeps it all.
    let report = gc(&cwd, &[], &[]);
    assert_eq!((report["blobs"].as_u64(), report["orphan_objects"].as_u64()), (Some(0), Some(2)), "{report}");
    // ...but the two old orphans were removed. A dry run with no grace lists the rest.
    assert!(!orphan_path.exists() && !leftover.exists());
    let report = gc(&cwd, &[], &["--dry-run", "--grace", "0s"]);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["blobs"], 2, "the deleted version's archive and the lonely blob: {report}");
    assert_eq!(report["blob_bytes"].as_u64().unwrap(), (dropped.len() + 33) as u64);
    assert_eq!(blob_status(&oci, "team/web", &lonely).await, 200, "a dry run removes nothing");

    let report = gc(&cwd, &[], &["--grace", "0s"]);
    assert_eq!(report["blobs"], 2, "{report}");
    assert_eq!(blob_status(&oci, "team/web", &lonely).await, 404);
    assert_eq!(blob_status(&oci, "team/web", &digest(&dropped)).await, 404);
    // What the remaining version references is whole.
    assert_eq!(blob_status(&oci, "team/web", &digest(&kept)).await, 200);
    assert_eq!(blob_status(&oci, "team/web", &digest(b"{}")).await, 200, "the config blob the kept version shares");
    let r = oci.http.get(oci.url(&format!("/v2/team/web/blobs/{}", digest(&kept)))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &kept[..]);
    let again = gc(&cwd, &[], &["--grace", "0s"]);
    assert_eq!((again["blobs"].as_u64(), again["orphan_objects"].as_u64()), (Some(0), Some(0)), "{again}");
}

#[tokio::test]
async fn gc_collects_sha512_blobs_like_any_other() {
    let server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    let (layer, lonely) = (b"a sha512 layer".to_vec(), b"a sha512 blob nothing names".to_vec());
    let config = oci.push_blob_as("team/five", b"{}", &digest512(b"{}")).await;
    let layer_digest = oci.push_blob_as("team/five", &layer, &digest512(&layer)).await;
    oci.push_blob_as("team/five", &lonely, &digest512(&lonely)).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2 },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len() }],
    }))
    .unwrap();
    assert_eq!(oci.put_manifest("team/five", &digest512(&manifest), OCI_MANIFEST, &manifest).await.status(), 201);
    // A sha512 object no record names, as a crash leaves it.
    let orphan = digest512(b"written, never recorded");
    let orphan_path = server.cwd.join(format!("data/blobs/blobs/sha512/{}/{}", &orphan[7..9], &orphan[7..]));
    std::fs::create_dir_all(orphan_path.parent().unwrap()).unwrap();
    std::fs::write(&orphan_path, b"written, never recorded").unwrap();
    set_old(&orphan_path);

    let report = gc(&server.cwd, &[], &["--grace", "0s"]);
    assert_eq!((report["blobs"].as_u64(), report["orphan_objects"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(report["blob_bytes"].as_u64(), Some(lonely.len() as u64));
    assert!(!orphan_path.exists());
    assert_eq!(blob_status(&oci, "team/five", &digest512(&lonely)).await, 404);
    let r = oci.http.get(oci.url(&format!("/v2/team/five/blobs/{layer_digest}"))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &layer[..], "the referenced sha512 layer is whole");
    assert_eq!(blob_status(&oci, "team/five", &config).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_referenced_is_lost_under_concurrent_pushes_on_postgres_and_s3() {
    PgDatabase::with(|url| async move {
        let bucket = sherpack_test_support::s3::create_bucket().await;
        let mut env = sherpack_test_support::s3::server_env();
        env.push(("SHERPACK_REGISTRY_DATABASE_URL".into(), url));
        env.push(("SHERPACK_REGISTRY_STORAGE_URL".into(), format!("s3://{bucket}/registry")));
        let mut server_env = env.clone();
        server_env.push(("SHERPACK_REGISTRY_GC__INTERVAL_SECS".into(), "1".into()));
        server_env.push(("SHERPACK_REGISTRY_GC__GRACE_SECS".into(), "3".into()));
        let server = ServerProcess::start(ServerOptions { env: server_env, ..ServerOptions::default() });
        let base = server.url.clone();
        let cwd = server.cwd.clone();

        // Four writers push for five seconds, and at least four versions each however loaded the
        // machine is; every other version is deleted right after.
        let deadline = Instant::now() + Duration::from_secs(5);
        let writing = Arc::new(AtomicBool::new(true));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let base = base.clone();
                tokio::spawn(async move {
                    let oci = Oci::new(&base);
                    let (mut kept, mut deleted) = (Vec::new(), Vec::new());
                    let mut i = 0;
                    while Instant::now() < deadline || i < 4 {
                        let repo = format!("team/p{w}");
                        let version = format!("1.{i}.0");
                        let archive = sherpack_archive(&format!("p{w}"), &version, 1000 + i * 37);
                        let manifest = push(&oci, &repo, &version, &archive).await;
                        if i % 2 == 1 {
                            let r = oci.http.delete(oci.url(&format!("/v2/{repo}/manifests/{manifest}"))).send().await.unwrap();
                            assert_eq!(r.status(), 202);
                            deleted.push((repo, digest(&archive)));
                        } else {
                            kept.push((repo, version, archive));
                        }
                        i += 1;
                    }
                    (kept, deleted)
                })
            })
            .collect();
        // Meanwhile the command runs too, with a grace of two seconds, until the writers stop.
        let gc_env = env.clone();
        let gc_cwd = cwd.clone();
        let gc_writing = writing.clone();
        let collector = tokio::task::spawn_blocking(move || {
            let mut runs = 0;
            while gc_writing.load(Ordering::SeqCst) || runs < 2 {
                gc(&gc_cwd, &gc_env, &["--grace", "2s"]);
                runs += 1;
            }
            runs
        });
        let mut kept = Vec::new();
        let mut deleted = Vec::new();
        for w in writers {
            let (k, d) = w.await.unwrap();
            kept.extend(k);
            deleted.extend(d);
        }
        writing.store(false, Ordering::SeqCst);
        assert!(collector.await.unwrap() >= 2);
        assert!(kept.len() >= 8 && deleted.len() >= 8, "{} kept, {} deleted", kept.len(), deleted.len());

        // Every acknowledged push that was not deleted is whole.
        let oci = Oci::new(&base);
        for (repo, version, archive) in &kept {
            let m = oci.http.get(oci.url(&format!("/v2/{repo}/manifests/{version}"))).send().await.unwrap();
            assert_eq!(m.status(), 200, "{repo}:{version}");
            let r = oci.http.get(oci.url(&format!("/v2/{repo}/blobs/{}", digest(archive)))).send().await.unwrap();
            assert_eq!(r.status(), 200, "{repo}:{version} lost its archive");
            assert_eq!(r.bytes().await.unwrap().as_ref(), &archive[..]);
        }
        // Past the grace period, everything unreferenced is gone.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let report = tokio::task::spawn_blocking({
            let (cwd, env) = (cwd.clone(), env.clone());
            move || gc(&cwd, &env, &["--grace", "2s"])
        })
        .await
        .unwrap();
        let _ = report;
        let leftover = tokio::task::spawn_blocking(move || gc(&cwd, &env, &["--dry-run", "--grace", "0s"])).await.unwrap();
        assert_eq!((leftover["blobs"].as_u64(), leftover["orphan_objects"].as_u64()), (Some(0), Some(0)), "{leftover}");
        for (repo, d) in &deleted {
            assert_eq!(blob_status(&oci, repo, d).await, 404, "{repo} still holds {d}");
        }
        drop(server);
    })
    .await;
}

#[tokio::test]
async fn retention_keeps_the_newest_versions_and_quotas_refuse_pushes() {
    let t = Tenants::start(ServerOptions::default()).await;
    let alice = Cred::user("alice");
    t.api.expect(&alice, Method::PUT, "/api/v1/namespaces/team/policy", Some(json!({ "keep_last_versions": 2, "max_storage_bytes": 60_000 })), 200).await;
    let oci = Oci::with_basic(&t.server.url, "alice", sherpack_test_support::auth::PASSWORD);
    for v in ["1.0.0", "1.10.0", "1.2.0", "2.0.0"] {
        push(&oci, "team/web", v, &sherpack_archive("web", v, 9000)).await;
    }
    let report = gc(&t.server.cwd, &sherpack_test_support::auth::admin_env(), &[]);
    assert_eq!(report["retention_manifests"], 2, "{report}");
    let tags: Value = oci.http.get(oci.url("/v2/team/web/tags/list")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], json!(["1.10.0", "2.0.0"]), "semantic order, not text order");

    // The quota counts what the namespace links: a blob that would pass it is refused with
    // DENIED, and nothing of it remains.
    let big = vec![7u8; 70_000];
    let r = oci.http.post(oci.url(&format!("/v2/team/web/blobs/uploads/?digest={}", digest(&big)))).body(big.clone()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("quota exceeded: namespace team"), "{body}");
    assert_eq!(blob_status(&oci, "team/web", &digest(&big)).await, 404);
    let r = oci.http.post(oci.url(&format!("/v2/team/web/blobs/uploads/?digest={}", digest512(&big)))).body(big.clone()).send().await.unwrap();
    assert_eq!(r.status(), 403, "in sha512 as well");
    assert_eq!(blob_status(&oci, "team/web", &digest512(&big)).await, 404);
    // Other namespaces are not affected.
    let otto = Oci::with_basic(&t.server.url, "otto", sherpack_test_support::auth::PASSWORD);
    let r = otto.http.post(otto.url(&format!("/v2/other/x/blobs/uploads/?digest={}", digest(&big)))).body(big.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201);
}
