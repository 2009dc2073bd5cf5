//! Full-text search over pack versions: a Tantivy index in memory, kept current by the same
//! change-sequence follower as the Helm index (a search after a push's 201 sees it), rebuilt
//! from the store at start. Fields by weight: name, then description and repository, then
//! keywords, maintainers and annotations, then the README. Every term must match somewhere;
//! the last one also as a prefix, longer ones also with one typo. Ranking: an exact name
//! first, then names starting with the query, deprecated packs after current ones, then
//! relevance, then recency.

use std::sync::Mutex;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TEXT, TantivyDocument, Value as _};
use tantivy::{Index, IndexReader, IndexWriter, Term, doc};

use super::index::Entry;

/// A repository's versions, newest first, each with its README.
pub type Versions = Vec<(Entry, Option<String>)>;

/// Most terms of a query used; the rest are ignored.
const MAX_TERMS: usize = 16;
/// Longest term used.
const MAX_TERM_LEN: usize = 64;

struct Fields {
    name: Field,
    name_exact: Field,
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
    deprecated: Field,
    latest: Field,
    updated: Field,
    kind: Field,
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

/// One search result: the latest version of a pack.
#[derive(Debug, Clone)]
pub struct Hit {
    pub repository: String,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    pub description: Option<String>,
    pub kind: String,
    pub deprecated: bool,
    pub updated: i64,
    pub score: f32,
}

/// Typos allowed grow with the word: none under 5 letters, one, two from 9.
fn typos_for(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Edit distance between two short strings.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb { previous } else { 1 + previous.min(row[j]).min(current) };
            previous = current;
        }
    }
    row[b.len()]
}

fn tokens(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .filter(|t| t.len() <= MAX_TERM_LEN)
        .take(MAX_TERMS)
        .collect()
}

impl SearchIndex {
    pub fn new() -> tantivy::Result<Self> {
        let mut builder = Schema::builder();
        let fields = Fields {
            name: builder.add_text_field("name", TEXT | STORED),
            name_exact: builder.add_text_field("name_exact", STRING),
            description: builder.add_text_field("description", TEXT | STORED),
            repository_text: builder.add_text_field("repository_text", TEXT),
            keywords: builder.add_text_field("keywords", TEXT),
            maintainers: builder.add_text_field("maintainers", TEXT),
            annotations: builder.add_text_field("annotations", TEXT),
            readme: builder.add_text_field("readme", TEXT),
            namespace: builder.add_text_field("namespace", STRING | STORED),
            repository: builder.add_text_field("repository", STRING | STORED),
            version: builder.add_text_field("version", STORED),
            app_version: builder.add_text_field("app_version", STORED),
            deprecated: builder.add_u64_field("deprecated", tantivy::schema::INDEXED | STORED),
            latest: builder.add_u64_field("latest", tantivy::schema::INDEXED),
            updated: builder.add_i64_field("updated", STORED | tantivy::schema::FAST),
            kind: builder.add_text_field("kind", STRING | STORED),
        };
        let index = Index::create_in_ram(builder.build());
        let writer = index.writer_with_num_threads(1, 30_000_000)?;
        let reader = index.reader_builder().reload_policy(tantivy::ReloadPolicy::Manual).try_into()?;
        Ok(Self { index, reader, writer: Mutex::new(writer), fields })
    }

    fn add(&self, writer: &IndexWriter, entry: &Entry, readme: Option<&str>, latest: bool) -> tantivy::Result<()> {
        let f = &self.fields;
        let m = &entry.meta;
        let maintainers: Vec<String> = m.maintainers.iter().map(|x| format!("{} {}", x.name, x.email.clone().unwrap_or_default())).collect();
        let annotations: Vec<String> = m.annotations.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let mut document = doc!(
            f.name => entry.name.clone(),
            f.name_exact => entry.name.to_lowercase(),
            f.repository_text => entry.repository.clone(),
            f.keywords => m.keywords.join(" "),
            f.maintainers => maintainers.join(" "),
            f.annotations => annotations.join(" "),
            f.namespace => entry.namespace.clone(),
            f.repository => entry.repository.clone(),
            f.version => entry.version.clone(),
            f.deprecated => u64::from(m.deprecated),
            f.latest => u64::from(latest),
            f.updated => entry.created_at,
            f.kind => m.kind.as_str().to_owned(),
        );
        if let Some(d) = &m.description {
            document.add_text(f.description, d);
        }
        if let Some(a) = &m.app_version {
            document.add_text(f.app_version, a);
        }
        if let Some(r) = readme {
            document.add_text(f.readme, r);
        }
        writer.add_document(document)?;
        Ok(())
    }

