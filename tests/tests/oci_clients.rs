//! Real clients against the real server: helm 4 and helm 3, the ORAS SDK, skopeo, and a push
//! made the way the upstream `sherpack` client makes it.

use std::path::Path;
use std::process::Command;

use sherpack_test_support::fixtures::{package_chart, push_like_upstream_sherpack, sherpack_archive, write_oci_layout};
use sherpack_test_support::oci::{Oci, digest};
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

fn host(server: &ServerProcess) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn helm_round_trip(helm: &Path) {
    let server = ServerProcess::start(ServerOptions::default());
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let registry = format!("oci://{}/acme", host(&server));
    let archives = package_chart(helm, home, &["0.1.0", "0.10.0", "0.9.0"]);
    for archive in &archives {
        let out = run_ok(helm_command(helm, home).arg("push").arg(archive).args([&registry, "--plain-http"]));
        let said = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(said.contains("Pushed:"), "{said}");
    }
    // Pull a version: the bytes that were pushed.
    std::fs::create_dir(home.join("pulled")).unwrap();
    let chart = format!("{registry}/mychart");
    run_ok(helm_command(helm, home).args(["pull", &chart, "--version", "0.9.0", "--plain-http", "-d", "pulled"]));
    assert_eq!(std::fs::read(home.join("pulled/mychart-0.9.0.tgz")).unwrap(), std::fs::read(&archives[2]).unwrap());
    // Without --version: the highest semver tag (0.10.0; a lexical sort would say 0.9.0).
    std::fs::create_dir(home.join("latest")).unwrap();
    run_ok(helm_command(helm, home).args(["pull", &chart, "--plain-http", "-d", "latest"]));
    assert!(home.join("latest/mychart-0.10.0.tgz").is_file());
    // show chart and template straight from the registry.
    let out = run_ok(helm_command(helm, home).args(["show", "chart", &chart, "--version", "0.1.0", "--plain-http"]));
    assert!(stdout(&out).contains("name: mychart") && stdout(&out).contains("version: 0.1.0"), "{}", stdout(&out));
    let out = run_ok(helm_command(helm, home).args(["template", "demo", &chart, "--version", "0.10.0", "--plain-http"]));
    assert!(stdout(&out).contains("kind: Deployment"), "{}", stdout(&out));
    // Re-pushing the same chart is accepted.
    run_ok(helm_command(helm, home).arg("push").arg(&archives[0]).args([&registry, "--plain-http"]));
}

#[test]
fn helm4_push_pull_show_template() {
    helm_round_trip(&tools::helm());
}

#[test]
fn helm3_push_pull_show_template() {
    helm_round_trip(&tools::helm3());
}

#[test]
fn oras_push_pull_tags_and_referrers() {
    let server = ServerProcess::start(ServerOptions::default());
    let work = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/oras_flow.py");
    let out = run_ok(Command::new(tools::oras_python()).arg(script).arg(host(&server)).arg(work.path()));
    assert!(stdout(&out).contains("oras flow ok"));
}

#[test]
fn skopeo_inspect_list_and_copy_both_ways() {
    let server = ServerProcess::start(ServerOptions::default());
    let skopeo = tools::system("skopeo");
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let manifest_digest = write_oci_layout(&source, &vec![7u8; 3 * 1024 * 1024]);
    let image = |repo: &str| format!("docker://{}/{repo}", host(&server));

    run_ok(Command::new(&skopeo).args(["copy", "--preserve-digests", "--dest-tls-verify=false"]).arg(format!("oci:{}:v1", source.display())).arg(image("acme/img:v1")));
    let out = run_ok(Command::new(&skopeo).args(["inspect", "--raw", "--tls-verify=false", &image("acme/img:v1")]));
    assert_eq!(digest(&out.stdout), manifest_digest, "the manifest bytes are kept as pushed");
    run_ok(Command::new(&skopeo).args(["copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", &image("acme/img:v1"), &image("acme/img:v2")]));
    run_ok(Command::new(&skopeo).args(["copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", &image("acme/img:v1"), &image("other/img:copy")]));
    let out = run_ok(Command::new(&skopeo).args(["list-tags", "--tls-verify=false", &image("acme/img")]));
    let tags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["v1", "v2"]));

    let out_dir = work.path().join("out");
    run_ok(Command::new(&skopeo).args(["copy", "--preserve-digests", "--src-tls-verify=false", &image("other/img:copy")]).arg(format!("oci:{}:copied", out_dir.display())));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], manifest_digest.as_str(), "copied out byte for byte");
}

