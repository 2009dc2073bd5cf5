//! The `sherpack` CLI run as a user would: its own config and cache directories, no terminal;
//! pack directories to feed it. The peers it works against are in [`crate::peers`].

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::server::workspace_binary;

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

/// The names in a directory, sorted (empty when it does not exist).
#[must_use]
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
    names.sort();
    names
}

/// Packages a directory with `sherpack package`; returns the archive path.
#[must_use]
pub fn package(cli: &Sherpack, dir: &Path, out: &Path) -> PathBuf {
    let stdout = cli.ok(&["package", dir.to_str().unwrap(), "-d", out.to_str().unwrap()]);
    PathBuf::from(stdout.lines().next().unwrap().trim())
}
