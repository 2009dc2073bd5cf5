//! A Helm HTTP repository as an import source: its index (`index.json` when offered, else
//! `index.yaml`), each entry's archive checked against the entry's digest, and the `.prov`
//! and `.minisig` files published beside it.

use std::sync::Mutex;

use client_lib::config::Credential;
use client_lib::helmrepo::{HelmRepo, IndexEntry};

use super::source::{Candidate, Fetched, describe};
use super::ImportOptions;

/// Provenance and signature files larger than this are not signatures.
const MAX_COMPANION: u64 = 64 << 10;

pub struct HelmSource {
    repo: HelmRepo,
    /// The index entries, by `Candidate::key`, once listed.
    entries: Mutex<Vec<IndexEntry>>,
}

impl HelmSource {
    pub fn new(url: &str, options: &ImportOptions, password: Option<String>) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).map_err(|_| anyhow::anyhow!("`{url}` is not a URL"))?;
        anyhow::ensure!(matches!(parsed.scheme(), "http" | "https"), "`{url}` is not an http(s) URL");
        let credential = options.username.clone().map(|username| Credential::Basic { username, password: password.unwrap_or_default() });
        let repo = HelmRepo::new(&super::http_options(options), url, credential).map_err(|e| anyhow::anyhow!(describe(&e)))?;
        Ok(Self { repo, entries: Mutex::new(Vec::new()) })
    }

    pub fn url(&self) -> &str {
        &self.repo.url
    }

    pub async fn list(&self) -> anyhow::Result<Vec<Candidate>> {
        let index = self.repo.index().await.map_err(|e| anyhow::anyhow!(describe(&e)))?;
        let entries: Vec<IndexEntry> = index.entries.into_values().flatten().collect();
        let candidates = entries
            .iter()
            .enumerate()
            .map(|(key, e)| Candidate { name: e.name.clone(), version: e.version.clone(), digest: e.digest.clone(), namespace: None, key })
            .collect();
        *self.entries.lock().expect("entries lock") = entries;
        Ok(candidates)
    }

    pub async fn fetch(&self, candidate: &Candidate, max_archive: u64) -> Result<Fetched, String> {
        let entry = self.entries.lock().expect("entries lock").get(candidate.key).cloned().ok_or("not in the index")?;
        let archive = self.repo.fetch(&entry, max_archive).await.map_err(|e| describe(&e))?;
        let prov = self.repo.companion(&entry, "prov", MAX_COMPANION).await.map_err(|e| describe(&e))?;
        let minisig = self.repo.companion(&entry, "minisig", MAX_COMPANION).await.map_err(|e| describe(&e))?;
        Ok(Fetched { archive, prov, minisig })
    }
}
