//! `sherpack-registry import --from-oci` refusing bad sources: each class (unreachable, 401 and
//! then Basic auth, no catalog without `--repositories`, a manifest or a blob whose digest does
//! not match, an archive the pack limits refuse, silence, a redirect elsewhere) gets a clear
//! error and leaves nothing stored; `--repositories`, `--charts` and `--versions` select.

use sherpack_test_support::import::{Run, Target, counts, get, get_json, names};
use sherpack_test_support::import_oci::{charts_source, import_through, proxy, tags};
use sherpack_test_support::peers::Distribution;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

/// An import that stored nothing: exit 1, `message` said, no repository in the target.
fn refused(target: &Target, run: &Run, message: &str) {
    assert_eq!(run.code, 1, "{}\n{}", run.summary, run.stderr);
    let said = format!("{}{}", run.stderr, run.summary);
    assert!(said.contains(message), "expected `{message}` in: {said}");
    assert_eq!(get_json(&format!("{}/v2/_catalog", target.server.url))["repositories"], serde_json::json!([]));
    assert_eq!(get(&format!("{}/v2/team/mychart/tags/list", target.server.url)).0, 404);
}

#[test]
fn an_unreachable_source_is_an_error() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let port = sherpack_test_support::peers::free_port();
    refused(&target, &target.import(&["--namespace", "team", "--from-oci", &format!("127.0.0.1:{port}/src"), "--plain-http"]), "cannot reach");
}

#[test]
fn a_source_refusing_credentials_is_an_error_and_basic_auth_gets_in() {
    let (server, source, _) = charts_source();
    let target = Target { server: &server, env: vec![] };
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("htpasswd");
    std::fs::write(&users, "importer:{PLAIN}s3cret\n").unwrap();
    let (guarded, _root) = proxy(&source.url, &format!("auth_basic \"registry\"; auth_basic_user_file {};", users.display()));
    refused(&target, &import_through(&target, &guarded, &[], ""), "refused the credentials (401): give --username");
    refused(&target, &import_through(&target, &guarded, &["--username", "importer"], "nope\n"), "refused the credentials (401)");
    let right = import_through(&target, &guarded, &["--username", "importer"], "s3cret\n");
    assert_eq!(right.code, 0, "{}", right.stderr);
    assert_eq!(counts(&right.summary), [2, 0, 0, 0], "{}", right.summary);
}

#[test]
fn without_a_catalog_the_repositories_are_named_and_filters_apply() {
    let (server, source, _) = charts_source();
    let target = Target { server: &server, env: vec![] };
    let (no_catalog, _root) = proxy(&source.url, "location = /v2/_catalog { return 404; }");
    refused(&target, &import_through(&target, &no_catalog, &[], ""), "name the repositories to import with --repositories");
    let newest = import_through(&target, &no_catalog, &["--repositories", "mychart", "--versions", ">=0.2"], "");
    assert_eq!(newest.code, 0, "{}", newest.stderr);
    assert_eq!(names(&newest.summary["imported"]), ["mychart 0.2.0"], "{}", newest.summary);
    let all = import_through(&target, &no_catalog, &["--repositories", "mychart", "--charts", "mychart"], "");
    assert_eq!(counts(&all.summary), [1, 1, 0, 0], "{}", all.summary);
    assert_eq!(counts(&import_through(&target, &no_catalog, &["--repositories", "mychart", "--charts", "other"], "").summary), [0, 0, 0, 0]);
}

#[test]
fn a_manifest_whose_digest_does_not_match_is_not_imported() {
    let (server, source, _) = charts_source();
    let target = Target { server: &server, env: vec![] };
    let wrong = format!("sha256:{}", "0".repeat(64));
    let upstream = &source.url;
    let directive = format!("location = /v2/src/mychart/manifests/0.1.0 {{ proxy_pass {upstream}; proxy_hide_header Docker-Content-Digest; add_header Docker-Content-Digest {wrong}; }}");
    let (lying, _root) = proxy(upstream, &directive);
    let run = import_through(&target, &lying, &[], "");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(counts(&run.summary), [1, 0, 0, 1], "{}", run.summary);
    assert_eq!(run.summary["failed"][0]["version"], "0.1.0");
    let reason = run.summary["failed"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("integrity check failed") && reason.contains(&wrong), "{reason}");
    assert_eq!(tags(&server.url, "team/mychart"), ["0.2.0"]);
}

#[test]
fn a_blob_whose_digest_does_not_match_is_not_imported() {
    let (server, source, blobs) = charts_source();
    let target = Target { server: &server, env: vec![] };
    // 0.1.0's chart layer and 0.2.0's config blob come back with other bytes.
    let (layer, config) = (&blobs[0].0, &blobs[1].1);
    let directive = format!("location = /v2/src/mychart/blobs/{layer} {{ return 200 \"tampered\"; }} location = /v2/src/mychart/blobs/{config} {{ return 200 \"{{}}\"; }}");
    let (tampering, _root) = proxy(&source.url, &directive);
    let run = import_through(&target, &tampering, &[], "");
    assert_eq!(counts(&run.summary), [0, 0, 0, 2], "{}", run.summary);
    for failure in run.summary["failed"].as_array().unwrap() {
        assert!(failure["reason"].as_str().unwrap().contains("integrity check failed"), "{failure}");
    }
    refused(&target, &run, "integrity check failed");
}

#[test]
fn an_archive_the_pack_limits_refuse_is_not_imported() {
    let (server, source, _) = charts_source();
    let target = Target { server: &server, env: vec![] };
    let run = target.import_with(&["--namespace", "team", "--from-oci", &format!("{}/src", source.host), "--plain-http"], "", &[("SHERPACK_REGISTRY_PACKS__MAX_ENTRIES", "3")]);
    assert_eq!(counts(&run.summary), [0, 0, 0, 2], "{}", run.summary);
    refused(&target, &run, "entries");
}

#[test]
fn a_silent_source_times_out() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let from = format!("{}/src", listener.local_addr().unwrap());
    refused(&target, &target.import(&["--namespace", "team", "--from-oci", &from, "--plain-http", "--timeout", "1s"]), "timed out");
    drop(listener);
}

#[test]
fn a_source_redirecting_elsewhere_is_refused() {
    let (server, source, _) = charts_source();
    let target = Target { server: &server, env: vec![] };
    let elsewhere = Distribution::start();
    let directive = format!("location = /v2/_catalog {{ return 302 {}/v2/_catalog; }}", elsewhere.url);
    let (redirecting, _root) = proxy(&source.url, &directive);
    refused(&target, &import_through(&target, &redirecting, &[], ""), "redirected to another host");
}
