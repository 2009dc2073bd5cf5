//! Streaming a download into a file: size-capped, digest-checked, and renamed into place only
//! when it matches — a failed download leaves nothing behind. (No fsync: a download lost to
//! a crash is fetched again; what must survive one, the config files, is synced.)

use std::io::Write as _;
use std::path::Path;

use futures::StreamExt as _;
use indicatif::ProgressBar;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Writes the body of `response` to `dest`. `expected` is `sha256:<hex>`, a bare hex digest, or
/// empty (no check).
pub async fn to_file(response: reqwest::Response, url: &str, expected: &str, dest: &Path, max: u64, progress: &ProgressBar) -> Result<()> {
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    // The temporary file is removed when dropped on any early return.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io(dir))?;
    if let Some(len) = response.content_length() {
        progress.set_length(len);
    }
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::transport(url, &e))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(Error::Invalid(format!("{url} is larger than {max} bytes; refused")));
        }
        hasher.update(&chunk);
        tmp.write_all(&chunk).map_err(Error::io(dest))?;
        progress.inc(chunk.len() as u64);
    }
    let actual = hex::encode(hasher.finalize());
    let expected_hex = expected.strip_prefix("sha256:").unwrap_or(expected);
    if !expected_hex.is_empty() && !expected_hex.eq_ignore_ascii_case(&actual) {
        return Err(Error::Integrity {
            what: dest.file_name().map_or_else(|| url.to_owned(), |f| f.to_string_lossy().into_owned()),
            reason: format!("expected sha256:{expected_hex}, received sha256:{actual}; the download was discarded"),
        });
    }
    tmp.persist(dest).map_err(|e| Error::io(dest)(e.error))?;
    Ok(())
}
