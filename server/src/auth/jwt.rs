//! The short-lived bearer tokens of the OCI token flow: HS256 JWTs signed with a secret every
//! replica reads from the store, carrying the granted repository actions (as distribution's
//! token spec does) and who they were issued to.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use registry_core::auth::{Actions, Principal};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "sherpack-registry";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// Who the token speaks for, so a request needs no credential lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// `anonymous`, `user` or `robot`.
    pub kind: String,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub scopes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub access: Vec<Access>,
    pub who: Subject,
}

impl Claims {
    #[must_use]
    pub fn new(principal: &Principal, audience: &str, now: u64, ttl: u64, access: Vec<Access>) -> Self {
        let (sub, who) = match principal {
            Principal::Anonymous => (String::new(), Subject { kind: "anonymous".into(), admin: false, scopes: String::new(), namespace: None, token: None }),
            Principal::User { name, is_admin, scopes, token } => (
                name.clone(),
                Subject { kind: "user".into(), admin: *is_admin, scopes: scopes.to_string(), namespace: None, token: token.clone() },
            ),
            Principal::Robot { token, name, namespace, scopes } => (
                name.clone(),
                Subject {
                    kind: "robot".into(),
                    admin: false,
                    scopes: scopes.to_string(),
                    namespace: Some(namespace.clone()),
                    token: Some(token.clone()),
                },
            ),
        };
        Self {
            iss: ISSUER.to_owned(),
            sub,
            aud: audience.to_owned(),
            exp: now + ttl,
            nbf: now.saturating_sub(1),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            access,
            who,
        }
    }

    /// The principal the token was issued to; `None` when the claims are inconsistent.
    #[must_use]
    pub fn principal(&self) -> Option<Principal> {
        let scopes = Actions::parse_list(&self.who.scopes).ok()?;
        match self.who.kind.as_str() {
            "anonymous" => Some(Principal::Anonymous),
            "user" => Some(Principal::User { name: self.sub.clone(), is_admin: self.who.admin, scopes, token: self.who.token.clone() }),
            "robot" => Some(Principal::Robot {
                token: self.who.token.clone()?,
                name: self.sub.clone(),
                namespace: self.who.namespace.clone()?,
                scopes,
            }),
            _ => None,
        }
    }

    /// The actions granted on one repository.
    #[must_use]
    pub fn granted(&self, repository: &str) -> Actions {
        let mut set = Actions::NONE;
        for a in self.access.iter().filter(|a| a.kind == "repository" && a.name == repository) {
            for action in &a.actions {
                if let Ok(parsed) = Actions::parse_list(action) {
                    set = set.union(parsed);
                }
            }
        }
        set
    }
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    audience: String,
}

impl Keys {
    #[must_use]
    pub fn new(secret: &str, audience: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            audience: audience.to_owned(),
        }
    }

    #[must_use]
    pub fn audience(&self) -> &str {
        &self.audience
    }

    #[must_use] 
    pub fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).expect("HS256 signs any claims")
    }

    /// Checks signature, algorithm, issuer, audience, expiry and not-before.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[ISSUER]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Principal {
        Principal::User { name: "alice".into(), is_admin: false, scopes: Actions::ALL, token: None }
    }

    fn access(name: &str, actions: &[&str]) -> Vec<Access> {
        vec![Access { kind: "repository".into(), name: name.into(), actions: actions.iter().map(|s| (*s).to_owned()).collect() }]
    }

    #[test]
    fn round_trips_and_grants_only_what_was_signed() {
        let keys = Keys::new("secret", "registry");
        let now = jsonwebtoken::get_current_timestamp();
        let token = keys.sign(&Claims::new(&user(), "registry", now, 300, access("team/app", &["pull", "push"])));
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.principal(), Some(user()));
        assert_eq!(claims.granted("team/app").to_string(), "pull,push");
        assert!(claims.granted("team/other").is_empty());
    }

    #[test]
    fn refuses_forged_expired_and_foreign_tokens() {
        let keys = Keys::new("secret", "registry");
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims::new(&user(), "registry", now, 300, access("a", &["pull"]));
        assert!(Keys::new("other secret", "registry").verify(&keys.sign(&claims)).is_err());
        assert!(keys.verify(&Keys::new("secret", "elsewhere").sign(&Claims::new(&user(), "elsewhere", now, 300, vec![]))).is_err());
        let expired = Claims::new(&user(), "registry", now - 1000, 300, vec![]);
        assert!(keys.verify(&keys.sign(&expired)).is_err());
        let mut tampered = keys.sign(&claims);
        tampered.push('x');
        assert!(keys.verify(&tampered).is_err());
        // alg=none is refused.
        let none = format!(
            "{}.{}.",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, r#"{"alg":"none","typ":"JWT"}"#),
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, serde_json::to_vec(&claims).unwrap())
        );
        assert!(keys.verify(&none).is_err());
    }
}
