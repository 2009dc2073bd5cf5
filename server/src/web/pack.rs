//! The pack page: one server-rendered view per URL, each working without JavaScript —
//! `/-/packs/<ns>/<name>` (README), `/values` (numbered, highlighted, with `values.yaml` to
//! download), `/schema` (nested properties), `/templates` (`?file=` shows one, highlighted),
//! `/dependencies`, `/versions`; `?version=` picks a version. A view's HTML is rendered once
//! per archive digest and kept (a pack version never changes), so a large pack costs its
//! rendering once.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use futures::StreamExt as _;
use registry_core::pack::PackMeta;

use super::{Layout, PageError, PageResult, caller, date, html, kind_label, pairs, render, require_read, schema, web_url};
use crate::AppState;
use crate::packs::index::Entry;
use crate::routes::ClientAddress;

/// Properties of a values schema shown.
const SCHEMA_ROWS: usize = 2_000;
/// Versions listed beside every view (the versions view lists all).
const SIDE_VERSIONS: usize = 10;
/// Bytes of rendered views and pack metadata kept in memory.
const CACHE_BYTES: usize = 64 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    Readme,
    Values,
    Schema,
    Templates,
    Dependencies,
    Versions,
}

impl View {
    const ALL: [Self; 6] = [Self::Readme, Self::Values, Self::Schema, Self::Templates, Self::Dependencies, Self::Versions];

    fn parse(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.segment() == segment && *v != Self::Readme)
    }

    fn segment(self) -> &'static str {
        match self {
            Self::Readme => "",
            Self::Values => "values",
            Self::Schema => "schema",
            Self::Templates => "templates",
            Self::Dependencies => "dependencies",
            Self::Versions => "versions",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Readme => "README",
            Self::Values => "Default values",
            Self::Schema => "Values schema",
            Self::Templates => "Templates",
            Self::Dependencies => "Dependencies",
            Self::Versions => "Versions",
        }
    }
}

/// A memory-bounded map from a key to something rendered; emptied when it outgrows its budget.
struct Kept<V> {
    map: HashMap<String, Arc<V>>,
    bytes: usize,
}

impl<V> Kept<V> {
    fn get(&self, key: &str) -> Option<Arc<V>> {
        self.map.get(key).cloned()
    }

    fn put(&mut self, key: String, value: Arc<V>, bytes: usize) {
        if self.bytes + bytes > CACHE_BYTES / 2 {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += bytes;
        self.map.insert(key, value);
    }
}

static VIEWS: LazyLock<Mutex<Kept<String>>> = LazyLock::new(|| Mutex::new(Kept { map: HashMap::new(), bytes: 0 }));
static METAS: LazyLock<Mutex<Kept<PackMeta>>> = LazyLock::new(|| Mutex::new(Kept { map: HashMap::new(), bytes: 0 }));

/// A view's HTML for an archive, rendered by `make` the first time.
fn rendered(digest: &str, part: &str, make: impl FnOnce() -> String) -> Arc<String> {
    let key = format!("{digest} {part}");
    if let Some(hit) = VIEWS.lock().expect("not poisoned").get(&key) {
        return hit;
    }
    let html = Arc::new(make());
    VIEWS.lock().expect("not poisoned").put(key, html.clone(), html.len());
    html
}

/// A version's full metadata (README, values, schema, template names), read once per archive.
async fn full_meta(state: &AppState, entry: &Entry) -> Result<Arc<PackMeta>, PageError> {
    let digest = entry.archive_digest.to_string();
    if let Some(hit) = METAS.lock().expect("not poisoned").get(&digest) {
        return Ok(hit);
    }
    let record = state.meta.pack(&entry.repository, &entry.version).await?.ok_or_else(PageError::not_found)?;
    let meta: PackMeta = serde_json::from_str(&record.pack.metadata).map_err(|e| registry_core::store::StoreError::Backend(format!("pack metadata: {e}")))?;
    let meta = Arc::new(meta);
    METAS.lock().expect("not poisoned").put(digest, meta.clone(), record.pack.metadata.len());
    Ok(meta)
}

struct Tab {
    label: &'static str,
    href: String,
    current: bool,
}

struct Install {
    label: &'static str,
    command: String,
}

#[derive(Clone)]
struct VersionLink {
    version: String,
    href: String,
    date: String,
    ago: String,
    iso: String,
    app_version: String,
    /// Alias tags pointing at this version.
    aliases: Vec<String>,
    current: bool,
}

struct DependencyLink {
    name: String,
    version: String,
    repository: String,
    href: Option<String>,
}

struct FileLink {
    path: String,
    href: String,
    current: bool,
}

struct OpenFile {
    path: String,
    html: Arc<String>,
}

struct ValuesView {
    html: Arc<String>,
    lines: usize,
    download: String,
}

struct SchemaView {
    body: Arc<String>,
    rows: usize,
    truncated: bool,
}

#[derive(Template)]
#[template(path = "pack.html")]
struct PackPage {
    layout: Layout,
    namespace: String,
    name: String,
    version: String,
    description: String,
    kind: String,
    kind_label: &'static str,
    deprecated: bool,
    latest: bool,
    icon: Option<String>,
    initials: String,
    hue: u8,
    signature_status: String,
    signature_label: &'static str,
    signing_key: Option<String>,
    tabs: Vec<Tab>,
    view_label: &'static str,
    install: Vec<Install>,
    side_versions: Vec<VersionLink>,
    version_count: usize,
    versions_href: String,
    app_version: Option<String>,
    kube_version: Option<String>,
    published_iso: String,
    published_date: String,
    published_ago: String,
    size: String,
    digest: String,
    digest_short: String,
    keywords: Vec<String>,
    home: Option<String>,
    sources: Vec<String>,
    maintainers: Vec<String>,
    readme: Option<Arc<String>>,
    values: Option<ValuesView>,
    schema: Option<SchemaView>,
    templates: Option<(Vec<FileLink>, Option<OpenFile>)>,
    dependencies: Option<Vec<DependencyLink>>,
    versions: Option<Vec<VersionLink>>,
}

fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < 1_048_576.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / 1_048_576.0)
    }
}