    /// Replaces every document of these repositories with their current versions (newest
    /// first: the first is the latest).
    pub fn replace(&self, repositories: &[(String, Versions)]) -> tantivy::Result<()> {
        let mut writer = self.writer.lock().expect("not poisoned");
        for (repository, versions) in repositories {
            writer.delete_term(Term::from_field_text(self.fields.repository, repository));
            for (i, (entry, readme)) in versions.iter().enumerate() {
                self.add(&writer, entry, readme.as_deref(), i == 0)?;
            }
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()
    }

    fn text_query(&self, terms: &[String]) -> Box<dyn Query> {
        if terms.is_empty() {
            return Box::new(AllQuery);
        }
        let f = &self.fields;
        let weighted = [
            (f.name, 6.0),
            (f.description, 2.0),
            (f.repository_text, 2.0),
            (f.keywords, 1.5),
            (f.maintainers, 1.0),
            (f.annotations, 1.0),
            (f.readme, 0.5),
        ];
        let mut musts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, t) in terms.iter().enumerate() {
            let last = i + 1 == terms.len();
            let typos = typos_for(t);
            let mut shoulds: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, boost) in weighted {
                let term = Term::from_field_text(field, t);
                shoulds.push((Occur::Should, Box::new(BoostQuery::new(Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)), boost))));
                if last {
                    let prefix = FuzzyTermQuery::new_prefix(term.clone(), typos.min(1), true);
                    shoulds.push((Occur::Should, Box::new(BoostQuery::new(Box::new(prefix), boost * 0.6))));
                }
                if typos > 0 {
                    shoulds.push((Occur::Should, Box::new(BoostQuery::new(Box::new(FuzzyTermQuery::new(term, typos, true)), boost * 0.4))));
                }
            }
            musts.push((Occur::Must, Box::new(BooleanQuery::new(shoulds))));
        }
        Box::new(BooleanQuery::new(musts))
    }

    /// The latest versions matching `query` in the given namespaces, ranked; and how many match.
    pub fn search(&self, query: &str, namespaces: &[String], offset: usize, limit: usize) -> tantivy::Result<(Vec<Hit>, usize)> {
        if namespaces.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let f = &self.fields;
        let terms = tokens(query);
        let in_namespaces: Vec<(Occur, Box<dyn Query>)> = namespaces
            .iter()
            .map(|ns| (Occur::Should, Box::new(TermQuery::new(Term::from_field_text(f.namespace, ns), IndexRecordOption::Basic)) as Box<dyn Query>))
            .collect();
        let full = BooleanQuery::new(vec![
            (Occur::Must, self.text_query(&terms)),
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_u64(f.latest, 1), IndexRecordOption::Basic))),
            (Occur::Must, Box::new(BooleanQuery::new(in_namespaces))),
        ]);
        let searcher = self.reader.searcher();
        // Rank a generous head by score, then apply the ordering rules to it.
        let head = (offset + limit).saturating_mul(4).clamp(50, 2_000);
        let (top, total) = searcher.search(&full, &(TopDocs::with_limit(head).order_by_score(), Count))?;
        let exact = query.trim().to_lowercase();
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let d: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| d.get_first(field).and_then(|v| v.as_str()).map(str::to_owned);
            hits.push(Hit {
                repository: text(f.repository).unwrap_or_default(),
                namespace: text(f.namespace).unwrap_or_default(),
                name: text(f.name).unwrap_or_default(),
                version: text(f.version).unwrap_or_default(),
                app_version: text(f.app_version),
                description: text(f.description),
                kind: text(f.kind).unwrap_or_default(),
                deprecated: d.get_first(f.deprecated).and_then(|v| v.as_u64()) == Some(1),
                updated: d.get_first(f.updated).and_then(|v| v.as_i64()).unwrap_or_default(),
                score,
            });
        }
        // Tiers: the exact name, the name with a typo, names starting with the query, the rest.
        let allowed = typos_for(&exact);
        let tier = |h: &Hit| {
            let name = h.name.to_lowercase();
            if name == exact {
                3
            } else if allowed > 0 && levenshtein(&name, &exact) <= usize::from(allowed) {
                2
            } else {
                u8::from(!exact.is_empty() && name.starts_with(&exact))
            }
        };
        hits.sort_by(|a, b| {
            tier(b)
                .cmp(&tier(a))
                .then(a.deprecated.cmp(&b.deprecated))
                .then(b.score.total_cmp(&a.score))
                .then(b.updated.cmp(&a.updated))
        });
        Ok((hits.into_iter().skip(offset).take(limit).collect(), total))
    }

    #[must_use]
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The index itself, for tests and statistics.
    #[must_use]
    pub fn index(&self) -> &Index {
        &self.index
    }
}

#[cfg(test)]
mod tests {
    use super::tokens;

    #[test]
    fn edit_distance() {
        assert_eq!(super::levenshtein("prometeus", "prometheus"), 1);
        assert_eq!(super::levenshtein("postgress", "postgresql"), 2);
        assert_eq!(super::levenshtein("", "abc"), 3);
    }

    #[test]
    fn queries_become_lowercase_words() {
        assert_eq!(tokens("Kube-Prometheus  stack"), ["kube", "prometheus", "stack"]);
        assert!(tokens("\"*:(~").is_empty());
        assert_eq!(tokens(&"a ".repeat(100)).len(), 16);
    }
}
