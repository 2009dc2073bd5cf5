//! The peers other clients and the CLI are measured and tested against: a CNCF distribution
//! registry (Debian's `docker-registry`) and a static Helm repository (`helm repo index` over
//! a directory, served by Python's `http.server`), each on a free loopback port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools::{self, helm_command, run_ok};

/// A free loopback port (bound, then released for the child process to take).
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a server process with its output discarded and waits until `url`'s port accepts
/// connections (failing the test if it exits first or takes over 20 s).
fn start_serving(command: &mut Command, url: &str, what: &str) -> Child {
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited ({status}) before answering on {url}");
        }
        if std::net::TcpStream::connect(url.trim_start_matches("http://").split('/').next().unwrap()).is_ok() {
            return child;
        }
        assert!(Instant::now() < deadline, "{what} did not start on {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CNCF distribution 2.8 on a free loopback port, its storage in a temporary directory, access
/// log off (it would cost the benchmarks).
pub struct Distribution {
    child: Child,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub host: String,
    /// `http://127.0.0.1:PORT`
    pub url: String,
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
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let host = format!("127.0.0.1:{port}");
        let child = start_serving(Command::new(tools::system("docker-registry")).arg("serve").arg(&config), &format!("http://{host}/v2/"), "docker-registry");
        Self { child, _dir: dir, url: format!("http://{host}"), host }
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
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
        let url = format!("http://127.0.0.1:{port}");
        let child = start_serving(
            Command::new(tools::system("python3")).args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"]).arg(dir.path()),
            &url,
            "python3 -m http.server",
        );
        Self { child, dir, url }
    }

    /// Copies archives (and any other files: `.prov`) in and regenerates the index with `helm repo index`.
    pub fn publish(&self, archives: &[PathBuf]) {
        for a in archives {
            std::fs::copy(a, self.dir.path().join(a.file_name().unwrap())).unwrap();
        }
        helm_repo_index(self.dir.path());
    }
}

impl Drop for StaticRepo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `helm repo index <dir>`: the `index.yaml` of the archives in `dir`.
pub fn helm_repo_index(dir: &std::path::Path) {
    let home = tempfile::tempdir().unwrap();
    run_ok(helm_command(&tools::helm(), home.path()).args(["repo", "index"]).arg(dir));
}

/// nginx serving a directory as static files on a free loopback port: `sendfile`, and a
/// `<file>.gz` beside a file served to clients that accept gzip (`gzip_static`). The
/// reference for "as fast as a static file can be served" in the benchmarks.
pub struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Nginx {
    /// The master process (its workers are its children).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Serves `root`'s files.
    #[must_use]
    pub fn serve(root: &std::path::Path) -> Self {
        Self::serve_with(root, "")
    }

    /// Serves `root`'s files with more `server` directives (`auth_basic`, `return 302 ...`,
    /// `location` blocks with `limit_rate`).
    #[must_use]
    pub fn serve_with(root: &std::path::Path, directives: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let config = dir.path().join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                "user root;\nworker_processes auto;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log error;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n  gzip_static on;\n  gzip_vary on;\n\
                 \x20 types {{ application/x-yaml yaml; application/json json; }}\n\
                 \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                 \x20 server {{ listen 127.0.0.1:{port}; root {}; {directives} }}\n}}\n",
                root.display()
            ),
        )
        .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let child = start_serving(Command::new(tools::system("nginx")).arg("-c").arg(&config).arg("-p").arg(dir.path()), &url, "nginx");
        Self { child, _dir: dir, url }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers on SIGTERM (a kill would leave them serving).
        crate::server::stop(&mut self.child, Duration::from_secs(5));
    }
}