/// Up to two letters standing in for a missing icon (`postgresql-ha` → `PH`), and one of eight
/// colours picked by the name, so each pack keeps its own.
#[must_use]
pub fn initials(name: &str) -> (String, u8) {
    let letters: String = name.split(['-', '_', '.']).filter_map(|w| w.chars().next()).filter(char::is_ascii_alphanumeric).take(2).collect();
    let hue = name.bytes().fold(0u8, |h, b| h.wrapping_mul(31).wrapping_add(b)) % 8;
    (if letters.is_empty() { "?".to_owned() } else { letters.to_uppercase() }, hue)
}

/// The page of the requested version: `(entries, index of the version)`.
async fn find_version(state: &AppState, repository: &str, name: &str, query: Option<&str>) -> Result<(Vec<Entry>, usize), PageError> {
    let entries = state.index.versions(state.meta.as_ref(), repository).await?;
    if entries.is_empty() {
        return Err(PageError::not_found());
    }
    let wanted = pairs(query).into_iter().find(|(k, _)| k == "version").map(|(_, v)| v);
    let at = match &wanted {
        None => 0,
        Some(v) => entries.iter().position(|e| &e.version == v).ok_or_else(|| {
            let known: Vec<&str> = entries.iter().take(10).map(|e| e.version.as_str()).collect();
            PageError::new(StatusCode::NOT_FOUND, format!("{name} has no version {v}. Versions: {}.", known.join(", ")))
        })?,
    };
    Ok((entries, at))
}

pub async fn readme(state: State<AppState>, headers: HeaderMap, address: ClientAddress, Path((namespace, name)): Path<(String, String)>, query: RawQuery) -> PageResult {
    page(state, headers, address, namespace, name, View::Readme, query).await
}

pub async fn view(
    state: State<AppState>,
    headers: HeaderMap,
    address: ClientAddress,
    Path((namespace, name, segment)): Path<(String, String, String)>,
    query: RawQuery,
) -> PageResult {
    if segment == "values.yaml" {
        return download_values(state, headers, address, namespace, name, query).await;
    }
    let view = View::parse(&segment).ok_or_else(PageError::not_found)?;
    page(state, headers, address, namespace, name, view, query).await
}

async fn download_values(State(state): State<AppState>, headers: HeaderMap, ClientAddress(a): ClientAddress, namespace: String, name: String, RawQuery(query): RawQuery) -> PageResult {
    let caller = caller(&state, &headers, a).await?;
    require_read(&state, &caller, &namespace).await?;
    let (entries, at) = find_version(&state, &format!("{namespace}/{name}"), &name, query.as_deref()).await?;
    let entry = &entries[at];
    let meta = full_meta(&state, entry).await?;
    let values = meta.values.clone().ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, format!("{name} {} has no values.yaml.", entry.version)))?;
    let mut response = values.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}-{}-values.yaml\"", entry.version)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// A template file of the archive, read with the registry's archive limits.
