//! Full-text search over pack versions: a Tantivy index on disk (or in memory), kept current
//! by the same change-sequence follower as the Helm index, each commit recording the change
//! sequence number it reflects so a restart only applies what changed since. Fields by weight:
//! name, then display name, description and repository, then keywords, maintainers and
//! annotations, then, far below, the README (a long README names many other products: a word
//! there must not weigh like a keyword). Every word must match somewhere; the last one also
//! as a prefix, longer ones also with typos (not in the README); `"quoted words"` match as a
//! phrase. Ranking: an exact name first, then names starting with the query (shortest first),
//! then the name with a typo; then packs the words match outside their README before those
//! only their README names; deprecated packs after current ones, then relevance, then recency.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, TantivyDocument, TextFieldIndexing, TextOptions, Value as _};
use tantivy::tokenizer::{Language, LowerCaser, SimpleTokenizer, Stemmer, TextAnalyzer};
use tantivy::{DocAddress, DocId, Index, IndexReader, IndexSettings, IndexWriter, Order, Score, Searcher, SegmentReader, Term, doc};

use super::index::Entry;
use automata::Automata;
use facets::FacetCounter;
use ranking::Ranking;

mod automata;
mod facets;
mod ranking;

/// A repository's versions, newest first, each with its README.
pub type Versions = Vec<(Entry, Option<String>)>;

/// Most words of a query used; the rest are ignored.
const MAX_TERMS: usize = 16;
/// Longest word used.
const MAX_TERM_LEN: usize = 64;
/// Bumped whenever the schema or what goes into a document changes: an index written with
/// another version is rebuilt at start.
const SCHEMA_VERSION: u32 = 10;
/// Deepest page served; a later offset gets an empty page (and the total).
const MAX_OFFSET: usize = 100_000;
/// The score of one ranking tier, far above any relevance score.
const TIER: f32 = 100_000.0;
/// What the marks of the parts of a query matched outside the README add up to at most: below
/// a tier, above any relevance score.
const OUTSIDE_README: f32 = TIER / 2.0;
/// The annotation a display name is read from (Artifact Hub's).
const DISPLAY_NAME: &str = "artifacthub.io/displayName";

struct Fields {
    name: Field,
    name_exact: Field,
    name_len: Field,
    /// Every text of the pack but its README at once, for prefix and typo matching (one automaton per word
    /// instead of one per field).
    all: Field,
    display_name: Field,
    description: Field,
    repository_text: Field,
    keywords: Field,
    maintainers: Field,
    annotations: Field,
    readme: Field,
    namespace: Field,
    repository: Field,
    version: Field,
    app_version: Field,
    icon: Field,
    deprecated: Field,
    signed: Field,
    signature: Field,
    updated: Field,
    kind: Field,
}

impl Fields {
    fn schema() -> (Schema, Self) {
        let mut b = Schema::builder();
        // Prose is stemmed (English), so `autoscaler` finds `autoscaling` and plurals match.
        let prose = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer("en_stem").set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Self {
            name: b.add_text_field("name", TEXT | STORED),
            name_exact: b.add_text_field("name_exact", STRING | FAST),
            name_len: b.add_u64_field("name_len", FAST),
            all: b.add_text_field("all", TEXT),
            display_name: b.add_text_field("display_name", TEXT | STORED),
            description: b.add_text_field("description", prose.clone() | STORED),
            repository_text: b.add_text_field("repository_text", TEXT),
            keywords: b.add_text_field("keywords", prose.clone()),
            maintainers: b.add_text_field("maintainers", TEXT),
            annotations: b.add_text_field("annotations", TEXT),
            readme: b.add_text_field("readme", prose),
            namespace: b.add_text_field("namespace", STRING | STORED | FAST),
            repository: b.add_text_field("repository", STRING | STORED),
            version: b.add_text_field("version", STORED),
            app_version: b.add_text_field("app_version", STORED),
            icon: b.add_text_field("icon", STORED),
            deprecated: b.add_u64_field("deprecated", INDEXED | STORED | FAST),
            signed: b.add_u64_field("signed", INDEXED | STORED | FAST),
            signature: b.add_text_field("signature", STORED),
            updated: b.add_i64_field("updated", STORED | FAST),
            kind: b.add_text_field("kind", STRING | STORED | FAST),
        };
        (b.build(), fields)
    }
}

/// What a commit records: which schema wrote the index and which change it reflects.
#[derive(Serialize, Deserialize)]
struct Payload {
    schema: u32,
    /// The database the index was built from.
    store: String,
    seq: i64,
}

pub struct SearchIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    dir: Option<std::path::PathBuf>,
    store_id: String,
    /// The namespaces the documents of a searcher generation belong to (by generation id),
    /// read once per generation from its term dictionaries: what a namespace filter leaves out.
    held: Mutex<Option<(u64, Arc<BTreeSet<String>>)>>,
    /// Every document was replaced since the last commit: that commit merges the index into
    /// one segment.
    rebuilt: std::sync::atomic::AtomicBool,
}

