//! `sherpack-registry import --from-helm-repo` against a running registry, on `SQLite` and
//! Postgres: a static repository made by `helm repo index` (signed charts with a dependency,
//! several versions) comes in with the same digests and is then served to helm, the `sherpack`
//! CLI, search and the web page; a second run skips everything; a conflict is kept until
//! `--overwrite`; an import killed half way and run again ends the same, without duplicates;
//! each class of bad source (unreachable, 401, unparsable index, digest mismatch, archive refused
//! by the pack limits, silent source, redirect elsewhere) gets a clear error and stores nothing.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use sherpack_test_support::cli::Sherpack;
use sherpack_test_support::fixtures::{package_chart, signed_charts};
use sherpack_test_support::import::{Run, Target, block, counts, eventually, expected, get, get_json, names};
use sherpack_test_support::oci::digest;
use sherpack_test_support::peers::{Nginx, StaticRepo, helm_repo_index};
use sherpack_test_support::postgres::{PgDatabase, server_options};
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

/// The whole story on one registry: import, clients see the same bytes, run twice, conflict.
fn import_a_static_repository(target: &Target) {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("charts");
    std::fs::create_dir(&out).unwrap();
    let helm = tools::helm();
    let files = signed_charts(&helm, work.path(), &out);
    let source = StaticRepo::start();
    source.publish(&files);
    let base = &target.server.url;
    let host = base.trim_start_matches("http://");

    // A different mychart 0.1.0 is here already: a conflict, kept.
    let other = tempfile::tempdir().unwrap();
    run_ok(helm_command(&helm, other.path()).args(["create", "mychart"]));
    // Edited, so its bytes differ from the source's 0.1.0 even when both are packaged within the
    // same second (helm's archives are otherwise the same bytes for the same chart).
    let values = other.path().join("mychart/values.yaml");
    let edited = std::fs::read_to_string(&values).unwrap() + "# a local edit, not in the source\n";
    std::fs::write(&values, edited).unwrap();
    run_ok(helm_command(&helm, other.path()).args(["package", "mychart", "--version", "0.1.0", "-d", "packages"]));
    let mine = std::fs::read(other.path().join("packages/mychart-0.1.0.tgz")).unwrap();
    let status = block(async { reqwest::Client::new().post(format!("{base}/api/team/charts")).body(mine.clone()).send().await.unwrap().status() });
    assert_eq!(status, 201);

    let run = target.import(&["--namespace", "team", "--from-helm-repo", &source.url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(names(&run.summary["imported"]), ["mychart 0.2.0", "mychart 1.0.0", "webapp 1.0.0", "webapp 1.1.0"], "{}", run.summary);
    assert_eq!(names(&run.summary["conflicts"]), ["mychart 0.1.0"], "{}", run.summary);
    assert_eq!(run.summary["conflicts"][0]["digest"], digest(&mine));
    assert_eq!(counts(&run.summary)[3], 0);
    let mut want: Vec<String> = expected(&files).into_iter().filter(|l| !l.starts_with("mychart 0.1.0")).collect();
    want.push(format!("mychart 0.1.0 {}", &digest(&mine)[7..]));
    want.sort();
    eventually("the imported versions in the index", || target.listed("team") == want);

    // The second run skips everything; the conflict stays one.
    let again = target.import(&["--namespace", "team", "--from-helm-repo", &source.url]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(counts(&again.summary), [0, 4, 1, 0], "{}", again.summary);
    // --overwrite with filters replaces just that version.
    let forced = target.import(&["--namespace", "team", "--from-helm-repo", &source.url, "--charts", "mychart", "--versions", "<0.2", "--overwrite"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(names(&forced.summary["imported"]), ["mychart 0.1.0"], "{}", forced.summary);
    assert_eq!(counts(&forced.summary), [1, 0, 0, 0]);
    eventually("the overwritten version in the index", || target.listed("team") == expected(&files));

    // helm pulls the same bytes from the Helm repository, with the provenance.
    let home = tempfile::tempdir().unwrap();
    run_ok(helm_command(&helm, home.path()).args(["repo", "add", "team", &format!("{base}/team")]));
    std::fs::create_dir(home.path().join("pulled")).unwrap();
    run_ok(helm_command(&helm, home.path()).args(["pull", "team/webapp", "--version", "1.1.0", "-d", "pulled"]));
    assert_eq!(std::fs::read(home.path().join("pulled/webapp-1.1.0.tgz")).unwrap(), std::fs::read(out.join("webapp-1.1.0.tgz")).unwrap());
    let prov = get(&format!("{base}/team/charts/webapp-1.1.0.tgz.prov"));
    assert_eq!(prov, (200, std::fs::read(out.join("webapp-1.1.0.tgz.prov")).unwrap()));
    // ...and over OCI, as does the sherpack CLI.
    let cli = Sherpack::new();
    let dest = cli.home.path().join("out");
    cli.ok(&["pull", &format!("oci://{host}/team/mychart:0.2.0"), "-d", dest.to_str().unwrap(), "--plain-http"]);
    assert_eq!(std::fs::read(dest.join("mychart-0.2.0.tgz")).unwrap(), std::fs::read(out.join("mychart-0.2.0.tgz")).unwrap());

    // Search finds them; the web page shows the version with its digest and its dependency.
    let webapp_digest = &digest(&std::fs::read(out.join("webapp-1.1.0.tgz")).unwrap())[7..];
    eventually("webapp in search", || {
        let body = get_json(&format!("{base}/api/v1/packages/search?ts_query_web=webapp"));
        body["packages"].as_array().is_some_and(|p| p.iter().any(|p| p["name"] == "webapp" && p["version"] == "1.1.0"))
    });
    let page = String::from_utf8(get(&format!("{base}/-/packs/team/webapp")).1).unwrap();
    assert!(page.contains("1.1.0") && page.contains(webapp_digest), "the pack page shows the version and its digest");
    let dependencies = String::from_utf8(get(&format!("{base}/-/packs/team/webapp/dependencies")).1).unwrap();
    assert!(dependencies.contains("/-/packs/team/mychart"), "the dependency, imported too, is linked");
}

#[test]
fn imports_a_static_helm_repository_on_sqlite() {
    let server = ServerProcess::start(ServerOptions::default());
    import_a_static_repository(&Target { server: &server, env: vec![] });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_static_helm_repository_on_postgres() {
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        let options = server_options(url, blobs.path());
        let env = options.env.clone();
        let server = ServerProcess::start(options);
        tokio::task::spawn_blocking(move || import_a_static_repository(&Target { server: &server, env })).await.unwrap();
    })
    .await;
}

/// `count` versions of `mychart` in `dir` with their index.
fn many_versions(dir: &Path, count: usize) -> Vec<PathBuf> {
    let home = tempfile::tempdir().unwrap();
    let versions: Vec<String> = (0..count).map(|i| format!("1.{i}.0")).collect();
    let refs: Vec<&str> = versions.iter().map(String::as_str).collect();
    let archives = package_chart(&tools::helm(), home.path(), &refs);
    let copied = archives.iter().map(|a| {
        let to = dir.join(a.file_name().unwrap());
        std::fs::copy(a, &to).unwrap();
        to
    });
    let copied: Vec<PathBuf> = copied.collect();
    helm_repo_index(dir);
    copied
}

#[test]
fn an_interrupted_import_continues_without_duplicates() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let root = tempfile::tempdir().unwrap();
    let files = many_versions(root.path(), 30);
    // Slow downloads (about a quarter of a second each) so the kill lands half way.
    let source = Nginx::serve_with(root.path(), "location ~ \\.tgz$ { limit_rate 16k; }");
    let mut child = target.command(&["--namespace", "team", "--from-helm-repo", &source.url, "--concurrency", "2"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    eventually("a few versions imported", || target.listed("team").len() >= 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = target.listed("team").len();
    assert!(before < 30, "the import was killed before its end ({before} versions in)");

    let rerun = target.import(&["--namespace", "team", "--from-helm-repo", &source.url]);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let [imported, skipped, conflicts, failed] = counts(&rerun.summary);
    assert_eq!((imported + skipped, conflicts, failed), (30, 0, 0), "{}", rerun.summary);
    assert!(skipped >= before, "what the first run stored is skipped: {}", rerun.summary);
    eventually("every version once in the index", || target.listed("team") == expected(&files));
    let tags = get_json(&format!("{}/v2/team/mychart/tags/list", server.url));
    assert_eq!(tags["tags"].as_array().unwrap().len(), 30, "one tag per version: {tags}");
    assert_eq!(counts(&target.import(&["--namespace", "team", "--from-helm-repo", &source.url]).summary), [0, 30, 0, 0]);
}

/// A source that changes nothing: the import exits 1, says `message`, and the namespace is empty.
fn refused(target: &Target, run: &Run, message: &str) {
    assert_eq!(run.code, 1, "{}\n{}", run.summary, run.stderr);
    let said = format!("{}{}", run.stderr, run.summary);
    assert!(said.contains(message), "expected `{message}` in: {said}");
    assert_eq!(target.listed("team"), Vec::<String>::new());
    let catalog = get_json(&format!("{}/v2/_catalog", target.server.url));
    assert_eq!(catalog["repositories"], serde_json::json!([]));
}

fn bad_source(directives: &str, edit: impl FnOnce(&Path)) -> (ServerProcess, Nginx, tempfile::TempDir) {
    let server = ServerProcess::start(ServerOptions::default());
    let root = tempfile::tempdir().unwrap();
    let _ = many_versions(root.path(), 2);
    edit(root.path());
    let source = Nginx::serve_with(root.path(), directives);
    (server, source, root)
}

#[test]
fn an_unreachable_source_is_an_error() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let port = sherpack_test_support::peers::free_port();
    let run = target.import(&["--namespace", "team", "--from-helm-repo", &format!("http://127.0.0.1:{port}")]);
    refused(&target, &run, "cannot reach");
}

#[test]
fn a_source_refusing_credentials_is_an_error_and_basic_auth_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("htpasswd");
    std::fs::write(&users, "importer:{PLAIN}s3cret\n").unwrap();
    let (server, source, _root) = bad_source(&format!("auth_basic \"charts\"; auth_basic_user_file {};", users.display()), |_| {});
    let target = Target { server: &server, env: vec![] };
    refused(&target, &target.import(&["--namespace", "team", "--from-helm-repo", &source.url]), "refused the credentials (401)");
    let wrong = target.import_with(&["--namespace", "team", "--from-helm-repo", &source.url, "--username", "importer"], "nope\n", &[]);
    refused(&target, &wrong, "refused the credentials (401)");
    let right = target.import_with(&["--namespace", "team", "--from-helm-repo", &source.url, "--username", "importer"], "s3cret\n", &[]);
    assert_eq!(right.code, 0, "{}", right.stderr);
    assert_eq!(counts(&right.summary), [2, 0, 0, 0], "{}", right.summary);
}

/// A repository served from a bucket: a file that is not there answers 403, not 404.
#[test]
fn companion_files_a_bucket_refuses_count_as_absent() {
    let (server, source, _root) = bad_source("location ~ \\.(prov|minisig)$ { return 403; }", |_| {});
    let target = Target { server: &server, env: vec![] };
    let run = target.import(&["--namespace", "team", "--from-helm-repo", &source.url]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.summary);
    assert_eq!(counts(&run.summary), [2, 0, 0, 0], "{}", run.summary);
}

#[test]
fn an_index_that_does_not_parse_is_an_error() {
    let (server, source, _root) = bad_source("", |dir| std::fs::write(dir.join("index.yaml"), "apiVersion: v1\nentries: [not, a, map\n").unwrap());
    let target = Target { server: &server, env: vec![] };
    refused(&target, &target.import(&["--namespace", "team", "--from-helm-repo", &source.url]), "is not a repository index");
}

#[test]
fn an_archive_whose_digest_does_not_match_is_not_imported() {
    let (server, source, _root) = bad_source("", |dir| {
        let index = std::fs::read_to_string(dir.join("index.yaml")).unwrap();
        let (before, after) = index.split_once("digest: ").unwrap();
        std::fs::write(dir.join("index.yaml"), format!("{before}digest: {}{}", "0".repeat(64), &after[64..])).unwrap();
    });
    let target = Target { server: &server, env: vec![] };
    let run = target.import(&["--namespace", "team", "--from-helm-repo", &source.url]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(counts(&run.summary), [1, 0, 0, 1], "{}", run.summary);
    let reason = run.summary["failed"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("integrity check failed") && reason.contains(&"0".repeat(64)), "{reason}");
    let failed = format!("{} {}", run.summary["failed"][0]["name"].as_str().unwrap(), run.summary["failed"][0]["version"].as_str().unwrap());
    eventually("the good version in the index", || target.listed("team").len() == 1);
    assert!(!target.listed("team")[0].starts_with(&failed), "the mismatching version is not stored");
}

#[test]
fn an_archive_the_pack_limits_refuse_is_not_imported() {
    let (server, source, _root) = bad_source("", |_| {});
    let target = Target { server: &server, env: vec![] };
    let run = target.import_with(&["--namespace", "team", "--from-helm-repo", &source.url], "", &[("SHERPACK_REGISTRY_PACKS__MAX_ENTRIES", "3")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(counts(&run.summary), [0, 0, 0, 2], "{}", run.summary);
    assert!(run.summary["failed"][0]["reason"].as_str().unwrap().contains("refused"), "{}", run.summary);
    refused(&target, &run, "entries");
}

#[test]
fn a_silent_source_times_out() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let run = target.import(&["--namespace", "team", "--from-helm-repo", &url, "--timeout", "1s"]);
    refused(&target, &run, "timed out");
    drop(listener);
}

#[test]
fn a_source_redirecting_elsewhere_is_refused() {
    let elsewhere = StaticRepo::start();
    elsewhere.publish(&[]);
    let (server, source, _root) = bad_source(&format!("location = /index.yaml {{ return 302 {}/index.yaml; }}", elsewhere.url), |_| {});
    let target = Target { server: &server, env: vec![] };
    refused(&target, &target.import(&["--namespace", "team", "--from-helm-repo", &source.url]), "redirected to another host");
}
