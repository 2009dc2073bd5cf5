//! Three `sherpack-registry` processes on one Postgres and one S3-compatible store behave as
//! one registry: an upload split across them (POST on one, PATCH on another, PUT on the
//! third), a push through one visible in every replica's index.yaml, search and web page,
//! deletes seen everywhere, and garbage collection through one while the others take pushes.

use std::time::{Duration, Instant};

use sherpack_test_support::auth::{Api, Cred, admin_env};
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

/// Two servers with authentication on, on the database at `url`, and the namespace `team`
/// (private) made through the first: the servers, an API client of the first, the admin.
async fn replicas_with_a_private_team(url: &str, blobs: &std::path::Path) -> ([ServerProcess; 2], Api, Cred) {
    let start = || {
        let mut o = sherpack_test_support::postgres::server_options(url.to_owned(), blobs);
        o.env.extend(admin_env());
        ServerProcess::start(o)
    };
    let replicas = [start(), start()];
    let api = Api::new(&replicas[0].url);
    let admin = Cred::admin();
    api.expect(&admin, reqwest::Method::POST, "/api/v1/namespaces", Some(serde_json::json!({ "name": "team", "visibility": "private" })), 201).await;
    (replicas, api, admin)
}

/// The revocation bound the servers below run with (`auth.revocation_bound_ms`, the default).
const REVOCATION_BOUND: Duration = Duration::from_secs(2);

/// Two servers on one Postgres, each having verified (and cached) a robot token and a
/// password: a revocation, a password change and a user's removal through one are in force on
/// both once the bound has passed since the change's answer.
#[tokio::test(flavor = "multi_thread")]
async fn credential_changes_reach_every_replica_within_the_bound() {
    use reqwest::Method;
    use serde_json::json;
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        let (replicas, api, admin) = replicas_with_a_private_team(&url, blobs.path()).await;
        for (user, role) in [("alice", "admin"), ("bob", "reader")] {
            api.expect(&admin, Method::POST, "/api/v1/users", Some(json!({ "name": user, "password": "first-password" })), 201).await;
            api.expect(&admin, Method::PUT, &format!("/api/v1/namespaces/team/members/{user}"), Some(json!({ "role": role })), 200).await;
        }
        let alice = Cred::Basic("alice".into(), "first-password".into());
        let robot = api.create_token(&alice, json!({ "name": "ci", "scopes": ["pull", "push"], "namespace": "team" })).await;
        let pusher = Oci::with_basic(&replicas[0].url, "ci", &robot);
        pusher.push_image("team/app", "v1", b"layer").await;

        let manifest_status = |base: String, user: String, secret: String| async move {
            let http = reqwest::Client::new();
            let r = http.get(format!("{base}/v2/team/app/manifests/v1")).basic_auth(user, Some(secret)).send().await.unwrap();
            r.status().as_u16()
        };
        let everywhere = |user: &str, secret: &str| {
            let calls: Vec<_> = replicas.iter().map(|r| manifest_status(r.url.clone(), user.to_owned(), secret.to_owned())).collect();
            futures::future::join_all(calls)
        };
        // Each replica verifies and caches the token and both passwords.
        for _ in 0..3 {
            assert_eq!(everywhere("ci", &robot).await, [200, 200], "the robot token pulls through both");
            assert_eq!(everywhere("alice", "first-password").await, [200, 200]);
            assert_eq!(everywhere("bob", "first-password").await, [200, 200]);
        }

        // Revoked through replica 0.
        let tokens = api.expect(&alice, Method::GET, "/api/v1/tokens", None, 200).await;
        let id = tokens.as_array().unwrap().iter().find(|t| t["name"] == "ci").unwrap()["id"].as_str().unwrap().to_owned();
        api.expect(&alice, Method::DELETE, &format!("/api/v1/tokens/{id}"), None, 204).await;
        tokio::time::sleep(REVOCATION_BOUND).await;
        assert_eq!(everywhere("ci", &robot).await, [401, 401], "the revoked token is refused by both replicas");

        // A password changed and a user removed through replica 1.
        let api = Api::new(&replicas[1].url);
        api.expect(&admin, Method::PATCH, "/api/v1/users/alice", Some(json!({ "password": "second-password" })), 200).await;
        api.expect(&admin, Method::DELETE, "/api/v1/users/bob", None, 204).await;
        tokio::time::sleep(REVOCATION_BOUND).await;
        assert_eq!(everywhere("alice", "first-password").await, [401, 401], "the old password is refused by both");
        assert_eq!(everywhere("bob", "first-password").await, [401, 401], "the removed user is refused by both");
        assert_eq!(everywhere("alice", "second-password").await, [200, 200], "the new password works on both");
        drop(replicas);
    })
    .await;
}

/// Two servers on one Postgres, each having answered searches (and kept the namespace records
/// and memberships they read): a namespace made public, and a member removed, through one are
/// in the searches of both once the bound has passed since the change's answer.
#[tokio::test(flavor = "multi_thread")]
async fn namespace_and_membership_changes_reach_every_replicas_search_within_the_bound() {
    use reqwest::Method;
    use serde_json::json;
    use sherpack_test_support::fixtures::push_like_upstream_sherpack;
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        let (replicas, api, admin) = replicas_with_a_private_team(&url, blobs.path()).await;
        api.expect(&admin, Method::POST, "/api/v1/users", Some(json!({ "name": "bob", "password": "bobs-password" })), 201).await;
        api.expect(&admin, Method::PUT, "/api/v1/namespaces/team/members/bob", Some(json!({ "role": "reader" })), 200).await;
        let (user, password) = sherpack_test_support::auth::ADMIN;
        let pusher = Oci::with_basic(&replicas[0].url, user, password);
        push_like_upstream_sherpack(&pusher, "team/lighthouse", "1.0.0", &sherpack_archive("lighthouse", "1.0.0", 64)).await;

        // What each replica's search finds of the pack, anonymously and as bob.
        let found = |base: String, bob: bool| async move {
            let mut request = reqwest::Client::new().get(format!("{base}/api/v1/packages/search?ts_query_web=lighthouse"));
            if bob {
                request = request.basic_auth("bob", Some("bobs-password"));
            }
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["packages"].as_array().unwrap().len()
        };
        let everywhere = |bob: bool| futures::future::join_all(replicas.iter().map(|r| found(r.url.clone(), bob)));
        eventually("bob finds the pack on both replicas", || async { everywhere(true).await == [1, 1] }).await;
        for _ in 0..3 {
            assert_eq!(everywhere(false).await, [0, 0], "a private namespace is not searched anonymously");
            assert_eq!(everywhere(true).await, [1, 1], "its reader finds it");
        }

        // Made public through replica 1, bob removed through replica 0.
        Api::new(&replicas[1].url).expect(&admin, Method::PATCH, "/api/v1/namespaces/team", Some(json!({ "visibility": "public" })), 200).await;
        tokio::time::sleep(REVOCATION_BOUND).await;
        assert_eq!(everywhere(false).await, [1, 1], "a namespace made public is searched anonymously on both");
        api.expect(&admin, Method::PATCH, "/api/v1/namespaces/team", Some(json!({ "visibility": "private" })), 200).await;
        api.expect(&admin, Method::DELETE, "/api/v1/namespaces/team/members/bob", None, 204).await;
        tokio::time::sleep(REVOCATION_BOUND).await;
        assert_eq!(everywhere(false).await, [0, 0], "private again on both");
        assert_eq!(everywhere(true).await, [0, 0], "a removed member no longer finds it on either");
        drop(replicas);
    })
    .await;
}
