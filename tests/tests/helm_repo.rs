//! Helm repositories served from what was pushed over OCI: `index.yaml` per namespace and for
//! the whole registry, chart downloads, helm 4 and helm 3 `repo add/update`, `search repo`,
//! `pull`, `template`; caching headers; packs refused at push with a message saying why.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use sherpack_test_support::auth::{self, Cred, Tenants};
use sherpack_test_support::fixtures::{package_chart, push_like_upstream_sherpack, sherpack_archive, tar_gz, upload_chart_blobs};
use sherpack_test_support::oci::{Oci, digest};
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

fn host(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn push_chart(helm: &Path, home: &Path, archive: &Path, registry: &str) {
    run_ok(helm_command(helm, home).arg("push").arg(archive).args([registry, "--plain-http"]));
}

fn helm_repository_round_trip(helm: &Path) {
    let server = ServerProcess::start(ServerOptions::default());
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let registry = format!("oci://{}/acme", host(&server.url));
    let archives = package_chart(helm, home, &["0.1.0", "0.9.0", "0.10.0"]);
    for archive in &archives {
        push_chart(helm, home, archive, &registry);
    }
    run_ok(helm_command(helm, home).args(["repo", "add", "acme", &format!("{}/acme", server.url)]));
    run_ok(helm_command(helm, home).args(["repo", "update"]));
    let out = run_ok(helm_command(helm, home).args(["search", "repo", "acme/", "--versions", "-o", "json"]));
    let found: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let versions: Vec<&str> = found.as_array().unwrap().iter().map(|c| c["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["0.10.0", "0.9.0", "0.1.0"], "newest first");
    std::fs::create_dir(home.join("pulled")).unwrap();
    run_ok(helm_command(helm, home).args(["pull", "acme/mychart", "--version", "0.9.0", "-d", "pulled"]));
    assert_eq!(std::fs::read(home.join("pulled/mychart-0.9.0.tgz")).unwrap(), std::fs::read(&archives[1]).unwrap());
    let out = run_ok(helm_command(helm, home).args(["template", "demo", "acme/mychart"]));
    assert!(stdout(&out).contains("kind: Deployment"));

    // Deleting a version over OCI removes it from the index at once.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let oci = Oci::new(&server.url);
        let r = oci.http.head(oci.url("/v2/acme/mychart/manifests/0.1.0")).send().await.unwrap();
        let d = r.headers()["docker-content-digest"].to_str().unwrap().to_owned();
        let r = oci.http.delete(oci.url(&format!("/v2/acme/mychart/manifests/{d}"))).send().await.unwrap();
        assert_eq!(r.status(), 202);
    });
    run_ok(helm_command(helm, home).args(["repo", "update"]));
    let out = run_ok(helm_command(helm, home).args(["search", "repo", "acme/", "--versions", "-o", "json"]));
    let found: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 2, "{found}");
}

#[test]
fn helm4_repo_add_update_search_pull_template() {
    helm_repository_round_trip(&tools::helm());
}

