//! Streaming a download into a file or memory: size-capped, digest-checked; a file is renamed
//! into place only when it matches — a failed download leaves nothing behind. (No fsync: a
//! download lost to a crash is fetched again; what must survive one, the config files, is synced.)

use std::io::Write as _;
use std::path::Path;

use futures::StreamExt as _;
use indicatif::ProgressBar;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Feeds the body of `response` to `sink` chunk by chunk, refusing it past `max` bytes or when
/// its sha256 is not `expected` (`sha256:<hex>`, a bare hex digest, or empty: no check).
async fn stream_checked(
    response: reqwest::Response,
    url: &str,
    expected: &str,
    what: &str,
    max: u64,
    progress: &ProgressBar,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    if let Some(len) = response.content_length() {
        if len > max {
            return Err(Error::Invalid(format!("{url} is larger than {max} bytes; refused")));
        }
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
        sink(&chunk)?;
        progress.inc(chunk.len() as u64);
    }
    let actual = hex::encode(hasher.finalize());
    let expected_hex = expected.strip_prefix("sha256:").unwrap_or(expected);
    if !expected_hex.is_empty() && !expected_hex.eq_ignore_ascii_case(&actual) {
        return Err(Error::Integrity {
            what: what.to_owned(),
            reason: format!("expected sha256:{expected_hex}, received sha256:{actual}; the download was discarded"),
        });
    }
    Ok(())
}

/// Writes the body of `response` to `dest`.
pub async fn to_file(response: reqwest::Response, url: &str, expected: &str, dest: &Path, max: u64, progress: &ProgressBar) -> Result<()> {
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    // The temporary file is removed when dropped on any early return.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io(dir))?;
    let what = dest.file_name().map_or_else(|| url.to_owned(), |f| f.to_string_lossy().into_owned());
    stream_checked(response, url, expected, &what, max, progress, |chunk| tmp.write_all(chunk).map_err(Error::io(dest))).await?;
    tmp.persist(dest).map_err(|e| Error::io(dest)(e.error))?;
    Ok(())
}

/// The body of `response` in memory (for what is stored elsewhere right after, as an import does).
pub async fn to_bytes(response: reqwest::Response, url: &str, expected: &str, max: u64) -> Result<bytes::Bytes> {
    let mut out = Vec::with_capacity(usize::try_from(response.content_length().unwrap_or(0).min(max)).unwrap_or(0));
    let what = url.rsplit('/').next().unwrap_or(url).to_owned();
    stream_checked(response, url, expected, &what, max, &ProgressBar::hidden(), |chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })
    .await?;
    Ok(out.into())
}
