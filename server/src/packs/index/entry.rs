//! One pack version as the Helm index shows it.

use registry_core::pack::PackMeta;
use registry_core::store::PackRecord;
use serde_json::{Value, json};

/// One pack version as the index shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub repository: String,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub semver: semver::Version,
    pub archive_digest: registry_core::Digest,
    pub archive_size: u64,
    pub created_at: i64,
    pub meta: PackMeta,
    pub signature: Option<registry_core::store::PackSignature>,
}

impl Entry {
    /// The entry and its README (for the search index; the entry itself does not keep it).
    pub(super) fn from_record(r: PackRecord) -> Option<(Self, Option<String>)> {
        let mut meta: PackMeta = serde_json::from_str(&r.pack.metadata).ok()?;
        // The index shows none of these; thousands of READMEs would only hold memory.
        let readme = meta.readme.take();
        meta.values = None;
        meta.values_schema = None;
        meta.templates = Vec::new();
        Some((Self {
            semver: semver::Version::parse(&r.pack.version).ok()?,
            repository: r.repository,
            namespace: r.namespace,
            name: r.pack.name,
            version: r.pack.version,
            archive_digest: r.pack.archive_digest,
            archive_size: r.pack.archive_size,
            created_at: r.created_at,
            signature: r.pack.signature,
            meta,
        }, readme))
    }

    /// Index order between versions of one chart: the highest version first, and of equal
    /// versions (in several namespaces) the latest pushed.
    #[must_use]
    pub fn newest_first(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.semver.cmp(&a.semver).then(b.created_at.cmp(&a.created_at))
    }

    /// The file name of the chart download.
    #[must_use]
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }

    /// An index entry with only the keys Helm accepts.
    #[must_use]
    pub fn helm_entry(&self, url: String) -> Value {
        // A Sherpack pack says what it is, and a signed one by which key, in annotations.
        let mut extra = Vec::new();
        if self.meta.kind == registry_core::pack::PackKind::Sherpack {
            extra.push(("sherpack.io/kind".to_owned(), "sherpack".to_owned()));
        }
        if let Some(s) = &self.signature {
            extra.push(("sherpack.io/signature".to_owned(), s.status.clone()));
            extra.push(("sherpack.io/signing-key".to_owned(), s.key_id.clone()));
        }
        let mut e = self.meta.chart_json(&extra);
        e.insert("name".into(), json!(self.name));
        e.insert("version".into(), json!(self.version));
        e.insert("urls".into(), json!([url]));
        let created = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(self.created_at).unwrap_or(0));
        e.insert("created".into(), json!(humantime::format_rfc3339_millis(created).to_string()));
        e.insert("digest".into(), json!(self.archive_digest.hex()));
        Value::Object(e)
    }
}
