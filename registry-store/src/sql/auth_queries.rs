// The auth store's queries (users, namespaces, members, tokens, signing keys, audit log,
// settings), compiled once per database by `include!` after `queries.rs`, like it.

use registry_core::auth::{
    Actions, ApiToken, AuditEntry, AuditQuery, AuthStore, Member, Namespace, NewAuditEntry, Role, SigningKey, User,
    Visibility, Webhook, WebhookDelivery,
};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt {what} in database: {e}"))
}

type UserRow = (String, String, bool, i64);

fn user_from_row((name, password_hash, is_admin, created_at): UserRow) -> User {
    User { name, password_hash, is_admin, created_at }
}

type DeliveryRow = (i64, String, String, String, String, String, i64, Option<String>, Option<i64>, i64);

macro_rules! delivery_select {
    () => {
        "SELECT d.id, d.webhook_id, w.url, w.secret, d.event, d.payload, d.attempts, d.last_status, d.delivered_at, d.created_at
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
    };
}

fn delivery_from_row(row: DeliveryRow) -> WebhookDelivery {
    let (id, webhook_id, url, secret, event, payload, attempts, last_status, delivered_at, created_at) = row;
    WebhookDelivery { id, webhook_id, url, secret, event, payload, attempts: u32::try_from(attempts).unwrap_or(0), last_status, delivered_at, created_at }
}

type NamespaceRow = (String, String, String, i64);

fn namespace_from_row((name, visibility, policy, created_at): NamespaceRow) -> StoreResult<Namespace> {
    let visibility: Visibility = visibility.parse().map_err(|e| corrupt("visibility", e))?;
    Ok(Namespace { name, visibility, policy, created_at })
}

fn member_from_row((namespace, username, role): (String, String, String)) -> StoreResult<Member> {
    Ok(Member { namespace, username, role: role.parse().map_err(|e| corrupt("role", e))? })
}

type TokenRow = (String, String, String, String, Option<String>, String, Option<i64>, i64, Option<i64>, Option<i64>);
macro_rules! token_columns {
    () => {
        "id, secret_hash, name, owner, namespace, scopes, expires_at, created_at, last_used_at, revoked_at"
    };
}

fn token_from_row(row: TokenRow) -> StoreResult<ApiToken> {
    let (id, secret_hash, name, owner, namespace, scopes, expires_at, created_at, last_used_at, revoked_at) = row;
    Ok(ApiToken {
        id,
        secret_hash,
        name,
        owner,
        namespace,
        scopes: Actions::parse_list(&scopes).map_err(|e| corrupt("token scopes", e))?,
        expires_at,
        created_at,
        last_used_at,
        revoked_at,
    })
}

type AuditRow = (i64, i64, Option<String>, String, String, Option<String>, String, String);

fn audit_from_row((id, at, actor, action, target, address, outcome, detail): AuditRow) -> StoreResult<AuditEntry> {
    let outcome = outcome.parse().map_err(|e| corrupt("outcome", e))?;
    Ok(AuditEntry { id, at, record: NewAuditEntry { actor, action, target, address, outcome, detail } })
}

fn inserted(result: Result<<Db as sqlx::Database>::QueryResult, sqlx::Error>) -> StoreResult<bool> {
    match result {
        Ok(r) => Ok(r.rows_affected() > 0),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(db_err(e)),
    }
}

/// Ends a transaction that changed (`changed`) a credential, or what a caller's permissions are
/// read from (a namespace's record, a membership): a `Credentials` change goes with it, so every
/// server forgets what it verified and read of them before; returns `changed`.
async fn credentials_changed(mut tx: Tx, changed: bool) -> StoreResult<bool> {
    if changed {
        record_change(&mut tx, ChangeKind::Credentials, "", None, None, now_millis()).await?;
        tx.commit().await.map_err(db_err)?;
    }
    Ok(changed)
}