/// One search result: the latest version of a pack.
#[derive(Debug, Clone)]
pub struct Hit {
    pub repository: String,
    pub namespace: String,
    pub name: String,
    pub display_name: Option<String>,
    pub version: String,
    pub app_version: Option<String>,
    /// The icon URL the pack gives.
    pub icon: Option<String>,
    pub description: Option<String>,
    pub kind: String,
    pub deprecated: bool,
    /// Signature status (`verified`, `unverified`, `invalid`, ...) when the pack has one.
    pub signature: Option<String>,
    /// Milliseconds since the epoch.
    pub updated: i64,
}

impl Hit {
    /// Signed with a key the namespace trusts.
    #[must_use]
    pub fn signed(&self) -> bool {
        self.signature.as_deref() == Some(SIGNED)
    }
}

/// The signature status that counts as signed.
const SIGNED: &str = "verified";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Relevance,
    LastUpdated,
    Name,
}

/// A search: the words, where to look, which filters, which page.
#[derive(Debug, Clone)]
pub struct Request {
    pub query: String,
    /// Namespaces searched (already limited to those the caller may read).
    pub namespaces: Vec<String>,
    /// `helm` / `sherpack`; empty: both.
    pub kinds: Vec<String>,
    /// `Some(false)`: current packs only, `Some(true)`: deprecated only, `None`: both.
    pub deprecated: Option<bool>,
    pub signed: Option<bool>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
    /// Count matches per namespace, kind, deprecation and signature (over the words and the
    /// readable namespaces, before the other filters).
    pub facets: bool,
}

impl Request {
    #[must_use]
    pub fn new(query: &str, namespaces: Vec<String>) -> Self {
        Self {
            query: query.to_owned(),
            namespaces,
            kinds: Vec::new(),
            deprecated: None,
            signed: None,
            sort: Sort::Relevance,
            offset: 0,
            limit: 20,
            facets: false,
        }
    }
}

/// Match counts per facet value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    pub namespaces: BTreeMap<String, u64>,
    pub kinds: BTreeMap<String, u64>,
    pub deprecated: u64,
    pub signed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Results {
    pub hits: Vec<Hit>,
    /// Matches in all pages.
    pub total: usize,
    pub facets: Option<Facets>,
}

/// Typos allowed grow with the word: none under 5 letters, one, two from 9.
fn typos_for(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Lowercase words, as the default tokenizer splits them.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.len() <= MAX_TERM_LEN)
        .map(str::to_lowercase)
}

/// A part of a query: a word, or words in quotes.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Word(String),
    Phrase(Vec<String>),
}

/// Splits a query into words and quoted phrases (an unclosed quote runs to the end; a quoted
/// single word matches exactly, without prefix or typos). Query syntax is otherwise text.
fn parse(query: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    for (i, segment) in query.split('"').enumerate() {
        if i % 2 == 0 {
            parts.extend(tokens(segment).map(Part::Word));
        } else {
            let words: Vec<String> = tokens(segment).collect();
            if !words.is_empty() {
                parts.push(Part::Phrase(words));
            }
        }
    }
    parts.truncate(MAX_TERMS);
    parts
}

fn boxed(q: impl Query) -> Box<dyn Query> {
    Box::new(q)
}

/// A word as the stemmed fields hold it.
fn stem(word: &str) -> String {
    let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default()).filter(LowerCaser).filter(Stemmer::new(Language::English)).build();
    let mut stream = analyzer.token_stream(word);
    if stream.advance() { stream.token().text.clone() } else { word.to_owned() }
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    boxed(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs))
}

fn any_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    boxed(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Should, q)).collect()))
}

fn all_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    boxed(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Must, q)).collect()))
}

