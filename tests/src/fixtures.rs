//! Content the client tests push: Helm charts made by helm itself, an OCI image layout on
//! disk, and a push made the way the upstream `sherpack` client makes it.

use std::path::Path;

use crate::oci::{Oci, digest};
use crate::tools::{helm_command, run_ok};

/// `helm create` + `helm package` of `mychart` at each version; returns the archive paths.
#[must_use] 
pub fn package_chart(helm: &Path, home: &Path, versions: &[&str]) -> Vec<std::path::PathBuf> {
    run_ok(helm_command(helm, home).args(["create", "mychart"]));
    versions
        .iter()
        .map(|v| {
            run_ok(helm_command(helm, home).args(["package", "mychart", "--version", v, "-d", "packages"]));
            home.join(format!("packages/mychart-{v}.tgz"))
        })
        .collect()
}

/// Real-looking signed charts in `out`, each with its `.prov` beside it (a fresh `GnuPG` key,
/// `helm package --sign`): `mychart` (from `helm create`) at 0.1.0, 0.2.0 and 1.0.0, and
/// `webapp` at 1.0.0 and 1.1.0, which depends on `mychart` `^1.0.0` (vendored by `helm
/// dependency update`). Returns every file written, archives and provenance.
#[must_use]
pub fn signed_charts(helm: &Path, home: &Path, out: &Path) -> Vec<std::path::PathBuf> {
    let gnupg = home.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    let gpg = |args: &[&str]| {
        let mut cmd = std::process::Command::new("gpg");
        cmd.env("GNUPGHOME", &gnupg).args(["--batch", "--passphrase", ""]).args(args);
        run_ok(&mut cmd)
    };
    gpg(&["--quick-gen-key", "Chart Signer <signer@example.test>", "rsa2048", "sign", "never"]);
    let keyring = home.join("secring.gpg");
    std::fs::write(&keyring, gpg(&["--export-secret-keys"]).stdout).unwrap();
    let keyring = keyring.to_str().unwrap().to_owned();
    let out_dir = out.to_str().unwrap().to_owned();
    let package = |chart: &str, version: &str| {
        run_ok(helm_command(helm, home).args(["package", chart, "--version", version, "-d", &out_dir, "--sign", "--key", "Chart Signer", "--keyring", &keyring]));
    };
    run_ok(helm_command(helm, home).args(["create", "mychart"]));
    for v in ["0.1.0", "0.2.0", "1.0.0"] {
        package("mychart", v);
    }
    // The dependency is resolved from the chart's directory: make it the version it asks for.
    let mychart_yaml = home.join("mychart/Chart.yaml");
    let text = std::fs::read_to_string(&mychart_yaml).unwrap().replace("version: 0.1.0", "version: 1.0.0");
    std::fs::write(&mychart_yaml, text).unwrap();
    run_ok(helm_command(helm, home).args(["create", "webapp"]));
    let chart_yaml = home.join("webapp/Chart.yaml");
    let mut text = std::fs::read_to_string(&chart_yaml).unwrap();
    text.push_str("keywords: [web, frontend]\ndependencies:\n  - name: mychart\n    version: ^1.0.0\n    repository: file://../mychart\n");
    std::fs::write(&chart_yaml, text).unwrap();
    run_ok(helm_command(helm, home).args(["dependency", "update", "webapp"]));
    for v in ["1.0.0", "1.1.0"] {
        package("webapp", v);
    }
    let mut files: Vec<_> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// A minimal OCI image layout on disk (for skopeo's `oci:` transport).
#[must_use] 
pub fn write_oci_layout(dir: &Path, layer: &[u8]) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = digest(data);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), data).unwrap();
        d
    };
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(layer), "size": layer.len() }],
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                        "size": manifest.len(), "annotations": { "org.opencontainers.image.ref.name": "v1" } }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    manifest_digest
}

/// A Sherpack pack archive laid out like the upstream client's: no top directory, `MANIFEST`,
/// `Pack.yaml`, `values.yaml`, a template, and `filler` bytes that do not compress (so the
/// archive is about that large).
#[must_use]
pub fn sherpack_archive(name: &str, version: &str, filler: usize) -> Vec<u8> {
    pack_archive(name, version, &format!("The {name} pack"), &["web", "demo"], false, filler)
}

/// A Sherpack pack archive with the given description, keywords and deprecation flag.
#[must_use]
pub fn pack_archive(name: &str, version: &str, description: &str, keywords: &[&str], deprecated: bool, filler: usize) -> Vec<u8> {
    spec_archive(&PackSpec { description, keywords, deprecated, filler, ..PackSpec::new(name, version) })
}

/// What a generated chart or pack says about itself.
#[derive(Debug, Clone)]
pub struct PackSpec<'a> {
    pub name: &'a str,
    pub version: &'a str,
    /// A Helm chart (`<name>/Chart.yaml`) rather than a Sherpack pack (`Pack.yaml`).
    pub helm: bool,
    pub description: &'a str,
    pub keywords: &'a [&'a str],
    pub maintainers: &'a [&'a str],
    pub deprecated: bool,
    pub readme: Option<&'a str>,
    pub annotations: &'a [(&'a str, &'a str)],
    /// `values.yaml` (a one-line default when absent).
    pub values: Option<&'a str>,
    /// Dependencies: name, version range, repository.
    pub dependencies: &'a [(&'a str, &'a str, &'a str)],
    /// More files, by path inside the chart or pack.
    pub files: &'a [(&'a str, &'a str)],
    /// Bytes of incompressible filler in an extra file.
    pub filler: usize,
    pub icon: Option<&'a str>,
    pub app_version: Option<&'a str>,
}

