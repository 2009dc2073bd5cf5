//! `sherpack repo`, `search`, `pull <repo>/<name>` and `push --repo` against a static Helm
//! repository (`helm repo index` + a plain HTTP server) and our server (index.json, the
//! `ChartMuseum` API, the search API); round trips with helm 4 and helm 3; and the bad input
//! of that path: a wrong index URL, a digest that does not match, a corrupted archive.

use std::path::Path;

use serde_json::Value;
use sherpack_test_support::cli::{Sherpack, files_in, package, write_pack};
use sherpack_test_support::peers::StaticRepo;
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

fn host(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

fn names(listing: &Value, key: &str) -> Vec<String> {
    listing.as_array().unwrap().iter().map(|r| r[key].as_str().unwrap().to_owned()).collect()
}

fn repositories(server: &ServerProcess) {
    let statics = StaticRepo::start();
    let cli = Sherpack::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let archives = w.join("archives");
    let api = [package(&cli, &write_pack(w, "api", "0.1.0", "", "", true), &archives), package(&cli, &write_pack(w, "api", "0.2.0", "", "", true), &archives)];
    statics.publish(&api);
    let web1 = package(&cli, &write_pack(w, "web", "1.0.0", "", "", false), &archives);
    let web2 = package(&cli, &write_pack(w, "web", "2.0.0", "", "", false), &archives);
    cli.ok(&["push", web1.to_str().unwrap(), &format!("oci://{}/team", host(&server.url)), "--plain-http"]);

    cli.ok(&["repo", "add", "static", &statics.url]);
    cli.ok(&["repo", "add", "ours", &format!("{}/team", server.url)]);
    let listed = cli.json(&["repo", "list"]);
    assert_eq!(names(&listed, "name"), vec!["static", "ours"]);
    // Our server offers index.json, the static one only index.yaml.
    let cache = cli.home.path().join("cache/repository");
    assert_eq!(files_in(&cache), vec!["ours-index.json", "static-index.yaml"]);
    let err = cli.fails(&["repo", "add", "static", &statics.url], 2);
    assert!(err.contains("--force-update"), "{err}");

    // Search the cached indexes, every version or the newest.
    let hits = cli.json(&["search", "repo", "api", "--versions"]);
    assert_eq!(names(&hits, "version"), vec!["0.2.0", "0.1.0"]);
    let hits = cli.json(&["search", "repo", "pack"]);
    assert_eq!(names(&hits, "name"), vec!["ours/web"]);
    let table = cli.ok(&["search", "repo", "api"]);
    assert!(table.starts_with("NAME") && table.contains("static/api") && table.contains("0.2.0"), "{table}");

    // Pull by name and range from both.
    let out = w.join("out");
    let o = out.to_str().unwrap();
    cli.ok(&["pull", "static/api", "--version", "~0.1", "-d", o]);
    assert_eq!(std::fs::read(out.join("api-0.1.0.tgz")).unwrap(), std::fs::read(&api[0]).unwrap());
    cli.ok(&["pull", "ours/web", "-d", o]);
    assert_eq!(std::fs::read(out.join("web-1.0.0.tgz")).unwrap(), std::fs::read(&web1).unwrap());

    // The ChartMuseum API: upload (with the signature next to the archive), refuse a duplicate
    // unless --force, then visible after update.
    cli.ok(&["keygen", "-d", w.to_str().unwrap()]);
    cli.ok(&["sign", web2.to_str().unwrap(), "--key", w.join("sherpack.key").to_str().unwrap()]);
    let pushed = cli.json(&["push", web2.to_str().unwrap(), "--repo", "ours"]);
    assert_eq!(pushed["signed"], true);
    let err = cli.fails(&["push", web2.to_str().unwrap(), "--repo", "ours"], 1);
    assert!(err.contains("409") && err.contains("--force"), "{err}");
    cli.ok(&["push", web2.to_str().unwrap(), "--repo", "ours", "--force"]);
    let err = cli.fails(&["pull", "ours/web", "--version", "2.0.0", "-d", o], 4);
    assert!(err.contains("sherpack repo update"), "a stale cache says what to do: {err}");
    cli.ok(&["repo", "update", "ours"]);
    let pulled = cli.json(&["pull", "ours/web", "--version", "2.0.0", "-d", o, "--verify", w.join("sherpack.pub").to_str().unwrap()]);
    assert!(pulled["verified"].as_str().unwrap().starts_with("sherpack:web v2.0.0"), "{pulled}");
    assert_eq!(std::fs::read(out.join("web-2.0.0.tgz")).unwrap(), std::fs::read(&web2).unwrap());

    // The hub search API of our server.
    let hits = cli.json(&["search", "hub", "web", "--endpoint", &server.url]);
    assert_eq!(names(&hits, "name"), vec!["team/web"]);
    assert_eq!(hits[0]["version"], "2.0.0");

    // Bad input changes nothing: an index URL that is not one, a name that is taken.
    let err = cli.fails(&["repo", "add", "nothing", &format!("{}/missing/", statics.url)], 4);
    assert!(err.contains("index.yaml"), "{err}");
    assert_eq!(names(&cli.json(&["repo", "list"]), "name"), vec!["static", "ours"]);

    cli.ok(&["repo", "remove", "static"]);
    assert_eq!(names(&cli.json(&["repo", "list"]), "name"), vec!["ours"]);
    assert_eq!(files_in(&cache), vec!["ours-index.json"]);
    let err = cli.fails(&["pull", "static/api", "-d", o], 4);
    assert!(err.contains("configured: ours"), "{err}");
}

#[test]
fn downloads_that_do_not_match_are_discarded() {
    let statics = StaticRepo::start();
    let cli = Sherpack::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let good = package(&cli, &write_pack(w, "api", "0.1.0", "", "", true), &w.join("a"));
    statics.publish(std::slice::from_ref(&good));
    // A wrong digest in the index: the download is refused and removed.
    let index_path = statics.dir.path().join("index.yaml");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let real = index.lines().find_map(|l| l.trim().strip_prefix("digest: ")).unwrap().to_owned();
    std::fs::write(&index_path, index.replace(&real, &"0".repeat(64))).unwrap();
    cli.ok(&["repo", "add", "static", &statics.url]);
    let out = w.join("out");
    let err = cli.fails(&["pull", "static/api", "-d", out.to_str().unwrap()], 6);
    assert!(err.contains("expected sha256:0000") && err.contains("discarded"), "{err}");
    assert!(files_in(&out).is_empty(), "left behind: {:?}", files_in(&out));

    // A corrupted archive whose digest matches the index: refused as an archive, removed.
    std::fs::write(statics.dir.path().join("api-0.1.0.tgz"), b"\x1f\x8b this is not gzip").unwrap();
    let corrupted = sherpack_test_support::oci::digest(b"\x1f\x8b this is not gzip");
    std::fs::write(&index_path, index.replace(&real, &corrupted[7..])).unwrap();
    cli.ok(&["repo", "update"]);
    let err = cli.fails(&["pull", "static/api", "-d", out.to_str().unwrap()], 8);
    assert!(err.contains("not a valid pack archive"), "{err}");
    assert!(files_in(&out).is_empty(), "left behind: {:?}", files_in(&out));

    // Pushing a corrupted archive is refused before any request.
    let bad = w.join("bad-1.0.0.tgz");
    std::fs::write(&bad, b"not an archive").unwrap();
    let err = cli.fails(&["push", bad.to_str().unwrap(), "oci://127.0.0.1:1/team", "--plain-http"], 8);
    assert!(err.contains("not gzip"), "{err}");
    // An unreachable host.
    let err = cli.fails(&["push", good.to_str().unwrap(), "oci://127.0.0.1:1/team", "--plain-http"], 5);
    assert!(err.contains("cannot reach"), "{err}");
}

fn helm_round_trip(helm: &Path) {
    let server = ServerProcess::start(ServerOptions::default());
    let cli = Sherpack::new();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let ns = format!("oci://{}/rt", host(&server.url));
    // sherpack → helm
    let chart = package(&cli, &write_pack(home, "made-by-sherpack", "1.2.3", "", "", true), &home.join("a"));
    cli.ok(&["push", chart.to_str().unwrap(), &ns, "--plain-http"]);
    let out = home.join("helm-out");
    std::fs::create_dir_all(&out).unwrap();
    run_ok(helm_command(helm, home).args(["pull", &format!("{ns}/made-by-sherpack"), "--version", "1.2.3", "--plain-http", "-d"]).arg(&out));
    assert_eq!(std::fs::read(out.join("made-by-sherpack-1.2.3.tgz")).unwrap(), std::fs::read(&chart).unwrap());
    let shown = run_ok(helm_command(helm, home).args(["show", "chart", &format!("{ns}/made-by-sherpack"), "--version", "1.2.3", "--plain-http"]));
    assert!(String::from_utf8_lossy(&shown.stdout).contains("name: made-by-sherpack"));
    // helm → sherpack
    let archives = sherpack_test_support::fixtures::package_chart(helm, home, &["0.3.0"]);
    run_ok(helm_command(helm, home).arg("push").arg(&archives[0]).args([ns.as_str(), "--plain-http"]));
    let got = home.join("sherpack-out");
    cli.ok(&["pull", &format!("{ns}/mychart"), "-d", got.to_str().unwrap(), "--plain-http"]);
    assert_eq!(std::fs::read(got.join("mychart-0.3.0.tgz")).unwrap(), std::fs::read(&archives[0]).unwrap());
}

#[test]
fn round_trips_with_helm_4() {
    helm_round_trip(&tools::helm());
}

#[test]
fn round_trips_with_helm_3() {
    helm_round_trip(&tools::helm3());
}

#[test]
fn repositories_search_and_pull_from_a_static_repository_and_our_server_on_sqlite() {
    repositories(&ServerProcess::start(ServerOptions::default()));
}

#[tokio::test(flavor = "multi_thread")]
async fn repositories_search_and_pull_from_a_static_repository_and_our_server_on_postgres() {
    PgDatabase::with_server(repositories).await;
}
