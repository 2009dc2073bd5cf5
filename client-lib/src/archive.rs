//! Reading archives the CLI is given or downloads: always with the registry's limits.

use std::path::Path;

use registry_core::pack::{Limits, PackMeta};

use crate::error::{Error, Result};

/// The metadata of an archive, or a clear refusal.
pub fn meta(archive: &[u8], what: &Path) -> Result<PackMeta> {
    registry_core::pack::read(archive, &Limits::default()).map_err(|e| Error::Invalid(format!("{} is not a valid pack archive: {e}", what.display())))
}

/// Unpacks an archive into `dest/<name>` (as `helm pull --untar` does, for both layouts), with
/// the same limits; refuses links and unsafe paths. Writes into a temporary directory first, so a refusal leaves nothing.
pub fn untar(archive: &[u8], meta: &PackMeta, dest: &Path) -> Result<std::path::PathBuf> {
    use std::io::Read as _;
    let limits = Limits::default();
    let target = dest.join(&meta.name);
    if target.exists() {
        return Err(Error::Usage(format!("{} already exists; remove it or choose another -d directory", target.display())));
    }
    std::fs::create_dir_all(dest).map_err(Error::io(dest))?;
    let staging = tempfile::tempdir_in(dest).map_err(Error::io(dest))?;
    let decoder = flate2::read::GzDecoder::new(archive).take(limits.max_unpacked_bytes + 1);
    let mut tar = tar::Archive::new(decoder);
    let paths = tar.entries().map_err(|e| Error::Invalid(format!("not a tar archive: {e}")))?;
    let mut total = 0u64;
    let top_prefix = format!("{}/", meta.name);
    for entry in paths {
        let mut entry = entry.map_err(|e| Error::Invalid(format!("corrupted archive: {e}")))?;
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            if kind.is_dir() {
                continue;
            }
            return Err(Error::Invalid("the archive holds a link or special file; refused".into()));
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).trim_start_matches("./").to_owned();
        if path.starts_with('/') || path.split('/').any(|s| s == "..") {
            return Err(Error::Invalid(format!("unsafe path `{path}` in the archive; refused")));
        }
        let rel = path.strip_prefix(&top_prefix).unwrap_or(&path).to_owned();
        total += entry.header().size().unwrap_or(0);
        if total > limits.max_unpacked_bytes {
            return Err(Error::Invalid(format!("the archive unpacks to more than {} bytes; refused", limits.max_unpacked_bytes)));
        }
        let out = staging.path().join(&rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        let mut file = std::fs::File::create(&out).map_err(Error::io(&out))?;
        std::io::copy(&mut entry, &mut file).map_err(|e| Error::Invalid(format!("corrupted archive at `{path}`: {e}")))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &target).map_err(Error::io(&target))?;
    Ok(target)
}
