//! `sherpack-registry import --from-helm-repo` against the obvious alternative, `helm pull` +
//! `helm push` per version, on the same static repository (nginx, this machine): `IMPORT_VERSIONS`
//! chart versions (default 1,000; 20 charts) of about 50 KiB each into a fresh registry (release
//! build, `SQLite`). The import is timed whole (wall time, peak RSS by GNU time); the loop on a
//! sample of `IMPORT_LOOP_SAMPLE` versions (default 50), extrapolated to all and marked so.
//! Prints a Markdown table. Run through `bench/import.sh`.
#![allow(clippy::cast_precision_loss)]

use std::process::Command;
use std::time::Instant;

use sherpack_test_support::bench::{env_usize, measure, quiet};
use sherpack_test_support::fixtures::{PackSpec, spec_archive};
use sherpack_test_support::peers::{Nginx, helm_repo_index};
use sherpack_test_support::server::{ServerProcess, workspace_binary};
use sherpack_test_support::tools::{self, helm_command, run_ok};

const CHARTS: usize = 20;

fn main() {
    let versions = env_usize("IMPORT_VERSIONS", 1000);
    let sample = env_usize("IMPORT_LOOP_SAMPLE", 50).min(versions);
    let source_dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..versions {
        let (name, version) = (format!("chart-{:02}", i % CHARTS), format!("1.{}.0", i / CHARTS));
        let archive = spec_archive(&PackSpec { helm: true, filler: 50 << 10, ..PackSpec::new(&name, &version) });
        let file = format!("{name}-{version}.tgz");
        std::fs::write(source_dir.path().join(&file), archive).unwrap();
        files.push((name, version, file));
    }
    helm_repo_index(source_dir.path());
    let total_bytes: u64 = files.iter().map(|(_, _, f)| std::fs::metadata(source_dir.path().join(f)).unwrap().len()).sum();
    let source = Nginx::serve(source_dir.path());

    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(quiet(dir.path()));
    let mut import = Command::new(workspace_binary("sherpack-registry"));
    import.args(["import", "--json", "--namespace", "imported", "--from-helm-repo", &source.url]).current_dir(dir.path());
    let (import_ms, import_rss) = measure(&mut import);
    // The server follows what the import wrote through the change sequence: give it a moment.
    let stored = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut stored = 0;
        for _ in 0..100 {
            let listed: serde_json::Value = reqwest::get(format!("{}/api/imported/charts", server.url)).await.unwrap().json().await.unwrap();
            stored = listed.as_object().unwrap().values().map(|v| v.as_array().unwrap().len()).sum::<usize>();
            if stored == versions {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        stored
    });
    assert_eq!(stored, versions, "every version imported");
    let rerun_ms = measure(&mut import).0;

    // The loop: helm pull from the repository, helm push over OCI, one version after the other.
    let home = tempfile::tempdir().unwrap();
    let helm = tools::helm();
    run_ok(helm_command(&helm, home.path()).args(["repo", "add", "src", &source.url]));
    std::fs::create_dir(home.path().join("pulled")).unwrap();
    let host = server.url.trim_start_matches("http://");
    let mut loop_rss: f64 = 0.0;
    let started = Instant::now();
    for (name, version, file) in files.iter().take(sample) {
        let (_, rss) = measure(helm_command(&helm, home.path()).args(["pull", &format!("src/{name}"), "--version", version, "-d", "pulled"]));
        loop_rss = loop_rss.max(rss);
        let path = home.path().join("pulled").join(file);
        let (_, rss) = measure(helm_command(&helm, home.path()).arg("push").arg(&path).args([&format!("oci://{host}/looped"), "--plain-http"]));
        loop_rss = loop_rss.max(rss);
        std::fs::remove_file(path).unwrap();
    }
    let loop_ms = started.elapsed().as_secs_f64() * 1000.0 * versions as f64 / sample as f64;

    let rate = |ms: f64| versions as f64 / (ms / 1000.0);
    println!("{versions} chart versions ({CHARTS} charts), {:.0} KiB on average, from nginx on this machine into SQLite and local files.", total_bytes as f64 / versions as f64 / 1024.0);
    println!();
    println!("| method | wall time | versions/s | peak RSS |");
    println!("|---|---|---|---|");
    println!("| `sherpack-registry import` (8 at a time) | {:.1} s | {:.0} | {import_rss:.1} MiB |", import_ms / 1000.0, rate(import_ms));
    println!("| the same again (everything skipped) | {:.1} s | {:.0} | – |", rerun_ms / 1000.0, rate(rerun_ms));
    let extrapolated = if sample < versions { format!(" (measured on {sample}, extrapolated)") } else { String::new() };
    println!("| `helm pull` + `helm push` loop{extrapolated} | {:.1} s | {:.1} | {loop_rss:.1} MiB (per helm process) |", loop_ms / 1000.0, rate(loop_ms));
    println!();
    println!("Import is {:.0}× faster than the loop.", loop_ms / import_ms);
}
