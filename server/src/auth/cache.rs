//! Credentials verified once and trusted for a while: API tokens (a database lookup each) and
//! passwords (argon2, slow on purpose) arrive with every request of a client.
//!
//! An entry stands until the first of: its lifetime, the token's expiry, or a
//! [`ChangeKind::Credentials`] change in the store's change sequence (a token revoked, a
//! password or admin flag changed, a user removed) committed after the entry was checked
//! against the store. Each server reads the sequence every `bound / 4`, and at once when
//! Postgres notifies it of a commit; a server whose last successful read began more than
//! `bound` ago trusts none of its entries. So a change committed at time T is in force on every
//! replica for every request that arrives after T + `bound`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use registry_core::auth::{Namespace, Principal, Role};
use registry_core::store::{ChangeKind, MetadataStore, Millis, StoreError};

/// Entries kept at most; past it the cache starts over (only valid credentials get in).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    principal: Principal,
    at: Instant,
    /// The change sequence number read before the credential was checked in the store.
    stamp: i64,
    expires_at: Option<Millis>,
}

#[derive(Default)]
struct Follow {
    /// The last change sequence number read.
    seq: Option<i64>,
    /// The latest `Credentials` change read: entries stamped before it are void.
    void_before: i64,
    /// When the last successful read of the sequence began.
    read_at: Option<Instant>,
}

pub struct CredentialCache {
    ttl: Duration,
    bound: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// Every namespace's record, as read, under the same rules as credentials: searches and
    /// listings read them all on every request.
    namespaces: Mutex<Option<Kept<NamespaceRecords>>>,
    /// A user's roles by namespace, by user.
    memberships: Mutex<HashMap<String, Kept<Roles>>>,
    follow: Mutex<Follow>,
    wake: tokio::sync::Notify,
}

pub type NamespaceRecords = Arc<HashMap<String, Namespace>>;
pub type Roles = Arc<HashMap<String, Role>>;

/// Something read from the store, with the stamp taken before it was read.
struct Kept<T> {
    value: T,
    at: Instant,
    stamp: i64,
}

/// Taken before a credential is checked in the store; `None` when the cache cannot be
/// trusted now (the entry is then not kept).
#[derive(Debug, Clone, Copy)]
pub struct Stamp(Option<i64>);

impl CredentialCache {
    /// Entries live `ttl` (zero: nothing is cached); `bound` is the revocation bound.
    #[must_use]
    pub fn new(ttl: Duration, bound: Duration) -> Self {
        Self { ttl, bound, entries: Mutex::default(), namespaces: Mutex::default(), memberships: Mutex::default(), follow: Mutex::default(), wake: tokio::sync::Notify::new() }
    }

    /// `(void_before, seq)` when the last read of the change sequence is recent enough.
    fn trusted(&self) -> Option<(i64, i64)> {
        let follow = self.follow.lock().expect("not poisoned");
        let recent = follow.read_at.is_some_and(|at| at.elapsed() < self.bound);
        (recent && !self.ttl.is_zero()).then_some((follow.void_before, follow.seq.unwrap_or(0)))
    }

    /// The principal a credential (by its key) was verified as, if that still stands.
    pub fn get(&self, key: &str, now: Millis) -> Option<Principal> {
        let (void_before, _) = self.trusted()?;
        let mut entries = self.entries.lock().expect("not poisoned");
        let entry = entries.get(key)?;
        if entry.stamp < void_before || entry.at.elapsed() >= self.ttl || entry.expires_at.is_some_and(|e| e <= now) {
            entries.remove(key);
            return None;
        }
        Some(entry.principal.clone())
    }

    /// To be taken before the store is asked about a credential.
    #[must_use]
    pub fn stamp(&self) -> Stamp {
        Stamp(self.trusted().map(|(_, seq)| seq))
    }

