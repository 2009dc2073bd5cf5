//! The deployment files: the Helm chart in `helm/` (lint, template for the single-node and the
//! replicated values, refusals, published to our own registry and read back with helm), the
//! compose file (its services, volumes and health checks; `docker compose config` where a
//! compose client is installed), the Dockerfile's shape, and the `healthcheck` command the
//! image uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sherpack_test_support::server::{ServerOptions, ServerProcess, workspace_binary};
use sherpack_test_support::tools::{self, helm_command, run_ok};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn chart() -> PathBuf {
    repo_root().join("helm")
}

/// `helm template` with extra arguments, as YAML documents by kind.
fn template(home: &Path, args: &[&str]) -> Vec<Value> {
    let mut cmd = helm_command(&tools::helm(), home);
    cmd.args(["template", "reg"]).arg(chart()).args(args);
    let out = run_ok(&mut cmd);
    String::from_utf8_lossy(&out.stdout)
        .split("\n---")
        .filter(|d| d.contains("kind:"))
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind)
}

#[test]
fn the_chart_lints_and_renders_single_node_and_replicated() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for values in [None, Some("ci/single-values.yaml"), Some("ci/replicated-values.yaml")] {
        let mut cmd = helm_command(&tools::helm(), h);
        cmd.arg("lint").arg(chart()).arg("--strict");
        if let Some(v) = values {
            cmd.arg("-f").arg(chart().join(v));
        }
        run_ok(&mut cmd);
    }

    let single = template(h, &["-f", chart().join("ci/single-values.yaml").to_str().unwrap()]);
    let deploy = kind(&single, "Deployment").unwrap();
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(deploy["spec"]["strategy"]["type"], "Recreate", "one SQLite writer at a time");
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(deploy["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
    assert!(kind(&single, "PersistentVolumeClaim").is_some(), "single-node keeps /data on a volume");
    assert!(kind(&single, "Ingress").is_some());
    let config = kind(&single, "ConfigMap").unwrap()["data"]["registry.toml"].as_str().unwrap().to_owned();
    assert!(config.contains("database_url = \"sqlite:///data/registry.db\"") && config.contains("admin_password_file"), "{config}");

    let replicated = template(h, &["-f", chart().join("ci/replicated-values.yaml").to_str().unwrap()]);
    let deploy = kind(&replicated, "Deployment").unwrap();
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert!(deploy["spec"].get("strategy").is_none_or(Value::is_null));
    assert!(kind(&replicated, "PersistentVolumeClaim").is_none());
    let env = deploy["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "SHERPACK_REGISTRY_DATABASE_URL" && e["valueFrom"]["secretKeyRef"]["name"] == "registry-database"));
    let config = kind(&replicated, "ConfigMap").unwrap()["data"]["registry.toml"].as_str().unwrap().to_owned();
    assert!(config.contains("storage_url = \"s3://sherpack-blobs/registry\"") && config.contains("path_style = true") && !config.contains("database_url"), "{config}");

    // The ConfigMap the chart renders is a configuration the server accepts.
    let dir = tempfile::tempdir().unwrap();
    let toml = kind(&single, "ConfigMap").unwrap()["data"]["registry.toml"].as_str().unwrap().replace("/data/", &format!("{}/", dir.path().display())).replace("0.0.0.0:5050", "127.0.0.1:0");
    let file = dir.path().join("registry.toml");
    std::fs::write(&file, toml).unwrap();
    std::fs::write(dir.path().join("pw"), "a-long-admin-password").unwrap();
    let server = ServerProcess::start(ServerOptions {
        args: vec!["--config".into(), file.to_str().unwrap().into()],
        env: vec![
            ("SHERPACK_REGISTRY_AUTH__ADMIN_PASSWORD_FILE".into(), dir.path().join("pw").to_str().unwrap().into()),
            ("SHERPACK_REGISTRY_LOG__FORMAT".into(), "text".into()),
        ],
        ..ServerOptions::default()
    });
    drop(server);

    // Several replicas on SQLite or local files would lose data: refused at render time.
    let mut cmd = helm_command(&tools::helm(), h);
    let out = cmd.args(["template", "reg"]).arg(chart()).args(["--set", "replicaCount=2"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("replicaCount > 1 needs Postgres"));
}

#[test]
fn the_chart_is_published_to_our_registry_and_read_back() {
    let server = ServerProcess::start(ServerOptions::default());
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let helm = tools::helm();
    run_ok(helm_command(&helm, h).arg("package").arg(chart()).arg("-d").arg(h.join("pkg")));
    let archive = h.join("pkg/sherpack-registry-0.1.0.tgz");
    let host = server.url.trim_start_matches("http://");
    run_ok(helm_command(&helm, h).arg("push").arg(&archive).args([&format!("oci://{host}/charts"), "--plain-http"]));
    let shown = run_ok(helm_command(&helm, h).args(["show", "chart", &format!("oci://{host}/charts/sherpack-registry"), "--version", "0.1.0", "--plain-http"]));
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("name: sherpack-registry") && shown.contains("appVersion: 0.1.0"), "{shown}");
    let values = run_ok(helm_command(&helm, h).args(["show", "values", &format!("oci://{host}/charts/sherpack-registry"), "--version", "0.1.0", "--plain-http"]));
    assert!(String::from_utf8_lossy(&values.stdout).contains("replicaCount: 1"));
}

#[test]
fn compose_file_and_dockerfile() {
    let root = repo_root();
    let compose: Value = serde_saphyr::from_str(&std::fs::read_to_string(root.join("docker-compose.yml")).unwrap()).unwrap();
    let services = compose["services"].as_object().unwrap();
    for name in ["registry", "postgres", "minio"] {
        assert!(services[name]["healthcheck"]["test"].is_array(), "{name} has a health check");
    }
    for (service, volume) in [("registry", "registry-data"), ("postgres", "postgres-data"), ("minio", "s3-data")] {
        assert!(services[service]["volumes"].as_array().unwrap().iter().any(|v| v.as_str().unwrap().starts_with(&format!("{volume}:"))), "{service} keeps its data on {volume}");
        assert!(compose["volumes"].get(volume).is_some());
    }
    let env = &services["registry"]["environment"];
    assert!(env["SHERPACK_REGISTRY_DATABASE_URL"].as_str().unwrap().starts_with("postgres://"));
    assert!(env["SHERPACK_REGISTRY_STORAGE_URL"].as_str().unwrap().starts_with("s3://"));
    assert_eq!(services["registry"]["depends_on"]["postgres"]["condition"], "service_healthy");
    // The registry's health check runs the binary's own probe (the image has no curl).
    assert_eq!(services["registry"]["healthcheck"]["test"][1], "sherpack-registry");

    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage");
    assert!(dockerfile.contains("USER 65532"), "non-root");
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("healthcheck"));

    // A compose client validates the file when one is installed (docker compose v2, or
    // docker-compose); scripts/install-clients.sh installs docker-compose.
    let validators: [(&str, &[&str]); 2] = [("docker", &["compose", "config", "--quiet"]), ("docker-compose", &["config", "--quiet"])];
    let mut validated = false;
    for (bin, args) in validators {
        let Ok(out) = Command::new(bin).args(args).current_dir(&root).env("SHERPACK_ADMIN_PASSWORD", "x").output() else { continue };
        if out.status.success() {
            validated = true;
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        // `docker` without the compose plugin does not know the subcommand: try the next one.
        let no_compose = ["unknown command", "is not a docker command", "unknown shorthand", "unknown flag"].iter().any(|m| err.contains(m));
        assert!(no_compose, "{bin} refused the compose file: {err}");
    }
    assert!(validated, "no compose client could validate docker-compose.yml: install docker-compose (scripts/install-clients.sh does)");
}

#[test]
fn the_healthcheck_command_probes_readiness() {
    let server = ServerProcess::start(ServerOptions::default());
    let bin = workspace_binary("sherpack-registry");
    let ok = Command::new(&bin).args(["healthcheck", "--url", &format!("{}/readyz", server.url)]).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let missing = Command::new(&bin).args(["healthcheck", "--url", &format!("{}/nothing-here", server.url)]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
    let down = Command::new(&bin).args(["healthcheck", "--url", "http://127.0.0.1:1/readyz"]).output().unwrap();
    assert!(!down.status.success());
}
