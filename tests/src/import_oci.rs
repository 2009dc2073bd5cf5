//! What the `--from-oci` import tests read from: an OCI registry (CNCF distribution, or a
//! second registry of ours) filled as users fill one — charts with `helm push`, packs with
//! `sherpack push` and their minisign signatures (referrers, or the `sha256-<hex>.minisig` tag
//! on a registry without the referrers API) — and nginx in front of it to break it on demand.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli::{Sherpack, package, write_pack};
use crate::fixtures::package_chart;
use crate::import::{Target, block};
use crate::oci::digest;
use crate::peers::Nginx;
use crate::server::workspace_binary;
use crate::tools::{self, helm_command, run_ok};

/// What was pushed: archives by `name version`, and the key that signed the packs.
pub struct Filled {
    pub work: tempfile::TempDir,
    /// `(repository under the namespace, version, archive)`.
    pub archives: Vec<(String, String, PathBuf)>,
    pub public_key: PathBuf,
}

impl Filled {
    /// The archive of `name` at `version`.
    #[must_use]
    pub fn archive(&self, name: &str, version: &str) -> Vec<u8> {
        let (_, _, path) = self.archives.iter().find(|(n, v, _)| n == name && v == version).unwrap();
        std::fs::read(path).unwrap()
    }
}

/// `helm push` of `mychart` 0.1.0 and 0.2.0 and `sherpack push` of `web` 1.0.0 and 1.1.0 (both
/// signed) into `oci://<host>/<namespace>`, plus `mychart` 0.1.0 in `other`, outside it.
#[must_use]
pub fn fill(host: &str, namespace: &str) -> Filled {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let helm = tools::helm();
    let charts = package_chart(&helm, w, &["0.1.0", "0.2.0"]);
    for chart in &charts {
        run_ok(helm_command(&helm, w).arg("push").arg(chart).args([&format!("oci://{host}/{namespace}"), "--plain-http"]));
    }
    run_ok(helm_command(&helm, w).arg("push").arg(&charts[0]).args([&format!("oci://{host}/other"), "--plain-http"]));
    let cli = Sherpack::new();
    cli.ok(&["keygen", "--name", "release", "-d", w.to_str().unwrap()]);
    let mut archives: Vec<(String, String, PathBuf)> = charts.iter().zip(["0.1.0", "0.2.0"]).map(|(c, v)| ("mychart".into(), v.into(), c.clone())).collect();
    for version in ["1.0.0", "1.1.0"] {
        let archive = package(&cli, &write_pack(w, "web", version, "", "", false), &w.join("packs"));
        cli.ok(&["sign", archive.to_str().unwrap(), "--key", w.join("release.key").to_str().unwrap()]);
        let pushed = cli.json(&["push", archive.to_str().unwrap(), &format!("oci://{host}/{namespace}"), "--plain-http"]);
        assert_eq!(pushed["signed"], true, "{pushed}");
        archives.push(("web".into(), version.into(), archive));
    }
    Filled { public_key: w.join("release.pub"), work, archives }
}

/// The manifest `repo:reference` at `base`, as served.
#[must_use]
pub fn manifest(base: &str, repo: &str, reference: &str) -> Vec<u8> {
    block(async {
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
        let r = reqwest::Client::new().get(format!("{base}/v2/{repo}/manifests/{reference}")).header("accept", accept).send().await.unwrap();
        assert_eq!(r.status(), 200, "manifest {repo}:{reference} at {base}");
        r.bytes().await.unwrap().to_vec()
    })
}

/// The digest of the manifest `repo:reference` at `base` (from its bytes).
#[must_use]
pub fn manifest_digest(base: &str, repo: &str, reference: &str) -> String {
    digest(&manifest(base, repo, reference))
}

/// The tags of `repo` at `base`, sorted.
#[must_use]
pub fn tags(base: &str, repo: &str) -> Vec<String> {
    let body = crate::import::get_json(&format!("{base}/v2/{repo}/tags/list"));
    let mut tags: Vec<String> = body["tags"].as_array().map(|t| t.iter().map(|t| t.as_str().unwrap().to_owned()).collect()).unwrap_or_default();
    tags.sort();
    tags
}

/// nginx proxying to `upstream` (`http://host:port`), with `directives` first (locations that
/// break the source: a wrong digest header, a tampered blob, a missing catalog, a redirect).
#[must_use]
pub fn proxy(upstream: &str, directives: &str) -> (Nginx, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let nginx = Nginx::serve_with(root.path(), &format!("{directives} location / {{ proxy_pass {upstream}; }}"));
    (nginx, root)
}

/// `sherpack-registry admin <args>` against the target's stores; fails the test unless it succeeds.
pub fn admin(target: &Target, args: &[&str]) {
    let mut cmd = Command::new(workspace_binary("sherpack-registry"));
    cmd.arg("admin").args(args).current_dir(&target.server.cwd).env_clear().stdin(Stdio::null());
    for key in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(key) {
            cmd.env(key, v);
        }
    }
    cmd.envs(target.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    run_ok(&mut cmd);
}

/// Trusts the key that signed the packs in the target's `team` namespace.
pub fn trust_in_team(target: &Target, public_key: &Path) {
    admin(target, &["namespace", "add", "team", "--visibility", "public"]);
    admin(target, &["key", "add", "team", "release", public_key.to_str().unwrap()]);
}
