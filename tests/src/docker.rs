//! Docker for the deployment tests: the clients `scripts/test.sh` chose (`SHERPACK_DOCKER`, a
//! compose client), the registry image built once per test process from the shipped
//! `Dockerfile` (after `scripts/docker-bases.sh` made the base images it names), and
//! containers, volumes and compose projects that remove themselves.
//!
//! One test process at a time drives Docker on a machine (a file lock): suites of several
//! checkouts may run side by side, and the image tag and the engine are shared.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::tools::run_ok;

/// The tag the README's commands and `docker-compose.yml` use.
pub const IMAGE: &str = "sherpack-registry:local";

#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_owned()
}

/// A docker command (the client `scripts/test.sh` found able to use `BuildKit`).
#[must_use]
pub fn docker() -> Command {
    let mut cmd = Command::new(std::env::var("SHERPACK_DOCKER").unwrap_or_else(|_| "docker".to_owned()));
    cmd.env("DOCKER_BUILDKIT", "1");
    cmd
}

/// Runs docker with `args`, failing the test with its output; returns stdout, trimmed.
#[must_use]
pub fn docker_ok(args: &[&str]) -> String {
    let out = run_ok(docker().args(args));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs docker with `args` for its effect, failing the test with its output.
pub fn docker_do(args: &[&str]) {
    run_ok(docker().args(args));
}

/// `docker inspect --format` of a container or image.
#[must_use]
pub fn inspect(target: &str, format: &str) -> String {
    docker_ok(&["inspect", "--format", format, target])
}

fn unique(kind: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("sherpack-test-{kind}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

fn machine_lock() {
    static LOCK: OnceLock<File> = OnceLock::new();
    LOCK.get_or_init(|| {
        let file = File::create(std::env::temp_dir().join("sherpack-docker-tests.lock")).expect("lock file");
        file.lock().expect("machine-wide Docker test lock");
        file
    });
}

/// How long making the base images and building the registry image took, in this process.
#[derive(Debug, Clone, Copy)]
pub struct BuildTimes {
    pub bases: Duration,
    pub image: Duration,
}

/// Builds [`IMAGE`] from the repository's own `Dockerfile`, once per process, after making
/// the base images it names when they are missing.
pub fn image() -> BuildTimes {
    static BUILT: OnceLock<Result<BuildTimes, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            machine_lock();
            let started = Instant::now();
            let bases = Command::new(repo_root().join("scripts/docker-bases.sh")).output().map_err(|e| e.to_string())?;
            if !bases.status.success() {
                return Err(format!("scripts/docker-bases.sh failed:\n{}", String::from_utf8_lossy(&bases.stderr)));
            }
            let bases = started.elapsed();
            let started = Instant::now();
            let before = docker().args(["image", "inspect", "--format", "{{.Id}}", IMAGE]).output().map_err(|e| e.to_string())?;
            let build = docker().args(["build", "--progress=plain", "-t", IMAGE]).arg(repo_root()).output().map_err(|e| e.to_string())?;
            if !build.status.success() {
                let log = String::from_utf8_lossy(&build.stderr);
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                return Err(format!("docker build failed:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n")));
            }
            let image = started.elapsed();
            // The build it replaces, unless something still uses it.
            let before = String::from_utf8_lossy(&before.stdout).trim().to_owned();
            if !before.is_empty() && before != inspect(IMAGE, "{{.Id}}") {
                let _ = docker().args(["rmi", &before]).output();
            }
            Ok(BuildTimes { bases, image })
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A named volume, removed when dropped.
pub struct Volume {
    pub name: String,
}

impl Volume {
    #[must_use]
    pub fn new() -> Self {
        let name = unique("volume");
        docker_do(&["volume", "create", &name]);
        Self { name }
    }
}

impl Default for Volume {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = docker().args(["volume", "rm", "-f", &self.name]).output();
    }
}

/// A container started with `docker run -d`, removed (with its anonymous volumes) when dropped.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name <unique> <args>` (options, image, command).
    #[must_use]
    pub fn run(args: &[&str]) -> Self {
        let name = unique("container");
        docker_do(&[&["run", "-d", "--name", &name][..], args].concat());
        Self { name }
    }

    /// `127.0.0.1:<host port>` published for `port` of the container.
    #[must_use]
    pub fn address(&self, port: u16) -> String {
        published(&docker_ok(&["port", &self.name, &port.to_string()]))
    }

    /// Waits until Docker reports the image's health check as passing.
    pub fn wait_healthy(&self) {
        wait_healthy(&self.name);
    }

    /// `docker exec -i` with `input` on standard input; fails the test unless it succeeds.
    pub fn exec(&self, args: &[&str], input: &str) {
        use std::io::Write as _;
        let mut child = docker()
            .args(["exec", "-i", &self.name])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker exec");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        let out = child.wait_with_output().expect("docker exec");
        assert!(out.status.success(), "docker exec {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker().args(["rm", "-f", "-v", &self.name]).output();
    }
}

/// `127.0.0.1:<port>` from a line of `docker port` (`0.0.0.0:49153`, `[::]:49153`, ...).
fn published(lines: &str) -> String {
    let first = lines.lines().next().unwrap_or_else(|| panic!("no published port in {lines:?}"));
    let port = first.rsplit(':').next().expect("port");
    format!("127.0.0.1:{port}")
}

/// Waits (up to 2 minutes) until the container's health check passes; fails the test with
/// its state and logs when it stops or is reported unhealthy.
pub fn wait_healthy(container: &str) {
    let started = Instant::now();
    loop {
        let state = inspect(container, "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}");
        match state.as_str() {
            "running healthy" => return,
            s if s.ends_with("unhealthy") || !s.starts_with("running") || started.elapsed() > Duration::from_mins(2) => {
                let logs = docker().args(["logs", "--tail", "40", container]).output().expect("docker logs");
                panic!(
                    "{container} is {s} after {:?}:\n{}{}",
                    started.elapsed(),
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// A compose project of its own (`-p`), from the given files, with the given environment;
/// `down -v` when dropped.
pub struct Compose {
    pub project: String,
    files: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

/// The compose client: the Compose plugin (`docker compose`) when the docker client has it,
/// else `docker-compose`.
fn compose_command() -> Command {
    let plugin = docker().args(["compose", "version"]).output().is_ok_and(|o| o.status.success());
    if plugin {
        let mut cmd = docker();
        cmd.arg("compose");
        cmd
    } else {
        Command::new("docker-compose")
    }
}

impl Compose {
    #[must_use]
    pub fn new(files: &[PathBuf], env: &[(&str, &str)]) -> Self {
        Self {
            project: unique("compose").replace('-', ""),
            files: files.to_vec(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    /// A compose command for this project (run from the repository root).
    #[must_use]
    pub fn command(&self) -> Command {
        let mut cmd = compose_command();
        cmd.current_dir(repo_root()).envs(self.env.iter().map(|(k, v)| (k, v))).args(["-p", &self.project]);
        for file in &self.files {
            cmd.arg("-f").arg(file);
        }
        cmd
    }

    /// Runs a compose subcommand, failing the test unless it succeeds.
    pub fn run(&self, args: &[&str]) {
        self.output(args);
    }

    fn output(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&run_ok(self.command().args(args)).stdout).into_owned()
    }

    /// The containers of `service`, by index (1-based, as `--index` counts).
    #[must_use]
    pub fn containers(&self, service: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.output(&["ps", "-q", service]).lines().map(str::to_owned).collect();
        ids.sort_by_key(|id| inspect(id, "{{.Name}}"));
        ids
    }

    /// `127.0.0.1:<host port>` of the `index`-th container of `service`.
    #[must_use]
    pub fn address(&self, service: &str, index: usize, port: u16) -> String {
        published(&self.output(&["port", &format!("--index={index}"), service, &port.to_string()]))
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.command().args(["down", "-v", "--remove-orphans"]).output();
    }
}

/// A free TCP port whose successor is free too (for a host port range `p-(p+1)`).
#[must_use]
pub fn two_free_ports() -> u16 {
    let free = |port: u16| std::net::TcpListener::bind(("0.0.0.0", port)).is_ok();
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("0.0.0.0:0").and_then(|l| l.local_addr()).expect("bind").port();
        if port < u16::MAX && free(port) && free(port + 1) {
            return port;
        }
    }
    panic!("no two consecutive free ports");
}
