//! The rendered views of the Helm index — a namespace's repository, or every namespace a
//! caller may read — as chunks shared with per-chart fragments, so that after a change only
//! the changed chart is rendered and compressed again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use registry_core::store::StoreError;
use serde_json::Value;

use super::Entry;
use super::chunks::{self, Chunk};
use super::repo::Repo;

/// What one view of the index shows: a namespace's repository, or every readable namespace.
pub enum View<'a> {
    Namespace(&'a str),
    Global(&'a [String]),
}

impl View<'_> {
    /// The name a view's rendering is kept under.
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Self::Namespace(ns) => (*ns).to_owned(),
            Self::Global(namespaces) => format!("*{}", namespaces.join(",")),
        }
    }
}

type Chunks = Vec<Arc<Chunk>>;

/// A rendered index: its gzip forms (YAML and JSON), each the parts made of the chunks'
/// deflate forms (shared with the fragments, not copied); the plain text is these inflated as
/// they are sent.
pub struct Rendered {
    yaml: Arc<Vec<Bytes>>,
    json: Arc<Vec<Bytes>>,
    /// Plain lengths of the YAML and JSON text.
    plain: (u64, u64),
    pub etag: String,
    pub last_modified: std::time::SystemTime,
    /// No pack in this view.
    pub empty: bool,
}

/// A response body's parts, made as they are sent.
pub type Parts = Box<dyn Iterator<Item = Bytes> + Send>;

impl Rendered {
    /// The YAML (`json == false`) or JSON rendering, plain or gzip: its parts and length.
    #[must_use]
    pub fn body(&self, json: bool, gzip: bool) -> (Parts, u64) {
        let (parts, plain) = if json { (&self.json, self.plain.1) } else { (&self.yaml, self.plain.0) };
        if gzip {
            let length = parts.iter().map(|p| p.len() as u64).sum();
            let parts = Arc::clone(parts);
            (Box::new((0..parts.len()).map(move |i| parts[i].clone())), length)
        } else {
            (Box::new(chunks::inflated(Arc::clone(parts))), plain)
        }
    }
}

/// The rendered indexes of the views asked for since the last change, and the per-chart
/// fragments they are made of, which outlive changes to other charts.
#[derive(Default)]
pub(super) struct Views {
    /// View key (a namespace, or `*` + the readable namespaces) → rendered index.
    rendered: HashMap<String, Arc<Rendered>>,
    /// Chart name → view key → that chart's part of the view's index, so a push re-renders
    /// one chart, and an index is these parts joined.
    /// The view key is shared by its fragments: a registry-wide view's names every readable
    /// namespace (kilobytes at 500 namespaces), and a copy per chart took hundreds of MiB.
    fragments: HashMap<String, HashMap<Arc<str>, Arc<Fragment>>>,
    /// Registry-wide views whose fragments are kept, most recently rendered last (each
    /// distinct set of readable namespaces is a view of its own).
    kept_global: std::collections::VecDeque<String>,
}

/// The documents' heads, the same chunks in every render: the first chart's deflate form,
/// made after its head, stays valid from one render to the next.
static HEAD_YAML: std::sync::LazyLock<Arc<Chunk>> = std::sync::LazyLock::new(|| Chunk::new(Bytes::from_static(b"apiVersion: v1\nentries:\n")));
static HEAD_YAML_EMPTY: std::sync::LazyLock<Arc<Chunk>> = std::sync::LazyLock::new(|| Chunk::new(Bytes::from_static(b"apiVersion: v1\nentries: {}\n")));
static HEAD_JSON: std::sync::LazyLock<Arc<Chunk>> = std::sync::LazyLock::new(|| Chunk::new(Bytes::from_static(b"{\"apiVersion\":\"v1\",\"entries\":{")));

/// How many registry-wide views keep their fragments.
const GLOBAL_VIEWS_KEPT: usize = 8;

struct Fragment {
    /// `  <name>:\n  - ...` (indented under `entries:`).
    yaml: Arc<Chunk>,
    /// `,"<name>":[...]`: the separator is part of the chunk, so that each chunk of a document
    /// appears in it once. The first chart of a document goes without it, in a chunk made
    /// when the document is (one per document, not one more per chart).
    json: Arc<Chunk>,
    /// The JSON part when the chart is first: without the separator.
    first_json: std::sync::OnceLock<Arc<Chunk>>,
}

impl Fragment {
    /// Every chunk of the fragment made so far.
    fn chunks(&self) -> impl Iterator<Item = &Arc<Chunk>> {
        [&self.yaml, &self.json].into_iter().chain(self.first_json.get())
    }

    /// The JSON part of the first chart of a document (its text restored before the first
    /// call).
    fn first_json(&self) -> Arc<Chunk> {
        Arc::clone(self.first_json.get_or_init(|| Chunk::new(self.json.text().expect("restored before use").slice(1..))))
    }
}

