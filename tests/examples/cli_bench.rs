//! The `sherpack` CLI against helm on the same work, against our server (release build):
//! `push` and `pull` of the same chart file (a small one from `helm create` and one of 8 MiB),
//! wall time (median of `CLI_RUNS`) and peak RSS; then a chart with 20 dependencies resolved
//! against a namespace of 10,000 packs (`CLI_PACKS`) — `repo update` (the index) and
//! `dependency update` by both tools on the same Chart.yaml, and sherpack over OCI.
//! Prints a Markdown table. Run through `bench/cli.sh`.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::many_single_char_names)]

use std::fmt::Write as _;

use std::path::{Path, PathBuf};
use std::process::Command;

use sherpack_test_support::bench::{chart_metadata, env_usize, measure, quiet, seed_sqlite};
use sherpack_test_support::cli::{Sherpack, package, write_pack};
use sherpack_test_support::server::ServerProcess;
use sherpack_test_support::tools::{self, helm_command, run_ok};

/// Median wall time and maximum peak RSS over `runs` runs; `before` runs first each time.
fn repeat(runs: usize, mut make: impl FnMut() -> Command, mut before: impl FnMut()) -> (f64, f64) {
    let mut times = Vec::new();
    let mut rss: f64 = 0.0;
    for _ in 0..runs {
        before();
        let (ms, mib) = measure(&mut make());
        times.push(ms);
        rss = rss.max(mib);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], rss)
}

fn row(what: &str, sherpack: (f64, f64), helm: Option<(f64, f64)>) {
    match helm {
        Some(h) => println!(
            "| {what} | {:.0} ms | {:.1} MiB | {:.0} ms | {:.1} MiB | {:.2}× | {:.2}× |",
            sherpack.0, sherpack.1, h.0, h.1, h.0 / sherpack.0, h.1 / sherpack.1
        ),
        None => println!("| {what} | {:.0} ms | {:.1} MiB | – | – | | |", sherpack.0, sherpack.1),
    }
}

fn clean(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
}

