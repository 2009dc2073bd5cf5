//! Authentication and authorization for every API: turns the `Authorization` header into a
//! [`Caller`], decides what it may do in a repository ([`Auth::authorize`]), issues the bearer
//! tokens of the OCI token flow, and records the audit log. Each API maps the outcome onto
//! its own error format.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use registry_core::RepoName;
use registry_core::auth::{Action, Actions, Mode, NewAuditEntry, Outcome, Permissions, Principal, User, permissions};
use registry_core::store::{RegistryStore, StoreError};

use crate::config::AuthConfig;

mod cache;
pub mod credentials;
pub mod jwt;
mod limiter;

use credentials::Credentials;

/// A token's last-used time is written at most this often.
const TOUCH_INTERVAL: Duration = Duration::from_mins(1);
const SIGNING_SECRET_SETTING: &str = "token_signing_secret";

/// Who is calling, once credentials are verified.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Present when the caller came with a bearer token of the OCI flow: it may do no more in
    /// a repository than the token grants.
    pub claims: Option<jwt::Claims>,
    pub address: Option<IpAddr>,
}

impl Caller {
    #[must_use]
    pub fn anonymous(address: Option<IpAddr>) -> Self {
        Self { principal: Principal::Anonymous, claims: None, address }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("too many attempts; retry in {} s", .0.as_secs().max(1))]
    RateLimited(Duration),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Why a request may not go on.
#[derive(Debug)]
pub enum Denial {
    /// 401: credentials are needed; or (`insufficient_scope`, answered 403 with the challenge)
    /// a bearer token lacks a scope its holder has.
    Challenge { insufficient_scope: bool },
    /// 403: the caller sees the repository but may not do this.
    Forbidden,
    /// 404: the caller may not know the repository exists.
    NotFound,
    /// The namespace mirrors `source`: only its sync writes into it.
    Mirror { namespace: String, source: String },
    Store(StoreError),
}

impl Denial {
    /// The message of a [`Denial::Mirror`], the same in every API.
    #[must_use]
    pub fn mirror_message(namespace: &str, source: &str) -> String {
        format!("namespace {namespace} is a mirror of {source}: pushes are refused")
    }
}

impl From<StoreError> for Denial {
    fn from(e: StoreError) -> Self {
        Denial::Store(e)
    }
}

pub struct Auth {
    store: Arc<dyn RegistryStore>,
    keys: jwt::Keys,
    config: AuthConfig,
    loopback_only: bool,
    enforced: AtomicBool,
    limiters: limiter::Limiters,
    /// Passwords and API tokens verified lately (see [`cache`]).
    verified: cache::CredentialCache,
    touched: Mutex<HashMap<String, Instant>>,
    /// Verified against when the user does not exist, so both cases take as long. Made on
    /// first need: argon2 takes 19 MiB for a moment, which an idle server should not pay.
    dummy_hash: tokio::sync::OnceCell<String>,
}

#[must_use] 
pub fn now_millis() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis())
        .unwrap_or(i64::MAX)
}

impl Auth {
    /// Loads the signing secret (creating it once for all replicas), creates the configured
    /// admin on first start, and learns whether any user exists.
    pub async fn open(store: Arc<dyn RegistryStore>, config: &AuthConfig, listen: std::net::SocketAddr) -> Result<Arc<Self>, StoreError> {
        let secret = store.setting_or_insert(SIGNING_SECRET_SETTING, &credentials::new_signing_secret()).await?;
        if let Some((name, password)) = config.initial_admin().map_err(|e| StoreError::Backend(e.to_string()))?
            && store.user(&name).await?.is_none()
        {
            let password_hash = hash_password(password).await;
            if store.create_user(&User { name: name.clone(), password_hash, is_admin: true, created_at: now_millis() }).await? {
                tracing::info!(user = %name, "created the configured registry admin");
                store
                    .record_audit(&NewAuditEntry {
                        actor: None,
                        action: "user.create".into(),
                        target: name,
                        address: None,
                        outcome: Outcome::Ok,
                        detail: "initial admin from configuration".into(),
                    })
                    .await?;
            }
        }
        let enforced = store.user_count().await? > 0;
        let auth = Arc::new(Self {
            keys: jwt::Keys::new(&secret, &config.service),
            config: config.clone(),
            loopback_only: listen.ip().is_loopback(),
            enforced: AtomicBool::new(enforced),
            limiters: limiter::Limiters::new(config.login_attempts_per_minute, config.token_requests_per_minute),
            verified: cache::CredentialCache::new(
                Duration::from_secs(config.credential_cache_secs),
                Duration::from_millis(config.revocation_bound_ms),
            ),
            touched: Mutex::new(HashMap::new()),
            dummy_hash: tokio::sync::OnceCell::new(),
            store,
        });
        auth.announce_mode();
        Ok(auth)
    }

