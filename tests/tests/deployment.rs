//! The deployment files: the Helm chart in `helm/` (lint, template for the single-node and the
//! replicated values, refusals, published to our own registry and read back with helm), the
//! compose file (its services, volumes and health checks; `docker compose config` where a
//! compose client is installed), the Dockerfile's shape, and the `healthcheck` command the
//! image uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sherpack_test_support::chart::{self, config_toml, container, kind, template};
use sherpack_test_support::docker;
use sherpack_test_support::server::{ServerOptions, ServerProcess, workspace_binary};
use sherpack_test_support::tools::{self, helm_command, run_ok};

fn repo_root() -> PathBuf {
    docker::repo_root()
}

#[test]
fn the_chart_lints_and_renders_single_node_and_replicated() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for values in [None, Some("ci/single-values.yaml"), Some("ci/replicated-values.yaml")] {
        let mut cmd = helm_command(&tools::helm(), h);
        cmd.arg("lint").arg(chart::dir()).arg("--strict");
        if let Some(v) = values {
            cmd.arg("-f").arg(chart::dir().join(v));
        }
        run_ok(&mut cmd);
    }

    let single = template(h, &["-f", chart::dir().join("ci/single-values.yaml").to_str().unwrap()]);
    let deploy = kind(&single, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(deploy["spec"]["strategy"]["type"], "Recreate", "one SQLite writer at a time");
    let container = container(&single);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(deploy["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(kind(&single, "PersistentVolumeClaim")["kind"], "PersistentVolumeClaim", "single-node keeps /data on a volume");
    assert_eq!(kind(&single, "Ingress")["kind"], "Ingress");
    let config = config_toml(&single);
    assert!(config.contains("database_url = \"sqlite:///data/registry.db\"") && config.contains("admin_password_file"), "{config}");

    let replicated = template(h, &["-f", chart::dir().join("ci/replicated-values.yaml").to_str().unwrap()]);
    let deploy = kind(&replicated, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert!(deploy["spec"].get("strategy").is_none_or(Value::is_null));
    assert!(!replicated.iter().any(|d| d["kind"] == "PersistentVolumeClaim"));
    let env = deploy["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "SHERPACK_REGISTRY_DATABASE_URL" && e["valueFrom"]["secretKeyRef"]["name"] == "registry-database"));
    let config = config_toml(&replicated);
    assert!(config.contains("storage_url = \"s3://sherpack-blobs/registry\"") && config.contains("path_style = true") && !config.contains("database_url"), "{config}");

    // The ConfigMap the chart renders is a configuration the server accepts.
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(&single).replace("/data/", &format!("{}/", dir.path().display())).replace("0.0.0.0:5050", "127.0.0.1:0");
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
    let out = cmd.args(["template", "reg"]).arg(chart::dir()).args(["--set", "replicaCount=2"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("replicaCount > 1 needs Postgres"));
}

#[test]
fn the_chart_is_published_to_our_registry_and_read_back() {
    let server = ServerProcess::start(ServerOptions::default());
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let helm = tools::helm();
    run_ok(helm_command(&helm, h).arg("package").arg(chart::dir()).arg("-d").arg(h.join("pkg")));
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

    // The host port is a variable (a range lets `--scale registry=2` publish both replicas).
    assert_eq!(services["registry"]["ports"][0], "${SHERPACK_PORT:-5050}:5050");
    // The test stack replaces images that cannot be pulled here, never the registry's service.
    let stand_ins: Value = serde_saphyr::from_str(&std::fs::read_to_string(root.join("tests/docker/compose.test.yml")).unwrap()).unwrap();
    let replaced: Vec<&String> = stand_ins["services"].as_object().unwrap().keys().collect();
    assert_eq!(replaced, ["bucket", "minio", "postgres"]);

    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let bases: Vec<&str> = dockerfile.lines().filter_map(|l| l.strip_prefix("FROM ")).collect();
    assert_eq!(bases.first().copied(), Some("rust:1-slim-bookworm AS rust"), "an official build image");
    assert_eq!(bases.last().copied(), Some("gcr.io/distroless/cc-debian12:nonroot"), "the server alone on distroless");
    assert!(dockerfile.contains("USER 65532:65532"), "non-root");
    assert!(dockerfile.contains("--mount=type=cache"), "compiled artifacts kept between builds");
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
    // Without --url it probes the configured listen port (the image sets it in the environment).
    let listen = server.url.trim_start_matches("http://");
    let configured = Command::new(&bin).arg("healthcheck").env("SHERPACK_REGISTRY_LISTEN", listen).output().unwrap();
    assert!(configured.status.success(), "{}", String::from_utf8_lossy(&configured.stderr));
    let elsewhere = Command::new(&bin).arg("healthcheck").env("SHERPACK_REGISTRY_LISTEN", "0.0.0.0:1").output().unwrap();
    assert!(!elsewhere.status.success());
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("127.0.0.1:1"), "{}", String::from_utf8_lossy(&elsewhere.stderr));
}

/// `sherpack-registry check-config` on `toml` with exactly `env`.
fn check_config(dir: &Path, toml: &str, env: &[(String, String)]) -> std::process::Output {
    let file = dir.join("registry.toml");
    std::fs::write(&file, toml).unwrap();
    Command::new(workspace_binary("sherpack-registry"))
        .args(["check-config", "--config"])
        .arg(&file)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// Every setting the chart renders — the `ConfigMap`'s keys, the environment it sets, the files
/// it mounts for them — passes the server's own configuration check, for the default values,
/// both example values and one that sets every option.
#[test]
fn every_setting_the_chart_renders_is_known_to_the_server() {
    let home = tempfile::tempdir().unwrap();
    let everything = [
        "publicUrl=https://registry.example.com",
        "replicaCount=2",
        "persistence.enabled=false",
        "database.existingSecret=registry-db",
        "storage.url=s3://blobs/registry",
        "storage.s3.endpoint=http://minio:9000",
        "storage.s3.pathStyle=true",
        "storage.s3.existingSecret=registry-s3",
        "auth.adminUser=root",
        "auth.existingSecret=registry-admin",
        "search.inMemory=true",
        "log.level=debug",
        "log.format=text",
        "extraEnv[0].name=SHERPACK_REGISTRY_GC__INTERVAL_SECS",
    ]
    .join(",");
    let single = chart::dir().join("ci/single-values.yaml");
    let replicated = chart::dir().join("ci/replicated-values.yaml");
    let cases: [(&str, Vec<&str>); 4] = [
        ("default values", vec![]),
        ("ci/single-values.yaml", vec!["-f", single.to_str().unwrap()]),
        ("ci/replicated-values.yaml", vec!["-f", replicated.to_str().unwrap()]),
        ("every option", vec!["--set", &everything, "--set-string", "extraEnv[0].value=3600"]),
    ];
    for (name, args) in cases {
        let docs = template(home.path(), &args);
        let dir = tempfile::tempdir().unwrap();
        let container = container(&docs);
        let pod = &kind(&docs, "Deployment")["spec"]["template"]["spec"];
        let mut toml = config_toml(&docs).replace("/data/", &format!("{}/", dir.path().display()));
        // Mounted secrets: their files, where the configuration says they are.
        for mount in container["volumeMounts"].as_array().unwrap() {
            let volume = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == mount["name"]).unwrap();
            if let Some(secret) = volume["secret"]["secretName"].as_str() {
                let at = mount["mountPath"].as_str().unwrap();
                let local = dir.path().join(secret);
                std::fs::create_dir(&local).unwrap();
                let file = toml.lines().find_map(|l| l.strip_prefix("admin_password_file = ")).unwrap_or_else(|| panic!("{name}: secret {secret} mounted, not used"));
                let key = file.trim_matches('"').strip_prefix(&format!("{at}/")).unwrap_or_else(|| panic!("{name}: {file} is not in {at}"));
                std::fs::write(local.join(key), "a-long-admin-password").unwrap();
                toml = toml.replace(at, local.to_str().unwrap());
            }
        }
        // The environment: literal values, and a plausible value for each taken from a Secret.
        let mut env: Vec<(String, String)> = Vec::new();
        for var in container["env"].as_array().into_iter().flatten() {
            let key = var["name"].as_str().unwrap().to_owned();
            let value = match var["value"].as_str() {
                Some(v) => v.to_owned(),
                None if key == "SHERPACK_REGISTRY_DATABASE_URL" => "postgres://registry:secret@db:5432/registry".to_owned(),
                None => panic!("{name}: {key} comes from a Secret the test does not know"),
            };
            env.push((key, value));
        }
        if container["envFrom"].is_array() {
            env.extend([("AWS_ACCESS_KEY_ID".to_owned(), "key".to_owned()), ("AWS_SECRET_ACCESS_KEY".to_owned(), "secret".to_owned())]);
        }
        let out = check_config(dir.path(), &toml, &env);
        assert!(out.status.success(), "{name}: the server refuses what the chart renders:\n{toml}\n{env:?}\n{}", String::from_utf8_lossy(&out.stderr));

        // The check does fail on a key the server does not know, in the file or the environment.
        let out = check_config(dir.path(), &format!("surprise = true\n{toml}"), &env);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("surprise"));
        let mut unknown = env.clone();
        unknown.push(("SHERPACK_REGISTRY_S3__SURPRISE".to_owned(), "1".to_owned()));
        assert_eq!(check_config(dir.path(), &toml, &unknown).status.code(), Some(2), "{name}");
    }
}