#[async_trait::async_trait]
impl AuthStore for Store {
    async fn user_count(&self) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&self.read).await.map_err(db_err)?;
        Ok(from_db(n))
    }

    async fn create_user(&self, user: &User) -> StoreResult<bool> {
        inserted(
            sqlx::query("INSERT INTO users (name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(user.is_admin)
                .bind(user.created_at)
                .execute(&self.write)
                .await,
        )
    }

    async fn user(&self, name: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT name, password_hash, is_admin, created_at FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)?;
        Ok(row.map(user_from_row))
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as("SELECT name, password_hash, is_admin, created_at FROM users ORDER BY name")
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(user_from_row).collect())
    }

    async fn update_user(&self, name: &str, password_hash: Option<&str>, is_admin: Option<bool>) -> StoreResult<bool> {
        let mut tx = begin_write(&self.write).await?;
        let updated = sqlx::query(
            "UPDATE users SET password_hash = COALESCE($2, password_hash), is_admin = COALESCE($3, is_admin) WHERE name = $1",
        )
        .bind(name)
        .bind(password_hash)
        .bind(is_admin)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        credentials_changed(tx, updated > 0).await
    }

    async fn delete_user(&self, name: &str) -> StoreResult<bool> {
        let mut tx = begin_write(&self.write).await?;
        let removed = sqlx::query("DELETE FROM users WHERE name = $1").bind(name).execute(&mut *tx).await.map_err(db_err)?.rows_affected();
        credentials_changed(tx, removed > 0).await
    }

    async fn create_namespace(&self, ns: &Namespace) -> StoreResult<bool> {
        let mut tx = begin_write(&self.write).await?;
        let created = inserted(
            sqlx::query("INSERT INTO namespaces (name, visibility, policy, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&ns.name)
                .bind(ns.visibility.as_str())
                .bind(&ns.policy)
                .bind(ns.created_at)
                .execute(&mut *tx)
                .await,
        )?;
        credentials_changed(tx, created).await
    }

    async fn namespace(&self, name: &str) -> StoreResult<Option<Namespace>> {
        let row: Option<NamespaceRow> =
            sqlx::query_as("SELECT name, visibility, policy, created_at FROM namespaces WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.read)
                .await
                .map_err(db_err)?;
        row.map(namespace_from_row).transpose()
    }

    async fn create_webhook(&self, hook: &Webhook) -> StoreResult<()> {
        sqlx::query("INSERT INTO webhooks (id, namespace, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&hook.id)
            .bind(&hook.namespace)
            .bind(&hook.url)
            .bind(&hook.secret)
            .bind(hook.events.join(","))
            .bind(hook.created_at)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn webhooks(&self, namespace: &str) -> StoreResult<Vec<Webhook>> {
        let rows: Vec<(String, String, String, String, String, i64)> =
            sqlx::query_as("SELECT id, namespace, url, secret, events, created_at FROM webhooks WHERE namespace = $1 ORDER BY created_at, id")
                .bind(namespace)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, namespace, url, secret, events, created_at)| Webhook {
                id,
                namespace,
                url,
                secret,
                events: events.split(',').filter(|e| !e.is_empty()).map(str::to_owned).collect(),
                created_at,
            })
            .collect())
    }

    async fn delete_webhook(&self, namespace: &str, id: &str) -> StoreResult<bool> {
        let removed = sqlx::query("DELETE FROM webhooks WHERE namespace = $1 AND id = $2")
            .bind(namespace)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn webhook_deliveries(&self, webhook_id: &str, limit: u32) -> StoreResult<Vec<WebhookDelivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(delivery_select!(), " WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2"))
            .bind(webhook_id)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(delivery_from_row).collect())
    }

    async fn claim_deliveries(&self, now: i64, lease_until: i64, max_attempts: u32, limit: u32) -> StoreResult<Vec<WebhookDelivery>> {
        // One claimer at a time (the write lock): two servers never take the same delivery.
        let mut tx = begin_write(&self.write).await?;
        let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
            delivery_select!(),
            " WHERE d.delivered_at IS NULL AND d.next_attempt_at <= $1 AND d.attempts < $2 ORDER BY d.id LIMIT $3"
        ))
        .bind(now)
        .bind(i64::from(max_attempts))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for row in &rows {
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id = $1")
                .bind(row.0)
                .bind(lease_until)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(rows.into_iter().map(delivery_from_row).collect())
    }

    async fn finish_delivery(&self, id: i64, delivered: bool, status: &str, retry_at: i64) -> StoreResult<()> {
        let now = now_millis();
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2,
             delivered_at = CASE WHEN $3 THEN $4 ELSE NULL END, next_attempt_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(delivered)
        .bind(now)
        .bind(retry_at)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn list_namespaces(&self) -> StoreResult<Vec<Namespace>> {
        let rows: Vec<NamespaceRow> =
            sqlx::query_as("SELECT name, visibility, policy, created_at FROM namespaces ORDER BY name")
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        rows.into_iter().map(namespace_from_row).collect()
    }

    async fn update_namespace(&self, name: &str, visibility: Option<Visibility>, policy: Option<&str>) -> StoreResult<bool> {
        let mut tx = begin_write(&self.write).await?;
        let updated = sqlx::query(
            "UPDATE namespaces SET visibility = COALESCE($2, visibility), policy = COALESCE($3, policy) WHERE name = $1",
        )
        .bind(name)
        .bind(visibility.map(Visibility::as_str))
        .bind(policy)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        credentials_changed(tx, updated > 0).await
    }

    async fn delete_namespace(&self, name: &str) -> StoreResult<bool> {
        let mut tx = begin_write(&self.write).await?;
        let removed = sqlx::query("DELETE FROM namespaces WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        credentials_changed(tx, removed > 0).await
    }

    async fn namespace_access(&self, namespace: &str, user: Option<&str>) -> StoreResult<(Option<Namespace>, Option<Role>)> {
        let row: Option<(String, String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT n.name, n.visibility, n.policy, n.created_at, m.role FROM namespaces n
             LEFT JOIN namespace_members m ON m.namespace = n.name AND m.username = $2
             WHERE n.name = $1",
        )
        .bind(namespace)
        .bind(user.unwrap_or(""))
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        let Some((name, visibility, policy, created_at, role)) = row else {
            return Ok((None, None));
        };
        let role = role.map(|r| r.parse::<Role>().map_err(|e| corrupt("role", e))).transpose()?;
        Ok((Some(namespace_from_row((name, visibility, policy, created_at))?), role))
    }

    async fn set_member(&self, member: &Member) -> StoreResult<()> {
        let mut tx = begin_write(&self.write).await?;
        sqlx::query(
            "INSERT INTO namespace_members (namespace, username, role) VALUES ($1, $2, $3)
             ON CONFLICT (namespace, username) DO UPDATE SET role = excluded.role",
        )
        .bind(&member.namespace)
        .bind(&member.username)
        .bind(member.role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        credentials_changed(tx, true).await.map(drop)
    }

    async fn remove_member(&self, namespace: &str, username: &str) -> StoreResult<bool> {
        let mut tx = begin_write(&self.write).await?;
        let removed = sqlx::query("DELETE FROM namespace_members WHERE namespace = $1 AND username = $2")
            .bind(namespace)
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        credentials_changed(tx, removed > 0).await
    }

    async fn members(&self, namespace: &str) -> StoreResult<Vec<Member>> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT namespace, username, role FROM namespace_members WHERE namespace = $1 ORDER BY username")
                .bind(namespace)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        rows.into_iter().map(member_from_row).collect()
    }

    async fn memberships(&self, username: &str) -> StoreResult<Vec<Member>> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT namespace, username, role FROM namespace_members WHERE username = $1 ORDER BY namespace")
                .bind(username)
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        rows.into_iter().map(member_from_row).collect()
    }

    async fn create_token(&self, token: &ApiToken) -> StoreResult<()> {
        sqlx::query(concat!("INSERT INTO api_tokens (", token_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(&token.id)
            .bind(&token.secret_hash)
            .bind(&token.name)
            .bind(&token.owner)
            .bind(&token.namespace)
            .bind(token.scopes.to_string())
            .bind(token.expires_at)
            .bind(token.created_at)
            .bind(token.last_used_at)
            .bind(token.revoked_at)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiToken>> {
        let row: Option<TokenRow> = sqlx::query_as(concat!("SELECT ", token_columns!(), " FROM api_tokens WHERE secret_hash = $1"))
            .bind(secret_hash)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.map(token_from_row).transpose()
    }

    async fn token(&self, id: &str) -> StoreResult<Option<ApiToken>> {
        let row: Option<TokenRow> = sqlx::query_as(concat!("SELECT ", token_columns!(), " FROM api_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        row.map(token_from_row).transpose()
    }

    async fn list_tokens(&self, owner: Option<&str>) -> StoreResult<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE $1 IS NULL OR owner = $1 ORDER BY created_at, id"
        ))
        .bind(owner)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: &str, at: Millis) -> StoreResult<bool> {
        let mut tx = begin_write(&self.write).await?;
        let updated = sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        credentials_changed(tx, updated > 0).await
    }

    async fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn add_signing_key(&self, key: &SigningKey) -> StoreResult<bool> {
        inserted(
            sqlx::query("INSERT INTO signing_keys (id, namespace, name, public_key, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&key.id)
                .bind(&key.namespace)
                .bind(&key.name)
                .bind(&key.public_key)
                .bind(key.created_at)
                .execute(&self.write)
                .await,
        )
    }

    async fn signing_keys(&self, namespace: &str) -> StoreResult<Vec<SigningKey>> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, namespace, name, public_key, created_at FROM signing_keys WHERE namespace = $1 ORDER BY name",
        )
        .bind(namespace)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, namespace, name, public_key, created_at)| SigningKey { id, namespace, name, public_key, created_at })
            .collect())
    }

    async fn remove_signing_key(&self, namespace: &str, id: &str) -> StoreResult<bool> {
        let removed = sqlx::query("DELETE FROM signing_keys WHERE namespace = $1 AND id = $2")
            .bind(namespace)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(removed > 0)
    }

    async fn record_audit(&self, entry: &NewAuditEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, address, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_millis())
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.address)
        .bind(entry.outcome.as_str())
        .bind(&entry.detail)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, actor, action, target, address, outcome, detail FROM audit_log
             WHERE ($1 IS NULL OR actor = $1 OR actor LIKE $1 || ' (%') AND ($2 IS NULL OR action = $2) AND id < $3
             ORDER BY id DESC LIMIT $4",
        )
        .bind(&query.actor)
        .bind(&query.action)
        .bind(query.before.unwrap_or(i64::MAX))
        .bind(i64::from(query.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(audit_from_row).collect()
    }

    async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        let (stored,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.write)
            .await
            .map_err(db_err)?;
        Ok(stored)
    }
}
