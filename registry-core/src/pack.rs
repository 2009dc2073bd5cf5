//! Pack metadata from an archive: Helm charts (`<name>/Chart.yaml` under one top directory)
//! and Sherpack packs (`Pack.yaml` at the root or under one top directory). The archive is
//! untrusted: it is read with limits on its compressed and decompressed size, its entry count,
//! each file kept, and the shape of every path; links are refused.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

/// Bounds on what an archive may hold; exceeding one refuses the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest compressed archive.
    pub max_archive_bytes: u64,
    /// Largest total of decompressed entries (a gzip bomb stops here).
    pub max_unpacked_bytes: u64,
    pub max_entries: u32,
    /// Largest single file kept in memory (README, values, schema, Chart.yaml).
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_archive_bytes: 20 << 20, max_unpacked_bytes: 100 << 20, max_entries: 5_000, max_file_bytes: 4 << 20 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackKind {
    Helm,
    Sherpack,
}

impl PackKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Helm => "helm",
            Self::Sherpack => "sherpack",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintainer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Pack.yaml `enabled: false` leaves a dependency out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// What a pack says about itself, whichever format it came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackMeta {
    pub kind: PackKind,
    pub name: String,
    pub version: String,
    /// `apiVersion` of Chart.yaml (`v1`/`v2`) or Pack.yaml.
    pub api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<Maintainer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub deprecated: bool,
    /// Helm `type` (application/library) or Sherpack `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_schema: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<String>,
}

impl PackMeta {
    /// The pack as Chart.yaml fields in JSON, empty ones left out — what a Helm index entry and
    /// a Helm OCI config blob hold. `apiVersion` is one Helm knows (`v1` stays, anything else is
    /// `v2`); `extra_annotations` join the pack's own.
    #[must_use]
    pub fn chart_json(&self, extra_annotations: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let mut e = serde_json::Map::new();
        e.insert("apiVersion".into(), json!(if self.api_version == "v1" { "v1" } else { "v2" }));
        e.insert("name".into(), json!(self.name));
        e.insert("version".into(), json!(self.version));
        let mut put = |k: &str, v: serde_json::Value| {
            if !(v.is_null() || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(serde_json::Map::is_empty)) {
                e.insert(k.into(), v);
            }
        };
        put("appVersion", json!(self.app_version));
        put("kubeVersion", json!(self.kube_version));
        put("type", json!(self.chart_type));
        put("description", json!(self.description));
        put("keywords", json!(self.keywords));
        put("home", json!(self.home));
        put("sources", json!(self.sources));
        put("icon", json!(self.icon));
        put("maintainers", json!(self.maintainers));
        let mut annotations = self.annotations.clone();
        annotations.extend(extra_annotations.iter().cloned());
        put("annotations", json!(annotations));
        put("dependencies", json!(self.dependencies));
        if self.deprecated {
            e.insert("deprecated".into(), json!(true));
        }
        e
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("the archive is larger than {0} bytes")]
    ArchiveTooLarge(u64),
    #[error("the archive is not gzip-compressed")]
    NotGzip,
    #[error("the archive is not a valid tar file: {0}")]
    NotTar(String),
    #[error("the archive unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("the archive has more than {0} entries")]
    TooManyEntries(u32),
    #[error("the archive entry `{0}` has an unsafe path (absolute, `..`, or not UTF-8)")]
    UnsafePath(String),
    #[error("the archive entry `{0}` is a link; links are not accepted")]
    Link(String),
    #[error("the archive holds neither Chart.yaml nor Pack.yaml at its root or under one top directory")]
    NoMetadataFile,
    #[error("{file} is not valid: {reason}")]
    InvalidMetadata { file: &'static str, reason: String },
    #[error("version `{0}` is not a semantic version")]
    InvalidVersion(String),
    #[error("name `{0}` is not a valid chart name")]
    InvalidName(String),
    #[error("{0} is larger than the per-file limit")]
    FileTooLarge(String),
}

fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|segment| segment != ".." && !segment.contains('\0'))
}

