//! The `ChartMuseum` API end to end: raw and multipart uploads (with `prov`), 409 and `?force`,
//! listing and detail routes with `latest`, delete, `/health` and `/info`; an uploaded chart
//! is an OCI artifact too (`helm pull oci://`) and in the Helm repository; credentials.

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{Cred, Tenants};
use sherpack_test_support::fixtures::package_chart;
use sherpack_test_support::oci::digest;
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

async fn post_raw(http: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, Value) {
    let r = http.post(url).header("content-type", "application/gzip").body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_list_get_delete_and_pull_over_oci() {
    let server = ServerProcess::start(ServerOptions::default());
    let base = server.url.clone();
    let http = reqwest::Client::new();
    let home = tempfile::tempdir().unwrap();
    let helm = tools::helm();
    let archives = package_chart(&helm, home.path(), &["0.1.0", "0.2.0"]);
    let first = std::fs::read(&archives[0]).unwrap();
    let second = std::fs::read(&archives[1]).unwrap();
    let charts = format!("{base}/api/acme/charts");

    assert_eq!(post_raw(&http, &charts, first.clone()).await, (201, json!({ "saved": true })));
    assert_eq!(post_raw(&http, &charts, first.clone()).await, (409, json!({ "error": "file already exists" })));
    assert_eq!(post_raw(&http, &format!("{charts}?force"), first.clone()).await.0, 201);
    // Multipart with a provenance file.
    let prov = b"-----BEGIN PGP SIGNED MESSAGE-----\nname: mychart\n".to_vec();
    let form = reqwest::multipart::Form::new()
        .part("chart", reqwest::multipart::Part::bytes(second.clone()).file_name("mychart-0.2.0.tgz"))
        .part("prov", reqwest::multipart::Part::bytes(prov.clone()).file_name("mychart-0.2.0.tgz.prov"));
    let r = http.post(&charts).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = http.get(format!("{base}/acme/charts/mychart-0.2.0.tgz.prov")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), prov);
    assert_eq!(http.get(format!("{base}/acme/charts/mychart-0.1.0.tgz.prov")).send().await.unwrap().status(), 404);

    let all: Value = http.get(&charts).send().await.unwrap().json().await.unwrap();
    let versions: Vec<&str> = all["mychart"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["0.2.0", "0.1.0"]);
    let listed: Value = http.get(format!("{charts}/mychart")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let latest: Value = http.get(format!("{charts}/mychart/latest")).send().await.unwrap().json().await.unwrap();
    assert_eq!(latest["version"], "0.2.0");
    assert_eq!(latest["digest"], digest(&second).trim_start_matches("sha256:"));
    let one: Value = http.get(format!("{charts}/mychart/0.1.0")).send().await.unwrap().json().await.unwrap();
    assert_eq!(one["urls"], json!(["charts/mychart-0.1.0.tgz"]));
    assert_eq!(http.head(format!("{charts}/mychart/0.1.0")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{charts}/nope")).send().await.unwrap().status(), 404);
    assert_eq!(http.get(format!("{charts}/mychart/9.9.9")).send().await.unwrap().status(), 404);
    assert_eq!(http.get(format!("{base}/health")).send().await.unwrap().json::<Value>().await.unwrap(), json!({ "healthy": true }));
    assert_eq!(http.get(format!("{base}/info")).send().await.unwrap().status(), 200);

    // Uploaded over HTTP, pulled over OCI and from the Helm repository.
    let host = base.trim_start_matches("http://");
    std::fs::create_dir(home.path().join("oci")).unwrap();
    run_ok(helm_command(&helm, home.path()).args(["pull", &format!("oci://{host}/acme/mychart"), "--version", "0.2.0", "--plain-http", "-d", "oci"]));
    assert_eq!(std::fs::read(home.path().join("oci/mychart-0.2.0.tgz")).unwrap(), second);
    run_ok(helm_command(&helm, home.path()).args(["repo", "add", "acme", &format!("{base}/acme")]));
    std::fs::create_dir(home.path().join("repo")).unwrap();
    run_ok(helm_command(&helm, home.path()).args(["pull", "acme/mychart", "--version", "0.1.0", "-d", "repo"]));
    assert_eq!(std::fs::read(home.path().join("repo/mychart-0.1.0.tgz")).unwrap(), first);

    // Delete: gone from the API, the index and OCI.
    let r = http.delete(format!("{charts}/mychart/0.1.0")).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "deleted": true }));
    assert_eq!(http.delete(format!("{charts}/mychart/0.1.0")).send().await.unwrap().status(), 404);
    let index = http.get(format!("{base}/acme/index.yaml")).send().await.unwrap().text().await.unwrap();
    assert!(!index.contains("0.1.0") && index.contains("0.2.0"), "{index}");
    assert_eq!(http.get(format!("{base}/v2/acme/mychart/manifests/0.1.0")).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_store_nothing() {
    let server = ServerProcess::start(ServerOptions::default());
    let http = reqwest::Client::new();
    let charts = format!("{}/api/acme/charts", server.url);
    let (status, body) = post_raw(&http, &charts, b"not a chart".to_vec()).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("not gzip"), "{body}");
    let form = reqwest::multipart::Form::new().part("prov", reqwest::multipart::Part::bytes(b"x".to_vec()));
    let r = http.post(&charts).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("chart"));
    assert_eq!(http.get(&charts).send().await.unwrap().json::<Value>().await.unwrap(), json!({}));
    let catalog: Value = http.get(format!("{}/v2/_catalog", server.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(catalog["repositories"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_need_push_rights() {
    let t = Tenants::start(ServerOptions::default()).await;
    let home = tempfile::tempdir().unwrap();
    let archive = std::fs::read(&package_chart(&tools::helm(), home.path(), &["1.0.0"])[0]).unwrap();
    let api = &t.api;
    let send = |cred: Cred| {
        let body = archive.clone();
        let url = format!("{}/api/team/charts", api.base);
        async move { cred.apply(api.http.post(url).body(body)).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(Cred::Anonymous).await, 401);
    assert_eq!(send(Cred::user("rita")).await, 403);
    assert_eq!(send(Cred::user("otto")).await, 404);
    assert_eq!(send(Cred::user("walt")).await, 201);
    assert_eq!(send(Cred::Basic("ci".into(), t.robot_push.clone())).await, 409, "a push token reaches the version check");
    api.expect(&Cred::Anonymous, Method::GET, "/api/team/charts", None, 401).await;
    api.expect(&Cred::user("otto"), Method::GET, "/api/team/charts", None, 404).await;
    let listed = api.expect(&Cred::user("rita"), Method::GET, "/api/team/charts", None, 200).await;
    assert_eq!(listed["mychart"][0]["version"], "1.0.0");
    api.expect(&Cred::user("walt"), Method::DELETE, "/api/team/charts/mychart/1.0.0", None, 403).await;
    api.expect(&Cred::user("alice"), Method::DELETE, "/api/team/charts/mychart/1.0.0", None, 200).await;
}