    /// Remembers a credential the store confirmed after `stamp` was taken.
    pub fn insert(&self, key: String, principal: Principal, stamp: Stamp, expires_at: Option<Millis>) {
        let Stamp(Some(stamp)) = stamp else { return };
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Entry { principal, at: Instant::now(), stamp, expires_at });
    }

    /// Forgets every entry (after a change made through this server).
    pub fn clear(&self) {
        self.entries.lock().expect("not poisoned").clear();
        self.namespaces.lock().expect("not poisoned").take();
        self.memberships.lock().expect("not poisoned").clear();
    }

    /// Whether something read with `stamp` still stands.
    fn stands<T>(&self, kept: &Kept<T>) -> bool {
        self.trusted().is_some_and(|(void_before, _)| kept.stamp >= void_before && kept.at.elapsed() < self.ttl)
    }

    /// Every namespace's record, if read lately enough and still standing.
    pub fn namespaces(&self) -> Option<NamespaceRecords> {
        let kept = self.namespaces.lock().expect("not poisoned");
        kept.as_ref().filter(|k| self.stands(k)).map(|k| Arc::clone(&k.value))
    }

    /// Remembers every namespace's record, read after `stamp` was taken.
    pub fn keep_namespaces(&self, records: NamespaceRecords, stamp: Stamp) {
        let Stamp(Some(stamp)) = stamp else { return };
        *self.namespaces.lock().expect("not poisoned") = Some(Kept { value: records, at: Instant::now(), stamp });
    }

    /// A user's roles, if read lately enough and still standing.
    pub fn memberships(&self, user: &str) -> Option<Roles> {
        let kept = self.memberships.lock().expect("not poisoned");
        kept.get(user).filter(|k| self.stands(k)).map(|k| Arc::clone(&k.value))
    }

    /// Remembers a user's roles, read after `stamp` was taken.
    pub fn keep_memberships(&self, user: &str, roles: Roles, stamp: Stamp) {
        let Stamp(Some(stamp)) = stamp else { return };
        let mut kept = self.memberships.lock().expect("not poisoned");
        if kept.len() >= MAX_ENTRIES {
            kept.clear();
        }
        kept.insert(user.to_owned(), Kept { value: roles, at: Instant::now(), stamp });
    }

    /// Another process committed a change: read the sequence now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Reads the changes committed since the last read.
    pub async fn follow(&self, store: &dyn MetadataStore) -> Result<(), StoreError> {
        const PAGE: u32 = 1000;
        let started = Instant::now();
        let known = self.follow.lock().expect("not poisoned").seq;
        let (seq, void) = match known {
            // The first read: what came before cannot concern entries made after it.
            None => (store.last_change_seq().await?, None),
            Some(mut after) => {
                let mut void = None;
                loop {
                    let changes = store.changes_since(after, PAGE).await?;
                    if let Some(change) = changes.iter().rev().find(|c| c.kind == ChangeKind::Credentials) {
                        void = Some(change.seq);
                    }
                    after = changes.last().map_or(after, |c| c.seq);
                    if changes.len() < PAGE as usize {
                        break (after, void);
                    }
                }
            }
        };
        {
            let mut follow = self.follow.lock().expect("not poisoned");
            follow.seq = Some(follow.seq.map_or(seq, |s| s.max(seq)));
            if let Some(v) = void {
                follow.void_before = follow.void_before.max(v);
            }
            follow.read_at = Some(follow.read_at.map_or(started, |at| at.max(started)));
        }
        if void.is_some() {
            self.clear();
        }
        Ok(())
    }

    /// Follows the change sequence for as long as the server runs.
    pub async fn follow_forever(&self, store: &dyn MetadataStore) {
        let period = (self.bound / 4).max(Duration::from_millis(25));
        let mut failing = false;
        loop {
            match self.follow(store).await {
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "cannot read the change sequence: cached credentials are not trusted until it can");
                    failing = true;
                }
                Ok(()) if failing => {
                    tracing::info!("reading the change sequence again: cached credentials are trusted again");
                    failing = false;
                }
                _ => {}
            }
            let _ = tokio::time::timeout(period, self.wake.notified()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn robot() -> Principal {
        Principal::Robot { token: "t1".into(), name: "ci".into(), namespace: "team".into(), scopes: registry_core::auth::Actions::ALL }
    }

    fn cache_read_at(read_at: Option<Instant>, seq: i64, void_before: i64) -> CredentialCache {
        let cache = CredentialCache::new(Duration::from_mins(1), Duration::from_secs(2));
        *cache.follow.lock().unwrap() = Follow { seq: Some(seq), void_before, read_at };
        cache
    }

    #[test]
    fn nothing_is_trusted_without_a_recent_read_of_the_sequence() {
        let never = cache_read_at(None, 5, 0);
        never.insert("k".into(), robot(), never.stamp(), None);
        assert!(never.get("k", 0).is_none(), "not kept: the stamp was taken while untrusted");

        let cache = cache_read_at(Some(Instant::now()), 5, 0);
        cache.insert("k".into(), robot(), cache.stamp(), None);
        assert_eq!(cache.get("k", 0), Some(robot()));
        cache.follow.lock().unwrap().read_at = Instant::now().checked_sub(Duration::from_secs(3));
        assert!(cache.get("k", 0).is_none(), "the last read is older than the bound");
    }

    #[test]
    fn a_credentials_change_after_the_stamp_voids_the_entry() {
        let cache = cache_read_at(Some(Instant::now()), 5, 0);
        cache.insert("k".into(), robot(), cache.stamp(), None);
        cache.follow.lock().unwrap().void_before = 5;
        assert!(cache.get("k", 0).is_some(), "a change the check already saw");
        cache.follow.lock().unwrap().void_before = 6;
        assert!(cache.get("k", 0).is_none(), "a change committed after the check");
    }

    #[test]
    fn expiry_and_lifetime_end_an_entry() {
        let cache = cache_read_at(Some(Instant::now()), 1, 0);
        cache.insert("k".into(), robot(), cache.stamp(), Some(1_000));
        assert!(cache.get("k", 999).is_some());
        assert!(cache.get("k", 1_000).is_none(), "the token expired");
        let off = CredentialCache::new(Duration::ZERO, Duration::from_secs(2));
        *off.follow.lock().unwrap() = Follow { seq: Some(1), void_before: 0, read_at: Some(Instant::now()) };
        off.insert("k".into(), robot(), off.stamp(), None);
        assert!(off.get("k", 0).is_none(), "a zero lifetime caches nothing");
    }
}
