//! `ChartMuseum`'s storage as an import source, on a directory or S3: `<name>-<version>.tgz`
//! with an optional `.prov` beside it, at the top or, per tenant, in one folder per namespace.
//! The storage announces no digests: each archive is read and compared.

use std::collections::HashSet;
use std::sync::Arc;

use futures::TryStreamExt as _;
use object_store::{ObjectStore, ObjectStoreExt as _};
use object_store::path::Path;
use registry_store::StorageUrl;

use super::source::{Candidate, Fetched};

/// Provenance files larger than this are not provenance.
const MAX_PROV: u64 = 64 << 10;

pub struct StorageSource {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Each first-level folder is a tenant, imported into the namespace of its name.
    per_tenant: bool,
    /// The archives, by `Candidate::key`, and every object's path, once listed.
    listed: std::sync::Mutex<(Vec<Path>, HashSet<Path>)>,
}

/// `name` and `version` out of `<name>-<version>.tgz`: the first `-` followed by a digit
/// after which a semantic version follows (names may hold `-` and digits too).
fn name_version(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".tgz")?;
    stem.match_indices('-').map(|(i, _)| i).find_map(|i| {
        let version = &stem[i + 1..];
        semver::Version::parse(version.trim_start_matches('v')).is_ok().then(|| (stem[..i].to_owned(), version.to_owned()))
    })
}

impl StorageSource {
    pub fn new(location: &str, s3: registry_store::S3Options, per_tenant: bool) -> anyhow::Result<Self> {
        let url = if location.contains("://") { location.to_owned() } else { format!("file://{location}") };
        let parsed = StorageUrl::parse(&url, s3)?;
        match &parsed {
            StorageUrl::File(dir) => anyhow::ensure!(dir.is_dir(), "{}: no such directory", dir.display()),
            StorageUrl::S3 { .. } => {}
            StorageUrl::Memory => anyhow::bail!("`{location}` is not a directory or an s3:// URL"),
        }
        let (store, prefix) = parsed.build()?;
        Ok(Self { url, store, prefix, per_tenant, listed: std::sync::Mutex::default() })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn list(&self) -> anyhow::Result<Vec<Candidate>> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let objects: Vec<Path> = self
            .store
            .list(prefix)
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", self.url))?;
        let depth = usize::from(self.per_tenant);
        let mut archives = Vec::new();
        let mut candidates = Vec::new();
        for path in &objects {
            let parts: Vec<String> = path.prefix_match(&self.prefix).into_iter().flatten().map(|p| p.as_ref().to_owned()).collect();
            let Some(file) = parts.last().filter(|f| std::path::Path::new(f).extension().is_some_and(|e| e == "tgz")) else { continue };
            if parts.len() != depth + 1 {
                continue;
            }
            let (name, version) = name_version(file).unwrap_or_else(|| (file.trim_end_matches(".tgz").to_owned(), String::new()));
            let namespace = self.per_tenant.then(|| parts[0].clone());
            candidates.push(Candidate { name, version, digest: String::new(), namespace, key: archives.len() });
            archives.push(path.clone());
        }
        *self.listed.lock().expect("listing lock") = (archives, objects.into_iter().collect());
        Ok(candidates)
    }

    async fn read(&self, path: &Path, max: u64) -> Result<bytes::Bytes, String> {
        let object = self.store.get(path).await.map_err(|e| format!("cannot read {path}: {e}"))?;
        if object.meta.size > max {
            return Err(format!("{path} is larger than {max} bytes; refused"));
        }
        object.bytes().await.map_err(|e| format!("cannot read {path}: {e}"))
    }

    pub async fn fetch(&self, candidate: &Candidate, max_archive: u64) -> Result<Fetched, String> {
        let (path, has_prov) = {
            let listed = self.listed.lock().expect("listing lock");
            let path = listed.0.get(candidate.key).cloned().ok_or("not listed")?;
            let prov = Path::from(format!("{path}.prov"));
            let has_prov = listed.1.contains(&prov);
            (path, has_prov.then_some(prov))
        };
        let archive = self.read(&path, max_archive).await?;
        let prov = match has_prov {
            Some(p) => Some(self.read(&p, MAX_PROV).await?),
            None => None,
        };
        Ok(Fetched { archive, prov, minisig: None })
    }
}

#[cfg(test)]
mod tests {
    use super::name_version;

    #[test]
    fn file_names_split_at_the_version() {
        let split = |f: &str| name_version(f).map(|(n, v)| format!("{n} {v}"));
        assert_eq!(split("mychart-1.2.3.tgz").as_deref(), Some("mychart 1.2.3"));
        assert_eq!(split("my-chart-2-1.0.0-rc.1.tgz").as_deref(), Some("my-chart-2 1.0.0-rc.1"));
        assert_eq!(split("nginx-ingress-v0.1.0.tgz").as_deref(), Some("nginx-ingress v0.1.0"));
        assert_eq!(split("index-cache.yaml"), None);
        assert_eq!(split("noversion.tgz"), None);
    }
}