    fn announce_mode(&self) {
        match self.mode() {
            Mode::Enforced => tracing::info!("authentication on: namespaces, members and tokens decide access"),
            Mode::Open { anonymous_write: true } => tracing::warn!(
                "NO USERS CONFIGURED: anyone who can reach this address may read AND WRITE every repository; \
                 allowed only because the registry listens on a loopback address. Set auth.admin_user to turn authentication on"
            ),
            Mode::Open { anonymous_write: false } => tracing::warn!(
                "NO USERS CONFIGURED and listening beyond loopback: anonymous reads only, every write is refused. \
                 Set auth.admin_user and auth.admin_password to let anyone push"
            ),
        }
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn RegistryStore> {
        &self.store
    }

    #[must_use]
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    #[must_use]
    pub fn mode(&self) -> Mode {
        if self.enforced.load(Ordering::Relaxed) {
            Mode::Enforced
        } else {
            Mode::Open { anonymous_write: self.loopback_only }
        }
    }

    /// Re-reads whether users exist (another replica may have created the first one) and
    /// trims the rate limiters. Called periodically and after user changes.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let enforced = self.store.user_count().await? > 0;
        if self.enforced.swap(enforced, Ordering::Relaxed) != enforced {
            self.announce_mode();
        }
        self.limiters.forget_idle();
        Ok(())
    }

    /// Forgets remembered credential checks, namespace records and memberships: after a change
    /// made through this server (other servers learn of it from the change sequence).
    pub fn forget_verified(&self) {
        self.verified.clear();
    }

    /// Another process committed a change: the credential cache re-reads the sequence now.
    pub fn note_change(&self) {
        self.verified.wake();
    }

    pub fn limit_token_request(&self, address: Option<IpAddr>) -> Result<(), AuthError> {
        self.limiters.token_request(address).map_err(AuthError::RateLimited)
    }

    /// Verifies the `Authorization` header. Failures are recorded in the audit log.
    pub async fn authenticate(&self, headers: &HeaderMap, address: Option<IpAddr>) -> Result<Caller, AuthError> {
        let header = headers.get(axum::http::header::AUTHORIZATION).map(axum::http::HeaderValue::as_bytes);
        let result = match credentials::parse(header) {
            Err(e) => Err((None, AuthError::Malformed(e.to_string()))),
            Ok(Credentials::None) => return Ok(Caller::anonymous(address)),
            Ok(Credentials::Basic { username, secret }) => self.basic(&username, &secret, address).await.map_err(|e| (Some(username), e)),
            Ok(Credentials::Bearer(token)) => self.bearer(&token, address).await.map_err(|e| (None, e)),
        };
        match result {
            Ok(caller) => Ok(caller),
            Err((username, error)) => {
                if !matches!(error, AuthError::Store(_)) {
                    self.audit(username, address, "login", "", Outcome::Failed, &error.to_string()).await;
                }
                Err(error)
            }
        }
    }

    /// Authenticates a user by password or API token (the token endpoint's and the admin
    /// API's Basic credentials).
    pub async fn login(&self, username: &str, secret: &str, address: Option<IpAddr>) -> Result<Caller, AuthError> {
        self.basic(username, secret, address).await
    }

    async fn basic(&self, username: &str, secret: &str, address: Option<IpAddr>) -> Result<Caller, AuthError> {
        let principal = if credentials::looks_like_token(secret) {
            self.api_token(secret, username, address).await?
        } else {
            self.password(username, secret, address).await?
        };
        Ok(Caller { principal, claims: None, address })
    }

