//! The `sherpack` CLI run as a user would: its own config and cache directories, no terminal;
//! and the peers it must work with: a CNCF distribution registry (Debian's `docker-registry`)
//! and a static Helm repository (`helm repo index` over a directory, served by a plain HTTP
//! server).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::server::workspace_binary;
use crate::tools::{self, helm_command, run_ok};

/// One user of the CLI: a home with its own config, cache and Docker config.
pub struct Sherpack {
    pub home: tempfile::TempDir,
    pub binary: PathBuf,
}

/// What a run returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Default for Sherpack {
    fn default() -> Self {
        Self::new()
    }
}

impl Sherpack {
    #[must_use]
    pub fn new() -> Self {
        Self { home: tempfile::tempdir().unwrap(), binary: workspace_binary("sherpack") }
    }

    #[must_use]
    pub fn config_home(&self) -> PathBuf {
        self.home.path().join("config")
    }

    #[must_use]
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("SHERPACK_CONFIG_HOME", self.config_home())
            .env("SHERPACK_CACHE_HOME", self.home.path().join("cache"))
            .env("DOCKER_CONFIG", self.home.path().join("docker"))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs with `stdin` as standard input.
    #[must_use]
    pub fn run_with_input(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self.command().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("sherpack runs");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        finish(child.wait_with_output().unwrap())
    }

    #[must_use]
    pub fn run(&self, args: &[&str]) -> Run {
        finish(self.command().args(args).output().expect("sherpack runs"))
    }

    /// Runs and fails the test unless it succeeds; returns stdout.
    #[allow(clippy::must_use_candidate)] // called for its checks as often as for its output
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "sherpack {args:?} failed ({}):\n{}\n{}", run.code, run.stdout, run.stderr);
        run.stdout
    }

    /// Runs and fails the test unless it exits with `code`; returns stderr.
    #[allow(clippy::must_use_candidate)] // called for its checks as often as for its output
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let run = self.run(args);
        assert_eq!(run.code, code, "sherpack {args:?} exited {} instead of {code}:\n{}\n{}", run.code, run.stdout, run.stderr);
        run.stderr
    }

    /// JSON from `-o json`.
    #[must_use]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("JSON output")
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A free loopback port (bound, then released for the child process to take).
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_http(url: &str, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited ({status}) before answering on {url}");
        }
        if std::net::TcpStream::connect(url.trim_start_matches("http://").split('/').next().unwrap()).is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not start on {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CNCF distribution 2.8 on a free loopback port, its storage in a temporary directory.
pub struct Distribution {
    child: Child,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub host: String,
}

impl Distribution {
    #[must_use]
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(tools::system("docker-registry"))
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let host = format!("127.0.0.1:{port}");
        wait_for_http(&format!("http://{host}/v2/"), &mut child, "docker-registry");
        Self { child, _dir: dir, host }
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of chart archives with an index made by `helm repo index`, served by Python's
/// `http.server` on a free loopback port.
pub struct StaticRepo {
    child: Child,
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl StaticRepo {
    #[must_use]
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = Command::new(tools::system("python3"))
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server starts");
        let url = format!("http://127.0.0.1:{port}");
        wait_for_http(&url, &mut child, "python3 -m http.server");
        Self { child, dir, url }
    }

    /// Copies archives in and regenerates the index with `helm repo index`.
    pub fn publish(&self, archives: &[PathBuf]) {
        for a in archives {
            std::fs::copy(a, self.dir.path().join(a.file_name().unwrap())).unwrap();
        }
        let home = tempfile::tempdir().unwrap();
        run_ok(helm_command(&tools::helm(), home.path()).args(["repo", "index"]).arg(self.dir.path()));
    }
}

impl Drop for StaticRepo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a pack directory: Pack.yaml (or Chart.yaml with `helm: true`), values, a template.
#[allow(clippy::must_use_candidate)] // called for its checks as often as for its output
pub fn write_pack(root: &Path, name: &str, version: &str, dependencies: &str, values: &str, helm: bool) -> PathBuf {
    let dir = root.join(format!("{name}-{version}-src"));
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    if helm {
        std::fs::write(
            dir.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\ndescription: The {name} chart\nappVersion: \"1.0\"\n{dependencies}"),
        )
        .unwrap();
        std::fs::write(dir.join("templates/cm.yaml"), format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {{{{ .Values.v | quote }}}}\n")).unwrap();
    } else {
        std::fs::write(
            dir.join("Pack.yaml"),
            format!("apiVersion: sherpack/v1\nkind: application\nmetadata:\n  name: {name}\n  version: {version}\n  description: The {name} pack\n{dependencies}"),
        )
        .unwrap();
        std::fs::write(dir.join("templates/cm.yaml"), format!("kind: ConfigMap\nname: {name}\nv: {{{{ values.v }}}}\n")).unwrap();
    }
    std::fs::write(dir.join("values.yaml"), format!("v: one\n{values}")).unwrap();
    std::fs::write(dir.join("README.md"), format!("# {name}\n")).unwrap();
    dir
}

/// Packages a directory with `sherpack package`; returns the archive path.
#[must_use]
pub fn package(cli: &Sherpack, dir: &Path, out: &Path) -> PathBuf {
    let stdout = cli.ok(&["package", dir.to_str().unwrap(), "-d", out.to_str().unwrap()]);
    PathBuf::from(stdout.lines().next().unwrap().trim())
}
