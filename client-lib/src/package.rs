//! `sherpack package`: a directory into a byte-reproducible gzip tar. Sherpack packs use the
//! upstream layout (no top directory, a `MANIFEST` first, then every file sorted by path); Helm
//! charts get their one top directory `<name>/`. Every entry has mode 0644, uid/gid 0 and
//! mtime 0, and the gzip header carries no time or name, so the same tree gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use registry_core::pack::{PackKind, PackMeta};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The metadata of a pack directory (its Pack.yaml or Chart.yaml, values, README).
pub fn read_dir_meta(dir: &Path) -> Result<PackMeta> {
    let mut files = BTreeMap::new();
    for name in registry_core::pack::METADATA_FILES {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                files.insert(name.to_owned(), text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path)(e)),
        }
    }
    if !files.contains_key("Pack.yaml") && !files.contains_key("Chart.yaml") {
        return Err(Error::Invalid(format!("{} holds neither Pack.yaml nor Chart.yaml: is it a pack directory?", dir.display())));
    }
    registry_core::pack::from_files(&files).map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))
}

/// Simple ignore patterns (`.sherpackignore` / `.helmignore`): `#` comments, `*` and `?`
/// wildcards within a segment, a trailing `/` for directories, a leading `/` to anchor at the
/// root; a pattern without `/` matches a file or directory name at any depth.
struct Ignore {
    patterns: Vec<(String, bool, bool)>,
}

impl Ignore {
    fn load(dir: &Path) -> Self {
        let mut patterns = vec![(".git".to_owned(), true, false)];
        for file in [".sherpackignore", ".helmignore"] {
            if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                    let dir_only = line.ends_with('/');
                    let anchored = line.starts_with('/') || line.trim_end_matches('/').contains('/');
                    patterns.push((line.trim_matches('/').to_owned(), dir_only, anchored));
                }
            }
        }
        Self { patterns }
    }

    fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.patterns.iter().any(|(p, dir_only, anchored)| {
            (!dir_only || is_dir) && if *anchored { glob(p, rel) } else { glob(p, name) }
        })
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && go(p, &t[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Every file under `dir` that is packaged, by relative path.
fn collect(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let ignore = Ignore::load(dir);
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).map_err(Error::io(&current))? {
            let entry = entry.map_err(Error::io(&current))?;
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let kind = entry.file_type().map_err(Error::io(&path))?;
            if kind.is_symlink() {
                return Err(Error::Invalid(format!("{}: symbolic links are not packaged; replace it with the file", path.display())));
            }
            if ignore.ignored(&rel, kind.is_dir()) {
                continue;
            }
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                out.insert(rel, path);
            }
        }
    }
    Ok(out)
}

fn header(path: &str, size: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).map_err(|e| Error::Invalid(format!("cannot store `{path}` in a tar archive: {e}")))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

/// The upstream `MANIFEST`: file digests and one digest over all of them.
fn manifest(meta: &PackMeta, files: &BTreeMap<String, Vec<u8>>) -> String {
    let created = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or_else(|| "1970-01-01T00:00:00Z".to_owned(), rfc3339);
    let mut text = format!("sherpack-manifest-version: 1\nname: {}\nversion: {}\ncreated: {created}\n\n[files]\n", meta.name, meta.version);
    let mut all = Sha256::new();
    for (path, data) in files {
        let hex = hex::encode(Sha256::digest(data));
        let _ = writeln!(text, "{path} sha256:{hex}");
        all.update(format!("{path}:{hex}\n").as_bytes());
    }
    let _ = write!(text, "\n[digest]\nsha256:{}\n", hex::encode(all.finalize()));
    text
}

#[must_use] 
pub fn rfc3339(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    // httpdate gives `Thu, 01 Jan 1970 00:00:00 GMT`; turn it into RFC 3339 by hand.
    let text = httpdate::fmt_http_date(t);
    let parts: Vec<&str> = text.split_whitespace().collect();
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| *m == parts[2]).unwrap_or(0) + 1;
    format!("{}-{month:02}-{}T{}Z", parts[3], parts[1], parts[4])
}

/// Packages `dir` into `<out_dir>/<name>-<version>.tgz`; returns the path and the metadata.
pub fn package(dir: &Path, out_dir: &Path) -> Result<(PathBuf, PackMeta)> {
    let meta = read_dir_meta(dir)?;
    let paths = collect(dir)?;
    let mut files = BTreeMap::new();
    for (rel, path) in &paths {
        files.insert(rel.clone(), std::fs::read(path).map_err(Error::io(path))?);
    }
    let archive = build_archive(&meta, &files)?;
    registry_core::pack::read(&archive, &registry_core::pack::Limits::default()).map_err(|e| Error::Invalid(format!("the packaged archive would be refused: {e}")))?;
    let dest = out_dir.join(format!("{}-{}.tgz", meta.name, meta.version));
    crate::config::write_atomic(&dest, &archive, false)?;
    Ok((dest, meta))
}

fn build_archive(meta: &PackMeta, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>> {
    let gz = flate2::GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), flate2::Compression::new(9));
    let mut tar = tar::Builder::new(gz);
    let mut append = |path: &str, data: &[u8]| -> Result<()> {
        tar.append(&header(path, data.len() as u64)?, data).map_err(Error::io(path))
    };
    match meta.kind {
        PackKind::Sherpack => {
            let files: BTreeMap<String, Vec<u8>> = files.iter().filter(|(p, _)| p.as_str() != "MANIFEST").map(|(p, d)| (p.clone(), d.clone())).collect();
            append("MANIFEST", manifest(meta, &files).as_bytes())?;
            for (path, data) in &files {
                append(path, data)?;
            }
        }
        PackKind::Helm => {
            for (path, data) in files {
                append(&format!("{}/{path}", meta.name), data)?;
            }
        }
    }
    let gz = tar.into_inner().map_err(Error::io("archive"))?;
    gz.finish().map_err(Error::io("archive"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_segments() {
        assert!(glob("*.tgz", "a.tgz"));
        assert!(!glob("*.tgz", "dir/a.tgz"));
        assert!(glob("templates/*.bak", "templates/x.bak"));
        assert!(glob("?.txt", "a.txt"));
        assert!(!glob("a", "ab"));
    }

    #[test]
    fn epoch_dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