#[test]
fn helm3_repo_add_update_search_pull_template() {
    helm_repository_round_trip(&tools::helm3());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_is_current_cached_compressed_and_shows_packs() {
    let server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let get = |path: &str| http.get(format!("{}{path}", server.url));

    // Read-after-write: the push's 201, then the index has it.
    let archive = sherpack_archive("api", "1.0.0", 1000);
    let layer = push_like_upstream_sherpack(&oci, "acme/api", "1.0.0", &archive).await;
    let r = get("/acme/index.yaml").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-yaml");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert!(r.headers().contains_key("last-modified"));
    let yaml = r.text().await.unwrap();
    assert!(yaml.contains("apiVersion: v1") && yaml.contains("name: api") && yaml.contains("version: \"1.0.0\""), "{yaml}");
    assert!(yaml.contains(&format!("digest: {}", layer.trim_start_matches("sha256:"))), "digest is the hex of the .tgz");
    assert!(yaml.contains("sherpack.io/kind: sherpack"));
    // Unchanged: 304. gzip when asked.
    let r = get("/acme/index.yaml").header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304);
    let r = get("/acme/index.yaml").header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let mut unzipped = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, yaml);
    // The JSON rendering is the same index.
    let index: Value = get("/acme/index.json").send().await.unwrap().json().await.unwrap();
    let entry = &index["entries"]["api"][0];
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(entry["urls"], json!(["charts/api-1.0.0.tgz"]));
    assert_eq!(entry["keywords"], json!(["web", "demo"]));
    // Only keys Helm accepts.
    let allowed = [
        "apiVersion", "name", "version", "appVersion", "kubeVersion", "type", "description", "keywords", "home", "sources", "icon",
        "maintainers", "deprecated", "annotations", "dependencies", "urls", "created", "digest",
    ];
    for key in entry.as_object().unwrap().keys() {
        assert!(allowed.contains(&key.as_str()), "unknown key {key}");
    }
    // The download is the pushed archive; a new push changes the ETag.
    let r = get("/acme/charts/api-1.0.0.tgz").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/gzip");
    assert_eq!(digest(&r.bytes().await.unwrap()), layer);
    assert_eq!(get("/acme/charts/api-9.9.9.tgz").send().await.unwrap().status(), 404);
    push_like_upstream_sherpack(&oci, "other/api", "2.0.0", &sherpack_archive("api", "2.0.0", 10)).await;
    let r = get("/acme/index.yaml").header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304, "another namespace's push leaves this index as it was");
    push_like_upstream_sherpack(&oci, "acme/api", "1.1.0", &sherpack_archive("api", "1.1.0", 10)).await;
    let r = get("/acme/index.yaml").header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 200, "its own push moves the ETag on");
    assert!(r.text().await.unwrap().contains("1.1.0"));
    // The registry-wide index holds every namespace, with URLs into each.
    let all: Value = get("/index.json").send().await.unwrap().json().await.unwrap();
    let urls: Vec<&str> = all["entries"]["api"].as_array().unwrap().iter().map(|e| e["urls"][0].as_str().unwrap()).collect();
    assert_eq!(urls, ["other/charts/api-2.0.0.tgz", "acme/charts/api-1.1.0.tgz", "acme/charts/api-1.0.0.tgz"]);
    assert_eq!(get("/nothing-here/index.yaml").send().await.unwrap().status(), 404);

    // Both kinds of index keep their rendered parts between changes: later pushes and a
    // delete, in either namespace, show in each of them, plain and gzip alike.
    let global_yaml = get("/index.yaml").send().await.unwrap().text().await.unwrap();
    assert!(global_yaml.contains("acme/charts/api-1.0.0.tgz"), "{global_yaml}");
    push_like_upstream_sherpack(&oci, "other/api", "3.0.0", &sherpack_archive("api", "3.0.0", 10)).await;
    push_like_upstream_sherpack(&oci, "acme/db", "0.1.0", &sherpack_archive("db", "0.1.0", 10)).await;
    let r = oci.http.head(oci.url("/v2/acme/api/manifests/1.0.0")).send().await.unwrap();
    let d = r.headers()["docker-content-digest"].to_str().unwrap().to_owned();
    assert_eq!(oci.http.delete(oci.url(&format!("/v2/acme/api/manifests/{d}"))).send().await.unwrap().status(), 202);
    let all: Value = get("/index.json").send().await.unwrap().json().await.unwrap();
    let urls = |name: &str| -> Vec<String> { all["entries"][name].as_array().unwrap().iter().map(|e| e["urls"][0].as_str().unwrap().to_owned()).collect() };
    assert_eq!(urls("api"), ["other/charts/api-3.0.0.tgz", "other/charts/api-2.0.0.tgz", "acme/charts/api-1.1.0.tgz"]);
    assert_eq!(urls("db"), ["acme/charts/db-0.1.0.tgz"]);
    let acme: Value = get("/acme/index.json").send().await.unwrap().json().await.unwrap();
    let names: Vec<&String> = acme["entries"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["api", "db"]);
    assert_eq!(acme["entries"]["api"].as_array().unwrap().len(), 1, "1.0.0 was deleted: {acme}");
    for path in ["/index.yaml", "/index.json", "/acme/index.yaml", "/acme/index.json", "/other/index.yaml"] {
        let plain = get(path).send().await.unwrap().text().await.unwrap();
        let r = get(path).header("accept-encoding", "gzip").send().await.unwrap();
        let mut unzipped = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, plain, "{path}: the gzip form is the same document");
        assert!(!plain.contains("api-1.0.0.tgz") && plain.contains("api-"), "{path}: {plain}");
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

