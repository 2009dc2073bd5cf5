//! Who may do what: users, namespaces and their members, API tokens, the audit log, and the
//! one function that decides a principal's permissions on a namespace. No HTTP, no SQL, no
//! cryptography here: the server verifies credentials, the store keeps the records.

use std::fmt;
use std::str::FromStr;

use crate::store::{Millis, StoreResult};

/// A member's role in a namespace, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Public,
    Private,
}

/// An action on a namespace; also the scopes an API token may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Pull,
    Push,
    Delete,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what} (expected one of: {expected})")]
pub struct ParseError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! string_enum {
    ($ty:ident, $what:literal, $($variant:ident => $s:literal),+) => {
        impl $ty {
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }
        impl FromStr for $ty {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    _ => Err(ParseError {
                        what: $what,
                        value: s.chars().take(64).collect(),
                        expected: concat!($($s, " "),+),
                    }),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(Role, "role", Reader => "reader", Writer => "writer", Admin => "admin");
string_enum!(Visibility, "visibility", Public => "public", Private => "private");
string_enum!(Action, "scope", Pull => "pull", Push => "push", Delete => "delete", Admin => "admin");

impl Action {
    pub const ALL: [Action; 4] = [Action::Pull, Action::Push, Action::Delete, Action::Admin];
}

/// A set of actions (token scopes, or what a principal may do on a namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const ALL: Actions = Actions(0b1111);

    fn bit(a: Action) -> u8 {
        1 << (a as u8)
    }

    #[must_use]
    pub fn of(actions: &[Action]) -> Self {
        Actions(actions.iter().fold(0, |m, a| m | Self::bit(*a)))
    }

    #[must_use]
    pub fn contains(self, a: Action) -> bool {
        self.0 & Self::bit(a) != 0
    }

    #[must_use]
    pub fn intersect(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    #[must_use]
    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// What a role grants: readers pull, writers also push, admins also delete and administer.
    #[must_use]
    pub fn for_role(role: Role) -> Actions {
        match role {
            Role::Reader => Actions::of(&[Action::Pull]),
            Role::Writer => Actions::of(&[Action::Pull, Action::Push]),
            Role::Admin => Actions::ALL,
        }
    }

    /// Parses a comma-separated list such as `pull,push`; `*` means every action.
    pub fn parse_list(s: &str) -> Result<Actions, ParseError> {
        if s.trim() == "*" {
            return Ok(Actions::ALL);
        }
        let mut set = Actions::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            set.0 |= Self::bit(part.parse()?);
        }
        Ok(set)
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Action::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// User names: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
#[must_use]
pub fn is_valid_username(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// Namespace names: one path component of the OCI name grammar.
#[must_use]
pub fn is_valid_namespace(name: &str) -> bool {
    !name.contains('/') && name.len() <= 128 && name.parse::<crate::RepoName>().is_ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// A PHC string (argon2id).
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub visibility: Visibility,
    /// Namespace policy as a JSON object (retention, quota, signatures); interpreted by the
    /// features it governs.
    pub policy: String,
    pub created_at: Millis,
}

/// Rules a namespace admin sets; stored as JSON in the namespace record and enforced by the
/// features they govern (retention and quotas by GC and push, signatures by packs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamespacePolicy {
    /// Keep only the newest N versions of each pack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last_versions: Option<u32>,
    /// Most bytes the namespace may hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_storage_bytes: Option<u64>,
    /// Refuse packs without a signature by a trusted key of the namespace.
    pub require_signature: bool,
    /// Allow pushing an existing version again (`ChartMuseum`'s overwrite).
    pub allow_overwrite: bool,
}

/// Whether a namespace's stored policy (JSON) allows pushing an existing version again.
#[must_use]
pub fn policy_allows_overwrite(policy: &str) -> bool {
    serde_json::from_str::<NamespacePolicy>(policy).is_ok_and(|p| p.allow_overwrite)
}

/// An HTTP endpoint a namespace has notified of pushes and deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub namespace: String,
    pub url: String,
    /// The HMAC-SHA256 key of the signature header.
    pub secret: String,
    /// `push`, `delete`.
    pub events: Vec<String>,
    pub created_at: Millis,
}

/// One notification of a webhook, pending, delivered or given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub event: String,
    pub payload: String,
    pub attempts: u32,
    pub last_status: Option<String>,
    pub delivered_at: Option<Millis>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub namespace: String,
    pub username: String,
    pub role: Role,
}

/// An API token as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub secret_hash: String,
    pub name: String,
    pub owner: String,
    /// Set for robot tokens: the one namespace the token acts in.
    pub namespace: Option<String>,
    pub scopes: Actions,
    pub expires_at: Option<Millis>,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl ApiToken {
    #[must_use]
    pub fn is_live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub public_key: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

string_enum!(Outcome, "outcome", Ok => "ok", Denied => "denied", Failed => "failed");

/// A recorded entry: what was recorded, with the id and time the store gave it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Millis,
    #[serde(flatten)]
    pub record: NewAuditEntry,
}

/// What to record; the store assigns `id` and `at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewAuditEntry {
    /// The user or token that acted; `None` for anonymous requests.
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    pub address: Option<String>,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Entries with an id below this one (paging backwards from the newest).
    pub before: Option<i64>,
    pub limit: u32,
}

/// Records of users, namespaces, members, tokens, keys, the audit log and settings.
#[async_trait::async_trait]
pub trait AuthStore: Send + Sync + 'static {
    async fn user_count(&self) -> StoreResult<u64>;
    /// Creates a user; returns false when the name is taken.
    async fn create_user(&self, user: &User) -> StoreResult<bool>;
    async fn user(&self, name: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Changes password hash and/or admin flag; returns false when the user does not exist.
    async fn update_user(&self, name: &str, password_hash: Option<&str>, is_admin: Option<bool>) -> StoreResult<bool>;
    async fn delete_user(&self, name: &str) -> StoreResult<bool>;

    async fn create_namespace(&self, ns: &Namespace) -> StoreResult<bool>;
    async fn namespace(&self, name: &str) -> StoreResult<Option<Namespace>>;
    async fn list_namespaces(&self) -> StoreResult<Vec<Namespace>>;
    async fn update_namespace(&self, name: &str, visibility: Option<Visibility>, policy: Option<&str>) -> StoreResult<bool>;
    async fn delete_namespace(&self, name: &str) -> StoreResult<bool>;

    async fn create_webhook(&self, hook: &Webhook) -> StoreResult<()>;
    async fn webhooks(&self, namespace: &str) -> StoreResult<Vec<Webhook>>;
    async fn delete_webhook(&self, namespace: &str, id: &str) -> StoreResult<bool>;
    /// The newest deliveries of a webhook first.
    async fn webhook_deliveries(&self, webhook_id: &str, limit: u32) -> StoreResult<Vec<WebhookDelivery>>;
    /// Takes up to `limit` deliveries due at `now` (pending, fewer than `max_attempts` tries)
    /// and hides them from other claimers until `lease_until`.
    async fn claim_deliveries(&self, now: Millis, lease_until: Millis, max_attempts: u32, limit: u32) -> StoreResult<Vec<WebhookDelivery>>;
    /// Records an attempt: delivered, or to be tried again at `retry_at`.
    async fn finish_delivery(&self, id: i64, delivered: bool, status: &str, retry_at: Millis) -> StoreResult<()>;
    /// The namespace record and the user's role in it, in one round trip.
    async fn namespace_access(&self, namespace: &str, user: Option<&str>) -> StoreResult<(Option<Namespace>, Option<Role>)>;

    async fn set_member(&self, member: &Member) -> StoreResult<()>;
    async fn remove_member(&self, namespace: &str, username: &str) -> StoreResult<bool>;
    async fn members(&self, namespace: &str) -> StoreResult<Vec<Member>>;
    /// Every namespace the user is a member of, with the role.
    async fn memberships(&self, username: &str) -> StoreResult<Vec<Member>>;

    async fn create_token(&self, token: &ApiToken) -> StoreResult<()>;
    async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiToken>>;
    async fn token(&self, id: &str) -> StoreResult<Option<ApiToken>>;
    async fn list_tokens(&self, owner: Option<&str>) -> StoreResult<Vec<ApiToken>>;
    async fn revoke_token(&self, id: &str, at: Millis) -> StoreResult<bool>;
    async fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()>;

    async fn add_signing_key(&self, key: &SigningKey) -> StoreResult<bool>;
    async fn signing_keys(&self, namespace: &str) -> StoreResult<Vec<SigningKey>>;
    async fn remove_signing_key(&self, namespace: &str, id: &str) -> StoreResult<bool>;

    async fn record_audit(&self, entry: &NewAuditEntry) -> StoreResult<()>;
    /// Newest first.
    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// Returns the stored value of a setting, storing `value` first when there is none (so
    /// concurrent replicas agree on one value).
    async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String>;
}

/// Who is asking, once credentials are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User {
        name: String,
        is_admin: bool,
        /// A password grants everything the user may do; an API token only its scopes.
        scopes: Actions,
        /// Set when the user acts through a token (for the audit log).
        token: Option<String>,
    },
    /// A robot token: bound to one namespace, with exactly its scopes there.
    Robot {
        token: String,
        name: String,
        namespace: String,
        scopes: Actions,
    },
}

