//! Minisign keys and signatures as the upstream `sherpack` client makes them, and trusting a
//! key in the `team` namespace of [`Tenants`].

use reqwest::Method;
use serde_json::json;

use crate::auth::{Cred, Tenants};
use crate::oci::digest;

pub struct Key {
    pub pk: minisign::PublicKey,
    pub sk: minisign::SecretKey,
}

#[must_use]
pub fn keygen() -> Key {
    let kp = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    Key { pk: kp.pk, sk: kp.sk }
}

/// A `.minisig` of `data` with the upstream client's trusted comment.
#[must_use]
pub fn sign(key: &Key, data: &[u8], name: &str, version: &str) -> Vec<u8> {
    let comment = format!("sherpack:{name} v{version} digest:{}", &digest(data)[7..23]);
    let sig = minisign::sign(Some(&key.pk), &key.sk, std::io::Cursor::new(data), Some(&comment), None).unwrap();
    sig.to_string().into_bytes()
}

/// Makes `key` a trusted key of the `team` namespace (as its admin, alice).
pub async fn trust(t: &Tenants, key: &Key, name: &str) {
    let body = json!({ "name": name, "public_key": key.pk.to_base64() });
    t.api.expect(&Cred::user("alice"), Method::POST, "/api/v1/namespaces/team/keys", Some(body), 201).await;
}
