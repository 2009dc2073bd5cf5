//! The container image and the compose stack, built from the shipped `Dockerfile` and
//! `docker-compose.yml` and run for real: the image's contents, user, size and health check;
//! one container on the embedded default with nothing but a volume and a published port; the
//! stack with Postgres, S3-compatible storage and two replicas, its restarts and a Postgres
//! outage; the Helm chart's Deployment run as a container the way a kubelet would.
//!
//! They need a Docker engine: `scripts/test.sh` runs them (`--include-ignored`) when one is
//! usable, and says why it skipped them otherwise.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sherpack_test_support::chart::{self, config_toml, container, kind, template};
use sherpack_test_support::docker::{self, Compose, Container, IMAGE, Volume, docker_do, docker_ok, inspect};
use sherpack_test_support::fixtures::package_chart;
use sherpack_test_support::outage::{Schedule, intact, outage};
use sherpack_test_support::tools::{self, helm_command, helm_login, run_ok};

const PASSWORD: &str = "a-long-admin-password";

/// GET `url` (with Basic credentials for `user`): status (0 when nothing answered) and body.
fn get(url: &str, user: Option<&str>) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut request = reqwest::Client::new().get(url);
        if let Some(user) = user {
            request = request.basic_auth(user, Some(PASSWORD));
        }
        match request.send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    })
}

/// The files of an image's file system (as `docker export` of a container made from it gives
/// them): path → (is a directory, owner uid).
fn files(image: &str) -> std::collections::BTreeMap<String, (bool, u64)> {
    let id = docker_ok(&["create", image, "/nothing"]);
    let mut export = docker::docker().args(["export", &id]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut tar = Vec::new();
    export.stdout.take().unwrap().read_to_end(&mut tar).unwrap();
    assert!(export.wait().unwrap().success());
    docker_do(&["rm", "-v", &id]);
    let mut archive = tar::Archive::new(&tar[..]);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_owned();
            (path, (e.header().entry_type().is_dir(), e.header().uid().unwrap()))
        })
        .collect()
}