    async fn bearer(&self, token: &str, address: Option<IpAddr>) -> Result<Caller, AuthError> {
        if credentials::looks_like_token(token) {
            let principal = self.api_token(token, "", address).await?;
            return Ok(Caller { principal, claims: None, address });
        }
        let claims = self.keys.verify(token).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError::Invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the bearer token has expired",
                ErrorKind::InvalidAudience => "the bearer token was issued for another service",
                ErrorKind::InvalidSignature => "the bearer token's signature is not valid",
                _ => "the bearer token is not valid",
            })
        })?;
        let principal = claims.principal().ok_or(AuthError::Invalid("the bearer token is not valid"))?;
        Ok(Caller { principal, claims: Some(claims), address })
    }

    async fn api_token(&self, secret: &str, username: &str, address: Option<IpAddr>) -> Result<Principal, AuthError> {
        let now = now_millis();
        let hash = credentials::secret_hash(secret);
        let key = format!("token\0{hash}");
        if let Some(principal) = self.verified.get(&key, now) {
            self.touch(&principal, now);
            return Ok(principal);
        }
        let stamp = self.verified.stamp();
        let Some(token) = self.store.token_by_hash(&hash).await?.filter(|t| t.is_live(now)) else {
            // Count only failures: a valid token is a cheap lookup, not a guess.
            self.limiters.login(address, username).map_err(AuthError::RateLimited)?;
            return Err(AuthError::Invalid("unknown, expired or revoked API token"));
        };
        let principal = if let Some(namespace) = token.namespace {
            Principal::Robot { token: token.id, name: token.name, namespace, scopes: token.scopes }
        } else {
            let owner = self.store.user(&token.owner).await?.ok_or(AuthError::Invalid("the token's owner no longer exists"))?;
            Principal::User { name: owner.name, is_admin: owner.is_admin, scopes: token.scopes, token: Some(token.id) }
        };
        self.touch(&principal, now);
        self.verified.insert(key, principal.clone(), stamp, token.expires_at);
        Ok(principal)
    }

    /// Records a token's use, at most every [`TOUCH_INTERVAL`], without holding up the request.
    fn touch(&self, principal: &Principal, now: i64) {
        let (Principal::Robot { token: id, .. } | Principal::User { token: Some(id), .. }) = principal else { return };
        {
            let mut touched = self.touched.lock().expect("not poisoned");
            if touched.get(id).is_some_and(|t| t.elapsed() < TOUCH_INTERVAL) {
                return;
            }
            touched.insert(id.clone(), Instant::now());
        }
        let (store, id) = (Arc::clone(&self.store), id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&id, now).await {
                tracing::warn!(token = id, "cannot record token use: {e}");
            }
        });
    }

    async fn password(&self, username: &str, password: &str, address: Option<IpAddr>) -> Result<Principal, AuthError> {
        let key = format!("password\0{}", credentials::secret_hash(&format!("{username}\0{password}")));
        if let Some(principal) = self.verified.get(&key, now_millis()) {
            return Ok(principal);
        }
        let stamp = self.verified.stamp();
        // The lookup comes first: a database that does not answer is a 503, not a spent attempt
        // (with the cache distrusted during an outage, every request would count as a guess
        // and turn into 429s). The limit guards the password hash check that follows.
        let user = self.store.user(username).await?;
        self.limiters.login(address, username).map_err(AuthError::RateLimited)?;
        let hash = match &user {
            Some(u) => u.password_hash.clone(),
            None => self.dummy_hash.get_or_init(|| hash_password(credentials::new_signing_secret())).await.clone(),
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || credentials::verify_password(&password, &hash)).await.unwrap_or(false);
        match user {
            Some(user) if matches => {
                let principal = Principal::User { name: user.name.clone(), is_admin: user.is_admin, scopes: Actions::ALL, token: None };
                self.verified.insert(key, principal.clone(), stamp, None);
                self.audit(Some(user.name), address, "login", "", Outcome::Ok, "password").await;
                Ok(principal)
            }
            _ => Err(AuthError::Invalid("wrong user name or password")),
        }
    }

    /// What `principal` may do in `namespace`.
    pub async fn permissions(&self, principal: &Principal, namespace: &str) -> Result<Permissions, StoreError> {
        let (ns, role) = self.store.namespace_access(namespace, principal.username()).await?;
        Ok(permissions(self.mode(), principal, namespace, ns.as_ref(), role))
    }

    /// The principal's permissions in each of `namespaces`, in order, from two queries however
    /// many they are (the namespace records and the principal's memberships): what listings over
    /// every namespace use, where a query per namespace grew each search with the registry.
    pub async fn permissions_in(&self, principal: &Principal, namespaces: &[String]) -> Result<Vec<Permissions>, StoreError> {
        let records = self.namespace_records().await?;
        let roles = match principal.username() {
            Some(user) => self.roles_of(user).await?,
            None => cache::Roles::default(),
        };
        Ok(namespaces
            .iter()
            .map(|name| {
                let record = records.get(name);
                // As `namespace_access`: a role counts only in a namespace that has a record.
                let role = record.and_then(|_| roles.get(name).copied());
                permissions(self.mode(), principal, name, record, role)
            })
            .collect())
    }

    /// Every namespace's record: kept as the credential cache keeps what it verified (voided by
    /// a `Credentials` change, trusted within the revocation bound), as every search reads them.
    async fn namespace_records(&self) -> Result<cache::NamespaceRecords, StoreError> {
        if let Some(records) = self.verified.namespaces() {
            return Ok(records);
        }
        let stamp = self.verified.stamp();
        let records: cache::NamespaceRecords = Arc::new(self.store.list_namespaces().await?.into_iter().map(|n| (n.name.clone(), n)).collect());
        self.verified.keep_namespaces(Arc::clone(&records), stamp);
        Ok(records)
    }

    /// A user's role in each namespace they are a member of, kept likewise.
    async fn roles_of(&self, user: &str) -> Result<cache::Roles, StoreError> {
        if let Some(roles) = self.verified.memberships(user) {
            return Ok(roles);
        }
        let stamp = self.verified.stamp();
        let roles: cache::Roles = Arc::new(self.store.memberships(user).await?.into_iter().map(|m| (m.namespace, m.role)).collect());
        self.verified.keep_memberships(user, Arc::clone(&roles), stamp);
        Ok(roles)
    }

    /// Decides whether `caller` may do `needed` in `repo`.
    pub async fn authorize(&self, caller: &Caller, repo: &RepoName, needed: Action) -> Result<Permissions, Denial> {
        let perms = self.permissions(&caller.principal, repo.namespace()).await?;
        let granted = match &caller.claims {
            Some(claims) => claims.granted(repo.as_str()).intersect(perms.actions),
            None => perms.actions,
        };
        if granted.contains(needed) {
            if needed != Action::Pull
                && let Some(mirror) = self.store.mirror(repo.namespace()).await?
            {
                return Err(Denial::Mirror { namespace: repo.namespace().to_owned(), source: mirror.source_url });
            }
            Ok(perms)
        } else if caller.principal == Principal::Anonymous {
            Err(Denial::Challenge { insufficient_scope: false })
        } else if !perms.visible {
            Err(Denial::NotFound)
        } else if caller.claims.is_some() && perms.allows(needed) {
            Err(Denial::Challenge { insufficient_scope: true })
        } else {
            Err(Denial::Forbidden)
        }
    }

    /// Signs a bearer token for `caller` granting, of each requested repository scope, the
    /// actions the caller really has there. Returns the token and its lifetime in seconds.
    pub async fn issue(&self, caller: &Caller, scopes: &[(RepoName, Actions)], catalog: bool) -> Result<(String, u64), StoreError> {
        let mut access = Vec::new();
        for (repo, requested) in scopes {
            let perms = self.permissions(&caller.principal, repo.namespace()).await?;
            let granted = requested.intersect(perms.actions);
            access.push(jwt::Access {
                kind: "repository".into(),
                name: repo.as_str().to_owned(),
                actions: granted.iter().map(|a| a.as_str().to_owned()).collect(),
            });
        }
        if catalog && caller.principal != Principal::Anonymous {
            access.push(jwt::Access { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] });
        }
        let ttl = self.config.token_ttl_secs;
        let claims = jwt::Claims::new(&caller.principal, self.keys.audience(), jsonwebtoken::get_current_timestamp(), ttl, access);
        Ok((self.keys.sign(&claims), ttl))
    }

    /// Appends to the audit log; a failure to record is logged, never fatal to the request.
    pub async fn audit(&self, actor: Option<String>, address: Option<IpAddr>, action: &str, target: &str, outcome: Outcome, detail: &str) {
        let entry = NewAuditEntry {
            actor,
            action: action.to_owned(),
            target: target.to_owned(),
            address: address.map(|a| a.to_string()),
            outcome,
            detail: detail.to_owned(),
        };
        if let Err(e) = self.store.record_audit(&entry).await {
            tracing::error!(action, target, "cannot write the audit log: {e}");
        }
    }

    /// Audits an action of `caller`.
    pub async fn audit_caller(&self, caller: &Caller, action: &str, target: &str, outcome: Outcome, detail: &str) {
        self.audit(caller.principal.actor(), caller.address, action, target, outcome, detail).await;
    }
}

/// argon2 off the async worker threads.
pub async fn hash_password(password: String) -> String {
    tokio::task::spawn_blocking(move || credentials::hash_password(&password)).await.expect("hashing does not panic")
}

/// Follows the store's change sequence for the credential cache (see [`cache`]).
pub async fn follow_credentials_forever(auth: Arc<Auth>) {
    auth.verified.follow_forever(auth.store.as_ref()).await;
}

/// Keeps the mode current and the limiters small.
pub async fn refresh_forever(auth: Arc<Auth>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Err(e) = auth.refresh().await {
            tracing::warn!("cannot refresh auth state: {e}");
        }
    }
}