impl SearchIndex {
    /// The index in `dir` (created, or rebuilt empty when it is missing, unreadable or written
    /// with another schema), or in memory; and the change sequence number it reflects.
    pub fn open(dir: Option<&Path>, store_id: &str) -> Result<(Self, Option<i64>), String> {
        let (schema, fields) = Fields::schema();
        let (index, seq) = match dir {
            None => (Index::builder().schema(schema).settings(Self::settings()).create_in_ram().map_err(|e| format!("creating the search index in memory: {e}"))?, None),
            Some(dir) => {
                let existing = Index::open_in_dir(dir).ok().and_then(|index| {
                    let payload: Payload = serde_json::from_str(index.load_metas().ok()?.payload.as_deref()?).ok()?;
                    (payload.schema == SCHEMA_VERSION && payload.store == store_id).then_some((index, payload.seq))
                });
                if let Some((index, seq)) = existing {
                    (index, Some(seq))
                } else {
                    if dir.exists() {
                        tracing::info!(dir = %dir.display(), "the search index is stale or unreadable: rebuilding it");
                        std::fs::remove_dir_all(dir).map_err(|e| format!("removing the stale search index {}: {e}", dir.display()))?;
                    }
                    std::fs::create_dir_all(dir).map_err(|e| format!("creating the search index directory {}: {e}", dir.display()))?;
                    let index = Index::builder().schema(schema).settings(Self::settings()).create_in_dir(dir);
                    (index.map_err(|e| format!("creating the search index in {}: {e}", dir.display()))?, None)
                }
            }
        };
        let writer = index.writer_with_num_threads(1, 30_000_000).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => format!(
                "the search index in {} is in use by another process (a server already running on it? every server needs its own search.index_dir)",
                dir.map(|d| d.display().to_string()).unwrap_or_default()
            ),
            other => format!("opening the search index writer: {other}"),
        })?;
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| format!("opening the search index reader: {e}"))?;
        Ok((Self { reader, writer: Mutex::new(writer), fields, dir: dir.map(Path::to_owned), store_id: store_id.to_owned(), held: Mutex::new(None), rebuilt: std::sync::atomic::AtomicBool::new(false) }, seq))
    }

    /// Stored documents in blocks of a few: a page of results reads (and decompresses) one
    /// block per hit, and tantivy's default blocks of 16 KiB hold some fifty packs each.
    fn settings() -> IndexSettings {
        IndexSettings { docstore_blocksize: 2048, ..IndexSettings::default() }
    }

    /// Adds a pack's latest version: what identifies it (name, version, namespace, flags, time)
    /// and its text.
    fn add(&self, writer: &IndexWriter, entry: &Entry, readme: Option<&str>) -> tantivy::Result<()> {
        let f = &self.fields;
        let m = &entry.meta;
        let signature = entry.signature.as_ref().map(|s| s.status.as_str());
        let display_name = m.annotations.get(DISPLAY_NAME).map(String::as_str);
        let mut document = doc!(
            f.name => entry.name.clone(),
            f.name_exact => entry.name.to_lowercase(),
            f.name_len => entry.name.chars().count() as u64,
            f.namespace => entry.namespace.clone(),
            f.repository => entry.repository.clone(),
            f.version => entry.version.clone(),
            f.deprecated => u64::from(m.deprecated),
            f.signed => u64::from(signature == Some(SIGNED)),
            f.updated => entry.created_at,
            f.kind => m.kind.as_str().to_owned(),
        );
        let mut text = |field, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                document.add_text(field, v);
            }
        };
        text(f.app_version, m.app_version.as_deref());
        text(f.icon, m.icon.as_deref());
        text(f.signature, signature);
        text(f.display_name, display_name);
        text(f.description, m.description.as_deref());
        let maintainers: Vec<String> = m.maintainers.iter().map(|x| format!("{} {}", x.name, x.email.clone().unwrap_or_default())).collect();
        let annotations: Vec<String> = m.annotations.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let (keywords, maintainers, annotations) = (m.keywords.join(" "), maintainers.join(" "), annotations.join(" "));
        let everything = [Some(entry.name.as_str()), display_name, m.description.as_deref(), Some(entry.repository.as_str()), Some(&keywords), Some(&maintainers), Some(&annotations)];
        text(f.all, Some(&everything.into_iter().flatten().collect::<Vec<_>>().join("\n")));
        text(f.repository_text, Some(&entry.repository));
        text(f.keywords, Some(&keywords));
        text(f.maintainers, Some(&maintainers));
        text(f.annotations, Some(&annotations));
        text(f.readme, readme);
        writer.add_document(document)?;
        Ok(())
    }

    /// Replaces every document of these repositories with their current latest version (the
    /// first of their versions, newest first), or, with `all`, every document with these; and,
    /// given `commit`, commits: the index then reflects that change sequence number. Only the
    /// latest version of a pack is a document: results come from it alone, and a query that
    /// matched every version would visit twenty documents per pack to keep one.
    pub fn apply(&self, repositories: &[(String, Versions)], all: bool, commit: Option<i64>) -> tantivy::Result<()> {
        let mut writer = self.writer.lock().expect("not poisoned");
        if all {
            writer.delete_all_documents()?;
            self.rebuilt.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for (repository, versions) in repositories {
            if !all {
                writer.delete_term(Term::from_field_text(self.fields.repository, repository));
            }
            if let Some((entry, readme)) = versions.first() {
                self.add(&writer, entry, readme.as_deref())?;
            }
        }
        let Some(seq) = commit else { return Ok(()) };
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(&serde_json::to_string(&Payload { schema: SCHEMA_VERSION, store: self.store_id.clone(), seq }).expect("serialises"));
        commit.commit()?;
        self.reader.reload()?;
        // A rebuild leaves one segment per writer flush (seven at 50,000 packs), and every
        // prefix or typo term walks each segment's term dictionary: merged into one, such a
        // search costs a fraction. Later changes add small segments, merged by tantivy's policy.
        // (The segment list is read from `meta.json`: only after a rebuild, not on every push.)
        if self.rebuilt.swap(false, std::sync::atomic::Ordering::Relaxed) {
            let segments = writer.index().searchable_segment_ids()?;
            if segments.len() > 1 {
                // Refused when tantivy's own policy is merging some of them already: not an error.
                match writer.merge(&segments).wait() {
                    Ok(_) => self.reader.reload()?,
                    Err(e) => tracing::warn!(error = %e, "merging the rebuilt search index into one segment"),
                }
            }
        }
        Ok(())
    }

    /// The query for the words of a search (everything when there are none): each part must
    /// match, in the README or elsewhere. With `per_part_outside`, each part matched outside
    /// the README adds that much to the score, so that [`ranking::outside_readme`] can tell from the
    /// score alone whether every part did (one pass: a second query for it, without the README,
    /// cost as much as the search itself).
    /// Without `readme_too`, each part must match outside the README.
    fn text_query(&self, parts: &[Part], per_part_outside: Option<f32>, readme_too: bool, automata: &mut Automata) -> Box<dyn Query> {
        if parts.is_empty() {
            return boxed(AllQuery);
        }
        let f = &self.fields;
        // Exact words, weighted by where they are found (and whether that field is stemmed).
        let weighted = [
            (f.name, 6.0, false),
            (f.display_name, 2.0, false),
            (f.description, 2.0, true),
            (f.repository_text, 2.0, false),
            (f.keywords, 1.5, true),
            (f.maintainers, 1.0, false),
            (f.annotations, 1.0, false),
        ];
        let readme = (f.readme, 0.15, true);
        let form = |word: &str, stemmed: bool| if stemmed { stem(word) } else { word.to_owned() };
        let mut musts = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let mut shoulds: Vec<Box<dyn Query>> = Vec::new();
            // The part in one weighted field.
            let in_field = |&(field, boost, stemmed): &(Field, f32, bool)| -> Box<dyn Query> {
                match part {
                    Part::Phrase(words) if words.len() > 1 => boxed(BoostQuery::new(boxed(PhraseQuery::new(words.iter().map(|w| Term::from_field_text(field, &form(w, stemmed))).collect())), boost)),
                    Part::Phrase(words) => boxed(BoostQuery::new(term_query(field, &form(&words[0], stemmed)), boost)),
                    Part::Word(word) => boxed(BoostQuery::new(term_query(field, &form(word, stemmed)), boost)),
                }
            };
            shoulds.extend(weighted.iter().map(in_field));
            if let Part::Word(word) = part {
                // Prefixes and typos: on the name (it weighs most) and on everything at once.
                let typos = typos_for(word);
                for (field, boost) in [(f.name, 6.0), (f.all, 1.0)] {
                    if last {
                        shoulds.push(boxed(BoostQuery::new(automata.query(field, word, typos.min(1), true, true), boost * 0.6)));
                    }
                    if typos > 0 {
                        shoulds.push(boxed(BoostQuery::new(automata.query(field, word, typos, true, false), boost * 0.4)));
                    }
                }
            }
            let outside = match per_part_outside {
                Some(mark) => boxed(BooleanQuery::new(vec![(Occur::Must, any_of(shoulds)), (Occur::Should, boxed(ConstScoreQuery::new(boxed(AllQuery), mark)))])),
                None => any_of(shoulds),
            };
            musts.push(if readme_too { any_of(vec![outside, in_field(&readme)]) } else { outside });
        }
        all_of(musts)
    }

    /// Constant scores that put names answering the whole query first: the exact name (4; it
    /// also starts with the query and is within the typos: 7 in all), a name starting with the
    /// query (2, or 3 when also within the typos), a name within the typos allowed (1). Added
    /// to a relevance score far below a tier; [`rank`] turns the sum back into a tier.
    fn name_tiers(&self, exact: &str, automata: &mut Automata) -> Vec<Box<dyn Query>> {
        if exact.is_empty() {
            return Vec::new();
        }
        let field = self.fields.name_exact;
        let typos = typos_for(exact);
        let mut tiers = vec![
            boxed(ConstScoreQuery::new(boxed(TermQuery::new(Term::from_field_text(field, exact), IndexRecordOption::Basic)), 4.0 * TIER)),
            boxed(ConstScoreQuery::new(automata.query(field, exact, 0, false, true), 2.0 * TIER)),
        ];
        if typos > 0 {
            tiers.push(boxed(ConstScoreQuery::new(automata.query(field, exact, typos, true, false), TIER)));
        }
        tiers
    }

    /// A flag required set, or required unset. "Unset" is "not set" rather than "0": nearly
    /// every pack is current, so "0" would be visited for every match, while the few set are
    /// skipped over.
    fn is_set(field: Field, value: bool) -> (Occur, Box<dyn Query>) {
        let set = boxed(TermQuery::new(Term::from_field_u64(field, 1), IndexRecordOption::Basic));
        (if value { Occur::Must } else { Occur::MustNot }, set)
    }

    fn one_of(field: Field, values: &[String]) -> Box<dyn Query> {
        any_of(values.iter().map(|v| boxed(TermQuery::new(Term::from_field_text(field, v), IndexRecordOption::Basic))).collect())
    }

    /// The namespaces `searcher`'s documents belong to (a namespace whose documents were all
    /// deleted may still be named until its segment is merged).
    fn namespaces_held(&self, searcher: &Searcher) -> tantivy::Result<Arc<BTreeSet<String>>> {
        let generation = searcher.generation().generation_id();
        if let Some((of, held)) = &*self.held.lock().expect("not poisoned")
            && *of == generation
        {
            return Ok(Arc::clone(held));
        }
        let mut held = BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.namespace)?;
            let mut terms = inverted.terms().stream()?;
            while terms.advance() {
                held.insert(String::from_utf8_lossy(terms.key()).into_owned());
            }
        }
        let held = Arc::new(held);
        *self.held.lock().expect("not poisoned") = Some((generation, Arc::clone(&held)));
        Ok(held)
    }

    /// What keeps a search to `namespaces` (not empty): nothing when they are every namespace
    /// `searcher` holds, else the shorter of "one of these" and "none of the others". A filter
    /// naming hundreds of namespaces would visit every document of each on every search, so a
    /// search's cost would grow with the registry rather than with what it finds.
    fn namespace_filter(&self, searcher: &Searcher, namespaces: &[String]) -> tantivy::Result<Option<Box<dyn Query>>> {
        let held = self.namespaces_held(searcher)?;
        // Every namespace, in order (as a caller who may read them all asks): nothing to hash.
        if held.iter().eq(namespaces) {
            return Ok(None);
        }
        let wanted: HashSet<&str> = namespaces.iter().map(String::as_str).collect();
        let others: Vec<String> = held.iter().filter(|n| !wanted.contains(String::as_str(n))).cloned().collect();
        Ok(if others.is_empty() {
            None
        } else if others.len() < wanted.len() {
            Some(boxed(BooleanQuery::new(vec![(Occur::Must, boxed(AllQuery)), (Occur::MustNot, Self::one_of(self.fields.namespace, &others))])))
        } else {
            Some(Self::one_of(self.fields.namespace, namespaces))
        })
    }

    /// The latest versions matching a request, one page of them ranked, how many match, and
    /// the facet counts when asked.
    pub fn search(&self, request: &Request) -> tantivy::Result<Results> {
        if request.namespaces.is_empty() {
            return Ok(Results { facets: request.facets.then(Facets::default), ..Results::default() });
        }
        let f = &self.fields;
        let parts = parse(&request.query);
        // Shared by every field and pass of this search.
        let mut automata = Automata::default();
        // Words and readable namespaces: what the facets count.
        let searcher = self.reader.searcher();
        // At most MAX_TERMS parts.
        let parts_count = u16::try_from(parts.len()).unwrap_or(u16::MAX);
        let per_part_outside = (request.sort == Sort::Relevance && !parts.is_empty()).then(|| per_part_outside(parts_count));
        let base: Vec<Box<dyn Query>> = std::iter::once(self.text_query(&parts, per_part_outside, true, &mut automata)).chain(self.namespace_filter(&searcher, &request.namespaces)?).collect();
        let facets = if request.facets { Some(searcher.search(&*all_of(clone_all(&base)), &FacetCounter)?) } else { None };
        let mut filters: Vec<(Occur, Box<dyn Query>)> = base.into_iter().map(|q| (Occur::Must, q)).collect();
        filters.extend(request.deprecated.map(|deprecated| Self::is_set(f.deprecated, deprecated)));
        filters.extend(request.signed.map(|signed| Self::is_set(f.signed, signed)));
        if !request.kinds.is_empty() {
            filters.push((Occur::Must, Self::one_of(f.kind, &request.kinds)));
        }
        let query = boxed(BooleanQuery::new(filters));
        let beyond = request.offset > MAX_OFFSET;
        let page = || if beyond { TopDocs::with_limit(1) } else { TopDocs::with_limit(request.limit.max(1)).and_offset(request.offset) };
        let (addresses, total): (Vec<DocAddress>, usize) = match request.sort {
            Sort::LastUpdated => {
                let (top, total) = searcher.search(&*query, &(page().order_by_fast_field::<i64>("updated", Order::Desc), Count))?;
                (top.into_iter().map(|(_, a)| a).collect(), total)
            }
            Sort::Name => {
                let (top, total) = searcher.search(&*query, &(page().order_by_string_fast_field("name_exact", Order::Asc), Count))?;
                (top.into_iter().map(|(_, a)| a).collect(), total)
            }
            Sort::Relevance => {
                let ranking = || Ranking { parts: parts_count, per_part_outside, deprecation_filtered: request.deprecated.is_some() };
                let wanted = if beyond { 1 } else { request.offset.saturating_add(request.limit.max(1)) };
                let tiers = self.name_tiers(&request.query.trim().trim_matches('"').to_lowercase(), &mut automata);
                let above = if self.readme_names_most(&searcher, &parts)? {
                    Some(any_of(std::iter::once(self.text_query(&parts, None, false, &mut automata)).chain(clone_all(&tiers)).collect()))
                } else {
                    None
                };
                let (top, total) = Self::relevance(&searcher, query, &tiers, above, wanted, || page().order_by(ranking()))?;
                (top.into_iter().map(|(_, a)| a).collect(), total)
            }
        };
        let mut hits = Vec::with_capacity(addresses.len());
        for address in addresses.into_iter().filter(|_| !beyond) {
            hits.push(self.hit(&searcher.doc(address)?));
        }
        Ok(Results { hits, total, facets })
    }

    /// The best `wanted` matches of `query` by [`Ranking`] with the name `tiers`, and how many
    /// match. Packs named like the query, or matched outside their README, rank above all
    /// others: when the query is a word most READMEs name (`backup`, `cluster`), `above` finds
    /// them, and when they fill the page the others are counted, not scored (at 50,000 packs,
    /// 1.0 ms instead of 1.3 for `backup`).
    fn relevance<C>(
        searcher: &Searcher,
        query: Box<dyn Query>,
        tiers: &[Box<dyn Query>],
        above: Option<Box<dyn Query>>,
        wanted: usize,
        ranked: impl Fn() -> C,
    ) -> tantivy::Result<(Vec<(ranking::Key, DocAddress)>, usize)>
    where
        C: Collector<Fruit = Vec<(ranking::Key, DocAddress)>>,
    {
        let with_tiers = |query: Box<dyn Query>| BooleanQuery::new(std::iter::once((Occur::Must, query)).chain(tiers.iter().map(|q| (Occur::Should, q.box_clone()))).collect());
        if let Some(above) = above {
            // Scored as before: the filter adds nothing.
            let first = with_tiers(all_of(vec![query.box_clone(), boxed(ConstScoreQuery::new(above, 0.0))]));
            let (top, found) = searcher.search(&first, &(ranked(), Count))?;
            if found >= wanted {
                return Ok((top, searcher.search(&*query, &Count)?));
            }
        }
        searcher.search(&with_tiers(query), &(ranked(), Count))
    }

    /// Whether the query is one word, found in the README of most packs (a quarter or more).
    /// (With several words, the packs matching them all outside their README were often too
    /// few to fill a page, and the search ran twice: 1.8 ms instead of 1.0 for `kafka stream
    /// cluster` at 50,000 packs.)
    fn readme_names_most(&self, searcher: &Searcher, parts: &[Part]) -> tantivy::Result<bool> {
        let [Part::Word(word)] = parts else { return Ok(false) };
        Ok(searcher.doc_freq(&Term::from_field_text(self.fields.readme, &stem(word)))? > searcher.num_docs() / 4)
    }

    fn hit(&self, d: &TantivyDocument) -> Hit {
        let f = &self.fields;
        let text = |field: Field| d.get_first(field).and_then(|v| v.as_str()).map(str::to_owned);
        Hit {
            repository: text(f.repository).unwrap_or_default(),
            namespace: text(f.namespace).unwrap_or_default(),
            name: text(f.name).unwrap_or_default(),
            display_name: text(f.display_name),
            version: text(f.version).unwrap_or_default(),
            app_version: text(f.app_version),
            icon: text(f.icon),
            description: text(f.description),
            kind: text(f.kind).unwrap_or_default(),
            deprecated: d.get_first(f.deprecated).and_then(|v| v.as_u64()) == Some(1),
            signature: text(f.signature),
            updated: d.get_first(f.updated).and_then(|v| v.as_i64()).unwrap_or_default(),
        }
    }

    /// Packs whose name starts with `prefix` (or has a word starting with it), for
    /// autocompletion: names starting with it first, shorter names first, then the newest.
    pub fn suggest(&self, prefix: &str, namespaces: &[String], limit: usize) -> tantivy::Result<Vec<Hit>> {
        let words: Vec<String> = tokens(prefix).take(MAX_TERMS).collect();
        if namespaces.is_empty() || words.is_empty() {
            return Ok(Vec::new());
        }
        let f = &self.fields;
        let mut automata = Automata::default();
        let mut musts: Vec<Box<dyn Query>> = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i + 1 == words.len() {
                    automata.query(f.name, w, 0, true, true)
                } else {
                    term_query(f.name, w)
                }
            })
            .collect();
        let searcher = self.reader.searcher();
        musts.extend(self.namespace_filter(&searcher, namespaces)?);
        let typed = prefix.trim().to_lowercase();
        let tiers = [
            boxed(ConstScoreQuery::new(boxed(TermQuery::new(Term::from_field_text(f.name_exact, &typed), IndexRecordOption::Basic)), 2.0)),
            boxed(ConstScoreQuery::new(automata.query(f.name_exact, &typed, 0, false, true), 1.0)),
        ];
        let query = BooleanQuery::new(std::iter::once((Occur::Must, all_of(musts))).chain(tiers.into_iter().map(|q| (Occur::Should, q))).collect());
        let ranked = TopDocs::with_limit(limit.max(1)).tweak_score(move |segment: &SegmentReader| {
            let fast = segment.fast_fields();
            let lengths = fast.u64("name_len").ok().map(|c| c.first_or_default_col(0));
            let updated = fast.i64("updated").ok().map(|c| c.first_or_default_col(0));
            move |doc: DocId, score: Score| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 to 3
                let tier = score.floor() as u8;
                (tier, std::cmp::Reverse(lengths.as_ref().map_or(0, |c| c.get_val(doc))), updated.as_ref().map_or(0, |c| c.get_val(doc)))
            }
        });
        let top = searcher.search(&query, &ranked)?;
        top.into_iter().map(|(_, address)| Ok(self.hit(&searcher.doc(address)?))).collect()
    }

    #[must_use]
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Bytes the index takes on disk (0 in memory).
    #[must_use]
    pub fn size_on_disk(&self) -> u64 {
        let Some(dir) = &self.dir else { return 0 };
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).filter(std::fs::Metadata::is_file).map(|m| m.len()).sum()
        })
    }
}

