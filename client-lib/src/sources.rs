//! Where packs come from, behind one interface: an OCI namespace (`oci://host/ns`), a Helm
//! HTTP repository, a pack directory on disk (`file://`), or a configured repository by name.
//! Credentials and TLS settings are looked up the same way for all.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use crate::config::{CredentialStore, RepoType, Repositories, Repository, host_of};
use crate::error::{Error, Result};
use crate::helmrepo::{HelmRepo, Index, IndexEntry, parse_index_file};
use crate::http::HttpOptions;
use crate::oci::{OciClient, OciRef};

/// Settings shared by every command: TLS and plain-HTTP flags, stored credentials and
/// repositories, the cache directory.
pub struct Context {
    pub options: HttpOptions,
    pub credentials: CredentialStore,
    pub repositories: Repositories,
    pub cache: PathBuf,
}

impl Context {
    pub fn load(options: HttpOptions) -> Result<Self> {
        Ok(Self {
            options,
            credentials: CredentialStore::load()?,
            repositories: Repositories::load()?,
            cache: crate::config::cache_home().join("repository"),
        })
    }

    fn options_for(&self, repo: Option<&Repository>) -> HttpOptions {
        let mut options = self.options.clone();
        if let Some(r) = repo {
            options.insecure |= r.insecure_skip_tls;
            if options.ca_file.is_none() {
                options.ca_file.clone_from(&r.ca_bundle);
            }
        }
        options
    }

    /// An OCI client for `host`, with the credentials stored for it.
    pub fn oci(&self, host: &str) -> Result<OciClient> {
        let repo = self.repositories.repositories.iter().find(|r| r.repo_type == RepoType::Oci && host_of(&r.url) == host);
        let mut keys: Vec<&str> = repo.map(|r| r.credential_ref.as_deref().unwrap_or(&r.name)).into_iter().collect();
        keys.push(host);
        OciClient::new(&self.options_for(repo), host, self.credentials.find(&keys, host))
    }

    /// A Helm repository client for `url` (credentials of the configured repository with that
    /// URL, else of the host).
    pub fn helm(&self, url: &str) -> Result<HelmRepo> {
        let repo = self.repositories.by_url(url);
        let host = host_of(url);
        let mut keys: Vec<&str> = repo.map(|r| r.credential_ref.as_deref().unwrap_or(&r.name)).into_iter().collect();
        keys.push(&host);
        HelmRepo::new(&self.options_for(repo), url, self.credentials.find(&keys, &host))
    }

    fn index_stem(&self, name: &str) -> PathBuf {
        self.cache.join(format!("{name}-index"))
    }

    /// Fetches a configured HTTP repository's index into the cache.
    pub async fn update_index(&self, repo: &Repository) -> Result<PathBuf> {
        self.helm(&repo.url)?.fetch_index(&self.index_stem(&repo.name)).await
    }

    /// The cached index of a configured HTTP repository (fetched when missing).
    pub async fn cached_index(&self, repo: &Repository) -> Result<Index> {
        let stem = self.index_stem(&repo.name);
        for ext in ["json", "yaml"] {
            let path = stem.with_extension(ext);
            if path.exists() {
                return parse_index_file(&path);
            }
        }
        parse_index_file(&self.update_index(repo).await?)
    }

    /// The source a dependency's `repository` field names, relative to `base_dir` for `file://`.
    pub async fn source(&self, repository: &str, base_dir: &Path) -> Result<Source> {
        let repository = repository.trim();
        if let Some(name) = repository.strip_prefix('@').or_else(|| repository.strip_prefix("alias:")) {
            let repo = self.repositories.require(name)?;
            return Box::pin(self.source(&repo.url.clone(), base_dir)).await;
        }
        match RepoType::detect(repository) {
            Ok(RepoType::Oci) => {
                let base = OciRef::parse(repository)?;
                Ok(Source::Oci { client: self.oci(&base.host)?, base })
            }
            Ok(RepoType::Http) => {
                let index = if let Some(repo) = self.repositories.by_url(repository) { self.cached_index(repo).await? } else {
                    let tmp = tempfile::tempdir().map_err(Error::io("temporary directory"))?;
                    let path = self.helm(repository)?.fetch_index(&tmp.path().join("index")).await?;
                    parse_index_file(&path)?
                };
                Ok(Source::Http { repo: self.helm(repository)?, index })
            }
            Ok(RepoType::File) => {
                let path = repository.strip_prefix("file://").unwrap_or(repository);
                Ok(Source::File { dir: base_dir.join(path) })
            }
            Err(e) => match self.repositories.get(repository) {
                Some(repo) => Box::pin(self.source(&repo.url.clone(), base_dir)).await,
                None => Err(e),
            },
        }
    }
}

pub enum Source {
    Oci { client: OciClient, base: OciRef },
    Http { repo: HelmRepo, index: Index },
    File { dir: PathBuf },
}

/// A fetched archive.
pub struct Fetched {
    pub version: String,
    pub digest: String,
}

impl Source {
    /// What to write in a lock file for this source.
    #[must_use]
    pub fn url(&self) -> String {
        match self {
            Self::Oci { base, .. } => base.to_string(),
            Self::Http { repo, .. } => repo.url.clone(),
            Self::File { dir } => format!("file://{}", dir.display()),
        }
    }

    /// The versions of `name` this source has.
    pub async fn versions(&self, name: &str) -> Result<Vec<String>> {
        match self {
            Self::Oci { client, base } => client.tags(&base.child(name).repository).await,
            Self::Http { index, .. } => Ok(index.entries.get(name).map(|v| v.iter().map(|e| e.version.clone()).collect()).unwrap_or_default()),
            Self::File { dir } => {
                let meta = crate::package::read_dir_meta(dir)?;
                if meta.name != name {
                    return Err(Error::Resolve(format!("{} holds `{}`, not `{name}`", dir.display(), meta.name)));
                }
                Ok(vec![meta.version])
            }
        }
    }

    /// Fetches exactly `name` `version` into `dest`; returns its digest.
    pub async fn fetch(&self, name: &str, version: &str, dest: &Path, progress: &ProgressBar) -> Result<Fetched> {
        let digest = match self {
            Self::Oci { client, base } => {
                let repo = base.child(name).repository;
                let manifest = client.manifest(&repo, version).await?;
                let (layer, _) = manifest.content_layer()?;
                client.blob_to_file(&repo, &layer, dest, registry_core::pack::Limits::default().max_archive_bytes, progress).await?;
                layer
            }
            Self::Http { repo, index } => {
                let entry: &IndexEntry = index.find(name, Some(&format!("={version}")), &repo.url)?;
                repo.download(entry, dest, progress).await?;
                file_digest(dest)?
            }
            Self::File { dir } => {
                let tmp = tempfile::tempdir().map_err(Error::io("temporary directory"))?;
                let (archive, meta) = crate::package::package(dir, tmp.path())?;
                if meta.version != version {
                    return Err(Error::Resolve(format!("{} is now version {}, not {version}: run `sherpack dependency update`", dir.display(), meta.version)));
                }
                std::fs::copy(&archive, dest).map_err(Error::io(dest))?;
                file_digest(dest)?
            }
        };
        Ok(Fetched { version: version.to_owned(), digest })
    }
}

pub fn file_digest(path: &Path) -> Result<String> {
    let data = std::fs::read(path).map_err(Error::io(path))?;
    Ok(crate::oci::sha256_digest(&data))
}