fn main() {
    let runs = env_usize("CLI_RUNS", 10);
    let packs = env_usize("CLI_PACKS", 10_000);
    let dir = tempfile::tempdir().unwrap();
    drop(ServerProcess::start(quiet(dir.path())));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(seed_sqlite(&dir.path().join("data/registry.db"), packs, 1, &|i| format!("pack-{i:05}"), &chart_metadata));
    let server = ServerProcess::start(quiet(dir.path()));
    let host = server.url.trim_start_matches("http://").to_owned();
    let helm = tools::helm();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let home = w.join("helm-home");
    std::fs::create_dir_all(&home).unwrap();
    let cli = Sherpack::new();
    let sherpack = |args: &[&str]| {
        let mut c = cli.command();
        c.args(args).arg("-q");
        c
    };
    let helm_cmd = |args: &[&str]| {
        let mut c = helm_command(&helm, &home);
        c.args(args);
        c
    };

    // Two chart files: `helm create` (small) and the same with 8 MiB of incompressible data.
    let small = sherpack_test_support::fixtures::package_chart(&helm, &home, &["0.1.0"]).remove(0);
    let big_src = home.join("mychart");
    let mut noise = vec![0u8; 8 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    // helm refuses files over 5 MiB: two halves.
    std::fs::write(big_src.join("blob-1.bin"), &noise[..4 << 20]).unwrap();
    std::fs::write(big_src.join("blob-2.bin"), &noise[4 << 20..]).unwrap();
    run_ok(helm_cmd(&["package", "mychart", "--version", "0.2.0", "-d", "packages"]).current_dir(&home));
    let big = home.join("packages/mychart-0.2.0.tgz");

    println!("Chart files: {} KiB and {:.1} MiB; {runs} runs each, median wall time, peak RSS; ratio = helm / sherpack.", std::fs::metadata(&small).unwrap().len() / 1024, std::fs::metadata(&big).unwrap().len() as f64 / 1_048_576.0);
    println!();
    println!("| operation | sherpack | sherpack RSS | helm 4 | helm RSS | time ratio | RSS ratio |");
    println!("|---|---|---|---|---|---|---|");
    let out = w.join("out");
    for (label, file, version) in [("small", &small, "0.1.0"), ("8 MiB", &big, "0.2.0")] {
        let f = file.to_str().unwrap().to_owned();
        let s = repeat(runs, || sherpack(&["push", &f, &format!("oci://{host}/cli-s"), "--plain-http"]), || {});
        let h = repeat(runs, || helm_cmd(&["push", &f, &format!("oci://{host}/cli-h"), "--plain-http"]), || {});
        row(&format!("push ({label})"), s, Some(h));
        let o = out.to_str().unwrap().to_owned();
        let s = repeat(runs, || sherpack(&["pull", &format!("oci://{host}/cli-s/mychart:{version}"), "-d", &o, "--plain-http"]), || clean(&out));
        let h = repeat(runs, || helm_cmd(&["pull", &format!("oci://{host}/cli-h/mychart"), "--version", version, "-d", &o, "--plain-http"]), || clean(&out));
        row(&format!("pull ({label})"), s, Some(h));
    }

    // 20 dependencies, published for real next to the seeded packs (helm charts, so that helm
    // can resolve the same Chart.yaml).
    let archives = w.join("deps");
    let mut deps_http = String::from("dependencies:\n");
    let mut deps_oci = String::from("dependencies:\n");
    for i in 0..20 {
        let name = format!("dep-{i:02}");
        for v in ["1.0.0", "1.1.0", "2.0.0"] {
            let a = package(&cli, &write_pack(&archives, &name, v, "", "", true), &archives);
            cli.ok(&["push", a.to_str().unwrap(), &format!("oci://{host}/bench"), "--plain-http", "-q"]);
        }
        let _ = write!(deps_http, "- name: {name}\n  version: \"^1.0.0\"\n  repository: {}/bench\n", server.url);
        let _ = write!(deps_oci, "- name: {name}\n  version: \"^1.0.0\"\n  repository: oci://{host}/bench\n");
    }
    let app_http = write_pack(&w.join("http"), "app", "1.0.0", &deps_http, "", true);
    let app_helm = write_pack(&w.join("helm"), "app", "1.0.0", &deps_http, "", true);
    let app_oci = write_pack(&w.join("oci"), "app", "1.0.0", &deps_oci, "", true);
    let url = format!("{}/bench", server.url);
    cli.ok(&["repo", "add", "bench", &url]);
    run_ok(&mut helm_cmd(&["repo", "add", "bench", &url]));
    let s = repeat(runs, || sherpack(&["repo", "update", "bench"]), || {});
    let h = repeat(runs, || helm_cmd(&["repo", "update", "bench"]), || {});
    row(&format!("repo update ({} packs)", packs + 20), s, Some(h));
    let charts = |d: &Path| -> PathBuf { d.join("charts") };
    let s = repeat(runs, || sherpack(&["dependency", "update", app_http.to_str().unwrap()]), || clean(&charts(&app_http)));
    let h = repeat(runs, || helm_cmd(&["dependency", "update", "--skip-refresh", app_helm.to_str().unwrap()]), || clean(&charts(&app_helm)));
    row("dependency update, 20 deps, HTTP repository (cached index)", s, Some(h));
    let s = repeat(runs, || sherpack(&["dependency", "update", app_oci.to_str().unwrap(), "--plain-http"]), || clean(&charts(&app_oci)));
    row("dependency update, 20 deps, OCI (tags listed per dependency)", s, None);
    let s = repeat(runs, || sherpack(&["dependency", "build", app_oci.to_str().unwrap(), "--plain-http"]), || clean(&charts(&app_oci)));
    row("dependency build from Pack.lock.yaml, 20 deps, OCI", s, None);
    let h = repeat(runs, || helm_cmd(&["dependency", "build", "--skip-refresh", app_helm.to_str().unwrap()]), || clean(&charts(&app_helm)));
    let s = repeat(runs, || sherpack(&["dependency", "build", app_http.to_str().unwrap()]), || clean(&charts(&app_http)));
    row("dependency build from the lock, 20 deps, HTTP", s, Some(h));
}