fn indent(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + yaml.len() / 8);
    for line in yaml.lines() {
        if !line.is_empty() {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Renders one chart's versions, each with its download URL, as index fragments (newest
/// first).
fn render_fragment(name: &str, versions: Vec<(&Entry, String)>) -> Result<Fragment, StoreError> {
    let (yaml, json) = render_texts(name, versions)?;
    Ok(Fragment { yaml: Chunk::new(yaml), json: Chunk::new(json), first_json: std::sync::OnceLock::new() })
}

/// A chart's fragment texts: YAML (indented under `entries:`) and JSON (with its separator).
fn render_texts(name: &str, mut versions: Vec<(&Entry, String)>) -> Result<(String, String), StoreError> {
    versions.sort_by(|(a, _), (b, _)| Entry::newest_first(a, b));
    let entries: Vec<Value> = versions.into_iter().map(|(e, url)| e.helm_entry(url)).collect();
    let mut one = serde_json::Map::new();
    one.insert(name.to_owned(), Value::Array(entries));
    let one = Value::Object(one);
    let yaml = serde_saphyr::to_string(&one).map_err(|e| StoreError::Backend(format!("rendering index.yaml: {e}")))?;
    let json = serde_json::to_string(&one).expect("an index serialises");
    // `{"<name>":[...]}` → `,"<name>":[...]`
    Ok((indent(&yaml), format!(",{}", &json[1..json.len() - 1])))
}

/// A chart's versions in `repositories` (inflated), each with its download URL in `view`.
fn with_urls<'e, 'r>(view: &View<'_>, name: &str, repositories: &[&'r String], inflated: &'e HashMap<&'r String, Vec<Entry>>) -> Vec<(&'e Entry, String)> {
    repositories
        .iter()
        .flat_map(|repository| inflated[repository].iter().filter(|e| e.name == name))
        .map(|e| {
            let url = match view {
                View::Namespace(_) => format!("charts/{}", e.file_name()),
                View::Global(_) => format!("{}/charts/{}", e.namespace, e.file_name()),
            };
            (e, url)
        })
        .collect()
}

/// Notes the chart names a repository's versions carry, under each the repository.
fn add_names<'r>(by_name: &mut BTreeMap<&'r str, Vec<&'r String>>, repository: &'r String, repo: &'r Repo) {
    let mut names: Vec<&str> = repo.heads.iter().map(|h| &*h.name).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        by_name.entry(name).or_default().push(repository);
    }
}

impl Views {
    /// Bytes the kept fragments hold (their text, deflated, and their deflate forms).
    pub(super) fn held_bytes(&self) -> usize {
        self.fragments.values().flat_map(HashMap::values).flat_map(|f| f.chunks()).map(|c| c.held_bytes()).sum()
    }

    /// The rendered index of the view named `key`, if it is current.
    pub(super) fn get(&self, key: &str) -> Option<Arc<Rendered>> {
        self.rendered.get(key).cloned()
    }

    /// Renders a view's index from `repos`, made of its charts' fragments (rendered where
    /// missing, from one pass over the view's versions), and keeps it until a change.
    pub(super) fn render(
        &mut self,
        repos: &BTreeMap<String, Repo>,
        view: &View<'_>,
        key: String,
        etag: String,
        generated: std::time::SystemTime,
    ) -> Result<Arc<Rendered>, StoreError> {
        let (yaml, json) = self.chunks(repos, view, &key, &humantime::format_rfc3339_millis(generated).to_string())?;
        // A view without packs is its head and `generated` lines only.
        let empty = yaml.len() == 2;
        let plain = |chunks: &Chunks| chunks.iter().map(|c| c.len() as u64).sum();
        let rendered = Arc::new(Rendered {
            plain: (plain(&yaml), plain(&json)),
            yaml: Arc::new(chunks::gzip(&yaml)),
            json: Arc::new(chunks::gzip(&json)),
            etag,
            last_modified: generated,
            empty,
        });
        // Every chunk has its deflate form after its predecessor now: texts are let go until
        // a change needs them again.
        for chunk in yaml.iter().chain(&json) {
            chunk.let_go();
        }
        self.rendered.insert(key, Arc::clone(&rendered));
        Ok(rendered)
    }

