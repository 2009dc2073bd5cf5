//! Mirrors on `SQLite` and Postgres: a namespace declared a mirror of a static Helm repository
//! (interval 1s) picks up a version added at the source on a later sync; pushes and deletes
//! into it are refused in the OCI, `ChartMuseum` and import-job APIs; with the source stopped it
//! keeps serving what it has (index, downloads, `helm pull`) and records the failure (API,
//! namespace page, metrics); versions the source removed go only with `prune`. A mirror of an
//! OCI registry's namespace (CNCF distribution, charts pushed by helm) does the same, with the
//! source's manifest digests.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::package_chart;
use sherpack_test_support::peers::{Distribution, StaticRepo, helm_repo_index};
use sherpack_test_support::postgres::{PgDatabase, server_options};
use sherpack_test_support::server::ServerOptions;
use sherpack_test_support::tools::{self, helm_command, run_ok};

/// Polls `check` on the namespace's mirror record until it holds.
async fn mirror_until(t: &Tenants, ns: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let m = t.api.expect(&Cred::admin(), Method::GET, &format!("/api/v1/namespaces/{ns}/mirror"), None, 200).await;
        if check(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what} never happened: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn listed(t: &Tenants, ns: &str) -> Vec<String> {
    let body = t.api.expect(&Cred::admin(), Method::GET, &format!("/api/{ns}/charts"), None, 200).await;
    let mut out: Vec<String> = body.as_object().unwrap().values().flat_map(|v| v.as_array().unwrap().clone()).map(|v| v["version"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

async fn listed_until(t: &Tenants, ns: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while listed(t, ns).await != want {
        assert!(Instant::now() < deadline, "{ns} never listed {want:?}: {:?}", listed(t, ns).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metric(t: &Tenants, name: &str, ns: &str) -> u64 {
    let text = t.api.http.get(format!("{}/metrics", t.api.base)).basic_auth("root", Some("root-password")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("{name}{{namespace=\"{ns}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |v| v.trim().parse().unwrap())
}

async fn declare(t: &Tenants, ns: &str, source: &str, prune: bool) {
    let admin = Cred::admin();
    t.api.expect(&admin, Method::POST, "/api/v1/namespaces", Some(json!({ "name": ns, "visibility": "public" })), 201).await;
    let body = json!({ "source": { "helm_repo": source }, "interval": "1s", "prune": prune, "username": "u", "password": "mirror-secret" });
    let view = t.api.expect(&admin, Method::PUT, &format!("/api/v1/namespaces/{ns}/mirror"), Some(body), 200).await;
    assert!(!view.to_string().contains("mirror-secret"), "{view}");
    assert_eq!(view["source"]["helm_repo"], source);
}

/// A request with the registry admin's credentials; status and body.
async fn send(t: &Tenants, method: Method, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = t.api.http.request(method, format!("{}{path}", t.api.base)).basic_auth("root", Some("root-password")).body(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn mirrors(t: Tenants) {
    let home = tempfile::tempdir().unwrap();
    let archives = package_chart(&tools::helm(), home.path(), &["1.0.0", "1.1.0", "2.0.0"]);
    let source = StaticRepo::start();
    source.publish(&archives[..1]);
    declare(&t, "mirror", &source.url, false).await;
    listed_until(&t, "mirror", &["1.0.0"]).await;

    // A version added at the source comes in on a later sync.
    source.publish(&archives[1..2]);
    listed_until(&t, "mirror", &["1.0.0", "1.1.0"]).await;
    let synced = mirror_until(&t, "mirror", "a successful sync", |m| m["last_outcome"] == "succeeded").await;
    assert!(synced["last_sync_at"].as_i64().is_some(), "{synced}");
    assert_eq!(metric(&t, "sherpack_mirror_synced_versions_total", "mirror").await, 2);

    // Pushes and deletes are refused in each API, with the reason.
    let message = format!("namespace mirror is a mirror of {}: pushes are refused", source.url);
    let refusals = [
        (Method::POST, "/v2/mirror/mychart/blobs/uploads/", "oci"),
        (Method::PUT, "/v2/mirror/mychart/manifests/9.9.9", "oci"),
        (Method::DELETE, "/v2/mirror/mychart/manifests/1.0.0", "oci"),
        (Method::POST, "/api/mirror/charts", "chartmuseum"),
        (Method::DELETE, "/api/mirror/charts/mychart/1.0.0", "chartmuseum"),
    ];
    for (method, path, api) in refusals {
        let (status, body) = send(&t, method.clone(), path, std::fs::read(&archives[2]).unwrap()).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        let text = if api == "oci" {
            assert_eq!(body["errors"][0]["code"], "DENIED", "{body}");
            body["errors"][0]["message"].clone()
        } else {
            body["error"].clone()
        };
        assert_eq!(text, message, "{method} {path}");
    }
    let job = json!({ "source": { "helm_repo": source.url } });
    let refused = t.api.expect(&Cred::admin(), Method::POST, "/api/v1/namespaces/mirror/imports", Some(job), 409).await;
    assert_eq!(refused["errors"][0]["code"], "CONFLICT");
    listed_until(&t, "mirror", &["1.0.0", "1.1.0"]).await;

    // The source stops: the failure is recorded, and everything stays served.
    let url = source.url.clone();
    drop(source);
    let failures = metric(&t, "sherpack_mirror_sync_failures_total", "mirror").await;
    let failed = mirror_until(&t, "mirror", "a failed sync", |m| m["last_outcome"] == "failed").await;
    assert!(failed["last_message"].as_str().is_some_and(|m| !m.is_empty()), "{failed}");
    assert!(metric(&t, "sherpack_mirror_sync_failures_total", "mirror").await > failures);
    let page = t.api.http.get(format!("{}/-/ns/mirror", t.api.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&url) && page.contains("mirror-failed"), "the namespace page shows the source and the failure");
    let index = t.api.http.get(format!("{}/mirror/index.yaml", t.api.base)).send().await.unwrap().text().await.unwrap();
    assert!(index.contains("version: \"1.0.0\"") && index.contains("version: \"1.1.0\""), "{index}");
    let helm_home = tempfile::tempdir().unwrap();
    let helm = tools::helm();
    std::fs::create_dir(helm_home.path().join("pulled")).unwrap();
    run_ok(helm_command(&helm, helm_home.path()).args(["repo", "add", "m", &format!("{}/mirror", t.api.base)]));
    run_ok(helm_command(&helm, helm_home.path()).args(["pull", "m/mychart", "--version", "1.1.0", "-d", "pulled"]));
    assert_eq!(std::fs::read(helm_home.path().join("pulled/mychart-1.1.0.tgz")).unwrap(), std::fs::read(&archives[1]).unwrap());

    // Prune: only the mirror declared with it loses what the source removed.
    let source = StaticRepo::start();
    source.publish(&[archives[0].clone(), archives[2].clone()]);
    declare(&t, "pruned", &source.url, true).await;
    declare(&t, "kept", &source.url, false).await;
    listed_until(&t, "pruned", &["1.0.0", "2.0.0"]).await;
    listed_until(&t, "kept", &["1.0.0", "2.0.0"]).await;
    std::fs::remove_file(source.dir.path().join("mychart-2.0.0.tgz")).unwrap();
    helm_repo_index(source.dir.path());
    listed_until(&t, "pruned", &["1.0.0"]).await;
    assert_eq!(metric(&t, "sherpack_mirror_pruned_versions_total", "pruned").await, 1);
    // Two syncs of `kept` ending after the prune was seen: the second began after it.
    let seen = sherpack_now();
    let first = mirror_until(&t, "kept", "a sync after the removal", |m| m["last_sync_at"].as_i64().is_some_and(|at| at > seen)).await;
    let after = first["last_sync_at"].as_i64().unwrap();
    let second = mirror_until(&t, "kept", "a second sync", |m| m["last_sync_at"].as_i64().is_some_and(|at| at > after)).await;
    assert_eq!(second["last_outcome"], "succeeded", "{second}");
    assert_eq!(listed(&t, "kept").await, ["1.0.0", "2.0.0"]);

    // No longer a mirror: pushes are taken again.
    t.api.expect(&Cred::admin(), Method::DELETE, "/api/v1/namespaces/kept/mirror", None, 204).await;
    t.api.expect(&Cred::admin(), Method::GET, "/api/v1/namespaces/kept/mirror", None, 404).await;
    let (status, body) = send(&t, Method::POST, "/api/kept/charts", std::fs::read(&archives[1]).unwrap()).await;
    assert_eq!(status, 201, "{body}");
}

/// The digest a registry answers for `repo:reference`.
async fn manifest_digest(base: &str, repo: &str, reference: &str) -> String {
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let r = reqwest::Client::new().get(format!("{base}/v2/{repo}/manifests/{reference}")).header("accept", accept).send().await.unwrap();
    assert_eq!(r.status(), 200, "{repo}:{reference} at {base}");
    sherpack_test_support::oci::digest(&r.bytes().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_of_an_oci_namespace() {
    let t = Tenants::start(ServerOptions::default()).await;
    let home = tempfile::tempdir().unwrap();
    let helm = tools::helm();
    let archives = package_chart(&helm, home.path(), &["0.1.0", "0.2.0"]);
    let source = Distribution::start();
    let push = |archive: &std::path::Path| run_ok(helm_command(&helm, home.path()).arg("push").arg(archive).args([&format!("oci://{}/charts", source.host), "--plain-http"]));
    push(&archives[0]);
    let admin = Cred::admin();
    t.api.expect(&admin, Method::POST, "/api/v1/namespaces", Some(json!({ "name": "omirror", "visibility": "public" })), 201).await;
    let location = format!("{}/charts", source.host);
    let body = json!({ "source": { "oci": { "location": location, "plain_http": true } }, "interval": "1s" });
    let view = t.api.expect(&admin, Method::PUT, "/api/v1/namespaces/omirror/mirror", Some(body), 200).await;
    assert_eq!(view["source"]["oci"]["location"], location, "{view}");
    listed_until(&t, "omirror", &["0.1.0"]).await;

    // A chart pushed at the source comes in on a later sync, under the source's digest.
    push(&archives[1]);
    listed_until(&t, "omirror", &["0.1.0", "0.2.0"]).await;
    for version in ["0.1.0", "0.2.0"] {
        assert_eq!(manifest_digest(&t.api.base, "omirror/mychart", version).await, manifest_digest(&source.url, "charts/mychart", version).await);
    }
    let (status, body) = send(&t, Method::PUT, "/v2/omirror/mychart/manifests/9.9.9", b"{}".to_vec()).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (403, Some("DENIED")), "{body}");

    // The source stops: the failure is recorded, and the mirror still serves both versions.
    drop(source);
    mirror_until(&t, "omirror", "a failed sync", |m| m["last_outcome"] == "failed").await;
    assert!(metric(&t, "sherpack_mirror_sync_failures_total", "omirror").await > 0);
    let download = t.api.http.get(format!("{}/omirror/charts/mychart-0.2.0.tgz", t.api.base)).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), std::fs::read(&archives[1]).unwrap().as_slice());
}

fn sherpack_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_on_sqlite() {
    mirrors(Tenants::start(ServerOptions::default()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_on_postgres() {
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        mirrors(Tenants::start(server_options(url, blobs.path())).await).await;
    })
    .await;
}

/// `sherpack-registry admin mirror` against a server's database (`SQLite`, no authentication).
#[test]
fn admin_mirror_commands() {
    let server = sherpack_test_support::server::ServerProcess::start(ServerOptions::default());
    let admin = |args: &[&str]| {
        let out = std::process::Command::new(sherpack_test_support::server::workspace_binary("sherpack-registry"))
            .arg("admin")
            .args(args)
            .current_dir(&server.cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let home = tempfile::tempdir().unwrap();
    let archives = package_chart(&tools::helm(), home.path(), &["1.0.0", "1.1.0"]);
    let source = StaticRepo::start();
    source.publish(&archives[..1]);
    assert_eq!(admin(&["namespace", "add", "cli", "--visibility", "public"]).0, Some(0));
    let (code, out, err) = admin(&["mirror", "add", "cli", &source.url, "--interval", "1h"]);
    assert_eq!(code, Some(0), "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((added["source"]["helm_repo"].as_str(), added["interval_secs"].as_u64()), (Some(source.url.as_str()), Some(3600)));
    let (code, _, err) = admin(&["mirror", "add", "cli", "https://"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not a URL"), "{err}");
    let (code, _, err) = admin(&["mirror", "add", "cli", "oci://"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("is not <host[:port]>/<namespace>"), "{err}");
    let (code, _, err) = admin(&["mirror", "add", "cli", &source.url, "--plain-http"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("are for an oci:// source"), "{err}");

    // With an interval of an hour, 1.1.0 comes in only when synced by hand.
    source.publish(&archives[1..]);
    let (code, out, err) = admin(&["mirror", "sync", "cli"]);
    assert_eq!(code, Some(0), "{err}");
    let synced: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(synced["last_outcome"], "succeeded", "{synced}");
    assert!(synced["last_summary"]["skipped"].as_array().unwrap().iter().chain(synced["last_summary"]["imported"].as_array().unwrap()).any(|i| i["version"] == "1.1.0"), "{synced}");
    let (_, out, _) = admin(&["mirror", "list"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().len(), 1);

    drop(source);
    let (code, out, err) = admin(&["mirror", "sync", "cli"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(err.contains("the sync failed"), "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["last_outcome"], "failed");
    assert_eq!(admin(&["mirror", "remove", "cli"]).0, Some(0));
    let (code, _, err) = admin(&["mirror", "remove", "cli"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not a mirror"), "{err}");
}