/// The files an archive holds that matter, keyed by their path with the top directory (if
/// the archive has one) removed.
struct Unpacked {
    files: BTreeMap<String, String>,
    all_paths: Vec<String>,
}

const KEPT: [&str; 9] = [
    "Chart.yaml",
    "Pack.yaml",
    "README.md",
    "values.yaml",
    "values.schema.json",
    "values.schema.yaml",
    "schema.yaml",
    "schema.json",
    "MANIFEST",
];

/// The metadata files [`read`] keeps: the top-level ones named in [`KEPT`] (at depth one, under
/// a chart's top directory, too).
fn is_kept(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or_default();
    path.matches('/').count() <= 1 && KEPT.contains(&base)
}

fn unpack(archive: &[u8], limits: &Limits, keep: &dyn Fn(&str) -> bool) -> Result<Unpacked, PackError> {
    if archive.len() as u64 > limits.max_archive_bytes {
        return Err(PackError::ArchiveTooLarge(limits.max_archive_bytes));
    }
    if archive.len() < 2 || archive[..2] != [0x1f, 0x8b] {
        return Err(PackError::NotGzip);
    }
    // The decoder is capped one byte past the limit so an over-limit stream is detected.
    let decoder = flate2::read::GzDecoder::new(archive).take(limits.max_unpacked_bytes + 1);
    let mut tar = tar::Archive::new(decoder);
    let mut raw_files: Vec<(String, String)> = Vec::new();
    let mut all_paths = Vec::new();
    let mut total: u64 = 0;
    let entries = tar.entries().map_err(|e| PackError::NotTar(e.to_string()))?;
    for (count, entry) in entries.enumerate() {
        if count as u64 >= u64::from(limits.max_entries) {
            return Err(PackError::TooManyEntries(limits.max_entries));
        }
        let mut entry = entry.map_err(|e| tar_error(&e, limits))?;
        let path = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| PackError::UnsafePath("(not UTF-8)".into()))?;
        let path = path.trim_start_matches("./").to_owned();
        if !is_safe_path(&path) {
            return Err(PackError::UnsafePath(path));
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(PackError::Link(path));
        }
        let size = entry.header().size().unwrap_or(0);
        total = total.saturating_add(size);
        if total > limits.max_unpacked_bytes {
            return Err(PackError::TooLarge(limits.max_unpacked_bytes));
        }
        if !kind.is_file() {
            continue;
        }
        if keep(&path) {
            if size > limits.max_file_bytes {
                return Err(PackError::FileTooLarge(path));
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(|e| PackError::InvalidMetadata { file: "archive", reason: format!("{path}: {e}") })?;
            raw_files.push((path.clone(), text));
        } else {
            // Read through (counted by the capped decoder) without keeping it.
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| tar_error(&e, limits))?;
        }
        all_paths.push(path);
    }
    // One top directory (Helm) or none (Sherpack): strip the top directory when every path has it.
    let top = all_paths.first().and_then(|p| p.split_once('/').map(|(t, _)| t.to_owned()));
    let single_top = top.filter(|t| all_paths.iter().all(|p| p.starts_with(&format!("{t}/"))));
    let strip = |p: &str| match &single_top {
        Some(t) => p.strip_prefix(&format!("{t}/")).unwrap_or(p).to_owned(),
        None => p.to_owned(),
    };
    let files = raw_files.into_iter().map(|(p, t)| (strip(&p), t)).collect();
    let all_paths = all_paths.iter().map(|p| strip(p)).collect();
    Ok(Unpacked { files, all_paths })
}