const CHART: &[u8] = b"apiVersion: v2\nname: web\nversion: 1.0.0\n";

/// Pushes config + `layer` as a chart manifest tagged `tag` into `repo`; returns the response.
async fn push_pack(oci: &Oci, repo: &str, tag: &str, layer: &[u8]) -> (u16, String) {
    let manifest = upload_chart_blobs(oci, repo, layer).await;
    let r = oci.put_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &manifest).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_packs_are_refused_with_the_reason_and_nothing_stored() {
    let server = ServerProcess::start(ServerOptions {
        env: vec![("SHERPACK_REGISTRY_PACKS__MAX_UNPACKED_BYTES".into(), "8388608".into())],
        ..ServerOptions::default()
    });
    let oci = Oci::new(&server.url);
    let bomb = tar_gz(&[("web/Chart.yaml", CHART), ("web/zeros", &vec![0u8; 32 << 20])]);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("not gzip", "1.0.0", b"just text".to_vec(), "not gzip"),
        ("not tar", "1.0.0", gzip(&[7u8; 4000]), "not a valid tar"),
        ("no Chart.yaml", "1.0.0", tar_gz(&[("web/values.yaml", b"a: 1")]), "neither Chart.yaml nor Pack.yaml"),
        ("invalid YAML", "1.0.0", tar_gz(&[("web/Chart.yaml", b"name: [unclosed")]), "Chart.yaml is not valid"),
        ("invalid semver", "one", tar_gz(&[("web/Chart.yaml", b"apiVersion: v2\nname: web\nversion: one\n")]), "not a semantic version"),
        ("name mismatch", "1.0.0", tar_gz(&[("other/Chart.yaml", b"apiVersion: v2\nname: other\nversion: 1.0.0\n")]), "the repository is"),
        ("tag mismatch", "2.0.0", tar_gz(&[("web/Chart.yaml", CHART)]), "the tag 2.0.0 is a version and the pack's version is 1.0.0"),
        ("tarball bomb", "1.0.0", bomb, "unpacks to more than"),
        ("dot-dot path", "1.0.0", tar_gz(&[("web/Chart.yaml", CHART), ("../evil", b"x")]), "unsafe path"),
        ("absolute path", "1.0.0", tar_gz(&[("/etc/evil", b"x"), ("web/Chart.yaml", CHART)]), "unsafe path"),
    ];
    for (what, tag, layer, says) in cases {
        let (status, body) = push_pack(&oci, "acme/web", tag, &layer).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("MANIFEST_INVALID") && body.contains(says), "{what}: {body}");
    }
    let r = oci.http.get(oci.url("/v2/acme/web/tags/list")).send().await.unwrap();
    let tags: Value = r.json().await.unwrap();
    assert!(tags["tags"].as_array().is_none_or(Vec::is_empty), "no tag stored: {tags}");
    let r = oci.http.get(oci.url("/acme/index.yaml")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // And a good one goes through.
    let (status, body) = push_pack(&oci, "acme/web", "1.0.0", &tar_gz(&[("web/Chart.yaml", CHART)])).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_repositories_need_credentials() {
    let t = Tenants::start(ServerOptions::default()).await;
    let root = Oci::with_basic(&t.server.url, "root", "root-password");
    push_like_upstream_sherpack(&root, "team/api", "1.0.0", &sherpack_archive("api", "1.0.0", 10)).await;
    push_like_upstream_sherpack(&root, "pub/web", "1.0.0", &sherpack_archive("web", "1.0.0", 10)).await;
    let api = &t.api;
    let r = api.send(&Cred::Anonymous, Method::GET, "/team/index.yaml", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"sherpack-registry\"");
    assert_eq!(api.send(&Cred::user("otto"), Method::GET, "/team/index.yaml", None).await.status(), 404);
    assert_eq!(api.send(&Cred::user("otto"), Method::GET, "/team/charts/api-1.0.0.tgz", None).await.status(), 404);
    let body = api.send(&Cred::user("rita"), Method::GET, "/team/index.yaml", None).await.text().await.unwrap();
    assert!(body.contains("name: api"));
    api.expect(&Cred::Anonymous, Method::GET, "/pub/index.json", None, 200).await;
    // The registry-wide index shows only what the caller may read.
    let anonymous = api.expect(&Cred::Anonymous, Method::GET, "/index.json", None, 200).await;
    assert_eq!(anonymous["entries"].as_object().unwrap().keys().collect::<Vec<_>>(), ["web"]);
    let rita = api.expect(&Cred::user("rita"), Method::GET, "/index.json", None, 200).await;
    assert_eq!(rita["entries"].as_object().unwrap().keys().collect::<Vec<_>>(), ["api", "web"]);
    assert!(!api.send(&Cred::Anonymous, Method::GET, "/index.yaml", None).await.text().await.unwrap().contains("team"));

    // helm repo add --username --password against the private namespace.
    let home = tempfile::tempdir().unwrap();
    let helm = tools::helm();
    let url = format!("{}/team", t.server.url);
    let refused = helm_command(&helm, home.path()).args(["repo", "add", "team", &url]).output().unwrap();
    assert!(!refused.status.success());
    run_ok(helm_command(&helm, home.path()).args(["repo", "add", "team", &url, "--username", "rita", "--password", auth::PASSWORD]));
    std::fs::create_dir(home.path().join("pulled")).unwrap();
    run_ok(helm_command(&helm, home.path()).args(["pull", "team/api", "-d", "pulled"]));
    assert!(home.path().join("pulled/api-1.0.0.tgz").is_file());
}

#[test]
fn helm_parses_the_index_after_many_pushes_and_deletes() {
    let server = ServerProcess::start(ServerOptions::default());
    let helm = tools::helm();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let versions: Vec<String> = (1..=25).map(|i| format!("1.{i}.0")).collect();
    let refs: Vec<&str> = versions.iter().map(String::as_str).collect();
    let archives = package_chart(&helm, home, &refs);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let oci = Oci::new(&server.url);
        // Half over the ChartMuseum API, half over OCI, interleaved with deletes of both kinds.
        for (i, archive) in archives.iter().enumerate() {
            let data = std::fs::read(archive).unwrap();
            if i % 2 == 0 {
                let r = http.post(format!("{}/api/acme/charts", server.url)).body(data).send().await.unwrap();
                assert_eq!(r.status(), 201);
            } else {
                let manifest = upload_chart_blobs(&oci, "acme/mychart", &data).await;
                let r = oci.put_manifest("acme/mychart", &versions[i], "application/vnd.oci.image.manifest.v1+json", &manifest).await;
                assert_eq!(r.status(), 201);
            }
            if i % 5 == 4 {
                // Delete the version pushed two steps ago, alternating API and OCI.
                let old = &versions[i - 2];
                if i % 10 == 4 {
                    let r = http.delete(format!("{}/api/acme/charts/mychart/{old}", server.url)).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                } else {
                    let r = oci.http.head(oci.url(&format!("/v2/acme/mychart/manifests/{old}"))).send().await.unwrap();
                    let d = r.headers()["docker-content-digest"].to_str().unwrap().to_owned();
                    let r = oci.http.delete(oci.url(&format!("/v2/acme/mychart/manifests/{d}"))).send().await.unwrap();
                    assert_eq!(r.status(), 202);
                }
            }
        }
    });
    run_ok(helm_command(&helm, home).args(["repo", "add", "acme", &format!("{}/acme", server.url)]));
    let out = run_ok(helm_command(&helm, home).args(["search", "repo", "acme/mychart", "--versions", "-o", "json"]));
    let found: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed: Vec<&str> = found.as_array().unwrap().iter().map(|c| c["version"].as_str().unwrap()).collect();
    let deleted: Vec<String> = (0..25).filter(|i| i % 5 == 4).map(|i| versions[i - 2].clone()).collect();
    let mut expected: Vec<&String> = versions.iter().filter(|v| !deleted.contains(v)).collect();
    expected.sort_by_key(|v| std::cmp::Reverse(v.split('.').nth(1).unwrap().parse::<u32>().unwrap()));
    assert_eq!(listed, expected.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    std::fs::create_dir(home.join("newest")).unwrap();
    run_ok(helm_command(&helm, home).args(["pull", "acme/mychart", "-d", "newest"]));
    assert!(home.join("newest/mychart-1.25.0.tgz").is_file());
}
