//! `sherpack-registry import --from-chartmuseum-storage`: `ChartMuseum`'s storage layout
//! (`<name>-<version>.tgz`, `.prov` beside, its `index-cache.yaml`) on a directory with
//! `SQLite` and in an S3 bucket (moto) with Postgres, per-tenant folders into namespaces; the
//! result is what helm pulls, with the same digests; run twice, everything is skipped.

use std::path::{Path, PathBuf};

use sherpack_test_support::fixtures::{package_chart, signed_charts};
use sherpack_test_support::import::{Target, counts, eventually, expected, get, names};
use sherpack_test_support::postgres::{PgDatabase, server_options};
use sherpack_test_support::server::{ServerOptions, ServerProcess};
use sherpack_test_support::tools::{self, helm_command, run_ok};

/// `ChartMuseum`'s storage of signed charts in `dir`; returns the files.
fn chartmuseum_storage(work: &Path, dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let files = signed_charts(&tools::helm(), work, dir);
    std::fs::write(dir.join("index-cache.yaml"), "apiVersion: v1\nentries: {}\n").unwrap();
    files
}

/// Imports `storage` into `team`, checks the versions, provenance and a helm pull, then runs again.
fn import_and_check(target: &Target, storage: &str, files: &[PathBuf]) {
    let run = target.import(&["--namespace", "team", "--from-chartmuseum-storage", storage]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(names(&run.summary["imported"]), ["mychart 0.1.0", "mychart 0.2.0", "mychart 1.0.0", "webapp 1.0.0", "webapp 1.1.0"], "{}", run.summary);
    eventually("the imported versions in the index", || target.listed("team") == expected(files));
    let base = &target.server.url;
    let prov = files.iter().find(|f| f.file_name().unwrap() == "webapp-1.0.0.tgz.prov").unwrap();
    assert_eq!(get(&format!("{base}/team/charts/webapp-1.0.0.tgz.prov")), (200, std::fs::read(prov).unwrap()));
    let home = tempfile::tempdir().unwrap();
    let helm = tools::helm();
    run_ok(helm_command(&helm, home.path()).args(["repo", "add", "team", &format!("{base}/team")]));
    std::fs::create_dir(home.path().join("pulled")).unwrap();
    run_ok(helm_command(&helm, home.path()).args(["pull", "team/mychart", "--version", "0.2.0", "-d", "pulled"]));
    let source = files.iter().find(|f| f.file_name().unwrap() == "mychart-0.2.0.tgz").unwrap();
    assert_eq!(std::fs::read(home.path().join("pulled/mychart-0.2.0.tgz")).unwrap(), std::fs::read(source).unwrap());
    let again = target.import(&["--namespace", "team", "--from-chartmuseum-storage", storage]);
    assert_eq!(counts(&again.summary), [0, 5, 0, 0], "{}", again.summary);
}

#[test]
fn imports_chartmuseum_storage_from_a_directory() {
    let server = ServerProcess::start(ServerOptions::default());
    let work = tempfile::tempdir().unwrap();
    let storage = work.path().join("storage");
    let files = chartmuseum_storage(work.path(), &storage);
    import_and_check(&Target { server: &server, env: vec![] }, storage.to_str().unwrap(), &files);
}

#[test]
fn tenant_folders_go_into_their_namespaces() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let work = tempfile::tempdir().unwrap();
    let storage = work.path().join("storage");
    let archives = package_chart(&tools::helm(), work.path(), &["0.1.0", "0.2.0"]);
    for (tenant, archive) in [("acme", &archives[0]), ("beta", &archives[1])] {
        std::fs::create_dir_all(storage.join(tenant)).unwrap();
        std::fs::copy(archive, storage.join(tenant).join(archive.file_name().unwrap())).unwrap();
    }
    // A file at the top is no tenant's: left out.
    std::fs::copy(&archives[1], storage.join("mychart-0.2.0.tgz")).unwrap();
    let run = target.import(&["--per-tenant", "--from-chartmuseum-storage", storage.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(counts(&run.summary), [2, 0, 0, 0], "{}", run.summary);
    eventually("both tenants imported", || {
        target.listed("acme") == expected(&archives[..1]) && target.listed("beta") == expected(&archives[1..])
    });
}

#[test]
fn a_missing_directory_is_an_error() {
    let server = ServerProcess::start(ServerOptions::default());
    let target = Target { server: &server, env: vec![] };
    let run = target.import(&["--namespace", "team", "--from-chartmuseum-storage", "/nonexistent/charts"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("/nonexistent/charts: no such directory"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_chartmuseum_storage_from_s3() {
    let bucket = sherpack_test_support::s3::create_bucket().await;
    let work = tempfile::tempdir().unwrap();
    let files = chartmuseum_storage(work.path(), &work.path().join("storage"));
    let http = reqwest::Client::new();
    for f in &files {
        let url = format!("{}/{bucket}/museum/{}", sherpack_test_support::s3::endpoint(), f.file_name().unwrap().to_str().unwrap());
        assert!(http.put(url).body(std::fs::read(f).unwrap()).send().await.unwrap().status().is_success());
    }
    PgDatabase::with(|url| async move {
        let blobs = tempfile::tempdir().unwrap();
        let mut options = server_options(url, blobs.path());
        options.env.extend(sherpack_test_support::s3::server_env());
        let env = options.env.clone();
        let server = ServerProcess::start(options);
        let storage = format!("s3://{bucket}/museum");
        tokio::task::spawn_blocking(move || import_and_check(&Target { server: &server, env }, &storage, &files)).await.unwrap();
    })
    .await;
}