    /// A view's document as chunks: head, one fragment per chart (kept, or rendered and kept
    /// now), tail.
    fn chunks(&mut self, repos: &BTreeMap<String, Repo>, view: &View<'_>, key: &str, generated: &str) -> Result<(Chunks, Chunks), StoreError> {
        // Chart name → the repositories holding versions of it, from the heads alone.
        let mut by_name: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        match view {
            View::Namespace(namespace) => {
                for (repository, repo) in super::in_namespace(repos, namespace) {
                    add_names(&mut by_name, repository, repo);
                }
            }
            View::Global(namespaces) => {
                for namespace in *namespaces {
                    for (repository, repo) in super::in_namespace(repos, namespace) {
                        add_names(&mut by_name, repository, repo);
                    }
                }
            }
        }
        // Repositories inflated for the fragments rendered now, each once and only until its
        // last chart name is rendered: holding every repository of a registry-wide view
        // inflated at once would take memory in proportion to the whole registry.
        let mut inflated: HashMap<&String, Vec<Entry>> = HashMap::new();
        let mut names_left: HashMap<&String, usize> = HashMap::new();
        for &repository in by_name.values().flatten() {
            *names_left.entry(repository).or_default() += 1;
        }
        let head = if by_name.is_empty() { &*HEAD_YAML_EMPTY } else { &*HEAD_YAML };
        let mut yaml = vec![Arc::clone(head)];
        let mut json = vec![Arc::clone(&HEAD_JSON)];
        let names: Vec<(&str, Vec<&String>)> = by_name.into_iter().collect();
        let mut fragments: Vec<Arc<Fragment>> = Vec::with_capacity(names.len());
        let shared_key: Arc<str> = Arc::from(key);
        for (name, versions) in &names {
            let fragment = if let Some(kept) = self.fragments.get(*name).and_then(|views| views.get(key)) {
                Arc::clone(kept)
            } else {
                for &repository in versions {
                    inflated.entry(repository).or_insert_with(|| repos.get(repository).map(|r| r.entries(repository)).unwrap_or_default());
                }
                let fragment = Arc::new(render_fragment(name, with_urls(view, name, versions, &inflated))?);
                self.fragments.entry((*name).to_owned()).or_default().insert(Arc::clone(&shared_key), Arc::clone(&fragment));
                fragment
            };
            for repository in versions {
                let left = names_left.get_mut(repository).expect("counted above");
                *left -= 1;
                if *left == 0 {
                    inflated.remove(repository);
                }
            }
            fragments.push(fragment);
        }
        // Texts let go that this render needs back: a chunk to be compressed after another
        // predecessor, and that predecessor (the dictionary). The first chart's JSON without
        // its separator is made from its text.
        let tail_yaml = Chunk::new(format!("generated: \"{generated}\"\n"));
        let tail_json = Chunk::new(format!("}},\"generated\":\"{generated}\"}}"));
        let mut wanted = vec![false; fragments.len()];
        if let Some(first) = fragments.first()
            && first.first_json.get().is_none()
        {
            wanted[0] = true;
        }
        for (i, fragment) in fragments.iter().enumerate() {
            let (yaml_before, json_before) = if i == 0 { (&yaml[0], &json[0]) } else { (&fragments[i - 1].yaml, &fragments[i - 1].json) };
            let json_here = if i == 0 { fragment.first_json.get().unwrap_or(&fragment.json) } else { &fragment.json };
            if fragment.yaml.deflated_after_id() != Some(yaml_before.id()) || json_here.deflated_after_id() != Some(json_before.id()) {
                wanted[i] = true;
                if i > 0 {
                    wanted[i - 1] = true;
                }
            }
        }
        if let Some(last) = wanted.last_mut() {
            // Before the tail, made now.
            *last = true;
        }
        for (i, fragment) in fragments.iter().enumerate().filter(|(i, _)| wanted[*i]) {
            if fragment.chunks().any(|c| c.text_let_go()) {
                let (name, versions) = &names[i];
                let mut inflated = HashMap::new();
                for &repository in versions {
                    inflated.insert(repository, repos.get(repository).map(|r| r.entries(repository)).unwrap_or_default());
                }
                let (yaml_text, json_text) = render_texts(name, with_urls(view, name, versions, &inflated))?;
                let json_text = Bytes::from(json_text);
                let first_text = json_text.slice(1..);
                let restored = fragment.yaml.restore(Bytes::from(yaml_text))
                    && fragment.json.restore(json_text)
                    && fragment.first_json.get().filter(|_| i == 0).is_none_or(|c| c.restore(first_text));
                if !restored {
                    return Err(StoreError::Backend(format!("the index fragment of {name} renders differently from when it was made")));
                }
            }
        }
        for (i, fragment) in fragments.iter().enumerate() {
            yaml.push(Arc::clone(&fragment.yaml));
            json.push(if i == 0 { fragment.first_json() } else { Arc::clone(&fragment.json) });
        }
        if matches!(view, View::Global(_)) {
            self.keep_global_view(key);
        }
        yaml.push(tail_yaml);
        json.push(tail_json);
        Ok((yaml, json))
    }

    /// Marks a registry-wide view as just rendered, dropping the fragments of the least
    /// recently rendered one beyond [`GLOBAL_VIEWS_KEPT`].
    fn keep_global_view(&mut self, key: &str) {
        self.kept_global.retain(|k| k != key);
        self.kept_global.push_back(key.to_owned());
        if self.kept_global.len() > GLOBAL_VIEWS_KEPT
            && let Some(oldest) = self.kept_global.pop_front()
        {
            for views in self.fragments.values_mut() {
                views.remove(oldest.as_str());
            }
        }
    }

    /// Forgets what a change to `namespace`'s chart `name` makes stale: that chart's part of
    /// the namespace's index and of every registry-wide one, and, when the namespace shows
    /// packs (`shown`), those rendered indexes.
    pub(super) fn forget_chart(&mut self, namespace: &str, name: &str, shown: bool) {
        if let Some(views) = self.fragments.get_mut(name) {
            views.retain(|key, _| &**key != namespace && !key.starts_with('*'));
        }
        if shown {
            self.rendered.retain(|key, _| key != namespace && !key.starts_with('*'));
        }
    }
}
