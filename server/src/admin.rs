//! Administration of users, namespaces, members, API tokens, signing keys, policies and the
//! audit log: one set of operations, each checking the caller's rights and writing the audit
//! log, used by the JSON API (`/api/v1`) and by `sherpack-registry admin`.

use registry_core::auth::{
    Action, Actions, ApiToken, AuditEntry, AuditQuery, Member, Namespace, NamespacePolicy, Outcome, Principal, Role,
    SigningKey, User, Visibility, is_valid_namespace, is_valid_username,
};
use registry_core::store::StoreError;
use serde::Serialize;

use crate::auth::{Auth, Caller, credentials, hash_password, now_millis};

/// Longest password accepted (argon2 takes any length; this bounds the work per request).
pub const MAX_PASSWORD: usize = credentials::MAX_SECRET;
pub const MIN_PASSWORD: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub type AdminResult<T> = Result<T, AdminError>;

#[derive(Debug, Serialize)]
pub struct UserView {
    pub name: String,
    pub admin: bool,
    pub created_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self { name: u.name, admin: u.is_admin, created_at: u.created_at }
    }
}

#[derive(Debug, Serialize)]
pub struct NamespaceView {
    pub name: String,
    pub visibility: Visibility,
    pub policy: NamespacePolicy,
    pub created_at: i64,
}

impl From<Namespace> for NamespaceView {
    fn from(n: Namespace) -> Self {
        Self { policy: serde_json::from_str(&n.policy).unwrap_or_default(), name: n.name, visibility: n.visibility, created_at: n.created_at }
    }
}

#[derive(Debug, Serialize)]
pub struct MemberView {
    pub user: String,
    pub role: Role,
}

#[derive(Debug, Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub scopes: Vec<Action>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            owner: t.owner,
            namespace: t.namespace,
            scopes: t.scopes.iter().collect(),
            expires_at: t.expires_at,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A token at creation: the only time its secret is shown.
#[derive(Debug, Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenView,
    pub token: String,
}

#[derive(Debug, Serialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub public_key: String,
    pub created_at: i64,
}

#[derive(Debug, Serialize)]
pub struct WhoAmI {
    pub user: Option<String>,
    pub admin: bool,
    pub scopes: Vec<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub robot_namespace: Option<String>,
    pub memberships: Vec<MembershipView>,
}

#[derive(Debug, Serialize)]
pub struct MembershipView {
    pub namespace: String,
    pub role: Role,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<Action>,
    /// Makes a robot token bound to this namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Lifetime in days; absent means no expiry.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// The user the token belongs to, when a registry admin creates it for someone else.
    #[serde(default)]
    pub owner: Option<String>,
}

/// One caller acting through the administration operations.
pub struct Admin<'a> {
    pub auth: &'a Auth,
    pub caller: &'a Caller,
}

fn check_password(password: &str) -> AdminResult<()> {
    if password.len() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(AdminError::Invalid(format!("a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")));
    }
    if credentials::looks_like_token(password) {
        return Err(AdminError::Invalid(format!("a password may not start with `{}`", credentials::TOKEN_PREFIX)));
    }
    Ok(())
}

fn check_name(kind: &str, name: &str, valid: bool) -> AdminResult<()> {
    if valid {
        Ok(())
    } else {
        let shown: String = name.chars().take(64).collect();
        Err(AdminError::Invalid(format!("`{shown}` is not a valid {kind} name")))
    }
}

/// The base64 line of a minisign public key (a whole `.pub` file is accepted too) and its
/// key id in minisign's notation.
pub fn parse_minisign_key(text: &str) -> AdminResult<(String, String)> {
    use base64::Engine;
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:")).unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|_| AdminError::Invalid("the public key is not base64".into()))?;
    if bytes.len() != 42 || &bytes[..2] != b"Ed" {
        return Err(AdminError::Invalid("not a minisign Ed25519 public key".into()));
    }
    let id = crate::packs::signatures::key_id(&bytes[2..10]);
    Ok((line.to_owned(), id))
}

