//! `sherpack-registry import --from-oci` against a running registry, on `SQLite` and Postgres:
//! from CNCF distribution 2.8 (charts pushed by helm, packs by the `sherpack` CLI with their
//! signatures under `sha256-<hex>.minisig` tags) and from a second registry of ours (signatures
//! as referrers), the namespace's repositories come in with the manifests' digests and are
//! served to helm, the `sherpack` CLI, search and the web page, signatures verified; a second
//! run skips everything; an import killed half way, or stopped between a pack and its
//! signature, and run again ends the same without duplicates; a tag here at another digest is a
//! conflict until `--overwrite`; a namespace requiring signatures. Bad sources: `import_oci_refusals.rs`.

use std::process::Stdio;

use sherpack_test_support::cli::Sherpack;
use sherpack_test_support::import::{Target, counts, eventually, get, get_json, names};
use sherpack_test_support::import_oci::{charts_source, fill, manifest, manifest_digest, proxy, tags, trust_in_team};
use sherpack_test_support::oci::digest;
use sherpack_test_support::peers::Distribution;
use sherpack_test_support::postgres::{PgDatabase, server_options};
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

const SIGNATURE: &str = "application/vnd.sherpack.signature.v1+minisign";

/// The whole story: `source` (`http://host:port`) filled, imported into `team`, then read.
fn import_a_registry(target: &Target, source: &str, referrers: bool) {
    let host = source.trim_start_matches("http://");
    let filled = fill(host, "src/apps");
    trust_in_team(target, &filled.public_key);
    let base = &target.server.url;
    let here = base.trim_start_matches("http://");
    let at_source = |repo: &str, tag: &str| manifest_digest(source, &format!("src/apps/{repo}"), tag);

    let run = target.import(&["--namespace", "team", "--from-oci", &format!("{host}/src/apps"), "--plain-http"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.summary);
    assert_eq!(names(&run.summary["imported"]), ["mychart 0.1.0", "mychart 0.2.0", "web 1.0.0", "web 1.1.0"], "{}", run.summary);
    assert_eq!(counts(&run.summary), [4, 0, 0, 0], "{}", run.summary);
    for item in run.summary["imported"].as_array().unwrap() {
        let (name, version) = (item["name"].as_str().unwrap(), item["version"].as_str().unwrap());
        assert_eq!(item["digest"], at_source(name, version), "{name} {version} keeps its manifest digest");
    }
    // Only the namespace's repositories, at `team/<path under it>`, with the source's tags.
    assert_eq!(get_json(&format!("{base}/v2/_catalog"))["repositories"], serde_json::json!(["team/mychart", "team/web"]));
    assert_eq!(tags(base, "team/mychart"), ["0.1.0", "0.2.0"]);
    assert_eq!(tags(base, "team/web"), tags(source, "src/apps/web"));
    let fallback_tags = tags(source, "src/apps/web").iter().filter(|t| t.ends_with(".minisig")).count();
    assert_eq!(fallback_tags, if referrers { 0 } else { 2 }, "how the source holds signatures");
    for version in ["1.0.0", "1.1.0"] {
        let listed = get_json(&format!("{base}/v2/team/web/referrers/{}", at_source("web", version)));
        assert_eq!(listed["manifests"][0]["artifactType"], SIGNATURE, "the signature of web {version} is a referrer here: {listed}");
    }

    // helm pulls over OCI with the source's digest, and from the Helm repository.
    let helm = tools::helm();
    let home = tempfile::tempdir().unwrap();
    for dir in ["oci", "repo"] {
        std::fs::create_dir(home.path().join(dir)).unwrap();
    }
    let pulled = run_ok(helm_command(&helm, home.path()).args(["pull", &format!("oci://{here}/team/mychart"), "--version", "0.2.0", "--plain-http", "-d", "oci"]));
    let said = format!("{}{}", String::from_utf8_lossy(&pulled.stdout), String::from_utf8_lossy(&pulled.stderr));
    assert!(said.contains(&format!("Digest: {}", at_source("mychart", "0.2.0"))), "{said}");
    assert_eq!(std::fs::read(home.path().join("oci/mychart-0.2.0.tgz")).unwrap(), filled.archive("mychart", "0.2.0"));
    let mut want: Vec<String> = filled.archives.iter().map(|(n, v, p)| format!("{n} {v} {}", &digest(&std::fs::read(p).unwrap())[7..])).collect();
    want.sort();
    eventually("the imported versions in the index", || target.listed("team") == want);
    run_ok(helm_command(&helm, home.path()).args(["repo", "add", "team", &format!("{base}/team")]));
    run_ok(helm_command(&helm, home.path()).args(["pull", "team/mychart", "--version", "0.1.0", "-d", "repo"]));
    assert_eq!(std::fs::read(home.path().join("repo/mychart-0.1.0.tgz")).unwrap(), filled.archive("mychart", "0.1.0"));

    // The sherpack CLI pulls and verifies; the signature is checked against the namespace's key.
    let cli = Sherpack::new();
    let out = cli.home.path().join("out");
    let verified = cli.json(&["pull", &format!("oci://{here}/team/web:1.1.0"), "--verify", filled.public_key.to_str().unwrap(), "-d", out.to_str().unwrap(), "--plain-http"]);
    assert!(verified["verified"].as_str().unwrap().contains("sherpack:web v1.1.0"), "{verified}");
    assert_eq!(std::fs::read(out.join("web-1.1.0.tgz")).unwrap(), filled.archive("web", "1.1.0"));
    let status = get_json(&format!("{base}/api/team/charts/web/1.1.0"));
    assert_eq!(status["annotations"]["sherpack.io/signature"], "verified", "{status}");

    // Search finds it; the web page shows the version, its archive digest and the signature.
    eventually("web in search", || {
        let body = get_json(&format!("{base}/api/v1/packages/search?ts_query_web=web"));
        body["packages"].as_array().is_some_and(|p| p.iter().any(|p| p["name"] == "web" && p["version"] == "1.1.0"))
    });
    let page = String::from_utf8(get(&format!("{base}/-/packs/team/web")).1).unwrap();
    let archive_digest = &digest(&filled.archive("web", "1.1.0"))[7..];
    assert!(page.contains("1.1.0") && page.contains(archive_digest) && page.contains("sig-verified"), "the pack page shows the version, digest and signature");

    // The second run skips everything.
    let again = target.import(&["--namespace", "team", "--from-oci", &format!("{host}/src/apps"), "--plain-http"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(counts(&again.summary), [0, 4, 0, 0], "{}", again.summary);
}

#[test]
fn imports_from_distribution_on_sqlite() {
    let server = ServerProcess::start(ServerOptions::default());
    let source = Distribution::start();
    import_a_registry(&Target { server: &server, env: vec![] }, &source.url, false);
}

#[test]
fn imports_from_another_registry_on_sqlite() {
    let server = ServerProcess::start(ServerOptions::default());
    let source = ServerProcess::start(ServerOptions::default());
    import_a_registry(&Target { server: &server, env: vec![] }, &source.url, true);
}

/// The story on a Postgres-backed target, from distribution or from another registry of ours.
async fn on_postgres(referrers: bool) {
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        let options = server_options(url, blobs.path());
        let env = options.env.clone();
        let server = ServerProcess::start(options);
        tokio::task::spawn_blocking(move || {
            let target = Target { server: &server, env };
            if referrers {
                let source = ServerProcess::start(ServerOptions::default());
                import_a_registry(&target, &source.url, true);
            } else {
                let source = Distribution::start();
                import_a_registry(&target, &source.url, false);
            }
        })
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_from_distribution_on_postgres() {
    on_postgres(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_from_another_registry_on_postgres() {
    on_postgres(true).await;
}

#[test]
fn an_interrupted_import_continues_without_duplicates() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let source = Distribution::start();
    let home = tempfile::tempdir().unwrap();
    let helm = tools::helm();
    let versions: Vec<String> = (0..30).map(|i| format!("1.{i}.0")).collect();
    let archives = sherpack_test_support::fixtures::package_chart(&helm, home.path(), &versions.iter().map(String::as_str).collect::<Vec<_>>());
    for a in &archives {
        run_ok(helm_command(&helm, home.path()).arg("push").arg(a).args([&format!("oci://{}/src", source.host), "--plain-http"]));
    }
    // Slow blobs (about a quarter of a second each) so the kill lands half way.
    let upstream = &source.url;
    let (slow, _root) = proxy(upstream, &format!("location ~ /blobs/ {{ proxy_pass {upstream}; limit_rate 16k; }}"));
    let from = format!("{}/src", slow.url.trim_start_matches("http://"));
    let mut child = target.command(&["--namespace", "team", "--from-oci", &from, "--plain-http", "--concurrency", "2"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    eventually("a few versions imported", || target.listed("team").len() >= 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = target.listed("team").len();
    assert!(before < 30, "the import was killed before its end ({before} versions in)");

    let direct = format!("{}/src", source.host);
    let rerun = target.import(&["--namespace", "team", "--from-oci", &direct, "--plain-http"]);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let [imported, skipped, conflicts, failed] = counts(&rerun.summary);
    assert_eq!((imported + skipped, conflicts, failed), (30, 0, 0), "{}", rerun.summary);
    assert!(skipped >= before, "what the first run stored is skipped: {}", rerun.summary);
    let mut want: Vec<String> = archives.iter().zip(&versions).map(|(a, v)| format!("mychart {v} {}", &digest(&std::fs::read(a).unwrap())[7..])).collect();
    want.sort();
    eventually("every version once in the index", || target.listed("team") == want);
    assert_eq!(tags(&server.url, "team/mychart").len(), 30, "one tag per version");
    for v in ["1.0.0", "1.17.0", "1.29.0"] {
        assert_eq!(manifest_digest(&server.url, "team/mychart", v), manifest_digest(&source.url, "src/mychart", v));
    }
    assert_eq!(counts(&target.import(&["--namespace", "team", "--from-oci", &direct, "--plain-http"]).summary), [0, 30, 0, 0]);
}

#[test]
fn a_namespace_requiring_signatures_takes_the_signed_packs_and_no_orphans() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let source = Distribution::start();
    let filled = fill(&source.host, "src/apps");
    // A signature tag whose subject the source does not hold.
    let orphan = format!("sha256-{}.minisig", "f".repeat(64));
    let body = manifest(&source.url, "src/apps/web", &tags(&source.url, "src/apps/web").into_iter().find(|t| t.ends_with(".minisig")).unwrap());
    let status = sherpack_test_support::import::block(async {
        let oci = sherpack_test_support::oci::Oci::new(&source.url);
        oci.put_manifest("src/apps/web", &orphan, sherpack_test_support::oci::OCI_MANIFEST, &body).await.status()
    });
    assert_eq!(status, 201);
    trust_in_team(&target, &filled.public_key);
    sherpack_test_support::import_oci::admin(&target, &["policy", "set", "team", r#"{"require_signature":true}"#]);

    let run = target.import(&["--namespace", "team", "--from-oci", &format!("{}/src/apps", source.host), "--plain-http"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(names(&run.summary["imported"]), ["web 1.0.0", "web 1.1.0"], "signed, so admitted: {}", run.summary);
    assert_eq!(names(&run.summary["failed"]), ["mychart 0.1.0", "mychart 0.2.0"], "{}", run.summary);
    assert!(run.summary["failed"][0]["reason"].as_str().unwrap().contains("requires a signature"), "{}", run.summary);
    // The import is another process: the server sees its writes within its freshness bound
    // (100 ms), not necessarily on the very next request.
    let chart = format!("{}/api/team/charts/web/1.0.0", server.url);
    eventually("the imported chart is served", || get(&chart).0 == 200);
    let status = get_json(&chart);
    assert_eq!(status["annotations"]["sherpack.io/signature"], "verified", "{status}");
    assert!(!tags(&server.url, "team/web").contains(&orphan), "a signature without its subject is not brought in");
    assert_eq!(get(&format!("{}/v2/team/mychart/tags/list", server.url)).0, 404);
}




#[test]
fn a_tag_here_at_another_digest_is_a_conflict_until_overwrite() {
    let (server, source, _) = charts_source();
    let target = Target { server: &server, env: vec![] };
    // Another mychart 0.1.0 pushed here first (edited, so its bytes differ).
    let home = tempfile::tempdir().unwrap();
    let helm = tools::helm();
    run_ok(helm_command(&helm, home.path()).args(["create", "mychart"]));
    let values = home.path().join("mychart/values.yaml");
    std::fs::write(&values, std::fs::read_to_string(&values).unwrap() + "# edited here\n").unwrap();
    run_ok(helm_command(&helm, home.path()).args(["package", "mychart", "--version", "0.1.0", "-d", "p"]));
    let host = server.url.trim_start_matches("http://");
    run_ok(helm_command(&helm, home.path()).arg("push").arg(home.path().join("p/mychart-0.1.0.tgz")).args([&format!("oci://{host}/team"), "--plain-http"]));
    let mine = manifest_digest(&server.url, "team/mychart", "0.1.0");
    let from = format!("{}/src", source.host);
    let run = target.import(&["--namespace", "team", "--from-oci", &from, "--plain-http"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(counts(&run.summary), [1, 0, 1, 0], "{}", run.summary);
    assert_eq!(run.summary["conflicts"][0]["digest"], mine);
    assert_eq!(run.summary["conflicts"][0]["source_digest"], manifest_digest(&source.url, "src/mychart", "0.1.0"));
    assert_eq!(manifest_digest(&server.url, "team/mychart", "0.1.0"), mine, "kept");
    let forced = target.import(&["--namespace", "team", "--from-oci", &from, "--plain-http", "--overwrite"]);
    assert_eq!(counts(&forced.summary), [1, 1, 0, 0], "{}", forced.summary);
    assert_eq!(manifest_digest(&server.url, "team/mychart", "0.1.0"), manifest_digest(&source.url, "src/mychart", "0.1.0"));
}

#[test]
fn an_import_stopped_between_a_pack_and_its_signature_continues() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let source = Distribution::start();
    let filled = fill(&source.host, "src/apps");
    trust_in_team(&target, &filled.public_key);
    // The signature tags cannot be read through this proxy: the packs come in, not their signatures.
    let (failing, _root) = proxy(&source.url, r"location ~ /manifests/sha256-[0-9a-f]+\.minisig$ { return 503; }");
    let run = target.import(&["--namespace", "team", "--from-oci", &format!("{}/src/apps", failing.url.trim_start_matches("http://")), "--plain-http"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(names(&run.summary["imported"]), ["mychart 0.1.0", "mychart 0.2.0"], "{}", run.summary);
    assert_eq!(names(&run.summary["failed"]), ["web 1.0.0", "web 1.1.0"], "{}", run.summary);
    assert!(run.summary["failed"][0]["reason"].as_str().unwrap().contains("503"), "{}", run.summary);
    assert_eq!(tags(&server.url, "team/web"), ["1.0.0", "1.1.0"], "the packs are in, without their signatures");

    let direct = format!("{}/src/apps", source.host);
    let rerun = target.import(&["--namespace", "team", "--from-oci", &direct, "--plain-http"]);
    assert_eq!(counts(&rerun.summary), [0, 4, 0, 0], "{}", rerun.summary);
    assert_eq!(tags(&server.url, "team/web"), tags(&source.url, "src/apps/web"), "the signatures came with the rerun");
    for version in ["1.0.0", "1.1.0"] {
        let status = || get_json(&format!("{}/api/team/charts/web/{version}", server.url));
        // The import is another process: the server's index sees its writes within its
        // freshness bound, not necessarily on the next request.
        eventually("the signature in the index", || status()["annotations"]["sherpack.io/signature"] == "verified");
        let status = status();
        assert_eq!(status["annotations"]["sherpack.io/signature"], "verified", "{status}");
    }
}
