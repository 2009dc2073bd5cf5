//! Webhooks: a namespace registers HTTP endpoints notified on push and delete. The store
//! queues a delivery in the transaction of the change itself (see `enqueue_webhooks`); any
//! server claims due deliveries, POSTs them with an HMAC-SHA256 signature of the body, and
//! retries failures with exponential backoff (1 s, 2 s, 4 s, … up to an hour, 10 attempts).

use std::time::Duration;

use futures::StreamExt as _;
use registry_core::auth::{Webhook, WebhookDelivery};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::AppState;
use crate::admin::{Admin, AdminError, AdminResult};
use crate::auth::now_millis;

pub const EVENTS: [&str; 2] = ["push", "delete"];
pub const MAX_ATTEMPTS: u32 = 10;
const LEASE: Duration = Duration::from_mins(1);
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct WebhookView {
    pub id: String,
    pub namespace: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: i64,
    /// Shown once, when the webhook is created: the key of `X-Sherpack-Signature-256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Webhook> for WebhookView {
    fn from(w: Webhook) -> Self {
        Self { id: w.id, namespace: w.namespace, url: w.url, events: w.events, created_at: w.created_at, secret: None }
    }
}

#[derive(Debug, Serialize)]
pub struct DeliveryView {
    pub id: i64,
    pub event: String,
    pub attempts: u32,
    pub last_status: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        Self { id: d.id, event: d.event, attempts: d.attempts, last_status: d.last_status, delivered_at: d.delivered_at, created_at: d.created_at }
    }
}

impl Admin<'_> {
    pub async fn add_webhook(&self, namespace: &str, new: NewWebhook) -> AdminResult<WebhookView> {
        self.namespace_admin(namespace).await?;
        let url = url::Url::parse(&new.url).map_err(|_| AdminError::Invalid(format!("`{}` is not a URL", new.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(AdminError::Invalid("a webhook URL is http:// or https:// with a host".into()));
        }
        let mut events = if new.events.is_empty() { EVENTS.map(str::to_owned).to_vec() } else { new.events };
        events.sort();
        events.dedup();
        if let Some(bad) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(AdminError::Invalid(format!("unknown event `{bad}`: events are {}", EVENTS.join(", "))));
        }
        let mut secret = [0u8; 24];
        rand::fill(&mut secret[..]);
        let hook = Webhook {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            namespace: namespace.to_owned(),
            url: url.to_string(),
            secret: format!("whsec_{}", hex::encode(secret)),
            events,
            created_at: now_millis(),
        };
        self.auth.store().create_webhook(&hook).await?;
        self.audit("webhook.add", &format!("{namespace}/{}", hook.id), &hook.url).await;
        let secret = hook.secret.clone();
        Ok(WebhookView { secret: Some(secret), ..hook.into() })
    }

    pub async fn list_webhooks(&self, namespace: &str) -> AdminResult<Vec<WebhookView>> {
        self.namespace_admin(namespace).await?;
        Ok(self.auth.store().webhooks(namespace).await?.into_iter().map(Into::into).collect())
    }

    pub async fn remove_webhook(&self, namespace: &str, id: &str) -> AdminResult<()> {
        self.namespace_admin(namespace).await?;
        if !self.auth.store().delete_webhook(namespace, id).await? {
            return Err(AdminError::NotFound(format!("namespace {namespace} has no webhook {id}")));
        }
        self.audit("webhook.remove", &format!("{namespace}/{id}"), "").await;
        Ok(())
    }

    pub async fn webhook_deliveries(&self, namespace: &str, id: &str) -> AdminResult<Vec<DeliveryView>> {
        self.namespace_admin(namespace).await?;
        if !self.auth.store().webhooks(namespace).await?.iter().any(|w| w.id == id) {
            return Err(AdminError::NotFound(format!("namespace {namespace} has no webhook {id}")));
        }
        Ok(self.auth.store().webhook_deliveries(id, 100).await?.into_iter().map(Into::into).collect())
    }
}

/// HMAC-SHA256 (RFC 2104).
#[must_use]
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let (mut inner_pad, mut outer_pad) = ([0x36u8; 64], [0x5cu8; 64]);
    for (i, k) in block.iter().enumerate() {
        inner_pad[i] ^= k;
        outer_pad[i] ^= k;
    }
    let inner = Sha256::new().chain_update(inner_pad).chain_update(message).finalize();
    Sha256::new().chain_update(outer_pad).chain_update(inner).finalize().into()
}

/// Seconds to wait after the `attempts`-th failure.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(12)).min(Duration::from_hours(1))
}

async fn deliver(http: &reqwest::Client, d: &WebhookDelivery) -> (bool, String) {
    let signature = format!("sha256={}", hex::encode(hmac_sha256(d.secret.as_bytes(), d.payload.as_bytes())));
    let sent = http
        .post(&d.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("sherpack-registry/", env!("CARGO_PKG_VERSION")))
        .header("x-sherpack-event", &d.event)
        .header("x-sherpack-delivery", d.id.to_string())
        .header("x-sherpack-signature-256", signature)
        .body(d.payload.clone())
        .send()
        .await;
    match sent {
        Ok(r) => (r.status().is_success(), r.status().as_u16().to_string()),
        Err(e) => (false, if e.is_timeout() { "timeout".into() } else { "connection failed".into() }),
    }
}

/// Delivers due notifications, on every server (claims keep them from delivering twice).
pub async fn deliver_forever(state: AppState) {
    let Ok(http) = reqwest::Client::builder().timeout(TIMEOUT).redirect(reqwest::redirect::Policy::none()).build() else { return };
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = now_millis();
        let lease = now + i64::try_from(LEASE.as_millis()).unwrap_or(60_000);
        let due = match state.auth.store().claim_deliveries(now, lease, MAX_ATTEMPTS, 32).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                continue;
            }
        };
        futures::stream::iter(due)
            .for_each_concurrent(8, |d| {
                let (http, state) = (&http, &state);
                async move {
                    let (ok, status) = deliver(http, &d).await;
                    let retry_at = now_millis() + i64::try_from(backoff(d.attempts).as_millis()).unwrap_or(i64::MAX);
                    if !ok {
                        tracing::info!(webhook.id = %d.webhook_id, delivery.id = d.id, attempt = d.attempts + 1, status = %status, "webhook delivery failed; retrying later");
                    }
                    metrics::counter!("sherpack_webhook_deliveries_total", "outcome" => if ok { "delivered" } else { "failed" }).increment(1);
                    if let Err(e) = state.auth.store().finish_delivery(d.id, ok, &status, retry_at).await {
                        tracing::warn!(error = %e, "recording a webhook delivery failed");
                    }
                }
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let key = [0xaau8; 131];
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(20), Duration::from_hours(1));
    }
}
