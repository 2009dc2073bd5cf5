//! [`TimedStore`]: the metadata store with a deadline on every call.

use std::sync::Arc;
use std::time::Duration;

use registry_core::auth::{
    ApiToken, AuditEntry, AuditQuery, AuthStore, Member, Namespace, NewAuditEntry, Role, SigningKey, User, Visibility, Webhook,
    WebhookDelivery,
};
use registry_core::jobs::{ImportJob, JobState, JobStore, Mirror, SyncOutcome};
use registry_core::store::{
    BlobGuard, BlobLink, Change, ManifestRecord, MetadataStore, Millis, NewManifest, PackRecord, PackSignature, PackTag,
    RegistryStore, StoreError, StoreResult, UploadSession, Usage,
};
use registry_core::{Digest, RepoName};

use super::Deadlines;

/// Any metadata store, each call bounded: [`Deadlines::database`], or [`Deadlines::long`] for
/// the few that grow with the registry or wait for another writer. A call past its deadline
/// fails with [`StoreError::Unavailable`]; the connection it held goes back to the pool, which
/// checks it before reuse.
pub struct TimedStore {
    inner: Arc<dyn RegistryStore>,
    deadlines: Deadlines,
}

impl TimedStore {
    #[must_use]
    pub fn new(inner: Arc<dyn RegistryStore>, deadlines: Deadlines) -> Self {
        Self { inner, deadlines }
    }

    async fn within<T>(&self, limit: Duration, what: &str, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!("the database did not answer ({what}) within {} ms", super::millis(limit))))
        })
    }
}

