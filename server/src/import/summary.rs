//! The report of an import: what was imported, skipped, in conflict or failed, and why.

use serde::Serialize;

use super::{Candidate, Fate};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Item {
    /// The namespace, when each tenant of the source goes into its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub version: String,
    /// The archive's digest here (imported, skipped; for a conflict, the one kept); from an
    /// OCI source, the manifest's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// A conflict's digest at the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub source: String,
    pub namespace: String,
    pub imported: Vec<Item>,
    pub skipped: Vec<Item>,
    pub conflicts: Vec<Item>,
    pub failed: Vec<Item>,
}

impl Summary {
    #[must_use]
    pub fn new(source: String, namespace: &str) -> Self {
        Self { source, namespace: namespace.to_owned(), imported: vec![], skipped: vec![], conflicts: vec![], failed: vec![] }
    }

    pub(super) fn record(&mut self, c: &Candidate, fate: Fate) {
        let item = |digest: Option<String>, source_digest: Option<String>, reason: Option<String>| Item {
            namespace: c.namespace.clone(),
            name: c.name.clone(),
            version: c.version.clone(),
            digest,
            source_digest,
            reason,
        };
        match fate {
            Fate::Imported(d) => self.imported.push(item(Some(d.to_string()), None, None)),
            Fate::Skipped(d) => self.skipped.push(item(Some(d.to_string()), None, None)),
            Fate::Conflict { existing, source } => {
                let source = if source.starts_with("sha256:") { source } else { format!("sha256:{source}") };
                self.conflicts.push(item(Some(existing.to_string()), Some(source), None));
            }
            Fate::Failed(reason) => self.failed.push(item(None, None, Some(reason))),
        }
    }

    pub(super) fn sort(&mut self) {
        for list in [&mut self.imported, &mut self.skipped, &mut self.conflicts, &mut self.failed] {
            list.sort();
        }
    }

    /// `imported 3, skipped 1, conflicts 0, failed 0`
    #[must_use]
    pub fn headline(&self) -> String {
        format!(
            "imported {}, skipped {}, conflicts {}, failed {}",
            self.imported.len(),
            self.skipped.len(),
            self.conflicts.len(),
            self.failed.len()
        )
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} into {}: {}", self.source, self.namespace, self.headline())?;
        for c in &self.conflicts {
            writeln!(
                f,
                "conflict: {}{} {} is here as {}, the source has {} (kept; --overwrite replaces it)",
                c.namespace.as_ref().map(|n| format!("{n}/")).unwrap_or_default(),
                c.name,
                c.version,
                c.digest.as_deref().unwrap_or_default(),
                c.source_digest.as_deref().unwrap_or_default()
            )?;
        }
        for failure in &self.failed {
            let ns = failure.namespace.as_ref().map(|n| format!("{n}/")).unwrap_or_default();
            writeln!(f, "failed: {ns}{} {}: {}", failure.name, failure.version, failure.reason.as_deref().unwrap_or_default())?;
        }
        Ok(())
    }
}