fn tar_error(e: &std::io::Error, limits: &Limits) -> PackError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        // The capped decoder ran dry: either truncated or past the limit.
        return PackError::TooLarge(limits.max_unpacked_bytes);
    }
    PackError::NotTar(e.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChartYaml {
    api_version: Option<String>,
    name: Option<String>,
    version: Option<serde_json::Value>,
    app_version: Option<serde_json::Value>,
    description: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    maintainers: Vec<Maintainer>,
    home: Option<String>,
    icon: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    deprecated: bool,
    #[serde(rename = "type")]
    chart_type: Option<String>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
    kube_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackYaml {
    api_version: String,
    kind: Option<String>,
    metadata: PackYamlMetadata,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackYamlMetadata {
    name: String,
    version: serde_json::Value,
    description: Option<String>,
    app_version: Option<serde_json::Value>,
    kube_version: Option<String>,
    home: Option<String>,
    icon: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    maintainers: Vec<Maintainer>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    deprecated: bool,
}

/// YAML scalars such as `version: 1.0` arrive as numbers: keep their text.
#[must_use]
pub fn scalar(v: Option<serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Chart names: what Helm accepts and an OCI repository component can hold.
#[must_use]
pub fn is_valid_pack_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Reads an archive's metadata. Errors say which check failed.
pub fn read(archive: &[u8], limits: &Limits) -> Result<PackMeta, PackError> {
    let mut unpacked = unpack(archive, limits, &is_kept)?;
    unpacked.files.retain(|p, _| !p.contains('/'));
    let mut meta = from_files(&unpacked.files)?;
    meta.templates = unpacked.all_paths.into_iter().filter(|p| p.starts_with("templates/")).collect();
    Ok(meta)
}

/// One file of an archive by its path inside the pack (`templates/service.yaml`, without a
/// chart's top directory), read with the same limits as [`read`]; `None` when it is not there.
pub fn read_file(archive: &[u8], limits: &Limits, path: &str) -> Result<Option<String>, PackError> {
    let wanted = |p: &str| p == path || p.split_once('/').is_some_and(|(_, rest)| rest == path);
    let mut unpacked = unpack(archive, limits, &wanted)?;
    Ok(unpacked.files.remove(path))
}

/// The files at the top of a pack that [`from_files`] reads.
pub const METADATA_FILES: [&str; 9] = KEPT;

/// Pack metadata from the top-level files of a pack (an unpacked archive or a directory on
/// disk), keyed by file name: `Pack.yaml` or `Chart.yaml`, and `README.md`, `values.yaml` and a
/// values schema when present. `templates` is left empty.
pub fn from_files(files: &BTreeMap<String, String>) -> Result<PackMeta, PackError> {
    let mut meta = if let Some(text) = files.get("Pack.yaml") {
        let pack: PackYaml = serde_saphyr::from_str(text).map_err(|e| PackError::InvalidMetadata { file: "Pack.yaml", reason: e.to_string() })?;
        if pack.api_version != "sherpack/v1" && pack.api_version != "sherpack.io/v1" {
            return Err(PackError::InvalidMetadata {
                file: "Pack.yaml",
                reason: format!("apiVersion `{}` is not sherpack/v1 or sherpack.io/v1", pack.api_version),
            });
        }
        let m = pack.metadata;
        PackMeta {
            kind: PackKind::Sherpack,
            name: m.name,
            version: scalar(Some(m.version)).unwrap_or_default(),
            api_version: pack.api_version,
            app_version: scalar(m.app_version),
            description: m.description,
            keywords: m.keywords,
            maintainers: m.maintainers,
            home: m.home,
            icon: m.icon,
            sources: m.sources,
            annotations: m.annotations,
            deprecated: m.deprecated,
            chart_type: pack.kind,
            dependencies: pack.dependencies,
            kube_version: m.kube_version,
            readme: None,
            values: None,
            values_schema: None,
            templates: Vec::new(),
        }
    } else if let Some(text) = files.get("Chart.yaml") {
        let chart: ChartYaml = serde_saphyr::from_str(text).map_err(|e| PackError::InvalidMetadata { file: "Chart.yaml", reason: e.to_string() })?;
        let missing = |field: &str| PackError::InvalidMetadata { file: "Chart.yaml", reason: format!("`{field}` is missing") };
        PackMeta {
            kind: PackKind::Helm,
            name: chart.name.ok_or_else(|| missing("name"))?,
            version: scalar(chart.version).ok_or_else(|| missing("version"))?,
            api_version: chart.api_version.ok_or_else(|| missing("apiVersion"))?,
            app_version: scalar(chart.app_version),
            description: chart.description,
            keywords: chart.keywords,
            maintainers: chart.maintainers,
            home: chart.home,
            icon: chart.icon,
            sources: chart.sources,
            annotations: chart.annotations,
            deprecated: chart.deprecated,
            chart_type: chart.chart_type,
            dependencies: chart.dependencies,
            kube_version: chart.kube_version,
            readme: None,
            values: None,
            values_schema: None,
            templates: Vec::new(),
        }
    } else {
        return Err(PackError::NoMetadataFile);
    };
    if semver::Version::parse(&meta.version).is_err() {
        return Err(PackError::InvalidVersion(meta.version));
    }
    if !is_valid_pack_name(&meta.name) {
        return Err(PackError::InvalidName(meta.name));
    }
    meta.readme = files.get("README.md").cloned();
    meta.values = files.get("values.yaml").cloned();
    meta.values_schema = ["values.schema.json", "values.schema.yaml", "schema.json", "schema.yaml"]
        .iter()
        .find_map(|f| files.get(*f).cloned());
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_is_read_by_its_path_inside_the_pack() {
        let chart = archive(&[("web/Chart.yaml", b"name: web\nversion: 1.0.0\n"), ("web/templates/svc.yaml", b"kind: Service\n"), ("web/templates/deploy.yaml", b"kind: Deployment\n")]);
        assert_eq!(read_file(&chart, &Limits::default(), "templates/svc.yaml").unwrap().as_deref(), Some("kind: Service\n"));
        assert_eq!(read_file(&chart, &Limits::default(), "templates/none.yaml").unwrap(), None);
        let tight = Limits { max_file_bytes: 4, ..Limits::default() };
        assert!(matches!(read_file(&chart, &tight, "templates/svc.yaml"), Err(PackError::FileTooLarge(_))));
    }

    /// A gzip tar of `(path, contents)`; a trailing `@link` on a path makes it a symlink.
    pub fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            if let Some(p) = path.strip_suffix("@link") {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, p, "/etc/passwd").unwrap();
            } else {
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append_data(&mut header, path, *data).unwrap();
            }
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    const CHART: &[u8] = b"apiVersion: v2\nname: web\nversion: 1.2.3\nappVersion: 4.5\ndescription: A web server\nkeywords: [http, nginx]\nmaintainers:\n  - name: Ann\n    email: ann@example.com\ntype: application\ndependencies:\n  - name: redis\n    version: ^17\n    repository: oci://r.example.com/charts\n";

    #[test]
    fn reads_a_helm_chart() {
        let a = archive(&[
            ("web/Chart.yaml", CHART),
            ("web/values.yaml", b"replicas: 1\n"),
            ("web/README.md", b"# Web\n"),
            ("web/templates/deploy.yaml", b"kind: Deployment\n"),
            ("web/charts/redis/Chart.yaml", b"apiVersion: v2\nname: redis\nversion: 17.0.0\n"),
        ]);
        let m = read(&a, &Limits::default()).unwrap();
        assert_eq!((m.kind, m.name.as_str(), m.version.as_str()), (PackKind::Helm, "web", "1.2.3"));
        assert_eq!(m.app_version.as_deref(), Some("4.5"));
        assert_eq!(m.keywords, ["http", "nginx"]);
        assert_eq!(m.maintainers[0].email.as_deref(), Some("ann@example.com"));
        assert_eq!(m.dependencies[0].repository.as_deref(), Some("oci://r.example.com/charts"));
        assert_eq!(m.readme.as_deref(), Some("# Web\n"));
        assert_eq!(m.values.as_deref(), Some("replicas: 1\n"));
        assert_eq!(m.templates, ["templates/deploy.yaml"]);
    }

    #[test]
    fn reads_a_sherpack_pack_without_top_directory() {
        let pack = b"apiVersion: sherpack/v1\nkind: application\nmetadata:\n  name: api\n  version: 0.4.0\n  description: An API\n";
        let a = archive(&[
            ("MANIFEST", b"sherpack-manifest-version: 1\n"),
            ("Pack.yaml", pack),
            ("values.yaml", b"a: 1\n"),
            ("values.schema.json", b"{}"),
            ("templates/svc.yaml", b"kind: Service\n"),
        ]);
        let m = read(&a, &Limits::default()).unwrap();
        assert_eq!((m.kind, m.name.as_str(), m.version.as_str()), (PackKind::Sherpack, "api", "0.4.0"));
        assert_eq!(m.chart_type.as_deref(), Some("application"));
        assert_eq!(m.values_schema.as_deref(), Some("{}"));
        assert_eq!(m.templates, ["templates/svc.yaml"]);
        let other = archive(&[("Pack.yaml", &b"apiVersion: sherpack.io/v1\nmetadata:\n  name: api\n  version: 1.0.0\n"[..])]);
        assert_eq!(read(&other, &Limits::default()).unwrap().api_version, "sherpack.io/v1");
    }

    #[test]
    fn refuses_every_kind_of_bad_archive() {
        let limits = Limits::default();
        assert_eq!(read(b"plain text", &limits), Err(PackError::NotGzip));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &[7u8; 2000]).unwrap();
        assert!(matches!(read(&gz.finish().unwrap(), &limits), Err(PackError::NotTar(_))));
        assert_eq!(read(&archive(&[("x/values.yaml", b"a: 1")]), &limits), Err(PackError::NoMetadataFile));
        assert!(matches!(read(&archive(&[("x/Chart.yaml", b"name: [")]), &limits), Err(PackError::InvalidMetadata { .. })));
        assert!(matches!(
            read(&archive(&[("x/Chart.yaml", b"apiVersion: v2\nname: x\nversion: one\n")]), &limits),
            Err(PackError::InvalidVersion(_))
        ));
        assert!(matches!(
            read(&archive(&[("x/Chart.yaml", b"apiVersion: v2\nname: Bad Name\nversion: 1.0.0\n")]), &limits),
            Err(PackError::InvalidName(_))
        ));
        assert!(matches!(
            read(&archive(&[("Pack.yaml", b"apiVersion: helm/v9\nmetadata:\n  name: a\n  version: 1.0.0\n")]), &limits),
            Err(PackError::InvalidMetadata { .. })
        ));
        assert!(matches!(read(&archive(&[("x/Chart.yaml", CHART), ("x/evil@link", b"")]), &limits), Err(PackError::Link(_))));
        let tiny = Limits { max_archive_bytes: 100, ..limits };
        assert!(matches!(read(&archive(&[("x/Chart.yaml", CHART)]), &tiny), Err(PackError::ArchiveTooLarge(_))));
        let few = Limits { max_entries: 1, ..limits };
        assert!(matches!(read(&archive(&[("x/Chart.yaml", CHART), ("x/a", b"")]), &few), Err(PackError::TooManyEntries(1))));
    }

    #[test]
    fn refuses_unsafe_paths() {
        for bad in ["../evil", "/abs/path", "a/../../b"] {
            assert!(!is_safe_path(bad), "{bad}");
        }
        assert!(is_safe_path("web/templates/a.yaml"));
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to ~64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let a = archive(&[("x/Chart.yaml", CHART), ("x/big", &zeros)]);
        assert!(a.len() < 1 << 20);
        let limits = Limits { max_unpacked_bytes: 8 << 20, ..Limits::default() };
        assert_eq!(read(&a, &limits), Err(PackError::TooLarge(8 << 20)));
    }
}
