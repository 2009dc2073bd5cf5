//! Real clients with credentials against a registry with authentication on: helm 4 and 3
//! (`registry login`, push, pull, a wrong password refused), the ORAS SDK, skopeo `--creds`,
//! and the upstream `sherpack` client's Basic credentials.

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::json;
use sherpack_test_support::auth::{self, Cred, Tenants};
use sherpack_test_support::fixtures::{package_chart, push_like_upstream_sherpack, sherpack_archive, write_oci_layout};
use sherpack_test_support::oci::{Oci, digest};
use sherpack_test_support::server::ServerOptions;
use sherpack_test_support::tools::{self, helm_command, helm_login, run_ok};

fn host(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

fn helm_with_credentials(helm: &Path) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let t = runtime.block_on(Tenants::start(ServerOptions::default()));
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let host = host(&t.server.url);
    let archives = package_chart(helm, home, &["0.1.0"]);

    let (ok, said) = helm_login(helm, home, &host, "walt", "wrong-password");
    assert!(!ok, "a wrong password must fail the login: {said}");
    // Without credentials a push is refused.
    let out = helm_command(helm, home).arg("push").arg(&archives[0]).args([&format!("oci://{host}/team"), "--plain-http"]).output().unwrap();
    assert!(!out.status.success(), "anonymous push accepted");

    let (ok, said) = helm_login(helm, home, &host, "walt", auth::PASSWORD);
    assert!(ok, "{said}");
    let out = run_ok(helm_command(helm, home).arg("push").arg(&archives[0]).args([&format!("oci://{host}/team"), "--plain-http"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Pushed:") || String::from_utf8_lossy(&out.stdout).contains("Pushed:"));
    std::fs::create_dir(home.join("pulled")).unwrap();
    run_ok(helm_command(helm, home).args(["pull", &format!("oci://{host}/team/mychart"), "--version", "0.1.0", "--plain-http", "-d", "pulled"]));
    assert_eq!(std::fs::read(home.join("pulled/mychart-0.1.0.tgz")).unwrap(), std::fs::read(&archives[0]).unwrap());
    // walt may not push into pub: helm reports the refusal.
    let out = helm_command(helm, home).arg("push").arg(&archives[0]).args([&format!("oci://{host}/pub"), "--plain-http"]).output().unwrap();
    assert!(!out.status.success(), "push into pub accepted for a non-member");
    // A robot token is a password to helm.
    run_ok(helm_command(helm, home).args(["registry", "logout", &host]));
    let (ok, said) = helm_login(helm, home, &host, "ci", &t.robot_pull);
    assert!(ok, "{said}");
    std::fs::create_dir(home.join("robot")).unwrap();
    run_ok(helm_command(helm, home).args(["pull", &format!("oci://{host}/team/mychart"), "--version", "0.1.0", "--plain-http", "-d", "robot"]));
    // The push is in the audit log as walt's.
    let log = runtime.block_on(t.api.expect(&Cred::admin(), Method::GET, "/api/v1/audit?action=push", None, 200));
    assert!(log.as_array().unwrap().iter().any(|e| e["actor"] == "walt" && e["target"] == "team/mychart:0.1.0"), "{log}");
}

#[test]
fn helm4_login_push_pull() {
    helm_with_credentials(&tools::helm());
}

#[test]
fn helm3_login_push_pull() {
    helm_with_credentials(&tools::helm3());
}

#[test]
fn oras_with_credentials() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let t = runtime.block_on(Tenants::start(ServerOptions::default()));
    let work = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/oras_flow.py");
    let out = run_ok(
        Command::new(tools::oras_python())
            .arg(&script)
            .arg(host(&t.server.url))
            .arg(work.path())
            .env("ORAS_USER", "ci")
            .env("ORAS_PASSWORD", &t.robot_push)
            .env("ORAS_NAMESPACE", "team"),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("oras flow ok"));
    // The same script without credentials fails.
    let anonymous = Command::new(tools::oras_python()).arg(&script).arg(host(&t.server.url)).arg(tempfile::tempdir().unwrap().path()).env("ORAS_NAMESPACE", "team").output().unwrap();
    assert!(!anonymous.status.success());
}

#[test]
fn skopeo_with_credentials() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let t = runtime.block_on(Tenants::start(ServerOptions::default()));
    let skopeo = tools::system("skopeo");
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let manifest_digest = write_oci_layout(&source, b"layer bytes");
    let image = |repo: &str| format!("docker://{}/{repo}", host(&t.server.url));
    let creds = format!("walt:{}", auth::PASSWORD);

    let refused = Command::new(&skopeo).args(["copy", "--dest-tls-verify=false"]).arg(format!("oci:{}:v1", source.display())).arg(image("team/img:v1")).output().unwrap();
    assert!(!refused.status.success(), "anonymous copy accepted");
    run_ok(Command::new(&skopeo).args(["copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", &creds]).arg(format!("oci:{}:v1", source.display())).arg(image("team/img:v1")));
    let out = run_ok(Command::new(&skopeo).args(["inspect", "--raw", "--tls-verify=false", "--creds", &creds, &image("team/img:v1")]));
    assert_eq!(digest(&out.stdout), manifest_digest);
    let out = run_ok(Command::new(&skopeo).args(["list-tags", "--tls-verify=false", "--creds", &format!("rita:{}", auth::PASSWORD), &image("team/img")]));
    let tags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tags["Tags"], json!(["v1"]));
    // Anonymous pulls of a public namespace follow the anonymous token flow (skopeo calls
    // `GET /v2/` first, gets the challenge, fetches an anonymous token, and retries).
    run_ok(Command::new(&skopeo).args(["copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", &format!("root:{}", auth::ADMIN.1)]).arg(format!("oci:{}:v1", source.display())).arg(image("pub/img:v1")));
    let out = run_ok(Command::new(&skopeo).args(["inspect", "--raw", "--tls-verify=false", "--no-creds", &image("pub/img:v1")]));
    assert_eq!(digest(&out.stdout), manifest_digest);
    let private = Command::new(&skopeo).args(["inspect", "--raw", "--tls-verify=false", "--no-creds", &image("team/img:v1")]).output().unwrap();
    assert!(!private.status.success(), "anonymous read of a private namespace");
    // otto (another namespace) cannot even see it.
    let hidden = Command::new(&skopeo).args(["inspect", "--raw", "--tls-verify=false", "--creds", &format!("otto:{}", auth::PASSWORD), &image("team/img:v1")]).output().unwrap();
    assert!(!hidden.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_sherpack_client_with_basic_credentials() {
    let t = Tenants::start(ServerOptions::default()).await;
    let archive = sherpack_archive("webapp", "1.0.0", 5 * 1024 * 1024);
    // The upstream client sends Basic credentials on every request, `GET /v2/` included.
    let walt = Oci::with_basic(&t.server.url, "walt", auth::PASSWORD);
    let layer = push_like_upstream_sherpack(&walt, "team/webapp", "1.0.0", &archive).await;
    let robot = Oci::with_basic(&t.server.url, "ci", &t.robot_pull);
    let r = robot.http.get(robot.url(&format!("/v2/team/webapp/blobs/{layer}"))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), archive);
    // And a wrong password stops it at its first `GET /v2/`.
    let r = t.api.send(&Cred::Basic("walt".into(), "nope-nope".into()), Method::GET, "/v2/", None).await;
    assert_eq!(r.status(), 401);
}