/// A push made like the upstream `sherpack` client's, read back.
#[tokio::test]
async fn a_push_made_like_the_upstream_sherpack_client() {
    let server = ServerProcess::start(ServerOptions::default());
    let oci = Oci::new(&server.url);
    let archive = sherpack_archive("webapp", "1.2.3", 9 * 1024 * 1024);
    let layer = push_like_upstream_sherpack(&oci, "acme/webapp", "1.2.3", &archive).await;
    let r = oci.http.get(oci.url("/v2/acme/webapp/manifests/1.2.3")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/vnd.oci.image.manifest.v1+json");
    let r = oci.http.get(oci.url(&format!("/v2/acme/webapp/blobs/{layer}"))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), archive);
}

/// A chart re-tagged by skopeo (bytes kept) and by the ORAS SDK (re-serialised): both tags are
/// aliases of version 0.1.0, which stays one index entry; helm pulls the version, and (helm
/// takes only versions for tags: `--version stable` is "improper constraint") the manifest each
/// alias names, by its digest. The archive comes back byte for byte every time.
async fn chart_aliases_through_clients(server: &ServerProcess) {
    let helm = tools::helm();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let host = host(server);
    let archive = package_chart(&helm, home, &["0.1.0"]).pop().unwrap();
    run_ok(helm_command(&helm, home).arg("push").arg(&archive).args([&format!("oci://{host}/acme"), "--plain-http"]));
    let skopeo = tools::system("skopeo");
    let image = |tag: &str| format!("docker://{host}/acme/mychart:{tag}");
    run_ok(Command::new(&skopeo).args(["copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", &image("0.1.0"), &image("stable")]));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/oras_tag.py");
    let out = run_ok(Command::new(tools::oras_python()).arg(script).args([&host, "acme/mychart", "0.1.0", "prod"]));
    let oras_digest = stdout(&out).trim().to_owned();

    let oci = Oci::new(&server.url);
    let tags: serde_json::Value = oci.http.get(oci.url("/v2/acme/mychart/tags/list")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["0.1.0", "prod", "stable"]));
    let index: serde_json::Value = oci.http.get(oci.url("/acme/index.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(index["entries"]["mychart"].as_array().unwrap().len(), 1, "{index}");
    let api: serde_json::Value = oci.http.get(oci.url("/api/acme/charts/mychart/0.1.0")).send().await.unwrap().json().await.unwrap();
    assert_eq!(api["aliases"], serde_json::json!(["prod", "stable"]));

    let pushed = std::fs::read(&archive).unwrap();
    let pulled = |dir: &str, reference: &[&str]| {
        std::fs::create_dir(home.join(dir)).unwrap();
        run_ok(helm_command(&helm, home).args(["pull"]).args(reference).args(["--plain-http", "-d", dir]));
        let file = std::fs::read_dir(home.join(dir)).unwrap().next().unwrap().unwrap().path();
        std::fs::read(file).unwrap()
    };
    let chart = format!("oci://{host}/acme/mychart");
    assert_eq!(pulled("by-version", &[&chart, "--version", "0.1.0"]), pushed);
    for alias in ["stable", "prod"] {
        let r = oci.http.head(oci.url(&format!("/v2/acme/mychart/manifests/{alias}"))).header("accept", "application/vnd.oci.image.manifest.v1+json").send().await.unwrap();
        let d = r.headers()["docker-content-digest"].to_str().unwrap().to_owned();
        if alias == "prod" {
            assert_eq!(d, oras_digest);
        }
        assert_eq!(pulled(&format!("by-{alias}"), &[&format!("{chart}@{d}")]), pushed, "{alias}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_aliases_through_skopeo_oras_and_helm_on_sqlite() {
    chart_aliases_through_clients(&ServerProcess::start(ServerOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_aliases_through_skopeo_oras_and_helm_on_postgres() {
    sherpack_test_support::postgres::PgDatabase::with(|url| async move {
        let server = ServerProcess::start(ServerOptions { args: vec!["--database-url".into(), url], ..ServerOptions::default() });
        chart_aliases_through_clients(&server).await;
    })
    .await;
}
