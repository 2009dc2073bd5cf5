//! The metadata store contract: repositories, blobs and their links, manifests, tags, upload
//! sessions and the change sequence. It is the source of truth; everything else is derived.

use crate::{Digest, RepoName};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("repository {0} does not exist")]
    RepositoryUnknown(String),
    #[error("manifest references {0}, which this repository does not hold")]
    MissingReference(Digest),
    #[error("manifest {0} is unknown in this repository")]
    ManifestUnknown(Digest),
    /// A pack pushed under an alias tag while its version is another archive.
    #[error("version {version} is already the archive {archive}: an alias tag must name a manifest of that archive (push a changed pack under its version)")]
    VersionHeld { version: String, archive: Digest },
    #[error("upload session {0} is unknown")]
    UploadUnknown(String),
    #[error("upload session {id} is at offset {actual}, not {expected}")]
    UploadOffsetMismatch {
        id: String,
        expected: u64,
        actual: u64,
    },
    #[error("database error: {0}")]
    Backend(String),
    /// The database cannot be reached right now (connection refused or lost, pool timed out):
    /// worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLink {
    pub digest: Digest,
    pub size: u64,
    pub location: crate::blob::BlobLocation,
}

/// What a manifest points at; each must exist before the manifest may be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Blob(Digest),
    Manifest(Digest),
    /// A non-distributable layer with URLs: kept when the repository holds it, not required.
    ForeignLayer(Digest),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewManifest {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    pub content: Vec<u8>,
    pub references: Vec<ManifestRef>,
    /// Set when the manifest carries a chart or pack: stored with it, in the same transaction.
    pub pack: Option<NewPack>,
}

/// A pack version as the store keeps it: one per repository and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPack {
    pub name: String,
    pub version: String,
    /// `helm` or `sherpack`.
    pub kind: String,
    pub archive_digest: Digest,
    pub archive_size: u64,
    /// The pack's metadata as JSON (`pack::PackMeta`).
    pub metadata: String,
    pub signature: Option<PackSignature>,
}

/// A minisign signature of a pack archive and what checking it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSignature {
    /// The `.minisig` file's blob.
    pub blob: Digest,
    /// The key id the signature names (minisign's 16 hex digits).
    pub key_id: String,
    /// `verified`, `unverified` (no trusted key with that id) or `invalid`.
    pub status: String,
}

/// A tag pointing at a manifest of a pack version's archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackTag {
    pub repository: String,
    pub version: String,
    pub tag: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRecord {
    pub repository: String,
    pub namespace: String,
    pub manifest_digest: Digest,
    pub pack: NewPack,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    pub size: u64,
    pub content: Vec<u8>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    pub id: String,
    pub repository: RepoName,
    /// Bytes received so far.
    pub offset: u64,
    /// Opaque resumable state (hash state, part list) owned by the upload code.
    pub state: Vec<u8>,
    pub started_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    ManifestPut,
    ManifestDeleted,
    TagSet,
    TagDeleted,
    BlobLinked,
    BlobUnlinked,
    /// Every derived view (Helm index, search index) is to be rebuilt from the store; its
    /// repository is empty.
    Reindex,
    /// A credential stopped being what it was (a token revoked, a user's password or admin
    /// flag changed, a user removed), or what permissions are read from did (a namespace's
    /// record, a membership): servers forget the credentials they verified and the namespace
    /// records and memberships they read before it. Its repository is empty.
    Credentials,
}

impl ChangeKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManifestPut => "manifest_put",
            Self::ManifestDeleted => "manifest_deleted",
            Self::TagSet => "tag_set",
            Self::TagDeleted => "tag_deleted",
            Self::BlobLinked => "blob_linked",
            Self::BlobUnlinked => "blob_unlinked",
            Self::Reindex => "reindex",
            Self::Credentials => "credentials",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "manifest_put" => Self::ManifestPut,
            "manifest_deleted" => Self::ManifestDeleted,
            "tag_set" => Self::TagSet,
            "tag_deleted" => Self::TagDeleted,
            "blob_linked" => Self::BlobLinked,
            "blob_unlinked" => Self::BlobUnlinked,
            "reindex" => Self::Reindex,
            "credentials" => Self::Credentials,
            _ => return None,
        })
    }
}

