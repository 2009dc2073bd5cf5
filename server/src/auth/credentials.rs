//! Credentials as they arrive and as they are kept: the `Authorization` header, API token
//! secrets (random, stored as sha256), and passwords (argon2id PHC strings).

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use sha2::{Digest as _, Sha256};

/// Longest `Authorization` header accepted; anything longer is refused before decoding.
pub const MAX_HEADER: usize = 8 * 1024;
pub const MAX_USERNAME: usize = 256;
pub const MAX_SECRET: usize = 1024;
/// Every API token starts with this, so a token is never mistaken for a password.
pub const TOKEN_PREFIX: &str = "shpk_";

#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    None,
    Basic { username: String, secret: String },
    Bearer(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("the Authorization header is longer than {MAX_HEADER} bytes")]
    TooLong,
    #[error("the Authorization header is malformed: {0}")]
    Malformed(&'static str),
    #[error("unsupported authorization scheme (use Basic or Bearer)")]
    UnknownScheme,
}

/// Parses an `Authorization` header value (`None` when absent).
pub fn parse(header: Option<&[u8]>) -> Result<Credentials, CredentialsError> {
    let Some(raw) = header else { return Ok(Credentials::None) };
    if raw.len() > MAX_HEADER {
        return Err(CredentialsError::TooLong);
    }
    let value = std::str::from_utf8(raw).map_err(|_| CredentialsError::Malformed("not UTF-8"))?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(CredentialsError::Malformed("no credentials after the scheme"))?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| CredentialsError::Malformed("Basic credentials are not base64"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| CredentialsError::Malformed("Basic credentials are not UTF-8"))?;
        let (username, secret) =
            decoded.split_once(':').ok_or(CredentialsError::Malformed("Basic credentials lack the `:` separator"))?;
        if username.len() > MAX_USERNAME || secret.len() > MAX_SECRET {
            return Err(CredentialsError::TooLong);
        }
        if secret.is_empty() {
            return Err(CredentialsError::Malformed("empty password"));
        }
        Ok(Credentials::Basic { username: username.to_owned(), secret: secret.to_owned() })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return Err(CredentialsError::Malformed("Bearer token is empty or contains spaces"));
        }
        Ok(Credentials::Bearer(rest.to_owned()))
    } else {
        Err(CredentialsError::UnknownScheme)
    }
}

/// The sha256 (hex) a secret is stored and looked up as.
#[must_use]
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

/// A new API token: its public id and the secret shown once (`shpk_<id>_<random>`).
#[must_use]
pub fn new_token() -> (String, String) {
    let id = random_hex(6);
    let secret = format!("{TOKEN_PREFIX}{id}_{}", random_hex(32));
    (id, secret)
}

/// A random value for the token-signing secret.
#[must_use]
pub fn new_signing_secret() -> String {
    random_hex(32)
}

#[must_use]
pub fn looks_like_token(secret: &str) -> bool {
    secret.starts_with(TOKEN_PREFIX)
}

/// argon2id with the crate's default (OWASP) parameters. CPU-heavy: call off the async threads.
#[must_use] 
pub fn hash_password(password: &str) -> String {
    Argon2::default().hash_password(password.as_bytes()).expect("argon2 hashes any password").to_string()
}

/// Constant-time verification of `password` against a PHC string (false when it is corrupt).
#[must_use]
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s))
    }

    #[test]
    fn parses_basic_and_bearer() {
        assert_eq!(parse(None).unwrap(), Credentials::None);
        assert_eq!(
            parse(Some(basic("alice:pa:ss").as_bytes())).unwrap(),
            Credentials::Basic { username: "alice".into(), secret: "pa:ss".into() }
        );
        assert_eq!(parse(Some(b"bearer abc.def")).unwrap(), Credentials::Bearer("abc.def".into()));
    }

    #[test]
    fn refuses_malformed_headers() {
        for bad in ["Basic", "Basic !!!", "Bearer  ", "Digest x=y", "Basic Zm9v"] {
            assert!(parse(Some(bad.as_bytes())).is_err(), "{bad}");
        }
        assert!(parse(Some(basic("alice:").as_bytes())).is_err());
        let long = basic(&format!("alice:{}", "x".repeat(MAX_SECRET + 1)));
        assert_eq!(parse(Some(long.as_bytes())), Err(CredentialsError::TooLong));
        assert_eq!(parse(Some(&vec![b'a'; MAX_HEADER + 1])), Err(CredentialsError::TooLong));
    }

    #[test]
    fn passwords_and_tokens_round_trip() {
        let phc = hash_password("correct horse");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong", &phc));
        assert!(!verify_password("x", "not a phc string"));
        let (id, secret) = new_token();
        assert!(looks_like_token(&secret) && secret.contains(&id));
        assert_eq!(secret_hash(&secret).len(), 64);
        assert_ne!(new_token().1, secret);
    }
}