impl<'a> PackSpec<'a> {
    #[must_use]
    pub fn new(name: &'a str, version: &'a str) -> Self {
        Self {
            name,
            version,
            helm: false,
            description: "",
            keywords: &[],
            maintainers: &[],
            deprecated: false,
            readme: None,
            annotations: &[],
            values: None,
            dependencies: &[],
            files: &[],
            filler: 0,
            icon: None,
            app_version: None,
        }
    }
}

/// The archive a spec describes, in the layout of its kind. The metadata is written as JSON,
/// which is YAML too, so any text is quoted correctly.
#[must_use]
pub fn spec_archive(spec: &PackSpec) -> Vec<u8> {
    let maintainers: Vec<serde_json::Value> = spec.maintainers.iter().map(|m| serde_json::json!({ "name": m })).collect();
    let annotations: serde_json::Map<String, serde_json::Value> = spec.annotations.iter().map(|(k, v)| ((*k).to_owned(), serde_json::json!(v))).collect();
    let dependencies: Vec<serde_json::Value> =
        spec.dependencies.iter().map(|(name, version, repository)| serde_json::json!({ "name": name, "version": version, "repository": repository })).collect();
    let mut fields = serde_json::json!({
        "name": spec.name,
        "version": spec.version,
        "description": spec.description,
        "keywords": spec.keywords,
        "maintainers": maintainers,
        "deprecated": spec.deprecated,
        "annotations": annotations,
    });
    if let Some(icon) = spec.icon {
        fields["icon"] = icon.into();
    }
    if let Some(app_version) = spec.app_version {
        fields["appVersion"] = app_version.into();
    }
    let (meta_file, meta) = if spec.helm {
        let mut chart = fields;
        chart["apiVersion"] = "v2".into();
        chart["dependencies"] = dependencies.into();
        ("Chart.yaml", chart)
    } else {
        ("Pack.yaml", serde_json::json!({ "apiVersion": "sherpack/v1", "kind": "application", "metadata": fields, "dependencies": dependencies }))
    };
    // A simple generator: incompressible enough, and the same every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..spec.filler)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    let meta = meta.to_string();
    // Helm charts sit under one top directory; packs at the archive root.
    let dir = if spec.helm { format!("{}/", spec.name) } else { String::new() };
    let path = |file: &str| format!("{dir}{file}");
    let mut files: Vec<(String, &[u8])> = vec![(path(meta_file), meta.as_bytes()), (path("values.yaml"), spec.values.unwrap_or("replicas: 1\n").as_bytes())];
    // A default template unless the spec brings its own.
    if !spec.files.iter().any(|(f, _)| f.starts_with("templates/")) {
        files.push((path("templates/deployment.yaml"), b"kind: Deployment\n"));
    }
    if !spec.helm {
        files.insert(0, (path("MANIFEST"), b"sherpack-manifest-version: 1\n"));
    }
    if let Some(readme) = spec.readme {
        files.push((path("README.md"), readme.as_bytes()));
    }
    if spec.filler > 0 {
        files.push((path("files/blob.bin"), &noise));
    }
    for (file, contents) in spec.files {
        files.push((path(file), contents.as_bytes()));
    }
    let entries: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    tar_gz(&entries)
}

/// A gzip tar of `(path, contents)`, each path written into its header as given (so tests can
/// make archives with `..` or absolute paths, which tar writers refuse).
#[must_use]
pub fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut tar = Vec::new();
    for (path, data) in entries {
        let path = path.as_bytes();
        let mut header = tar::Header::new_old();
        let n = path.len().min(99);
        header.as_old_mut().name[..n].copy_from_slice(&path[..n]);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// An OCI manifest of a chart as helm pushes it: a Helm config and one chart layer.
#[must_use]
pub fn chart_manifest(config: &str, config_size: usize, layer: &str, layer_size: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "config": { "mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer, "size": layer_size }],
    }))
    .unwrap()
}

/// Uploads a `{}` config and `archive` into `repo`; returns the chart manifest naming them
/// (not pushed, so tests can push it their way).
pub async fn upload_chart_blobs(oci: &Oci, repo: &str, archive: &[u8]) -> Vec<u8> {
    let config = oci.push_blob(repo, b"{}").await;
    let layer = oci.push_blob(repo, archive).await;
    chart_manifest(&config, 2, &layer, archive.len())
}

/// The upstream `sherpack` client's push: `GET /v2/` before each step, a config blob of `{}`,
/// PATCH chunks of 4 MiB with `Content-Range: start-end` (no `bytes=`), a manifest without
/// `mediaType`. Returns the archive's digest.
pub async fn push_like_upstream_sherpack(oci: &Oci, repo: &str, tag: &str, archive: &[u8]) -> String {
    let mut blobs = Vec::new();
    for data in [&b"{}"[..], archive] {
        assert_eq!(oci.http.get(oci.url("/v2/")).send().await.unwrap().status(), 200);
        let r = oci.http.post(oci.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let mut location = oci.location(&r);
        for (i, chunk) in data.chunks(4 * 1024 * 1024).enumerate() {
            let start = i * 4 * 1024 * 1024;
            let r = oci
                .http
                .patch(&location)
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{start}-{}", start + chunk.len() - 1))
                .body(chunk.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            location = oci.location(&r);
        }
        let d = digest(data);
        let r = oci.http.put(format!("{location}?digest={d}")).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        blobs.push((d, data.len()));
    }
    let manifest = chart_manifest(&blobs[0].0, blobs[0].1, &blobs[1].0, blobs[1].1);
    let r = oci.put_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &manifest).await;
    assert_eq!(r.status(), 201);
    blobs.pop().unwrap().0
}