impl Principal {
    /// The name recorded in the audit log.
    #[must_use]
    pub fn actor(&self) -> Option<String> {
        match self {
            Principal::Anonymous => None,
            Principal::User { name, token: None, .. } => Some(name.clone()),
            Principal::User { name, token: Some(t), .. } => Some(format!("{name} (token {t})")),
            Principal::Robot { token, name, .. } => Some(format!("robot {name} (token {token})")),
        }
    }

    #[must_use]
    pub fn username(&self) -> Option<&str> {
        match self {
            Principal::User { name, .. } => Some(name),
            _ => None,
        }
    }

    #[must_use]
    pub fn is_registry_admin(&self) -> bool {
        matches!(self, Principal::User { is_admin: true, scopes, .. } if scopes.contains(Action::Admin))
    }
}

/// How the registry treats requests that no namespace rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No user exists: every namespace is public; anonymous callers may also write when the
    /// registry listens on a loopback address only.
    Open { anonymous_write: bool },
    /// Users exist: namespace visibility and membership decide; a namespace without a record
    /// is private to registry admins, who create it on first push.
    Enforced,
}

/// What a principal may do in one namespace, and whether it may know the namespace exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub visible: bool,
    pub actions: Actions,
}

impl Permissions {
    #[must_use]
    pub fn allows(self, a: Action) -> bool {
        self.actions.contains(a)
    }
}

