//! The real `sherpack-registry` process, started on a free loopback port and stopped with
//! SIGTERM when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// A binary of this workspace, next to the test executable's `deps/` folder.
#[must_use]
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`)",
        path.display()
    );
    path
}

/// Options for one server process.
#[derive(Default)]
pub struct ServerOptions {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory; a fresh temporary one when absent.
    pub cwd: Option<PathBuf>,
}

pub struct ServerProcess {
    child: Child,
    /// `http(s)://127.0.0.1:PORT`
    pub url: String,
    logs: Arc<Mutex<Vec<String>>>,
    _cwd: Option<tempfile::TempDir>,
    pub cwd: PathBuf,
}

/// What a process that was expected to refuse to start said and returned.
pub struct Refusal {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn command(options: &ServerOptions, cwd: &Path) -> Command {
    let mut cmd = Command::new(workspace_binary("sherpack-registry"));
    cmd.arg("serve").args(&options.args).current_dir(cwd);
    // Only the variables a test sets: the developer's own SHERPACK_REGISTRY_* must not leak in.
    cmd.env_clear();
    for key in ["PATH", "HOME", "SSL_CERT_FILE"] {
        if let Ok(v) = std::env::var(key) {
            cmd.env(key, v);
        }
    }
    cmd.envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd
}

impl ServerProcess {
    /// Starts the server with `--listen 127.0.0.1:0` and waits until it logs its address.
    #[must_use]
    #[allow(clippy::zombie_processes)] // the child moves into `Self`, whose `Drop` waits for it
    pub fn start(mut options: ServerOptions) -> Self {
        let temp = options
            .cwd
            .is_none()
            .then(|| tempfile::tempdir().expect("temp dir"));
        let cwd = options
            .cwd
            .clone()
            .unwrap_or_else(|| temp.as_ref().unwrap().path().to_owned());
        if !options.args.iter().any(|a| a == "--listen") {
            options
                .args
                .extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
        }
        let mut child = command(&options, &cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sherpack-registry");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = Arc::clone(&logs);
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(url) = line.split("listening on ").nth(1) {
                        let url: String = url
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || ":/.[]".contains(*c))
                            .collect();
                        let _ = tx.send(url);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        if let Ok(url) = rx.recv_timeout(Duration::from_mins(1)) {
            Self {
                child,
                url,
                logs,
                _cwd: temp,
                cwd,
            }
        } else {
            let _ = child.kill();
            panic!(
                "server did not start; its output:\n{}",
                logs.lock().unwrap().join("\n")
            );
        }
    }

    /// Runs a server that is expected to exit at start, and collects what it said.
    #[must_use]
    pub fn refuse(options: &ServerOptions) -> Refusal {
        let temp = tempfile::tempdir().unwrap();
        let cwd = options
            .cwd
            .clone()
            .unwrap_or_else(|| temp.path().to_owned());
        let out = command(options, &cwd)
            .stdin(Stdio::null())
            .output()
            .expect("run sherpack-registry");
        Refusal {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[must_use]
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        stop(&mut self.child, Duration::from_secs(30)).expect("the server ignored SIGTERM for 30 s")
    }
}

/// Sends SIGTERM to a child process and waits up to `grace` for it to exit: its exit status,
/// or `None` when it had to be killed.
pub fn stop(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(5));
    }
}
