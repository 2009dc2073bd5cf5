//! Third-party clients installed by `scripts/install-clients.sh` (helm 4 and 3, the ORAS Python
//! SDK, skopeo, CNCF distribution). A missing client fails the test that needs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[must_use]
pub fn tools_dir() -> PathBuf {
    std::env::var_os("SHERPACK_TOOLS_DIR").map_or_else(
        || PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/sherpack-registry/tools"),
        PathBuf::from,
    )
}

fn require(path: PathBuf) -> PathBuf {
    assert!(path.is_file(), "{} is missing: run scripts/install-clients.sh (scripts/test.sh does)", path.display());
    path
}

/// Helm 4.
#[must_use]
pub fn helm() -> PathBuf {
    require(tools_dir().join("bin/helm"))
}

/// Helm 3.
#[must_use]
pub fn helm3() -> PathBuf {
    require(tools_dir().join("bin/helm3"))
}

/// The Python of the venv that holds the ORAS SDK.
#[must_use]
pub fn oras_python() -> PathBuf {
    require(tools_dir().join("venv/bin/python"))
}

/// axe-core's browser bundle (the accessibility rules).
#[must_use]
pub fn axe_core() -> PathBuf {
    let path = tools_dir().join("axe-core/node_modules/axe-core/axe.min.js");
    assert!(path.is_file(), "{} is missing: run scripts/install-clients.sh (scripts/test.sh does)", path.display());
    path
}

#[must_use]
pub fn system(name: &str) -> PathBuf {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("{name} is not installed: run scripts/install-clients.sh (scripts/test.sh does)"))
}

/// Runs a command, failing the test with its output when it does not succeed.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A helm command with its own config, cache and data directories under `home`.
#[must_use]
pub fn helm_command(binary: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(binary);
    for (var, sub) in [
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_DATA_HOME", "data"),
        ("HELM_REGISTRY_CONFIG", "config/registry.json"),
    ] {
        cmd.env(var, home.join(sub));
    }
    cmd.current_dir(home);
    cmd
}

/// `helm registry login` with the password on standard input; returns whether it succeeded
/// and what helm said.
#[must_use]
pub fn helm_login(helm: &Path, home: &Path, host: &str, user: &str, password: &str) -> (bool, String) {
    use std::io::Write;
    // helm 4 needs --plain-http to log in over HTTP; helm 3 has no such flag and tries HTTP
    // after HTTPS by itself with --insecure.
    let transport = if helm.ends_with("helm3") { "--insecure" } else { "--plain-http" };
    let mut child = helm_command(helm, home)
        .args(["registry", "login", host, "--username", user, "--password-stdin", transport])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}