async fn template_file(state: &AppState, entry: &Entry, path: &str) -> Result<String, PageError> {
    let limits = state.config.packs;
    let read = crate::storage::read_blob(state, &entry.archive_digest).await?;
    let mut archive = Vec::with_capacity(usize::try_from(read.size.min(limits.max_archive_bytes)).unwrap_or(0));
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        // A read cut by the storage: it is unavailable, as when the read could not start.
        let chunk = chunk.map_err(|e| crate::storage::StoreBlobError::from(registry_core::blob::BlobError::Backend(e.to_string())))?;
        if (archive.len() + chunk.len()) as u64 > limits.max_archive_bytes {
            return Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "The pack's archive is larger than this registry reads."));
        }
        archive.extend_from_slice(&chunk);
    }
    let wanted = path.to_owned();
    tokio::task::spawn_blocking(move || registry_core::pack::read_file(&archive, &limits, &wanted))
        .await
        .map_err(|e| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the template failed: {e}")))?
        .map_err(|e| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("This template cannot be shown: {e}")))?
        .ok_or_else(PageError::not_found)
}

#[allow(clippy::too_many_lines)]
async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddress(a): ClientAddress,
    namespace: String,
    name: String,
    view: View,
    RawQuery(query): RawQuery,
) -> PageResult {
    let caller = caller(&state, &headers, a).await?;
    require_read(&state, &caller, &namespace).await?;
    let repository = format!("{namespace}/{name}");
    let (entries, at) = find_version(&state, &repository, &name, query.as_deref()).await?;
    let entry = &entries[at];
    let meta = full_meta(&state, entry).await?;
    let version = entry.version.clone();
    let digest = entry.archive_digest.to_string();
    let latest = at == 0;
    let page_href = |v: View, version: &str, first: bool| {
        let base = format!("/-/packs/{repository}{}{}", if v == View::Readme { "" } else { "/" }, v.segment());
        if first { base } else { format!("{base}?version={version}") }
    };
    let here = |v: View| page_href(v, &version, latest);
    let base = crate::routes::oci::request::base_url(&state, &headers);
    let host = base.split("://").nth(1).unwrap_or_default();
    let plain = if base.starts_with("http://") { " --plain-http" } else { "" };
    let install = vec![
        Install { label: "sherpack", command: format!("sherpack pull oci://{host}/{repository}:{version}") },
        Install { label: "helm (OCI)", command: format!("helm install {name} oci://{host}/{repository} --version {version}{plain}") },
        Install { label: "helm (repository)", command: format!("helm repo add {namespace} {base}/{namespace}\nhelm install {name} {namespace}/{name} --version {version}") },
    ];
    let tabs = View::ALL
        .into_iter()
        .filter(|v| match v {
            View::Schema => meta.values_schema.is_some(),
            View::Dependencies => !meta.dependencies.is_empty(),
            _ => true,
        })
        .map(|v| Tab { label: v.label(), href: here(v), current: v == view })
        .collect();
    let mut aliases = crate::packs::aliases(state.meta.as_ref(), &namespace, Some(&repository)).await?;
    let version_link = |(i, e): (usize, &Entry), aliases: &mut std::collections::BTreeMap<(String, String), Vec<String>>| {
        let (iso, ago) = date(e.created_at);
        VersionLink {
            href: page_href(view, &e.version, i == 0),
            date: iso.get(..10).unwrap_or_default().to_owned(),
            ago,
            iso,
            app_version: e.meta.app_version.clone().unwrap_or_default(),
            aliases: aliases.remove(&(repository.clone(), e.version.clone())).unwrap_or_default(),
            current: i == at,
            version: e.version.clone(),
        }
    };
    let all_versions: Vec<VersionLink> = entries.iter().enumerate().map(|x| version_link(x, &mut aliases)).collect();
    let mut page = empty_page(entry, &meta, latest);
    page.tabs = tabs;
    page.view_label = view.label();
    page.install = install;
    page.version_count = entries.len();
    page.versions_href = here(View::Versions);
    match view {
        View::Readme => page.readme = meta.readme.as_deref().map(|r| rendered(&digest, "readme", || render::markdown(r).0)),
        View::Values => {
            page.values = meta.values.as_deref().map(|v| ValuesView {
                html: rendered(&digest, "values", || render::yaml_lines(v)),
                lines: v.lines().count(),
                download: format!("/-/packs/{repository}/values.yaml?version={version}"),
            });
        }
        View::Schema => {
            let source = meta.values_schema.as_deref().ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, format!("{name} {version} has no values schema.")))?;
            let body = rendered(&digest, "schema", || schema::table_body(&schema::rows(source, SCHEMA_ROWS).0));
            let rows = body.matches("<tr>").count();
            page.schema = Some(SchemaView { body, rows, truncated: rows >= SCHEMA_ROWS });
        }
        View::Templates => {
            let wanted = pairs(query.as_deref()).into_iter().find(|(k, _)| k == "file").map(|(_, v)| v);
            if let Some(w) = &wanted
                && !meta.templates.contains(w)
            {
                return Err(PageError::new(StatusCode::NOT_FOUND, format!("{name} {version} has no template {w}.")));
            }
            let open_path = wanted.or_else(|| meta.templates.first().cloned());
            let mut open = None;
            if let Some(path) = &open_path {
                let key = format!("template {path}");
                let kept = VIEWS.lock().expect("not poisoned").get(&format!("{digest} {key}"));
                let html = if let Some(hit) = kept {
                    hit
                } else {
                    let text = template_file(&state, entry, path).await?;
                    rendered(&digest, &key, || render::template(&text))
                };
                open = Some(OpenFile { path: path.clone(), html });
            }
            let files = meta
                .templates
                .iter()
                .map(|t| {
                    let mut q = url::form_urlencoded::Serializer::new(String::new());
                    if !latest {
                        q.append_pair("version", &version);
                    }
                    q.append_pair("file", t);
                    FileLink { path: t.clone(), href: format!("/-/packs/{repository}/templates?{}", q.finish()), current: open_path.as_ref() == Some(t) }
                })
                .collect();
            page.templates = Some((files, open));
        }
        View::Dependencies => page.dependencies = Some(dependencies(&state, &namespace, host, &meta).await?),
        View::Versions => {}
    }
    page.side_versions = all_versions.iter().take(SIDE_VERSIONS).cloned().collect();
    if at >= SIDE_VERSIONS {
        page.side_versions.push(all_versions[at].clone());
    }
    if view == View::Versions {
        page.versions = Some(all_versions);
    }
    Ok(html(StatusCode::OK, &page))
}