/// Implements a store trait for [`TimedStore`] by calling the inner store under the deadline
/// of each method's kind (`call` or `long`).
macro_rules! timed {
    ($trait:ident { $( $kind:ident fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )* }) => {
        #[async_trait::async_trait]
        impl $trait for TimedStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    let limit = timed!(@limit self, $kind);
                    self.within(limit, stringify!($name), self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
    (@limit $self:ident, call) => { $self.deadlines.database };
    (@limit $self:ident, long) => { $self.deadlines.long };
}

timed!(MetadataStore {
    call fn ping(&self) -> StoreResult<()>;
    call fn repository_exists(&self, repo: &RepoName) -> StoreResult<bool>;
    call fn list_repositories(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<String>>;
    call fn link_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool>;
    call fn linked_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<Option<BlobLink>>;
    call fn complete_upload(&self, id: &str, repo: &RepoName, blob: &BlobLink) -> StoreResult<bool>;
    call fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool>;
    call fn blob(&self, digest: &Digest) -> StoreResult<Option<BlobLink>>;
    call fn repositories_with_blob(&self, digest: &Digest, limit: u32) -> StoreResult<Vec<String>>;
    call fn put_manifest(&self, repo: &RepoName, manifest: &NewManifest, tag: Option<&str>) -> StoreResult<()>;
    long fn put_manifests(&self, pushes: &[(RepoName, NewManifest, Option<String>)]) -> StoreResult<()>;
    call fn manifest(&self, repo: &RepoName, digest: &Digest) -> StoreResult<Option<ManifestRecord>>;
    call fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool>;
    call fn referrers(&self, repo: &RepoName, subject: &Digest) -> StoreResult<Vec<ManifestRecord>>;
    call fn resolve_tag(&self, repo: &RepoName, tag: &str) -> StoreResult<Option<Digest>>;
    call fn set_tag(&self, repo: &RepoName, tag: &str, digest: &Digest) -> StoreResult<()>;
    call fn list_tags(&self, repo: &RepoName, after: Option<&str>, limit: u32) -> StoreResult<Vec<String>>;
    call fn delete_tag(&self, repo: &RepoName, tag: &str) -> StoreResult<bool>;
    call fn create_upload(&self, repo: &RepoName, state: &[u8]) -> StoreResult<UploadSession>;
    call fn upload(&self, id: &str) -> StoreResult<Option<UploadSession>>;
    call fn advance_upload(&self, id: &str, expected_offset: u64, new_offset: u64, state: &[u8]) -> StoreResult<()>;
    call fn delete_upload(&self, id: &str) -> StoreResult<bool>;
    long fn stale_uploads(&self, before: Millis) -> StoreResult<Vec<UploadSession>>;
    long fn packs(&self, repository: Option<&str>) -> StoreResult<Vec<PackRecord>>;
    long fn packs_after(&self, after: &str, limit: u32) -> StoreResult<Vec<PackRecord>>;
    call fn pack_tags(&self, namespace: &str, repository: Option<&str>) -> StoreResult<Vec<PackTag>>;
    call fn pack(&self, repository: &str, version: &str) -> StoreResult<Option<PackRecord>>;
    call fn set_pack_signature(&self, repo: &RepoName, version: &str, signature: &PackSignature) -> StoreResult<bool>;
    call fn changes_since(&self, after: i64, limit: u32) -> StoreResult<Vec<Change>>;
    call fn last_change_seq(&self) -> StoreResult<i64>;
    call fn request_reindex(&self) -> StoreResult<i64>;
    call fn change_notifications(&self) -> StoreResult<Option<futures::stream::BoxStream<'static, ()>>>;
    long fn usage(&self) -> StoreResult<Usage>;
    call fn namespace_bytes(&self, namespace: &str) -> StoreResult<u64>;
    long fn lock_blob(&self, digest: &Digest) -> StoreResult<BlobGuard>;
    long fn lock_blobs(&self, digests: &[Digest]) -> StoreResult<BlobGuard>;
    long fn untagged_manifests(&self, before: Millis) -> StoreResult<Vec<(String, Digest)>>;
    long fn blob_locations(&self) -> StoreResult<Vec<(Digest, registry_core::blob::BlobLocation)>>;
    long fn unreferenced_blobs(&self, before: Millis) -> StoreResult<Vec<(Digest, u64)>>;
    call fn remove_unreferenced_blob(&self, digest: &Digest, before: Millis) -> StoreResult<Option<BlobLink>>;
    long fn remove_unreferenced_blobs(&self, digests: &[Digest], before: Millis) -> StoreResult<Vec<BlobLink>>;
});

timed!(AuthStore {
    call fn user_count(&self) -> StoreResult<u64>;
    call fn create_user(&self, user: &User) -> StoreResult<bool>;
    call fn user(&self, name: &str) -> StoreResult<Option<User>>;
    call fn list_users(&self) -> StoreResult<Vec<User>>;
    call fn update_user(&self, name: &str, password_hash: Option<&str>, is_admin: Option<bool>) -> StoreResult<bool>;
    call fn delete_user(&self, name: &str) -> StoreResult<bool>;
    call fn create_namespace(&self, ns: &Namespace) -> StoreResult<bool>;
    call fn namespace(&self, name: &str) -> StoreResult<Option<Namespace>>;
    call fn list_namespaces(&self) -> StoreResult<Vec<Namespace>>;
    call fn update_namespace(&self, name: &str, visibility: Option<Visibility>, policy: Option<&str>) -> StoreResult<bool>;
    call fn delete_namespace(&self, name: &str) -> StoreResult<bool>;
    call fn create_webhook(&self, hook: &Webhook) -> StoreResult<()>;
    call fn webhooks(&self, namespace: &str) -> StoreResult<Vec<Webhook>>;
    call fn delete_webhook(&self, namespace: &str, id: &str) -> StoreResult<bool>;
    call fn webhook_deliveries(&self, webhook_id: &str, limit: u32) -> StoreResult<Vec<WebhookDelivery>>;
    call fn claim_deliveries(&self, now: Millis, lease_until: Millis, max_attempts: u32, limit: u32) -> StoreResult<Vec<WebhookDelivery>>;
    call fn finish_delivery(&self, id: i64, delivered: bool, status: &str, retry_at: Millis) -> StoreResult<()>;
    call fn namespace_access(&self, namespace: &str, user: Option<&str>) -> StoreResult<(Option<Namespace>, Option<Role>)>;
    call fn set_member(&self, member: &Member) -> StoreResult<()>;
    call fn remove_member(&self, namespace: &str, username: &str) -> StoreResult<bool>;
    call fn members(&self, namespace: &str) -> StoreResult<Vec<Member>>;
    call fn memberships(&self, username: &str) -> StoreResult<Vec<Member>>;
    call fn create_token(&self, token: &ApiToken) -> StoreResult<()>;
    call fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiToken>>;
    call fn token(&self, id: &str) -> StoreResult<Option<ApiToken>>;
    call fn list_tokens(&self, owner: Option<&str>) -> StoreResult<Vec<ApiToken>>;
    call fn revoke_token(&self, id: &str, at: Millis) -> StoreResult<bool>;
    call fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()>;
    call fn add_signing_key(&self, key: &SigningKey) -> StoreResult<bool>;
    call fn signing_keys(&self, namespace: &str) -> StoreResult<Vec<SigningKey>>;
    call fn remove_signing_key(&self, namespace: &str, id: &str) -> StoreResult<bool>;
    call fn record_audit(&self, entry: &NewAuditEntry) -> StoreResult<()>;
    long fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
    call fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String>;
});

timed!(JobStore {
    call fn create_import_job(&self, job: &ImportJob) -> StoreResult<()>;
    call fn import_job(&self, namespace: &str, id: &str) -> StoreResult<Option<ImportJob>>;
    call fn touch_import_job(&self, id: &str, at: Millis) -> StoreResult<()>;
    call fn finish_import_job(&self, id: &str, state: JobState, summary: Option<&str>, error: Option<&str>, at: Millis) -> StoreResult<()>;
    call fn put_mirror(&self, mirror: &Mirror) -> StoreResult<()>;
    call fn mirror(&self, namespace: &str) -> StoreResult<Option<Mirror>>;
    call fn mirrors(&self) -> StoreResult<Vec<Mirror>>;
    call fn mirror_due(&self, now: Millis) -> StoreResult<bool>;
    call fn delete_mirror(&self, namespace: &str) -> StoreResult<bool>;
    call fn record_sync(&self, namespace: &str, outcome: &SyncOutcome, next_sync_at: Millis) -> StoreResult<()>;
    call fn sync_mirror_now(&self, namespace: &str, at: Millis) -> StoreResult<bool>;
    call fn claim_lease(&self, name: &str, owner: &str, now: Millis, until: Millis) -> StoreResult<bool>;
    call fn release_lease(&self, name: &str, owner: &str) -> StoreResult<()>;
});