/// One entry of the change sequence that derived views (index cache, search, replicas) follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub kind: ChangeKind,
    pub repository: String,
    pub digest: Option<Digest>,
    pub tag: Option<String>,
    pub at: Millis,
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait::async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    async fn repository_exists(&self, repo: &RepoName) -> StoreResult<bool>;
    /// Repository names in lexical order, strictly after `after`, at most `limit`.
    async fn list_repositories(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<String>>;

    /// Records that `repo` holds a blob the store has a record of (creating the repository on
    /// first use); `false` when there is no such record.
    async fn link_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool>;
    async fn linked_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<Option<BlobLink>>;
    /// Records the blob an upload session produced, where its bytes are, links it and ends the
    /// session, in one transaction; fails with `UploadUnknown` (changing nothing) when the
    /// session is gone, since whoever ended it owns its objects. Returns whether the session's
    /// objects now hold the blob: `false` when a record of the digest was already there (the
    /// blob is linked, and the session's objects are the caller's to remove).
    async fn complete_upload(&self, id: &str, repo: &RepoName, blob: &BlobLink) -> StoreResult<bool>;
    /// Returns whether a link existed.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool>;
    /// A blob known anywhere in the registry (for cross-repository mounts and GC).
    async fn blob(&self, digest: &Digest) -> StoreResult<Option<BlobLink>>;
    /// Repositories linking a blob, in lexical order, at most `limit` (for mounts without `from`).
    async fn repositories_with_blob(&self, digest: &Digest, limit: u32) -> StoreResult<Vec<String>>;

    /// Stores a manifest and, optionally, points `tag` at it, in one transaction. Fails with
    /// `MissingReference` when a referenced blob or child manifest is not in the repository.
    /// A pack tagged with other than its version (an alias, see `version_tag`) keeps the record
    /// of that version, and fails with `VersionHeld` when that record is of another archive.
    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &NewManifest,
        tag: Option<&str>,
    ) -> StoreResult<()>;
    /// Several manifest pushes as `put_manifest` makes them, in one transaction (all or none):
    /// for bulk imports, where a transaction per version would spend its time committing.
    async fn put_manifests(&self, pushes: &[(RepoName, NewManifest, Option<String>)]) -> StoreResult<()>;
    async fn manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> StoreResult<Option<ManifestRecord>>;
    /// Deletes a manifest and the tags pointing at it. Returns whether it existed.
    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool>;
    /// Manifests whose `subject` is `subject`, oldest first.
    async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
    ) -> StoreResult<Vec<ManifestRecord>>;

    async fn resolve_tag(&self, repo: &RepoName, tag: &str) -> StoreResult<Option<Digest>>;
    /// Points `tag` at an existing manifest of the repository.
    async fn set_tag(&self, repo: &RepoName, tag: &str, digest: &Digest) -> StoreResult<()>;
    /// Tags in lexical order, strictly after `after`, at most `limit`.
    async fn list_tags(
        &self,
        repo: &RepoName,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<String>>;
    async fn delete_tag(&self, repo: &RepoName, tag: &str) -> StoreResult<bool>;

    async fn create_upload(&self, repo: &RepoName, state: &[u8]) -> StoreResult<UploadSession>;
    async fn upload(&self, id: &str) -> StoreResult<Option<UploadSession>>;
    /// Advances a session from `expected_offset` to `new_offset`; fails with
    /// `UploadOffsetMismatch` when another request moved it first.
    async fn advance_upload(
        &self,
        id: &str,
        expected_offset: u64,
        new_offset: u64,
        state: &[u8],
    ) -> StoreResult<()>;
    async fn delete_upload(&self, id: &str) -> StoreResult<bool>;
    /// Sessions not touched since `before`.
    async fn stale_uploads(&self, before: Millis) -> StoreResult<Vec<UploadSession>>;

    /// Pack versions, of one repository or of every repository, ordered by repository.
    async fn packs(&self, repository: Option<&str>) -> StoreResult<Vec<PackRecord>>;
    /// The pack versions of the repositories named after `after`, whole repositories in name
    /// order, each oldest first, about `limit` versions (more when the last repository holds
    /// more; none when no repository is left): every pack read a page at a time.
    async fn packs_after(&self, after: &str, limit: u32) -> StoreResult<Vec<PackRecord>>;
    /// The tags pointing at manifests of pack versions' archives, of one repository or of
    /// every repository of a namespace, by repository and tag.
    async fn pack_tags(&self, namespace: &str, repository: Option<&str>) -> StoreResult<Vec<PackTag>>;
    /// One version of a repository's pack.
    async fn pack(&self, repository: &str, version: &str) -> StoreResult<Option<PackRecord>>;
    /// Records a pack version's signature (and a change, so views follow). Returns false when
    /// the version does not exist.
    async fn set_pack_signature(&self, repo: &RepoName, version: &str, signature: &PackSignature) -> StoreResult<bool>;

    /// Changes with a sequence number greater than `after`, in order, at most `limit`.
    async fn changes_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Change>>;
    async fn last_change_seq(&self) -> StoreResult<i64>;
    /// Appends a `Reindex` change: every server following the sequence rebuilds its views.
    /// Returns its sequence number.
    async fn request_reindex(&self) -> StoreResult<i64>;

    /// Yields whenever another process commits a change (Postgres LISTEN/NOTIFY), so views
    /// can re-read the change sequence at once; `None` when the database cannot tell.
    async fn change_notifications(&self) -> StoreResult<Option<futures::stream::BoxStream<'static, ()>>>;

    /// Bytes of blobs linked per repository, and open upload sessions: what `/metrics` reports.
    async fn usage(&self) -> StoreResult<Usage>;
    /// Bytes of the blobs linked in a namespace's repositories (for quotas).
    async fn namespace_bytes(&self, namespace: &str) -> StoreResult<u64>;

    /// Takes the lock of one blob digest, across every server on this database, until the
    /// guard is dropped. Publishing a blob (moving it in place and linking it) and garbage
    /// collection (unlinking it and deleting the object) both hold it, so neither ever sees
    /// the other half done.
    async fn lock_blob(&self, digest: &Digest) -> StoreResult<BlobGuard> {
        self.lock_blobs(std::slice::from_ref(digest)).await
    }
    /// Takes the locks of several digests at once, in an order every caller shares (so two
    /// callers never wait for each other in a cycle), until the guard is dropped.
    async fn lock_blobs(&self, digests: &[Digest]) -> StoreResult<BlobGuard>;
    /// Manifests created before `before` that no tag, no other manifest and no live subject
    /// keeps: `(repository, digest)`.
    async fn untagged_manifests(&self, before: Millis) -> StoreResult<Vec<(String, Digest)>>;
    /// Every blob the store has a record of, with where its bytes are.
    async fn blob_locations(&self) -> StoreResult<Vec<(Digest, crate::blob::BlobLocation)>>;
    /// Blobs no manifest references, stored and last linked before `before`: `(digest, size)`.
    async fn unreferenced_blobs(&self, before: Millis) -> StoreResult<Vec<(Digest, u64)>>;
    /// Removes a blob's record and links if it is still unreferenced and still not linked since
    /// `before` (checked in the same transaction); returns its size and location when removed.
    /// Call it with the blob's lock held, then delete the objects.
    async fn remove_unreferenced_blob(&self, digest: &Digest, before: Millis) -> StoreResult<Option<BlobLink>> {
        Ok(self.remove_unreferenced_blobs(std::slice::from_ref(digest), before).await?.pop())
    }
    /// [`remove_unreferenced_blob`](Self::remove_unreferenced_blob) for several blobs in one
    /// transaction: those removed, with their sizes and locations. Call it with their locks held.
    async fn remove_unreferenced_blobs(&self, digests: &[Digest], before: Millis) -> StoreResult<Vec<BlobLink>>;
}

/// Held while a blob digest is locked; dropping it releases the lock.
pub struct BlobGuard(pub Box<dyn std::any::Any + Send>);

/// Storage accounting for metrics and quotas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// `(repository, bytes of the blobs it links)`.
    pub by_repository: Vec<(String, u64)>,
    pub open_uploads: u64,
}

impl Usage {
    /// Bytes per namespace (the first segment of repository names), sorted by namespace.
    #[must_use]
    pub fn by_namespace(&self) -> Vec<(String, u64)> {
        let mut out: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for (repo, bytes) in &self.by_repository {
            *out.entry(repo.split('/').next().unwrap_or(repo).to_owned()).or_default() += bytes;
        }
        out.into_iter().collect()
    }
}

/// Everything the server keeps in its database: OCI metadata, auth records and background
/// work (import jobs, mirrors, leases), one backend.
pub trait RegistryStore: MetadataStore + crate::auth::AuthStore + crate::jobs::JobStore {}

impl<T: MetadataStore + crate::auth::AuthStore + crate::jobs::JobStore> RegistryStore for T {}
