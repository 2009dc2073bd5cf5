//! The registry's Helm chart (`helm/`), rendered by `helm template` into its documents.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::tools::{self, helm_command, run_ok};

#[must_use]
pub fn dir() -> PathBuf {
    crate::docker::repo_root().join("helm")
}

/// `helm template reg helm/ <args>`, as YAML documents.
#[must_use]
pub fn template(home: &Path, args: &[&str]) -> Vec<Value> {
    let mut cmd = helm_command(&tools::helm(), home);
    cmd.args(["template", "reg"]).arg(dir()).args(args);
    let out = run_ok(&mut cmd);
    String::from_utf8_lossy(&out.stdout)
        .split("\n---")
        .filter(|d| d.contains("kind:"))
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("helm renders YAML"))
        .collect()
}

/// The first document of `kind`.
///
/// # Panics
/// When the rendering has none.
#[must_use]
pub fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind} rendered"))
}

/// The `registry.toml` of the rendered `ConfigMap`.
#[must_use]
pub fn config_toml(docs: &[Value]) -> String {
    kind(docs, "ConfigMap")["data"]["registry.toml"].as_str().expect("registry.toml").to_owned()
}

/// The registry container of the rendered Deployment.
#[must_use]
pub fn container(docs: &[Value]) -> &Value {
    &kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}
