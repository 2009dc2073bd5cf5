//! The CLI against a registry with authentication on (the OCI token flow, Basic on the Helm
//! repository and `ChartMuseum` API) and over TLS: login checks credentials before storing them,
//! logout forgets them, Docker's config.json is read, API tokens work as bearer credentials;
//! and the errors a user meets say what to do.

use std::os::unix::fs::PermissionsExt as _;

use sherpack_test_support::auth::{PASSWORD, Tenants};
use sherpack_test_support::cli::{Sherpack, package, write_pack};
use sherpack_test_support::server::{ServerOptions, ServerProcess};

fn host(url: &str) -> String {
    url.trim_start_matches("http://").trim_start_matches("https://").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::many_single_char_names)] // h(ost), w(ork dir), a(rchive), o(ut): the test reads like the commands
async fn login_push_pull_and_logout_with_authentication_on() {
    let t = Tenants::start(ServerOptions::default()).await;
    let url = t.server.url.clone();
    let robot_push = t.robot_push.clone();
    tokio::task::spawn_blocking(move || {
        let h = host(&url);
        let cli = Sherpack::new();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let archive = package(&cli, &write_pack(w, "secret", "1.0.0", "", "", false), &w.join("a"));
        let a = archive.to_str().unwrap();
        let ns = format!("oci://{h}/team");
        let out = w.join("out");
        let o = out.to_str().unwrap();
        let credentials = cli.config_home().join("credentials.yaml");

        // Anonymous: the private namespace answers 401 and the message says to log in.
        let err = cli.fails(&["push", a, &ns, "--plain-http"], 3);
        assert!(err.contains(&format!("run `sherpack login {h}`")), "{err}");

        // A wrong password is refused and nothing is stored.
        let run = cli.run_with_input(&["login", &h, "-u", "walt", "--password-stdin", "--plain-http"], "wrong\n");
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert!(!credentials.exists(), "nothing stored after a failed login");

        // The right one is stored (private to the user) and used for the token flow.
        let run = cli.run_with_input(&["login", &h, "-u", "walt", "--password-stdin", "--plain-http"], &format!("{PASSWORD}\n"));
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(std::fs::metadata(&credentials).unwrap().permissions().mode() & 0o777, 0o600);
        let stored = std::fs::read_to_string(&credentials).unwrap();
        assert!(stored.contains("type: basic") && stored.contains("username: walt"), "{stored}");
        cli.ok(&["push", a, &ns, "--plain-http"]);
        cli.ok(&["pull", &format!("{ns}/secret:1.0.0"), "-d", o, "--plain-http"]);
        assert_eq!(std::fs::read(out.join("secret-1.0.0.tgz")).unwrap(), std::fs::read(&archive).unwrap());

        // A reader may pull but not push: 403, said as such.
        let reader = Sherpack::new();
        let run = reader.run_with_input(&["login", &h, "-u", "rita", "--password-stdin", "--plain-http"], &format!("{PASSWORD}\n"));
        assert_eq!(run.code, 0, "{}", run.stderr);
        let err = reader.fails(&["push", a, &ns, "--plain-http"], 3);
        assert!(err.contains("denied"), "{err}");

        // The Helm repository and the ChartMuseum API take the same stored credential (Basic).
        cli.ok(&["repo", "add", "team", &format!("http://{h}/team")]);
        let hits = cli.json(&["search", "repo", "secret"]);
        assert_eq!(hits[0]["name"], "team/secret");
        let second = package(&cli, &write_pack(w, "secret", "1.1.0", "", "", false), &w.join("a"));
        cli.ok(&["push", second.to_str().unwrap(), "--repo", "team"]);

        // Logout forgets; afterwards the private pack is out of reach again.
        cli.ok(&["logout", &h]);
        let err = cli.fails(&["pull", &format!("{ns}/secret:1.0.0"), "-d", o, "--plain-http"], 3);
        assert!(err.contains("sherpack login"), "{err}");
        let err = cli.fails(&["logout", &h], 4);
        assert!(err.contains("stored credentials"), "{err}");

        // Docker's config.json is read when sherpack has nothing stored.
        let docker = cli.home.path().join("docker");
        std::fs::create_dir_all(&docker).unwrap();
        let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("walt:{PASSWORD}"));
        std::fs::write(docker.join("config.json"), format!(r#"{{"auths":{{"{h}":{{"auth":"{auth}"}}}}}}"#)).unwrap();
        cli.ok(&["pull", &format!("{ns}/secret:1.1.0"), "-d", o, "--plain-http"]);

        // An API token (robot of `team`, push scope) logs in without a user name.
        let robot = Sherpack::new();
        let run = robot.run_with_input(&["login", &h, "--password-stdin", "--plain-http"], &format!("{robot_push}\n"));
        assert_eq!(run.code, 0, "{}", run.stderr);
        let third = package(&cli, &write_pack(w, "secret", "1.2.0", "", "", false), &w.join("a"));
        robot.ok(&["push", third.to_str().unwrap(), &ns, "--plain-http"]);
    })
    .await
    .unwrap();
}

#[test]
fn tls_needs_a_trusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = sherpack_test_support::tls::make(dir.path());
    let args = ["--tls-cert", certs.cert.to_str().unwrap(), "--tls-key", certs.key.to_str().unwrap()].map(str::to_owned).to_vec();
    let server = ServerProcess::start(ServerOptions { args, ..ServerOptions::default() });
    let h = host(&server.url);
    let cli = Sherpack::new();
    let work = tempfile::tempdir().unwrap();
    let archive = package(&cli, &write_pack(work.path(), "tls", "1.0.0", "", "", false), &work.path().join("a"));
    let a = archive.to_str().unwrap();
    let ns = format!("oci://{h}/team");
    let err = cli.fails(&["push", a, &ns], 5);
    assert!(err.contains("TLS failure") && err.contains("--ca-file"), "{err}");
    cli.ok(&["push", a, &ns, "--ca-file", certs.ca.to_str().unwrap()]);
    let out = work.path().join("out");
    cli.ok(&["pull", &format!("{ns}/tls"), "-d", out.to_str().unwrap(), "--insecure"]);
    assert!(out.join("tls-1.0.0.tgz").is_file());
    // A file that is not a certificate is a usage problem, said as such.
    let err = cli.fails(&["pull", &format!("{ns}/tls"), "-d", out.to_str().unwrap(), "--ca-file", a], 8);
    assert!(err.contains("certificate"), "{err}");
}
