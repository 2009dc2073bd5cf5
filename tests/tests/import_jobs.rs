//! Import jobs through the admin API (`POST /api/v1/namespaces/<ns>/imports`), on `SQLite` and
//! Postgres: 202 with a `Location` the job's status is read at until it succeeded with the same
//! summary as `import --json`; the source's password never comes back; each class of bad body is
//! a 400 in the API's format that starts nothing; an unknown job is a 404; callers who do not
//! administer the namespace are refused.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::package_chart;
use sherpack_test_support::import::names;
use sherpack_test_support::peers::StaticRepo;
use sherpack_test_support::postgres::{PgDatabase, server_options};
use sherpack_test_support::server::ServerOptions;
use sherpack_test_support::tools;

const SECRET: &str = "source-secret-never-shown";

/// Polls the job at `location` until it is no longer running.
async fn finished(t: &Tenants, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let job = t.api.expect(&Cred::admin(), Method::GET, location, None, 200).await;
        if job["state"] != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "the job never finished: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the `ChartMuseum` API lists `want` in `ns` (the index follows the store).
async fn versions(t: &Tenants, ns: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let listed = listed(t, ns).await;
        if listed == want {
            return;
        }
        assert!(Instant::now() < deadline, "{ns} lists {listed:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn listed(t: &Tenants, ns: &str) -> Vec<String> {
    let body = t.api.expect(&Cred::admin(), Method::GET, &format!("/api/{ns}/charts"), None, 200).await;
    let mut out: Vec<String> = body.as_object().unwrap().values().flat_map(|v| v.as_array().unwrap().clone()).map(|v| format!("{} {}", v["name"].as_str().unwrap(), v["version"].as_str().unwrap())).collect();
    out.sort();
    out
}

async fn import_jobs(t: Tenants) {
    let home = tempfile::tempdir().unwrap();
    let archives = package_chart(&tools::helm(), home.path(), &["1.0.0", "1.1.0", "2.0.0"]);
    let source = StaticRepo::start();
    source.publish(&archives);
    let admin = Cred::admin();
    let path = "/api/v1/namespaces/team/imports";

    // Happy path: 202, a Location, the job running or done; then its summary.
    let body = json!({ "source": { "helm_repo": source.url }, "versions": "^1", "username": "reader", "password": SECRET });
    let response = t.api.send(&admin, Method::POST, path, Some(body)).await;
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    assert!(!text.contains(SECRET), "the password is echoed: {text}");
    let started: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(location, format!("{path}/{}", started["id"].as_str().unwrap()));
    assert!(started["state"] == "running" || started["state"] == "succeeded", "{started}");
    let done = finished(&t, &location).await;
    assert!(!done.to_string().contains(SECRET), "the password is shown: {done}");
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["request"]["username"], "reader");
    assert_eq!(done["summary"]["source"], source.url);
    assert_eq!(done["summary"]["namespace"], "team");
    assert_eq!(names(&done["summary"]["imported"]), ["mychart 1.0.0", "mychart 1.1.0"], "{done}");
    for list in ["skipped", "conflicts", "failed"] {
        assert_eq!(done["summary"][list], json!([]), "{done}");
    }
    versions(&t, "team", &["mychart 1.0.0", "mychart 1.1.0"]).await;

    // A source that cannot be read: the job fails, with the reason.
    let gone = json!({ "source": { "helm_repo": "http://127.0.0.1:9/charts" } });
    let response = t.api.send(&admin, Method::POST, path, Some(gone)).await;
    assert_eq!(response.status().as_u16(), 202);
    let failed = finished(&t, response.headers()["location"].to_str().unwrap()).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()), "{failed}");

    // Bad bodies: 400 in the API's format, nothing started.
    let url = source.url.clone();
    let bad: [(&str, Value); 8] = [
        ("not JSON", Value::String("{".into())),
        ("unknown field", json!({ "source": { "helm_repo": url }, "surprise": true })),
        ("unknown source kind", json!({ "source": { "ftp": url } })),
        ("no source", json!({ "charts": ["mychart"] })),
        ("not a URL", json!({ "source": { "helm_repo": "not a url" } })),
        ("bad range", json!({ "source": { "helm_repo": url }, "versions": "one point oh" })),
        ("concurrency 0", json!({ "source": { "helm_repo": url }, "concurrency": 0 })),
        ("password without user", json!({ "source": { "helm_repo": url }, "password": SECRET })),
    ];
    for (what, body) in bad {
        let request = t.api.http.post(format!("{}{path}", t.api.base)).basic_auth("root", Some("root-password"));
        let request = match &body {
            Value::String(raw) => request.header("content-type", "application/json").body(raw.clone()),
            other => request.json(other),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, 400, "{what}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        assert_eq!(error["errors"][0]["code"], "INVALID", "{what}: {text}");
        assert!(!text.contains(SECRET), "{what}: the password is echoed: {text}");
    }
    // The bad "versions" would have imported 2.0.0 had it started.
    versions(&t, "team", &["mychart 1.0.0", "mychart 1.1.0"]).await;

    // Unknown job, unknown namespace.
    let unknown = t.api.expect(&admin, Method::GET, &format!("{path}/0123456789abcdef"), None, 404).await;
    assert_eq!(unknown["errors"][0]["code"], "NOT_FOUND");
    let body = json!({ "source": { "helm_repo": url } });
    t.api.expect(&admin, Method::POST, "/api/v1/namespaces/nowhere/imports", Some(body.clone()), 404).await;

    // Who may: the namespace's admin; not a writer, a reader, another namespace's admin (who
    // does not see the private namespace), nor anonymous callers. Storage sources: registry admins.
    for (who, status) in [(Cred::user("walt"), 403), (Cred::user("rita"), 403), (Cred::user("otto"), 404), (Cred::Anonymous, 401)] {
        let refused = t.api.expect(&who, Method::POST, path, Some(body.clone()), status).await;
        assert!(refused["errors"][0]["code"].is_string(), "{refused}");
        t.api.expect(&who, Method::GET, &location, None, status).await;
    }
    let storage = json!({ "source": { "chartmuseum_storage": "/tmp" } });
    let refused = t.api.expect(&Cred::user("alice"), Method::POST, path, Some(storage), 403).await;
    assert_eq!(refused["errors"][0]["code"], "DENIED");
    versions(&t, "team", &["mychart 1.0.0", "mychart 1.1.0"]).await;
    let by_alice = t.api.send(&Cred::user("alice"), Method::POST, path, Some(json!({ "source": { "helm_repo": url }, "charts": ["mychart"] }))).await;
    assert_eq!(by_alice.status().as_u16(), 202);
    let done = finished(&t, by_alice.headers()["location"].to_str().unwrap()).await;
    assert_eq!(names(&done["summary"]["imported"]), ["mychart 2.0.0"], "{done}");
    assert_eq!(done["created_by"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_jobs_on_sqlite() {
    import_jobs(Tenants::start(ServerOptions::default()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_jobs_on_postgres() {
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        import_jobs(Tenants::start(server_options(url, blobs.path())).await).await;
    })
    .await;
}