impl Admin<'_> {
    fn is_registry_admin(&self) -> bool {
        self.caller.principal.is_registry_admin()
            || matches!(self.auth.mode(), registry_core::auth::Mode::Open { anonymous_write: true })
    }

    pub(crate) fn require_registry_admin(&self) -> AdminResult<()> {
        if self.is_registry_admin() {
            Ok(())
        } else {
            Err(AdminError::Forbidden("only a registry admin may do this".into()))
        }
    }

    /// The namespace, if the caller may see it; `NotFound` otherwise (private names stay
    /// private).
    async fn visible_namespace(&self, name: &str) -> AdminResult<(Namespace, Actions)> {
        let not_found = || AdminError::NotFound("namespace not found".to_owned());
        let ns = self.auth.store().namespace(name).await?.ok_or_else(not_found)?;
        let perms = self.auth.permissions(&self.caller.principal, name).await?;
        if !perms.visible {
            return Err(not_found());
        }
        Ok((ns, perms.actions))
    }

    pub(crate) async fn namespace_admin(&self, name: &str) -> AdminResult<Namespace> {
        let (ns, actions) = self.visible_namespace(name).await?;
        if actions.contains(Action::Admin) {
            Ok(ns)
        } else {
            Err(AdminError::Forbidden(format!("only an admin of namespace {name} may do this")))
        }
    }

    pub(crate) async fn audit(&self, action: &str, target: &str, detail: &str) {
        self.auth.audit_caller(self.caller, action, target, Outcome::Ok, detail).await;
    }

    pub async fn whoami(&self) -> AdminResult<WhoAmI> {
        let (user, admin, scopes, robot_namespace) = match &self.caller.principal {
            Principal::Anonymous => (None, self.is_registry_admin(), Actions::NONE, None),
            Principal::User { name, scopes, .. } => (Some(name.clone()), self.is_registry_admin(), *scopes, None),
            Principal::Robot { name, namespace, scopes, .. } => (Some(name.clone()), false, *scopes, Some(namespace.clone())),
        };
        let memberships = match self.caller.principal.username() {
            Some(name) => self
                .auth
                .store()
                .memberships(name)
                .await?
                .into_iter()
                .map(|m| MembershipView { namespace: m.namespace, role: m.role })
                .collect(),
            None => Vec::new(),
        };
        Ok(WhoAmI { user, admin, scopes: scopes.iter().collect(), robot_namespace, memberships })
    }

    pub async fn list_users(&self) -> AdminResult<Vec<UserView>> {
        self.require_registry_admin()?;
        Ok(self.auth.store().list_users().await?.into_iter().map(UserView::from).collect())
    }

    pub async fn create_user(&self, name: &str, password: &str, admin: bool) -> AdminResult<UserView> {
        self.require_registry_admin()?;
        check_name("user", name, is_valid_username(name))?;
        check_password(password)?;
        let user = User { name: name.to_owned(), password_hash: hash_password(password.to_owned()).await, is_admin: admin, created_at: now_millis() };
        if !self.auth.store().create_user(&user).await? {
            return Err(AdminError::Conflict(format!("user {name} already exists")));
        }
        self.audit("user.create", name, if admin { "registry admin" } else { "" }).await;
        self.auth.refresh().await?;
        Ok(user.into())
    }

    /// Changes a password (the user itself or a registry admin) or the admin flag (a registry
    /// admin only).
    pub async fn update_user(&self, name: &str, password: Option<&str>, admin: Option<bool>) -> AdminResult<UserView> {
        let is_self = self.caller.principal.username() == Some(name) && matches!(self.caller.principal, Principal::User { token: None, .. });
        if !(self.is_registry_admin() || (is_self && admin.is_none())) {
            return Err(AdminError::Forbidden("only a registry admin may change another user".into()));
        }
        if let Some(p) = password {
            check_password(p)?;
        }
        if admin == Some(false) {
            self.keep_one_admin(name).await?;
        }
        let hash = match password {
            Some(p) => Some(hash_password(p.to_owned()).await),
            None => None,
        };
        if !self.auth.store().update_user(name, hash.as_deref(), admin).await? {
            return Err(AdminError::NotFound(format!("user {name} does not exist")));
        }
        self.auth.forget_verified();
        let mut changes = Vec::new();
        if password.is_some() {
            changes.push("password".to_owned());
        }
        if let Some(a) = admin {
            changes.push(format!("admin={a}"));
        }
        self.audit("user.update", name, &changes.join(", ")).await;
        let user = self.auth.store().user(name).await?.ok_or_else(|| AdminError::NotFound(format!("user {name} does not exist")))?;
        Ok(user.into())
    }

    async fn keep_one_admin(&self, name: &str) -> AdminResult<()> {
        let users = self.auth.store().list_users().await?;
        let admins: Vec<&User> = users.iter().filter(|u| u.is_admin).collect();
        if admins.len() == 1 && admins[0].name == name {
            return Err(AdminError::Conflict(format!("{name} is the last registry admin")));
        }
        Ok(())
    }

    pub async fn delete_user(&self, name: &str) -> AdminResult<()> {
        self.require_registry_admin()?;
        self.keep_one_admin(name).await?;
        if !self.auth.store().delete_user(name).await? {
            return Err(AdminError::NotFound(format!("user {name} does not exist")));
        }
        self.auth.forget_verified();
        self.audit("user.delete", name, "").await;
        Ok(())
    }

    pub async fn list_namespaces(&self) -> AdminResult<Vec<NamespaceView>> {
        let mut visible = Vec::new();
        for ns in self.auth.store().list_namespaces().await? {
            if self.auth.permissions(&self.caller.principal, &ns.name).await?.visible {
                visible.push(ns.into());
            }
        }
        Ok(visible)
    }

    pub async fn namespace(&self, name: &str) -> AdminResult<NamespaceView> {
        Ok(self.visible_namespace(name).await?.0.into())
    }

    pub async fn create_namespace(&self, name: &str, visibility: Visibility) -> AdminResult<NamespaceView> {
        self.require_registry_admin()?;
        check_name("namespace", name, is_valid_namespace(name))?;
        let ns = Namespace { name: name.to_owned(), visibility, policy: "{}".into(), created_at: now_millis() };
        if !self.auth.store().create_namespace(&ns).await? {
            return Err(AdminError::Conflict(format!("namespace {name} already exists")));
        }
        self.auth.forget_verified();
        self.audit("namespace.create", name, visibility.as_str()).await;
        Ok(ns.into())
    }

    pub async fn update_namespace(&self, name: &str, visibility: Option<Visibility>, policy: Option<&NamespacePolicy>) -> AdminResult<NamespaceView> {
        self.namespace_admin(name).await?;
        let policy_json = policy.map(|p| serde_json::to_string(p).expect("a policy serialises"));
        self.auth.store().update_namespace(name, visibility, policy_json.as_deref()).await?;
        self.auth.forget_verified();
        if let Some(v) = visibility {
            self.audit("namespace.visibility", name, v.as_str()).await;
        }
        if let Some(p) = &policy_json {
            self.audit("namespace.policy", name, p).await;
        }
        self.namespace(name).await
    }

    pub async fn delete_namespace(&self, name: &str) -> AdminResult<()> {
        self.require_registry_admin()?;
        if !self.auth.store().delete_namespace(name).await? {
            return Err(AdminError::NotFound(format!("namespace {name} does not exist")));
        }
        self.auth.forget_verified();
        self.audit("namespace.delete", name, "").await;
        Ok(())
    }

    pub async fn members(&self, namespace: &str) -> AdminResult<Vec<MemberView>> {
        self.namespace_admin(namespace).await?;
        Ok(self.auth.store().members(namespace).await?.into_iter().map(|m| MemberView { user: m.username, role: m.role }).collect())
    }

    pub async fn set_member(&self, namespace: &str, user: &str, role: Role) -> AdminResult<MemberView> {
        self.namespace_admin(namespace).await?;
        if self.auth.store().user(user).await?.is_none() {
            return Err(AdminError::NotFound(format!("user {user} does not exist")));
        }
        self.auth.store().set_member(&Member { namespace: namespace.to_owned(), username: user.to_owned(), role }).await?;
        self.auth.forget_verified();
        self.audit("member.set", &format!("{namespace}/{user}"), role.as_str()).await;
        Ok(MemberView { user: user.to_owned(), role })
    }

    pub async fn remove_member(&self, namespace: &str, user: &str) -> AdminResult<()> {
        self.namespace_admin(namespace).await?;
        if !self.auth.store().remove_member(namespace, user).await? {
            return Err(AdminError::NotFound(format!("{user} is not a member of {namespace}")));
        }
        self.auth.forget_verified();
        self.audit("member.remove", &format!("{namespace}/{user}"), "").await;
        Ok(())
    }

    /// Creates a personal token (for the caller) or, with `namespace`, a robot token (for a
    /// namespace admin).
    pub async fn create_token(&self, request: &NewToken) -> AdminResult<CreatedToken> {
        let Principal::User { name: caller_name, token: None, .. } = &self.caller.principal else {
            return Err(AdminError::Forbidden("tokens are created by a user signed in with a password".into()));
        };
        let owner = match &request.owner {
            Some(other) if other != caller_name => {
                self.require_registry_admin()?;
                if self.auth.store().user(other).await?.is_none() {
                    return Err(AdminError::NotFound(format!("user {other} does not exist")));
                }
                other
            }
            _ => caller_name,
        };
        if request.name.trim().is_empty() || request.name.len() > 100 {
            return Err(AdminError::Invalid("a token needs a name of 1 to 100 characters".into()));
        }
        if request.scopes.is_empty() {
            return Err(AdminError::Invalid("a token needs at least one scope (pull, push, delete, admin)".into()));
        }
        if let Some(ns) = &request.namespace {
            self.namespace_admin(ns).await?;
        }
        let now = now_millis();
        let (id, secret) = credentials::new_token();
        let token = ApiToken {
            id,
            secret_hash: credentials::secret_hash(&secret),
            name: request.name.clone(),
            owner: owner.clone(),
            namespace: request.namespace.clone(),
            scopes: Actions::of(&request.scopes),
            expires_at: request.expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        self.auth.store().create_token(&token).await?;
        let kind = token.namespace.as_ref().map_or_else(|| "personal".to_owned(), |ns| format!("robot for {ns}"));
        self.audit("token.create", &token.id, &format!("{kind}, {} scopes {}", token.name, token.scopes)).await;
        Ok(CreatedToken { info: token.into(), token: secret })
    }

    /// The caller's own tokens; a registry admin with `all` sees every token.
    pub async fn list_tokens(&self, all: bool) -> AdminResult<Vec<TokenView>> {
        let owner = match (&self.caller.principal, all && self.is_registry_admin()) {
            (_, true) => None,
            (Principal::User { name, .. }, false) => Some(name.as_str()),
            _ => return Err(AdminError::Forbidden("only users have tokens".into())),
        };
        Ok(self.auth.store().list_tokens(owner).await?.into_iter().map(TokenView::from).collect())
    }

    pub async fn revoke_token(&self, id: &str) -> AdminResult<()> {
        let not_found = || AdminError::NotFound(format!("token {id} does not exist"));
        let token = self.auth.store().token(id).await?.ok_or_else(not_found)?;
        let own = self.caller.principal.username() == Some(token.owner.as_str());
        let ns_admin = match &token.namespace {
            Some(ns) => self.namespace_admin(ns).await.is_ok(),
            None => false,
        };
        if !(own || ns_admin || self.is_registry_admin()) {
            return Err(not_found());
        }
        if !self.auth.store().revoke_token(id, now_millis()).await? {
            return Err(AdminError::Conflict(format!("token {id} is already revoked")));
        }
        self.auth.forget_verified();
        self.audit("token.revoke", id, &token.name).await;
        Ok(())
    }

    pub async fn signing_keys(&self, namespace: &str) -> AdminResult<Vec<KeyView>> {
        self.visible_namespace(namespace).await?;
        Ok(self
            .auth
            .store()
            .signing_keys(namespace)
            .await?
            .into_iter()
            .map(|k| KeyView { id: k.id, name: k.name, public_key: k.public_key, created_at: k.created_at })
            .collect())
    }

    pub async fn add_signing_key(&self, namespace: &str, name: &str, public_key: &str) -> AdminResult<KeyView> {
        self.namespace_admin(namespace).await?;
        if name.trim().is_empty() || name.len() > 100 {
            return Err(AdminError::Invalid("a key needs a name of 1 to 100 characters".into()));
        }
        let (public_key, id) = parse_minisign_key(public_key)?;
        let key = SigningKey { id, namespace: namespace.to_owned(), name: name.to_owned(), public_key, created_at: now_millis() };
        if !self.auth.store().add_signing_key(&key).await? {
            return Err(AdminError::Conflict(format!("namespace {namespace} already trusts key {} or a key named {name}", key.id)));
        }
        self.audit("key.add", &format!("{namespace}/{}", key.id), name).await;
        Ok(KeyView { id: key.id, name: key.name, public_key: key.public_key, created_at: key.created_at })
    }

    pub async fn remove_signing_key(&self, namespace: &str, id: &str) -> AdminResult<()> {
        self.namespace_admin(namespace).await?;
        if !self.auth.store().remove_signing_key(namespace, id).await? {
            return Err(AdminError::NotFound(format!("namespace {namespace} has no key {id}")));
        }
        self.audit("key.remove", &format!("{namespace}/{id}"), "").await;
        Ok(())
    }

    pub async fn audit_log(&self, query: &AuditQuery) -> AdminResult<Vec<AuditEntry>> {
        self.require_registry_admin()?;
        let mut query = query.clone();
        query.limit = query.limit.clamp(1, 1000);
        Ok(self.auth.store().audit(&query).await?)
    }
}
