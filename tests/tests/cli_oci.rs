//! `sherpack push` / `pull` over OCI, end to end, against our server (`SQLite` and Postgres) and
//! against CNCF distribution 2.8: versions by tag, range and digest, `--untar`, signatures
//! pushed from `<archive>.minisig` and checked with `--verify`, and the refusals a user meets.


use sherpack_test_support::cli::{Sherpack, files_in, package, write_pack};
use sherpack_test_support::peers::Distribution;
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

fn host(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Everything a user does with one OCI registry at `host`.
fn round_trip(host: &str) {
    let cli = Sherpack::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let archives = w.join("archives");
    let old = package(&cli, &write_pack(w, "web", "1.0.0", "", "", false), &archives);
    let new = package(&cli, &write_pack(w, "web", "1.1.0", "", "", false), &archives);
    let chart = package(&cli, &write_pack(w, "api", "0.1.0", "", "", true), &archives);
    let ns = format!("oci://{host}/team");

    // A signed version: keygen, sign, and the push takes the .minisig along.
    cli.ok(&["keygen", "--name", "release", "-d", w.to_str().unwrap()]);
    cli.ok(&["keygen", "--name", "stranger", "-d", w.to_str().unwrap()]);
    let (key, public, stranger) = (w.join("release.key"), w.join("release.pub"), w.join("stranger.pub"));
    cli.ok(&["sign", new.to_str().unwrap(), "--key", key.to_str().unwrap()]);

    let pushed = cli.json(&["push", old.to_str().unwrap(), &ns, "--plain-http"]);
    assert_eq!(pushed["reference"], format!("oci://{host}/team/web:1.0.0"));
    let old_digest = pushed["digest"].as_str().unwrap().to_owned();
    let pushed = cli.json(&["push", new.to_str().unwrap(), &format!("{ns}/web"), "--plain-http"]);
    assert_eq!(pushed["signed"], true);
    cli.ok(&["push", chart.to_str().unwrap(), &ns, "--plain-http"]);

    // The tag is the version: a different one is refused before anything is sent.
    let err = cli.fails(&["push", old.to_str().unwrap(), &format!("{ns}/web:2.0.0"), "--plain-http"], 2);
    assert!(err.contains("not `2.0.0`"), "{err}");

    // Newest in a range, an exact tag, a manifest digest: each gives the pushed bytes.
    let out = w.join("out");
    let o = out.to_str().unwrap();
    let pulled = cli.json(&["pull", &format!("{ns}/web"), "--version", "^1.0", "-d", o, "--plain-http"]);
    assert_eq!(pulled["version"], "1.1.0");
    assert_eq!(std::fs::read(out.join("web-1.1.0.tgz")).unwrap(), std::fs::read(&new).unwrap());
    std::fs::remove_file(out.join("web-1.1.0.tgz")).unwrap();
    cli.ok(&["pull", &format!("{ns}/web:1.0.0"), "-d", o, "--plain-http"]);
    assert_eq!(std::fs::read(out.join("web-1.0.0.tgz")).unwrap(), std::fs::read(&old).unwrap());
    std::fs::remove_file(out.join("web-1.0.0.tgz")).unwrap();
    let pulled = cli.json(&["pull", &format!("{ns}/web@{old_digest}"), "-d", o, "--plain-http"]);
    assert_eq!(pulled["version"], "1.0.0");
    std::fs::remove_file(out.join("web-1.0.0.tgz")).unwrap();
    cli.ok(&["pull", &format!("{ns}/api"), "--untar", "-d", o, "--plain-http"]);
    assert!(out.join("api/Chart.yaml").is_file());
    assert!(out.join("api/templates/cm.yaml").is_file());
    assert_eq!(files_in(&out), vec!["api"], "--untar keeps the directory only");

    // Signatures: the right key passes; a stranger's key or no signature at all leaves nothing.
    let verified = cli.json(&["pull", &format!("{ns}/web:1.1.0"), "--verify", public.to_str().unwrap(), "-d", o, "--plain-http"]);
    assert!(verified["verified"].as_str().unwrap().contains("sherpack:web v1.1.0"), "{verified}");
    let strict = w.join("strict");
    let s = strict.to_str().unwrap();
    let err = cli.fails(&["pull", &format!("{ns}/web:1.1.0"), "--verify", stranger.to_str().unwrap(), "-d", s, "--plain-http"], 6);
    assert!(err.contains("does not verify"), "{err}");
    let err = cli.fails(&["pull", &format!("{ns}/web:1.0.0"), "--verify", public.to_str().unwrap(), "-d", s, "--plain-http"], 6);
    assert!(err.contains("no signature"), "{err}");
    assert!(files_in(&strict).is_empty(), "nothing kept after a failed verification: {:?}", files_in(&strict));

    // An OCI namespace as a configured repository: `pull <repo>/<name>` lists its tags.
    cli.ok(&["repo", "add", "registry", &ns, "--plain-http"]);
    let listed = cli.json(&["repo", "list"]);
    assert_eq!(listed[0]["repoType"], "oci");
    let via_repo = w.join("via-repo");
    let pulled = cli.json(&["pull", "registry/web", "--version", "~1.0", "-d", via_repo.to_str().unwrap(), "--plain-http"]);
    assert_eq!(pulled["version"], "1.0.0");
    assert_eq!(std::fs::read(via_repo.join("web-1.0.0.tgz")).unwrap(), std::fs::read(&old).unwrap());

    // Dependencies resolved from this registry: the newest matching version, locked by digest,
    // and fetched again byte for byte from the lock.
    let app = write_pack(w, "app", "1.0.0", &format!("dependencies:\n- name: web\n  version: \"^1.0\"\n  repository: {ns}\n"), "", false);
    let locked = cli.json(&["dependency", "update", app.to_str().unwrap(), "--plain-http"]);
    assert_eq!((locked[0]["name"].as_str(), locked[0]["version"].as_str()), (Some("web"), Some("1.1.0")));
    let fetched = app.join("charts/web-1.1.0.tgz");
    assert_eq!(std::fs::read(&fetched).unwrap(), std::fs::read(&new).unwrap());
    std::fs::remove_file(&fetched).unwrap();
    cli.ok(&["dependency", "build", app.to_str().unwrap(), "--plain-http"]);
    assert_eq!(std::fs::read(&fetched).unwrap(), std::fs::read(&new).unwrap());

    // Login checks the registry answers before it stores anything (this one asks for no
    // credentials, so any are accepted), and logout forgets them.
    let run = cli.run_with_input(&["login", host, "-u", "ci", "--password-stdin", "--plain-http"], "secret\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(cli.config_home().join("credentials.yaml")).unwrap().contains("username: ci"));
    cli.ok(&["pull", &format!("{ns}/web:1.0.0"), "-d", w.join("after-login").to_str().unwrap(), "--plain-http"]);
    cli.ok(&["logout", host]);

    // A version that does not exist names the ones that do.
    let err = cli.fails(&["pull", &format!("{ns}/web:9.9.9"), "-d", s, "--plain-http"], 4);
    assert!(err.contains("1.1.0, 1.0.0"), "{err}");
    let err = cli.fails(&["pull", &format!("{ns}/web"), "--version", "^3", "-d", s, "--plain-http"], 4);
    assert!(err.contains("1.1.0, 1.0.0"), "{err}");
}

#[test]
fn push_and_pull_against_our_server_on_sqlite() {
    let server = ServerProcess::start(ServerOptions::default());
    round_trip(&host(&server.url));
}

#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_against_our_server_on_postgres() {
    PgDatabase::with_server(|server| round_trip(&host(&server.url))).await;
}

#[test]
fn push_and_pull_against_cncf_distribution() {
    let registry = Distribution::start();
    round_trip(&registry.host);
}