#[test]
#[ignore = "needs Docker: scripts/test.sh runs it when an engine is usable"]
fn the_image_holds_the_server_alone_runs_as_non_root_and_reports_its_health() {
    let built = docker::image();
    eprintln!("base images ready in {:?}, docker build in {:?}", built.bases, built.image);
    let size: u64 = inspect(IMAGE, "{{.Size}}").parse().unwrap();
    eprintln!("image size: {size} bytes ({} KiB)", size / 1024);
    assert!(size < 60 * 1024 * 1024, "{IMAGE} is {size} bytes");
    assert_eq!(inspect(IMAGE, "{{.Config.User}}"), "65532:65532");
    assert_eq!(inspect(IMAGE, "{{json .Config.Entrypoint}}"), r#"["/usr/local/bin/sherpack-registry"]"#);
    assert_eq!(inspect(IMAGE, "{{json .Config.Healthcheck.Test}}"), r#"["CMD","/usr/local/bin/sherpack-registry","healthcheck"]"#);

    // Beyond its base (glibc, libgcc, CA certificates: what the binary links and reads), the
    // image adds the server binary and the empty data directory its user owns; no shell.
    let dockerfile = std::fs::read_to_string(docker::repo_root().join("Dockerfile")).unwrap();
    let base = dockerfile.lines().rev().find_map(|l| l.strip_prefix("FROM ")).unwrap();
    let (ours, theirs) = (files(IMAGE), files(base));
    let added: Vec<(&String, &(bool, u64))> = ours.iter().filter(|(path, _)| !theirs.contains_key(*path)).collect();
    let added_files: Vec<&str> = added.iter().filter(|(_, (dir, _))| !dir).map(|(p, _)| p.as_str()).collect();
    assert_eq!(added_files, ["usr/local/bin/sherpack-registry"], "{added:?}");
    assert_eq!(ours["data"], (true, 65532), "/data belongs to the server's user");
    assert!(!ours.contains_key("bin/sh") && !ours.contains_key("usr/bin/sh"), "no shell in the image");
    assert_eq!(docker_ok(&["run", "--rm", IMAGE, "--version"]), format!("sherpack-registry {}", env!("CARGO_PKG_VERSION")));

    // The health check passes on the default port, and follows the configured one.
    let on_default = Container::run(&[IMAGE]);
    let moved = Container::run(&["-e", "SHERPACK_REGISTRY_LISTEN=0.0.0.0:6000", IMAGE]);
    on_default.wait_healthy();
    moved.wait_healthy();
    assert_eq!(inspect(&on_default.name, "{{.Config.User}}"), "65532:65532");
    // And fails when nothing answers there.
    let probe = docker::docker().args(["exec", &moved.name, "/usr/local/bin/sherpack-registry", "healthcheck", "--url", "http://127.0.0.1:5050/readyz"]).output().unwrap();
    assert!(!probe.status.success());
}

/// What a user of the embedded default checks through one address: the chart pulled back
/// byte for byte, the Helm repository, `helm search hub`, the home page.
fn serves(helm: &Path, home: &Path, address: &str, archive: &Path, round: &str) {
    assert!(helm_login(helm, home, address, "admin", PASSWORD).0, "{round}: login");
    let into = home.join(format!("pulled-{round}"));
    std::fs::create_dir(&into).unwrap();
    run_ok(helm_command(helm, home).args(["pull", &format!("oci://{address}/charts/mychart"), "--version", "0.1.0", "--plain-http", "-d"]).arg(&into));
    assert_eq!(std::fs::read(into.join("mychart-0.1.0.tgz")).unwrap(), std::fs::read(archive).unwrap(), "{round}: pulled bytes");
    let repo = format!("r-{round}");
    run_ok(helm_command(helm, home).args(["repo", "add", &repo, &format!("http://{address}/charts")]));
    let listed = run_ok(helm_command(helm, home).args(["search", "repo", &format!("{repo}/mychart")]));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("0.1.0"), "{round}: {}", String::from_utf8_lossy(&listed.stdout));
    let hub = run_ok(helm_command(helm, home).args(["search", "hub", "mychart", "--endpoint", &format!("http://{address}")]));
    assert!(String::from_utf8_lossy(&hub.stdout).contains("mychart"), "{round}: {}", String::from_utf8_lossy(&hub.stdout));
    let (status, page) = get(&format!("http://{address}/"), None);
    assert_eq!(status, 200, "{round}: home page");
    assert!(page.contains("mychart"), "{round}: the home page lists the chart");
}

/// Waits until the registry enforces authentication (it notices the first user within seconds).
fn wait_enforced(address: &str) {
    for _ in 0..100 {
        if get(&format!("http://{address}/v2/"), None).0 == 401 {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{address} does not ask for credentials after its first user was created");
}

#[test]
#[ignore = "needs Docker: scripts/test.sh runs it when an engine is usable"]
fn one_container_with_a_volume_serves_the_embedded_default_and_keeps_its_data() {
    docker::image();
    let volume = Volume::new();
    let data = format!("{}:/data", volume.name);
    let run = || Container::run(&["-p", "127.0.0.1::5050", "-v", &data, IMAGE]);
    let first = run();
    first.wait_healthy();
    // Listening beyond loopback with no user, it refuses anonymous writes: the operator makes
    // the first admin (and a public namespace) with the image's own binary.
    first.exec(&["sherpack-registry", "admin", "user", "add", "admin", "--admin"], &format!("{PASSWORD}\n"));
    first.exec(&["sherpack-registry", "admin", "namespace", "add", "charts", "--visibility", "public"], "");
    let address = first.address(5050);
    wait_enforced(&address);

    let helm = tools::helm();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let archive = package_chart(&helm, home, &["0.1.0"]).remove(0);
    assert!(helm_login(&helm, home, &address, "admin", PASSWORD).0);
    run_ok(helm_command(&helm, home).arg("push").arg(&archive).args([&format!("oci://{address}/charts"), "--plain-http"]));
    serves(&helm, home, &address, &archive, "first");

    docker_do(&["restart", &first.name]);
    first.wait_healthy();
    serves(&helm, home, &first.address(5050), &archive, "restarted");

    drop(first);
    let second = run();
    second.wait_healthy();
    serves(&helm, home, &second.address(5050), &archive, "recreated");
}

#[test]
#[ignore = "needs Docker: scripts/test.sh runs it when an engine is usable"]
fn the_compose_stack_shares_pushes_between_replicas_keeps_them_and_rides_out_a_postgres_outage() {
    docker::image();
    let root = docker::repo_root();
    let port = docker::two_free_ports();
    let range = format!("{port}-{}", port + 1);
    let public = format!("http://127.0.0.1:{port}");
    let stack = Compose::new(
        &[root.join("docker-compose.yml"), root.join("tests/docker/compose.test.yml")],
        &[("SHERPACK_ADMIN_PASSWORD", PASSWORD), ("SHERPACK_PORT", &range), ("SHERPACK_PUBLIC_URL", &public)],
    );
    let up = || {
        stack.run(&["up", "-d", "--no-build", "--scale", "registry=2"]);
        for id in stack.containers("registry") {
            docker::wait_healthy(&id);
        }
    };
    up();
    // Replica A answers on the public URL's port, B on the other one.
    let (a, b) = {
        let (one, two) = (stack.address("registry", 1, 5050), stack.address("registry", 2, 5050));
        if public.ends_with(&one) { (one, two) } else { (two, one) }
    };
    assert!(public.ends_with(&a), "{public}: {a} {b}");

    let helm = tools::helm();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let archive = package_chart(&helm, home, &["0.1.0"]).remove(0);
    for address in [&a, &b] {
        assert!(helm_login(&helm, home, address, "admin", PASSWORD).0);
    }
    run_ok(helm_command(&helm, home).arg("push").arg(&archive).args([&format!("oci://{a}/team"), "--plain-http"]));
    let pull_through = |address: &str, round: &str| {
        let into = home.join(format!("pulled-{round}"));
        std::fs::create_dir(&into).unwrap();
        run_ok(helm_command(&helm, home).args(["pull", &format!("oci://{address}/team/mychart"), "--version", "0.1.0", "--plain-http", "-d"]).arg(&into));
        assert_eq!(std::fs::read(into.join("mychart-0.1.0.tgz")).unwrap(), std::fs::read(&archive).unwrap(), "{round}");
    };
    pull_through(&b, "replica-b");

    stack.run(&["restart"]);
    for id in stack.containers("registry") {
        docker::wait_healthy(&id);
    }
    pull_through(&b, "after-restart");

    stack.run(&["down"]);
    up();
    pull_through(&stack.address("registry", 1, 5050), "after-down-up-1");
    pull_through(&stack.address("registry", 2, 5050), "after-down-up-2");

    // Postgres stopped for 10 s under pulls and pushes through replica A.
    let (a, b) = (stack.address("registry", 1, 5050), stack.address("registry", 2, 5050));
    let basic = {
        use base64::Engine as _;
        let mut headers = reqwest::header::HeaderMap::new();
        let value = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
        headers.insert(reqwest::header::AUTHORIZATION, format!("Basic {value}").parse().unwrap());
        reqwest::Client::builder().default_headers(headers).timeout(Duration::from_mins(1)).build().unwrap()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime.block_on(outage(
        &basic,
        &format!("http://{a}"),
        "pgdown",
        Schedule { down_at: Duration::from_secs(2), down_for: Duration::from_secs(10), total: Duration::from_secs(20) },
        || {
            stack.run(&["stop", "postgres"]);
        },
        || {
            stack.run(&["start", "postgres"]);
        },
    ));
    assert!(report.clean_503 > 0, "no 503 while Postgres was down ({} requests, {} succeeded)", report.requests, report.ok);
    assert!(report.other.is_empty(), "answers other than a clean 503 while Postgres was down: {:?}", report.other);
    assert!(report.first_ok_after_restore_ms.is_some(), "no success after Postgres came back");
    assert!(!report.acknowledged.is_empty());
    for (reference, archive) in &report.acknowledged {
        let (repo, tag) = reference.split_once(':').unwrap();
        assert!(runtime.block_on(intact(&basic, &format!("http://{b}"), repo, tag, archive)), "acknowledged push {reference} lost");
    }
    // It recovered by itself: no replica was restarted.
    for id in stack.containers("registry") {
        assert_eq!(inspect(&id, "{{.RestartCount}} {{.State.Status}}"), "0 running");
    }
}

/// `docker run` options that do what the rendered Deployment asks of a kubelet: its user, a
/// read-only root, dropped capabilities, its mounts, environment, ports and arguments.
struct Pod {
    options: Vec<String>,
    args: Vec<String>,
    image: String,
    port: u16,
}

fn pod(docs: &[Value], files: &Path, data: &str, secrets: &[(&str, &str, &str)]) -> Pod {
    let deployment = kind(docs, "Deployment");
    let spec = &deployment["spec"]["template"]["spec"];
    let c = container(docs);
    let security = &c["securityContext"];
    let mut options = vec![format!("--user={}:{}", spec["securityContext"]["runAsUser"], spec["securityContext"]["runAsGroup"])];
    if security["readOnlyRootFilesystem"] == true {
        options.push("--read-only".into());
    }
    if security["allowPrivilegeEscalation"] == false {
        options.push("--security-opt=no-new-privileges".into());
    }
    for cap in security["capabilities"]["drop"].as_array().into_iter().flatten() {
        options.push(format!("--cap-drop={}", cap.as_str().unwrap()));
    }
    if let Some(dir) = c["workingDir"].as_str() {
        options.push(format!("--workdir={dir}"));
    }
    for mount in c["volumeMounts"].as_array().unwrap() {
        let volume = spec["volumes"].as_array().unwrap().iter().find(|v| v["name"] == mount["name"]).unwrap();
        let at = mount["mountPath"].as_str().unwrap();
        if volume["configMap"].is_object() {
            let key = mount["subPath"].as_str().unwrap();
            let file = files.join(key);
            std::fs::write(&file, kind(docs, "ConfigMap")["data"][key].as_str().unwrap()).unwrap();
            options.push(format!("--volume={}:{at}:ro", file.display()));
        } else if let Some(name) = volume["secret"]["secretName"].as_str() {
            let dir = files.join(name);
            std::fs::create_dir(&dir).unwrap();
            for (secret, key, value) in secrets {
                if *secret == name {
                    std::fs::write(dir.join(key), value).unwrap();
                }
            }
            options.push(format!("--volume={}:{at}:ro", dir.display()));
        } else if volume["emptyDir"].is_object() {
            options.push(format!("--tmpfs={at}"));
        } else {
            options.push(format!("--volume={data}:{at}"));
        }
    }
    for var in c["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap();
        let value = var["value"].as_str().map_or_else(
            || {
                let from = &var["valueFrom"]["secretKeyRef"];
                let found = secrets.iter().find(|(s, k, _)| from["name"] == *s && from["key"] == *k);
                found.unwrap_or_else(|| panic!("{name} reads a secret key the test does not provide: {from}")).2.to_owned()
            },
            str::to_owned,
        );
        options.push(format!("--env={name}={value}"));
    }
    for from in c["envFrom"].as_array().into_iter().flatten() {
        for (secret, key, value) in secrets {
            if from["secretRef"]["name"] == *secret {
                options.push(format!("--env={key}={value}"));
            }
        }
    }
    let port = c["ports"].as_array().unwrap().iter().find(|p| p["name"] == "http").expect("a port named http");
    Pod {
        options,
        args: c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        image: c["image"].as_str().unwrap().to_owned(),
        port: u16::try_from(port["containerPort"].as_u64().unwrap()).unwrap(),
    }
}

#[test]
#[ignore = "needs Docker: scripts/test.sh runs it when an engine is usable"]
fn the_helm_chart_runs_the_image_as_it_renders_it() {
    docker::image();
    let home = tempfile::tempdir().unwrap();
    let single = template(home.path(), &["-f", chart::dir().join("ci/single-values.yaml").to_str().unwrap()]);

    // The image the chart names is this build: tag it so, and it reports the chart's appVersion.
    let reference = container(&single)["image"].as_str().unwrap().to_owned();
    let chart_yaml: Value = serde_saphyr::from_str(&std::fs::read_to_string(chart::dir().join("Chart.yaml")).unwrap()).unwrap();
    assert_eq!(reference.rsplit_once(':').unwrap().1, chart_yaml["appVersion"].as_str().unwrap());
    docker_do(&["tag", IMAGE, &reference]);
    let _untag = Untag(reference.clone());
    assert!(docker_ok(&["run", "--rm", &reference, "--version"]).ends_with(chart_yaml["appVersion"].as_str().unwrap()));

    // Single node: run it as the Deployment says, with its admin secret, and probe it the way
    // its probes do, on the port the Service targets.
    let files = tempfile::tempdir().unwrap();
    std::fs::set_permissions(files.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data = Volume::new();
    let admin_secret = ("registry-admin", "admin-password", PASSWORD);
    let p = pod(&single, files.path(), &data.name, &[admin_secret]);
    let service = kind(&single, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(inspect(IMAGE, "{{json .Config.ExposedPorts}}"), format!(r#"{{"{}/tcp":{{}}}}"#, p.port));
    let publish = format!("127.0.0.1::{}", p.port);
    let args: Vec<&str> = p.options.iter().map(String::as_str).chain(["-p", &publish, &p.image]).chain(p.args.iter().map(String::as_str)).collect();
    let running = Container::run(&args);
    let address = running.address(p.port);
    let c = container(&single);
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let http_get = &c[probe]["httpGet"];
        assert_eq!(http_get["port"], "http", "{probe}");
        let path = http_get["path"].as_str().unwrap();
        let mut status = 0;
        for _ in 0..100 {
            status = get(&format!("http://{address}{path}"), None).0;
            if status == 200 {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(status, 200, "{probe} {path}");
    }
    // The admin from the values, with the password of the mounted secret, and nobody else.
    let user = chart_value(&single, "admin_user");
    assert_eq!(get(&format!("http://{address}/v2/"), Some(&user)).0, 200);
    assert_eq!(get(&format!("http://{address}/v2/"), None).0, 401);
    drop(running);

    // Replicated: Postgres and S3 come from Secrets; the image accepts that configuration.
    let replicated = template(home.path(), &["-f", chart::dir().join("ci/replicated-values.yaml").to_str().unwrap()]);
    let files = tempfile::tempdir().unwrap();
    std::fs::set_permissions(files.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let secrets = [
        admin_secret,
        ("registry-database", "database-url", "postgres://registry:secret@db:5432/registry"),
        ("registry-s3", "AWS_ACCESS_KEY_ID", "key"),
        ("registry-s3", "AWS_SECRET_ACCESS_KEY", "secret"),
    ];
    let p = pod(&replicated, files.path(), &data.name, &secrets);
    let mut check = p.args.clone();
    assert_eq!(check.remove(0), "serve");
    let args: Vec<&str> = p.options.iter().map(String::as_str).chain(["--rm", &p.image, "check-config"]).chain(check.iter().map(String::as_str)).collect();
    let said = docker_ok(&[&["run"][..], &args].concat());
    assert!(said.contains("storage s3://sherpack-blobs/registry"), "{said}");
    assert!(config_toml(&replicated).contains("in_memory = true"));
}

/// An extra tag of the image, removed when dropped.
struct Untag(String);

impl Drop for Untag {
    fn drop(&mut self) {
        let _ = docker::docker().args(["rmi", &self.0]).output();
    }
}

/// A string value of the rendered `registry.toml` (`key = "value"`).
fn chart_value(docs: &[Value], key: &str) -> String {
    let toml = config_toml(docs);
    let line = toml.lines().find_map(|l| l.trim().strip_prefix(&format!("{key} = "))).unwrap_or_else(|| panic!("{key} not in {toml}"));
    line.trim_matches('"').to_owned()
}