/// The mark of each of `parts` parts matched outside the README: a power of two, so that the
/// marks add up exactly, together at most [`OUTSIDE_README`].
fn per_part_outside(parts: u16) -> f32 {
    const MOST: u16 = 50_000;
    const _: () = assert!(MOST as f32 <= OUTSIDE_README);
    let most = (MOST / parts.max(1)).max(1);
    f32::from(1u16 << most.ilog2())
}

fn clone_all(queries: &[Box<dyn Query>]) -> Vec<Box<dyn Query>> {
    queries.iter().map(|q| q.box_clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::{Entry, Part, Request, SearchIndex, parse};

    fn entry(namespace: &str, name: &str) -> (Entry, Option<String>) {
        let meta = serde_json::from_value(serde_json::json!({"kind": "helm", "name": name, "version": "1.0.0", "api_version": "v2", "description": "a web server"})).unwrap();
        let entry = Entry {
            repository: format!("{namespace}/{name}"),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            semver: semver::Version::new(1, 0, 0),
            archive_digest: registry_core::Digest::of(name.as_bytes()),
            archive_size: 1,
            created_at: 1,
            meta,
            signature: None,
        };
        (entry, None)
    }

    fn found(index: &SearchIndex, query: &str, namespaces: &[&str]) -> Vec<String> {
        let namespaces: Vec<String> = namespaces.iter().map(|&n| n.to_owned()).collect();
        let mut hits: Vec<String> = index.search(&Request::new(query, namespaces.clone())).unwrap().hits.into_iter().map(|h| h.repository).collect();
        hits.sort();
        let mut suggested: Vec<String> = index.suggest("web", &namespaces, 20).unwrap().into_iter().map(|h| h.repository).collect();
        suggested.sort();
        assert_eq!(hits, suggested, "search and completion keep to the same namespaces");
        hits
    }

    #[test]
    #[allow(clippy::float_cmp)] // sums of powers of two: exact
    fn packs_matched_outside_their_readme_by_every_word_rank_first() {
        let (index, _) = SearchIndex::open(None, "store").unwrap();
        let with = |name: &str, description: &str, readme: &str| {
            let (mut entry, _) = entry("team", name);
            entry.meta.description = Some(description.to_owned());
            (entry, Some(readme.to_owned()))
        };
        // `gateway` is named after one word (its name weighs most) and names the other only in
        // its README, again and again; `both` names both words once, outside it; `readme`
        // names them only in its README.
        let packs = [
            with("gateway", "an api gateway", &"proxy ".repeat(50)),
            with("both", "a gateway in front of a proxy", "nothing here"),
            with("readme", "something else", &"gateway proxy ".repeat(50)),
        ];
        let versions: Vec<(String, super::Versions)> = packs.into_iter().map(|(e, r)| (e.repository.clone(), vec![(e, r)])).collect();
        index.apply(&versions, true, Some(1)).unwrap();
        let ranked: Vec<String> = index.search(&Request::new("gateway proxy", vec!["team".to_owned()])).unwrap().hits.into_iter().map(|h| h.name).collect();
        assert_eq!(ranked[0], "both", "{ranked:?}");
        assert_eq!(ranked.len(), 3, "README matches count too: {ranked:?}");
        for (parts, mark) in [(1, 32_768.0), (3, 16_384.0), (16, 2_048.0)] {
            assert_eq!(super::per_part_outside(parts), mark);
            let marked = mark * f32::from(parts);
            assert_eq!(super::ranking::outside_readme(marked + 12.5, parts, Some(mark)), (true, 12.5));
            assert_eq!(super::ranking::outside_readme(marked - mark + 12.5, parts, Some(mark)), (false, 12.5));
        }
    }

    #[test]
    fn a_word_every_readme_names_ranks_and_counts_alike_on_every_page() {
        let (index, _) = SearchIndex::open(None, "store").unwrap();
        // Every README names `backup`; 25 packs also name it outside their README, in a
        // description that names it fewer times the further down the list.
        let packs: Vec<(String, super::Versions)> = (0..40)
            .map(|i| {
                let (mut entry, _) = entry("team", &format!("pack-{i:02}"));
                entry.meta.description = Some(if i < 25 { format!("keeps {} of your volumes", "backup ".repeat(25 - i)) } else { "keeps volumes".to_owned() });
                (entry.repository.clone(), vec![(entry, Some(format!("how to restore a backup of pack {i}")))])
            })
            .collect();
        index.apply(&packs, true, Some(1)).unwrap();
        // The first page is filled by packs naming `backup` outside their README, the second
        // is not: each page is ranked its own way, and they must agree.
        let page = |offset: usize| {
            let mut request = Request::new("backup", vec!["team".to_owned()]);
            (request.offset, request.limit) = (offset, 20);
            let results = index.search(&request).unwrap();
            (results.total, results.hits.into_iter().map(|h| h.name).collect::<Vec<_>>())
        };
        let (first_total, first) = page(0);
        let (second_total, second) = page(20);
        assert_eq!((first_total, second_total), (40, 40), "README matches count on every page");
        let all: Vec<String> = first.into_iter().chain(second).collect();
        let outside: Vec<String> = (0..25).map(|i| format!("pack-{i:02}")).collect();
        assert_eq!(all[..25], outside[..], "packs naming it outside their README first, the most relevant first");
        let mut rest = all[25..].to_vec();
        rest.sort();
        assert_eq!(rest, (25..40).map(|i| format!("pack-{i:02}")).collect::<Vec<_>>(), "then the others, each once");
    }

    #[test]
    fn searches_keep_to_the_namespaces_given_however_the_filter_is_made() {
        let (index, _) = SearchIndex::open(None, "test").unwrap();
        let add = |entries: &[(&str, &str)], seq| {
            let repositories: Vec<_> = entries.iter().map(|&(ns, name)| (format!("{ns}/{name}"), vec![entry(ns, name)])).collect();
            index.apply(&repositories, false, Some(seq)).unwrap();
        };
        add(&[("a", "web-a"), ("b", "web-b"), ("c", "web-c")], 1);
        // Every namespace (no filter), all but one (filtered by the one left out), one (by it).
        assert_eq!(found(&index, "web", &["a", "b", "c"]), ["a/web-a", "b/web-b", "c/web-c"]);
        assert_eq!(found(&index, "web", &["a", "c"]), ["a/web-a", "c/web-c"]);
        assert_eq!(found(&index, "web", &["b"]), ["b/web-b"]);
        assert_eq!(found(&index, "", &["a", "b"]), ["a/web-a", "b/web-b"]);
        // A namespace that appears later is left out by the lists made before it existed.
        add(&[("d", "web-d")], 2);
        assert_eq!(found(&index, "web", &["a", "b", "c"]), ["a/web-a", "b/web-b", "c/web-c"]);
        assert_eq!(found(&index, "web", &["a", "b", "c", "d"]), ["a/web-a", "b/web-b", "c/web-c", "d/web-d"]);
        // A namespace the caller may read that holds nothing (yet) changes nothing.
        assert_eq!(found(&index, "web", &["a", "b", "c", "d", "e"]), ["a/web-a", "b/web-b", "c/web-c", "d/web-d"]);
    }

    #[test]
    fn queries_become_lowercase_words_and_phrases() {
        let words = |ws: &[&str]| ws.iter().map(|w| Part::Word((*w).to_owned())).collect::<Vec<_>>();
        assert_eq!(parse("Kube-Prometheus  stack"), words(&["kube", "prometheus", "stack"]));
        assert!(parse("\"*:(~").is_empty());
        assert_eq!(parse(&"a ".repeat(100)).len(), 16);
        assert_eq!(parse("\"Ingress Controller\" nginx"), vec![Part::Phrase(vec!["ingress".into(), "controller".into()]), Part::Word("nginx".into())]);
        assert_eq!(parse("redis \"cluster"), vec![Part::Word("redis".into()), Part::Phrase(vec!["cluster".into()])]);
    }
}
