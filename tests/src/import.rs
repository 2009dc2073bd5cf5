//! Running `sherpack-registry import` against a server's stores, and reading what the
//! server then serves: shared by the import tests.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::oci::digest;
use crate::server::{ServerProcess, workspace_binary};

/// Runs `work` from synchronous test code (also inside `spawn_blocking`).
#[must_use]
pub fn block<T>(work: impl Future<Output = T>) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(work),
        Err(_) => tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(work),
    }
}

/// A GET: status and body.
#[must_use]
pub fn get(url: &str) -> (u16, Vec<u8>) {
    block(async {
        let r = reqwest::get(url).await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    })
}

#[must_use]
pub fn get_json(url: &str) -> Value {
    let (status, body) = get(url);
    assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// Where an import writes: the server's directory and environment (its stores).
pub struct Target<'a> {
    pub server: &'a ServerProcess,
    pub env: Vec<(String, String)>,
}

/// What an import run returned.
pub struct Run {
    pub code: i32,
    pub summary: Value,
    pub stderr: String,
}

impl Target<'_> {
    #[must_use]
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(workspace_binary("sherpack-registry"));
        cmd.arg("import").arg("--json").args(args).current_dir(&self.server.cwd).env_clear();
        for key in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    #[must_use]
    pub fn import_with(&self, args: &[&str], stdin: &str, extra_env: &[(&str, &str)]) -> Run {
        let mut child = self
            .command(args)
            .envs(extra_env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        Run { code: out.status.code().unwrap_or(-1), summary, stderr }
    }

    #[must_use]
    pub fn import(&self, args: &[&str]) -> Run {
        self.import_with(args, "", &[])
    }

    /// The versions of `namespace` the `ChartMuseum` API lists, `name version digest` sorted.
    #[must_use]
    pub fn listed(&self, namespace: &str) -> Vec<String> {
        let body = get_json(&format!("{}/api/{namespace}/charts", self.server.url));
        let mut out: Vec<String> = body
            .as_object()
            .unwrap()
            .values()
            .flat_map(|v| v.as_array().unwrap().iter())
            .map(|v| format!("{} {} {}", v["name"].as_str().unwrap(), v["version"].as_str().unwrap(), v["digest"].as_str().unwrap()))
            .collect();
        out.sort();
        out
    }
}

#[must_use]
pub fn names(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list.as_array().unwrap().iter().map(|i| format!("{} {}", i["name"].as_str().unwrap(), i["version"].as_str().unwrap())).collect();
    out.sort();
    out
}

#[must_use]
pub fn counts(summary: &Value) -> [usize; 4] {
    ["imported", "skipped", "conflicts", "failed"].map(|k| summary[k].as_array().map_or(usize::MAX, Vec::len))
}

/// `name version sha256-hex` of each archive in `files`, sorted (as `listed` shows them).
#[must_use]
pub fn expected(files: &[PathBuf]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "tgz"))
        .map(|f| {
            let stem = f.file_stem().unwrap().to_str().unwrap();
            let (name, version) = stem.rsplit_once('-').unwrap();
            format!("{name} {version} {}", &digest(&std::fs::read(f).unwrap())[7..])
        })
        .collect();
    out.sort();
    out
}

/// Waits (up to a minute) until `check` holds: the servers follow the store's changes.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while !check() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(100));
    }
}

