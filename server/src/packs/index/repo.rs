//! One repository's versions as the index keeps them: what lookups and ordering need (name,
//! version, time) as plain fields, and everything else — the Chart.yaml fields an index entry
//! shows, digests, signature — as one deflated JSON document per repository. The versions of
//! a chart repeat most of their metadata, so together they deflate to a small fraction; they
//! are inflated when a chart's part of an index is rendered or a caller asks for the entries.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use bytes::Bytes;
use registry_core::Digest;
use registry_core::pack::PackMeta;
use registry_core::store::PackSignature;
use serde::{Deserialize, Serialize};

use super::Entry;

/// What lookups read of a version without inflating its repository.
#[derive(Debug, Clone)]
pub struct Head {
    pub name: Arc<str>,
    pub version: Box<str>,
    pub semver: semver::Version,
    pub created_at: i64,
}

impl Head {
    /// The file name of the chart download.
    #[must_use]
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// A repository's versions, newest first.
pub struct Repo {
    pub heads: Vec<Head>,
    /// [`Stored`] of each version, in the order of `heads`, as JSON, deflated.
    packed: Bytes,
}

/// A version's entry as it is packed: everything but the repository it belongs to.
#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    version: String,
    archive_digest: Digest,
    archive_size: u64,
    created_at: i64,
    signature: Option<(Digest, String, String)>,
    meta: PackMeta,
}

impl Repo {
    /// The versions of one repository, in any order.
    #[must_use]
    pub fn new(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(Entry::newest_first);
        let mut heads: Vec<Head> = Vec::with_capacity(entries.len());
        for e in &entries {
            // One name shared by every version that has it.
            let name = match heads.last() {
                Some(h) if *h.name == *e.name => Arc::clone(&h.name),
                _ => Arc::from(e.name.as_str()),
            };
            heads.push(Head { name, version: e.version.clone().into_boxed_str(), semver: e.semver.clone(), created_at: e.created_at });
        }
        let stored: Vec<Stored> = entries
            .into_iter()
            .map(|e| Stored {
                name: e.name,
                version: e.version,
                archive_digest: e.archive_digest,
                archive_size: e.archive_size,
                created_at: e.created_at,
                signature: e.signature.map(|s| (s.blob, s.key_id, s.status)),
                meta: e.meta,
            })
            .collect();
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        serde_json::to_writer(&mut encoder, &stored).expect("entries serialise");
        let packed = Bytes::from(encoder.finish().expect("deflate into memory"));
        Self { heads, packed }
    }

    /// The full entries, newest first.
    #[must_use]
    pub fn entries(&self, repository: &str) -> Vec<Entry> {
        let mut json = Vec::with_capacity(self.packed.len() * 8);
        let stored: Vec<Stored> = flate2::read::DeflateDecoder::new(&self.packed[..])
            .read_to_end(&mut json)
            .ok()
            .and_then(|_| serde_json::from_slice(&json).ok())
            .unwrap_or_default();
        let namespace = repository.split('/').next().unwrap_or_default();
        stored
            .into_iter()
            .zip(&self.heads)
            .map(|(s, head)| Entry {
                repository: repository.to_owned(),
                namespace: namespace.to_owned(),
                name: s.name,
                version: s.version,
                semver: head.semver.clone(),
                archive_digest: s.archive_digest,
                archive_size: s.archive_size,
                created_at: s.created_at,
                signature: s.signature.map(|(blob, key_id, status)| PackSignature { blob, key_id, status }),
                meta: s.meta,
            })
            .collect()
    }

    /// Bytes of memory the packed part holds.
    #[must_use]
    pub fn packed_bytes(&self) -> usize {
        self.packed.len()
    }

    /// The form kept on disk: the heads as JSON (`[[name, version, created_at], ...]`), its
    /// length first, then the packed entries.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let heads: Vec<(&str, &str, i64)> = self.heads.iter().map(|h| (&*h.name, &*h.version, h.created_at)).collect();
        let heads = serde_json::to_vec(&heads).expect("heads serialise");
        let mut out = Vec::with_capacity(4 + heads.len() + self.packed.len());
        out.write_all(&u32::try_from(heads.len()).expect("heads under 4 GiB").to_le_bytes()).expect("into memory");
        out.extend_from_slice(&heads);
        out.extend_from_slice(&self.packed);
        out
    }

    /// Reads [`Self::to_bytes`]'s form; `None` when it is not one.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let length = usize::try_from(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?)).ok()?;
        let heads: Vec<(String, String, i64)> = serde_json::from_slice(bytes.get(4..4 + length)?).ok()?;
        let mut parsed: Vec<Head> = Vec::with_capacity(heads.len());
        for (name, version, created_at) in heads {
            let name = match parsed.last() {
                Some(h) if *h.name == *name => Arc::clone(&h.name),
                _ => Arc::from(name),
            };
            parsed.push(Head { name, semver: semver::Version::parse(&version).ok()?, version: version.into_boxed_str(), created_at });
        }
        Some(Self { heads: parsed, packed: Bytes::copy_from_slice(&bytes[4 + length..]) })
    }
}