/// The one authorization rule. `namespace` is the record (if any) of the repository's first
/// path segment, `role` the principal's membership role in it.
#[must_use]
pub fn permissions(mode: Mode, principal: &Principal, namespace_name: &str, namespace: Option<&Namespace>, role: Option<Role>) -> Permissions {
    let public = match (mode, namespace) {
        (_, Some(ns)) => ns.visibility == Visibility::Public,
        (Mode::Open { .. }, None) => true,
        (Mode::Enforced, None) => false,
    };
    let read_only = if public { Actions::of(&[Action::Pull]) } else { Actions::NONE };
    let actions = match principal {
        Principal::Anonymous => match mode {
            Mode::Open { anonymous_write: true } => Actions::ALL,
            _ => read_only,
        },
        Principal::User { is_admin, scopes, .. } => {
            let granted = if *is_admin {
                Actions::ALL
            } else {
                let by_role = role.map_or(Actions::NONE, Actions::for_role);
                Actions(by_role.0 | read_only.0)
            };
            granted.intersect(*scopes)
        }
        Principal::Robot { namespace: bound, scopes, .. } => {
            if bound == namespace_name {
                *scopes
            } else {
                read_only
            }
        }
    };
    let visible = public || !actions.is_empty();
    // Pull is implied by any right at all: a writer who cannot read what it wrote is a trap.
    let actions = if actions.is_empty() { actions } else { Actions(actions.0 | Actions::bit(Action::Pull)) };
    Permissions { visible, actions }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(v: Visibility) -> Namespace {
        Namespace { name: "team".into(), visibility: v, policy: "{}".into(), created_at: 0 }
    }

    fn user(admin: bool) -> Principal {
        Principal::User { name: "u".into(), is_admin: admin, scopes: Actions::ALL, token: None }
    }

    #[test]
    fn roles_grant_increasing_rights() {
        let private = ns(Visibility::Private);
        let p = |role| permissions(Mode::Enforced, &user(false), "team", Some(&private), role);
        assert!(!p(None).visible);
        assert_eq!(p(Some(Role::Reader)).actions, Actions::of(&[Action::Pull]));
        assert_eq!(p(Some(Role::Writer)).actions, Actions::of(&[Action::Pull, Action::Push]));
        assert_eq!(p(Some(Role::Admin)).actions, Actions::ALL);
    }

    #[test]
    fn anonymous_reads_public_only_and_writes_only_in_open_loopback_mode() {
        let public = ns(Visibility::Public);
        let private = ns(Visibility::Private);
        let anon = Principal::Anonymous;
        assert_eq!(permissions(Mode::Enforced, &anon, "team", Some(&public), None).actions, Actions::of(&[Action::Pull]));
        assert!(!permissions(Mode::Enforced, &anon, "team", Some(&private), None).visible);
        assert!(!permissions(Mode::Enforced, &anon, "team", None, None).visible);
        assert_eq!(permissions(Mode::Open { anonymous_write: false }, &anon, "x", None, None).actions, Actions::of(&[Action::Pull]));
        assert_eq!(permissions(Mode::Open { anonymous_write: true }, &anon, "x", None, None).actions, Actions::ALL);
    }

    #[test]
    fn token_scopes_narrow_and_robots_stay_in_their_namespace() {
        let private = ns(Visibility::Private);
        let pull_token = Principal::User { name: "u".into(), is_admin: true, scopes: Actions::of(&[Action::Pull]), token: Some("t".into()) };
        assert_eq!(permissions(Mode::Enforced, &pull_token, "team", Some(&private), None).actions, Actions::of(&[Action::Pull]));
        assert!(!pull_token.is_registry_admin());
        let robot = Principal::Robot { token: "t".into(), name: "ci".into(), namespace: "team".into(), scopes: Actions::of(&[Action::Push]) };
        assert_eq!(permissions(Mode::Enforced, &robot, "team", Some(&private), None).actions, Actions::of(&[Action::Pull, Action::Push]));
        assert!(!permissions(Mode::Enforced, &robot, "other", Some(&private), None).visible);
    }

    #[test]
    fn scope_lists_parse_and_reject_unknown_words() {
        assert_eq!(Actions::parse_list("pull, push").unwrap(), Actions::of(&[Action::Pull, Action::Push]));
        assert_eq!(Actions::parse_list("*").unwrap(), Actions::ALL);
        assert!(Actions::parse_list("pull,root").is_err());
        assert_eq!(Actions::ALL.to_string(), "pull,push,delete,admin");
    }
}
