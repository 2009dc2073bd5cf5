//! Minisign signatures as the upstream client makes them: Ed25519, prehashed, over the whole
//! archive, in `<archive>.minisig`, with the trusted comment
//! `sherpack:<name> v<version> digest:<first 16 hex of the sha256>`.

use std::path::{Path, PathBuf};

use registry_core::pack::PackMeta;

use crate::error::{Error, Result};

fn trusted_comment(meta: &PackMeta, archive: &[u8]) -> String {
    format!("sherpack:{} v{} digest:{}", meta.name, meta.version, &crate::oci::sha256_digest(archive)[7..23])
}

/// Writes `<dir>/<name>.key` (secret, mode 0600; encrypted when `SHERPACK_KEY_PASSWORD` is
/// set) and `<dir>/<name>.pub`; refuses to overwrite either.
pub fn keygen(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let (sk_path, pk_path) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            return Err(Error::Usage(format!("{} already exists; remove it or choose another --name", p.display())));
        }
    }
    let password = std::env::var("SHERPACK_KEY_PASSWORD").ok().filter(|p| !p.is_empty());
    let kp = match &password {
        Some(p) => minisign::KeyPair::generate_encrypted_keypair(Some(p.clone())),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| Error::Invalid(format!("cannot generate a key: {e}")))?;
    let sk_box = kp.sk.to_box(Some("sherpack secret key")).map_err(|e| Error::Invalid(e.to_string()))?;
    let pk_box = kp.pk.to_box().map_err(|e| Error::Invalid(e.to_string()))?;
    crate::config::write_atomic(&sk_path, sk_box.to_string().as_bytes(), true)?;
    crate::config::write_atomic(&pk_path, pk_box.to_string().as_bytes(), false)?;
    Ok((sk_path, pk_path))
}

fn read_secret_key(path: &Path) -> Result<minisign::SecretKey> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let sk_box = minisign::SecretKeyBox::from_string(&text).map_err(|e| Error::Invalid(format!("{}: not a minisign secret key: {e}", path.display())))?;
    let password = std::env::var("SHERPACK_KEY_PASSWORD").ok().filter(|p| !p.is_empty());
    let key = match password {
        Some(p) => sk_box.into_secret_key(Some(p)),
        None => sk_box.into_unencrypted_secret_key(),
    };
    key.map_err(|e| Error::Invalid(format!("{}: cannot open the key ({e}); an encrypted key needs SHERPACK_KEY_PASSWORD", path.display())))
}

/// A public key from a minisign `.pub` file or a bare base64 key.
pub fn read_public_key(path_or_key: &str) -> Result<minisign::PublicKey> {
    let path = Path::new(path_or_key);
    let text = if path.exists() { std::fs::read_to_string(path).map_err(Error::io(path))? } else { path_or_key.to_owned() };
    let key_line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("untrusted comment:")).unwrap_or_default();
    minisign::PublicKey::from_base64(key_line).map_err(|e| Error::Usage(format!("`{path_or_key}` is neither a minisign public key file nor a base64 key: {e}")))
}

/// Signs an archive; writes `<archive>.minisig` and returns its path.
pub fn sign(archive_path: &Path, key: &Path) -> Result<PathBuf> {
    let archive = std::fs::read(archive_path).map_err(Error::io(archive_path))?;
    let meta = crate::archive::meta(&archive, archive_path)?;
    let sk = read_secret_key(key)?;
    let sig = minisign::sign(None, &sk, std::io::Cursor::new(&archive), Some(&trusted_comment(&meta, &archive)), Some("signature from sherpack"))
        .map_err(|e| Error::Invalid(format!("cannot sign: {e}")))?;
    let out = signature_path(archive_path);
    crate::config::write_atomic(&out, sig.to_string().as_bytes(), false)?;
    Ok(out)
}

#[must_use]
pub fn signature_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".minisig");
    PathBuf::from(name)
}

/// Checks a signature over `archive` with `key`, and that its trusted comment names this pack.
/// Returns the trusted comment.
pub fn verify(archive: &[u8], what: &Path, signature: &[u8], key: &minisign::PublicKey) -> Result<String> {
    let fail = |reason: String| Error::Integrity { what: what.display().to_string(), reason };
    let text = std::str::from_utf8(signature).map_err(|_| fail("the signature file is not text".into()))?;
    let sig = minisign::SignatureBox::from_string(text).map_err(|e| fail(format!("not a minisign signature: {e}")))?;
    minisign::verify(key, &sig, std::io::Cursor::new(archive), true, false, false).map_err(|e| fail(format!("signature does not verify with this key: {e}")))?;
    let comment = sig.trusted_comment().unwrap_or_default();
    let meta = crate::archive::meta(archive, what)?;
    let expected = trusted_comment(&meta, archive);
    if comment.starts_with("sherpack:") && comment != expected {
        return Err(fail(format!("the signed comment `{comment}` does not match this archive (`{expected}`)")));
    }
    Ok(comment)
}
