//! `package`, `sign`, `verify`, `keygen`.

use std::path::Path;

use client_lib::{Error, Result, archive, package, signing};

use crate::cli::Global;
use crate::output::info;

pub fn package(g: &Global, dir: &Path, destination: &Path, key: Option<&Path>) -> Result<()> {
    let (path, meta) = package::package(dir, destination)?;
    info(g, &format!("Packaged {} {}", meta.name, meta.version));
    println!("{}", path.display());
    if let Some(key) = key {
        let sig = signing::sign(&path, key)?;
        println!("{}", sig.display());
    }
    Ok(())
}

pub fn sign(g: &Global, archive: &Path, key: &Path) -> Result<()> {
    let sig = signing::sign(archive, key)?;
    info(g, &format!("Signed {}", archive.display()));
    println!("{}", sig.display());
    Ok(())
}

pub fn verify(g: &Global, archive_path: &Path, key: &str, signature: Option<&Path>) -> Result<()> {
    let key = signing::read_public_key(key)?;
    let data = std::fs::read(archive_path).map_err(Error::io(archive_path))?;
    archive::meta(&data, archive_path)?;
    let sig_path = signature.map_or_else(|| signing::signature_path(archive_path), Path::to_path_buf);
    let sig = std::fs::read(&sig_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound { what: format!("signature {}", sig_path.display()), hint: " (sign it with `sherpack sign`)".into() },
        _ => Error::io(&sig_path)(e),
    })?;
    let comment = signing::verify(&data, archive_path, &sig, &key)?;
    info(g, &format!("Signature verified: {comment}"));
    Ok(())
}

pub fn keygen(g: &Global, name: &str, destination: &Path) -> Result<()> {
    let (sk, pk) = signing::keygen(destination, name)?;
    info(g, &format!("Secret key: {} (keep it private)\nPublic key: {}", sk.display(), pk.display()));
    Ok(())
}