async fn dependencies(state: &AppState, namespace: &str, host: &str, meta: &PackMeta) -> Result<Vec<DependencyLink>, PageError> {
    let mut out = Vec::new();
    for d in &meta.dependencies {
        let local = format!("{namespace}/{}", d.name);
        let here = d.repository.as_deref().is_none_or(|r| r.contains(host) || r.starts_with("file://")) && !state.index.versions(state.meta.as_ref(), &local).await?.is_empty();
        out.push(DependencyLink {
            name: d.name.clone(),
            version: d.version.clone().unwrap_or_default(),
            repository: d.repository.clone().unwrap_or_default(),
            href: here.then(|| format!("/-/packs/{local}")),
        });
    }
    Ok(out)
}

/// The frame every view shares: header, details, links; the views fill in the rest.
fn empty_page(entry: &Entry, meta: &PackMeta, latest: bool) -> PackPage {
    let signature = entry.signature.as_ref();
    let signature_status = signature.map_or_else(|| "none".to_owned(), |s| s.status.clone());
    let signature_label = match signature_status.as_str() {
        "verified" => "Signed, verified",
        "unverified" => "Signed, key not trusted here",
        "invalid" => "Signature invalid",
        _ => "Not signed",
    };
    let (initials, hue) = initials(&meta.name);
    let (published_iso, published_ago) = date(entry.created_at);
    let digest = entry.archive_digest.to_string();
    let digest_short = format!("{}…", digest.get(..19).unwrap_or(&digest));
    PackPage {
        layout: Layout::new(""),
        namespace: entry.namespace.clone(),
        name: meta.name.clone(),
        version: entry.version.clone(),
        description: meta.description.clone().unwrap_or_default(),
        kind: meta.kind.as_str().to_owned(),
        kind_label: kind_label(meta.kind.as_str()),
        deprecated: meta.deprecated,
        latest,
        icon: web_url(meta.icon.as_deref()),
        initials,
        hue,
        signature_status,
        signature_label,
        signing_key: signature.map(|s| s.key_id.clone()),
        tabs: Vec::new(),
        view_label: "",
        install: Vec::new(),
        side_versions: Vec::new(),
        version_count: 0,
        versions_href: String::new(),
        app_version: meta.app_version.clone(),
        kube_version: meta.kube_version.clone(),
        published_date: published_iso.get(..10).unwrap_or_default().to_owned(),
        published_iso,
        published_ago,
        size: human_size(entry.archive_size),
        digest,
        digest_short,
        keywords: meta.keywords.clone(),
        home: web_url(meta.home.as_deref()),
        sources: meta.sources.iter().filter_map(|s| web_url(Some(s))).collect(),
        maintainers: meta.maintainers.iter().map(|m| m.name.clone()).collect(),
        readme: None,
        values: None,
        schema: None,
        templates: None,
        dependencies: None,
        versions: None,
    }
}

#[cfg(test)]
mod tests {
    use super::{View, initials};

    #[test]
    fn initials_and_views() {
        assert_eq!(initials("postgresql-ha").0, "PH");
        assert_eq!(initials("redis").0, "R");
        assert_eq!(initials("redis"), initials("redis"), "the same colour every time");
        assert!(View::parse("values").is_some() && View::parse("").is_none() && View::parse("nope").is_none());
    }
}
