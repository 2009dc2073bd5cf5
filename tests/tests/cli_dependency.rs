//! `sherpack dependency list|update|build` across the three kinds of repository — OCI (our
//! server), a static Helm repository over HTTP, and `file://` directories — with aliases,
//! conditions, tags, a configured repository by `@name`, and a transitive dependency; the lock
//! file in the upstream format; `build` reproducing `charts/` byte for byte; and conflicts,
//! cycles, unresolvable ranges and tampered locks refused without touching anything.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use sherpack_test_support::cli::{Sherpack, package, write_pack};
use sherpack_test_support::peers::StaticRepo;
use sherpack_test_support::oci::digest;
use sherpack_test_support::postgres::PgDatabase;
use sherpack_test_support::server::{ServerOptions, ServerProcess};

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for name in ["Pack.lock.yaml", "charts"] {
        let path = dir.join(name);
        if path.is_file() {
            out.insert(name.to_owned(), std::fs::read(&path).unwrap());
        } else if path.is_dir() {
            for e in std::fs::read_dir(&path).unwrap().flatten() {
                out.insert(format!("charts/{}", e.file_name().to_string_lossy()), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn dep(name: &str, version: &str, repository: &str, extra: &str) -> String {
    format!("- name: {name}\n  version: \"{version}\"\n  repository: {repository}\n{extra}")
}

/// Packages a pack (under `work`) and pushes it to `libs`, an `oci://` namespace.
fn publish(cli: &Sherpack, work: &Path, libs: &str, name: &str, version: &str, deps: &str) {
    let archive = package(cli, &write_pack(work, name, version, deps, "", false), &work.join("archives"));
    cli.ok(&["push", archive.to_str().unwrap(), libs, "--plain-http"]);
}

fn dependencies(server: &ServerProcess) {
    let statics = StaticRepo::start();
    let cli = Sherpack::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let a = w.join("archives");
    let libs = format!("oci://{}/libs", server.url.trim_start_matches("http://"));
    let push = |name: &str, version: &str, deps: &str| publish(&cli, w, &libs, name, version, deps);
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        push("common", v, "");
    }
    push("db", "1.0.0", &format!("dependencies:\n{}", dep("common", "^1.0", &libs, "")));
    let cache: Vec<_> = ["0.1.0", "0.2.0"].iter().map(|v| package(&cli, &write_pack(w, "cache", v, "", "", true), &a)).collect();
    statics.publish(&cache);
    write_pack(w, "ui", "0.5.0", "", "", false);
    cli.ok(&["repo", "add", "static", &statics.url]);

    let deps = [
        dep("db", "^1", &libs, ""),
        dep("cache", "~0.1.0", &statics.url, "  alias: session-cache\n"),
        dep("cache", ">=0.2.0 <1.0.0", "\"@static\"", "  alias: page-cache\n"),
        dep("ui", "0.5.0", "file://../ui-0.5.0-src", ""),
        dep("metrics", "^1", &libs, "  condition: metrics.enabled\n"),
        dep("extras", "^1", &libs, "  tags: [extras]\n"),
    ]
    .concat();
    let app = write_pack(w, "app", "1.0.0", &format!("dependencies:\n{deps}"), "metrics:\n  enabled: false\ntags:\n  extras: false\n", false);
    let d = app.to_str().unwrap();

    let updated = cli.json(&["dependency", "update", d, "--plain-http"]);
    let got: Vec<(String, String)> = updated.as_array().unwrap().iter().map(|l| (l["name"].as_str().unwrap().to_owned(), l["version"].as_str().unwrap().to_owned())).collect();
    // Sorted by name, then alias (page-cache before session-cache).
    let want = [("cache", "0.2.0"), ("cache", "0.1.0"), ("common", "1.1.0"), ("db", "1.0.0"), ("ui", "0.5.0")];
    assert_eq!(got, want.map(|(n, v)| (n.to_owned(), v.to_owned())));

    // The lock file, in the upstream format, with the digest of every archive in charts/.
    let lock: Value = serde_saphyr::from_str(&std::fs::read_to_string(app.join("Pack.lock.yaml")).unwrap()).unwrap();
    assert_eq!(lock["version"], 1);
    assert_eq!(lock["policy"], "strict");
    assert_eq!(lock["packYamlDigest"], digest(&std::fs::read(app.join("Pack.yaml")).unwrap()));
    for l in lock["dependencies"].as_array().unwrap() {
        let file = app.join("charts").join(format!("{}-{}.tgz", l["name"].as_str().unwrap(), l["version"].as_str().unwrap()));
        assert_eq!(l["digest"], digest(&std::fs::read(&file).unwrap()), "{l}");
    }
    let db = lock["dependencies"].as_array().unwrap().iter().find(|l| l["name"] == "db").unwrap();
    assert_eq!(db["dependencies"], serde_json::json!(["common"]));
    assert_eq!(db["constraint"], "^1");
    let aliases: Vec<&str> = lock["dependencies"].as_array().unwrap().iter().filter_map(|l| l["alias"].as_str()).collect();
    assert_eq!(aliases, vec!["page-cache", "session-cache"]);

    let listed = cli.json(&["dependency", "list", d]);
    let status: Vec<(&str, &str)> = listed.as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap())).collect();
    assert_eq!(status, vec![("db", "ok"), ("cache", "ok"), ("cache", "ok"), ("ui", "ok"), ("metrics", "disabled"), ("extras", "disabled")]);

    // `build` reproduces charts/ byte for byte from the lock, and leaves the lock as it was.
    let before = snapshot(&app);
    std::fs::remove_dir_all(app.join("charts")).unwrap();
    cli.ok(&["dependency", "build", d, "--plain-http"]);
    assert_eq!(snapshot(&app), before);

    // A newer `common` changes nothing for `build`; `update` takes it.
    push("common", "1.2.0", "");
    cli.ok(&["dependency", "build", d, "--plain-http"]);
    assert_eq!(snapshot(&app), before);
    let updated = cli.json(&["dependency", "update", d, "--plain-http"]);
    assert!(updated.as_array().unwrap().iter().any(|l| l["name"] == "common" && l["version"] == "1.2.0"));
    assert!(!app.join("charts/common-1.1.0.tgz").exists(), "the older archive is replaced");
    let current = snapshot(&app);

    // A lock whose digest does not match what the repository serves: refused, nothing changed.
    let lock_text = std::fs::read_to_string(app.join("Pack.lock.yaml")).unwrap();
    let ui_digest = lock["dependencies"].as_array().unwrap().iter().find(|l| l["name"] == "ui").unwrap()["digest"].as_str().unwrap().to_owned();
    std::fs::write(app.join("Pack.lock.yaml"), lock_text.replace(&ui_digest, &format!("sha256:{}", "0".repeat(64)))).unwrap();
    let err = cli.fails(&["dependency", "build", d, "--plain-http"], 6);
    assert!(err.contains("ui 0.5.0") && err.contains("nothing was changed"), "{err}");
    std::fs::write(app.join("Pack.lock.yaml"), &lock_text).unwrap();
    assert_eq!(snapshot(&app), current);

    // Pack.yaml edited after the lock: build says to update.
    let pack_yaml = std::fs::read_to_string(app.join("Pack.yaml")).unwrap();
    std::fs::write(app.join("Pack.yaml"), format!("{pack_yaml}\n# edited\n")).unwrap();
    let err = cli.fails(&["dependency", "build", d, "--plain-http"], 2);
    assert!(err.contains("sherpack dependency update"), "{err}");
    let listed = cli.json(&["dependency", "list", d]);
    assert_eq!(listed[0]["status"], "lock out of date");
}

#[test]
fn conflicts_cycles_and_impossible_ranges_are_refused_without_writing() {
    let server = ServerProcess::start(ServerOptions::default());
    let cli = Sherpack::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let libs = format!("oci://{}/libs", server.url.trim_start_matches("http://"));
    let push = |name: &str, version: &str, deps: &str| publish(&cli, w, &libs, name, version, deps);
    push("common", "1.0.0", "");
    push("common", "2.0.0", "");
    push("db", "1.0.0", &format!("dependencies:\n{}", dep("common", "^1.0", &libs, "")));
    push("ping", "1.0.0", &format!("dependencies:\n{}", dep("pong", "^1", &libs, "")));
    push("pong", "1.0.0", &format!("dependencies:\n{}", dep("ping", "^1", &libs, "")));

    let check = |name: &str, deps: String, expected: &[&str]| {
        let dir = write_pack(w, name, "1.0.0", &format!("dependencies:\n{deps}"), "", false);
        let err = cli.fails(&["dependency", "update", dir.to_str().unwrap(), "--plain-http"], 7);
        assert!(expected.iter().all(|e| err.contains(e)), "{name}: {err}");
        assert!(snapshot(&dir).is_empty(), "{name}: nothing written, found {:?}", snapshot(&dir).keys().collect::<Vec<_>>());
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with(".tmp")).collect();
        assert!(leftovers.is_empty(), "{name}: staging left behind: {leftovers:?}");
    };
    check("conflicted", [dep("db", "^1", &libs, ""), dep("common", "^2", &libs, "")].concat(), &["conflict on `common`", "db needs `^1.0`", "conflicted needs `^2`"]);
    check("cyclic", dep("ping", "^1", &libs, ""), &["dependency cycle: ping -> pong -> ping"]);
    check("impossible", dep("common", "^9", &libs, ""), &["versions available: 2.0.0, 1.0.0"]);
    check("missing", dep("nothing", "^1", &libs, ""), &["does not have"]);
}

#[test]
fn dependencies_resolve_lock_and_rebuild_across_repository_kinds_on_sqlite() {
    dependencies(&ServerProcess::start(ServerOptions::default()));
}

#[tokio::test(flavor = "multi_thread")]
async fn dependencies_resolve_lock_and_rebuild_across_repository_kinds_on_postgres() {
    PgDatabase::with_server(dependencies).await;
}
