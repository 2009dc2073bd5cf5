//! Dependency resolution for a pack directory: Pack.yaml (or Chart.yaml) dependencies with
//! semver ranges over OCI, HTTP and `file://` repositories, aliases, `enabled`, conditions and
//! tags, followed transitively; one version per pack, the newest that satisfies every range
//! that asks for it; cycles and conflicts refused with the chain that caused them. The result
//! is `Pack.lock.yaml` in the upstream format, and `charts/` filled with exactly those archives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use indicatif::ProgressBar;
use registry_core::pack::{Dependency, PackMeta};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::helmrepo::{best_match, parse_range, sorted_versions};
use crate::sources::{Context, Source};

pub const LOCK_FILE: &str = "Pack.lock.yaml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockFile {
    pub version: u32,
    pub generated: String,
    pub pack_yaml_digest: String,
    #[serde(default = "strict")]
    pub policy: String,
    #[serde(default)]
    pub dependencies: Vec<Locked>,
}

fn strict() -> String {
    "strict".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Locked {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub digest: String,
    pub constraint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

impl Locked {
    #[must_use]
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// The pack's own metadata file (Pack.yaml, else Chart.yaml) and its digest.
fn metadata_file(dir: &Path) -> Result<(PathBuf, String)> {
    for name in ["Pack.yaml", "Chart.yaml"] {
        let path = dir.join(name);
        if let Ok(data) = std::fs::read(&path) {
            return Ok((path, crate::oci::sha256_digest(&data)));
        }
    }
    Err(Error::Invalid(format!("{} holds neither Pack.yaml nor Chart.yaml", dir.display())))
}

pub fn read_lock(dir: &Path) -> Result<Option<LockFile>> {
    let path = dir.join(LOCK_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_saphyr::from_str(&text).map(Some).map_err(|e| Error::Invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path)(e)),
    }
}

/// Is a dependency switched on by `enabled`, its condition and its tags, against the values
/// of the pack that declares it?
fn enabled(dep: &Dependency, values: &Value) -> bool {
    if dep.enabled == Some(false) {
        return false;
    }
    if let Some(condition) = &dep.condition {
        // Helm: the first condition path that resolves to a boolean decides.
        for path in condition.split(',').map(str::trim) {
            if let Some(b) = lookup(values, path).and_then(Value::as_bool) {
                return b;
            }
        }
    }
    if !dep.tags.is_empty() {
        let tags: Vec<bool> = dep.tags.iter().filter_map(|t| values.get("tags").and_then(|v| v.get(t)).and_then(Value::as_bool)).collect();
        if !tags.is_empty() {
            return tags.iter().any(|b| *b);
        }
    }
    true
}

fn lookup<'a>(values: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(values, |v, key| v.get(key))
}

fn parse_values(text: Option<&str>) -> Value {
    text.and_then(|t| serde_saphyr::from_str::<Value>(t).ok()).unwrap_or(Value::Null)
}

/// One pack to resolve: who asked for it (the chain), and with what.
struct Want {
    chain: Vec<String>,
    dep: Dependency,
    base_dir: PathBuf,
}

/// A resolved pack, with the archive fetched into the staging directory.
struct Chosen {
    locked: Locked,
    ranges: Vec<(String, String)>,
}

pub struct Resolution {
    pub lock: LockFile,
    /// The staged archives by file name (removed with the staging directory).
    staging: tempfile::TempDir,
}

/// Resolves the dependencies of the pack in `dir`, fetching every chosen archive into a
/// staging directory.
pub async fn resolve(ctx: &Context, dir: &Path, progress: &ProgressBar) -> Result<Resolution> {
    let root = crate::package::read_dir_meta(dir)?;
    let staging = tempfile::tempdir_in(dir).map_err(Error::io(dir))?;
    // Pins found by earlier rounds: a conflict discovered late restarts with every range known.
    let mut extra_ranges: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for _round in 0..8 {
        match resolve_round(ctx, dir, &root, &extra_ranges, staging.path(), progress).await? {
            Round::Done(chosen) => {
                let (_, digest) = metadata_file(dir)?;
                let mut dependencies: Vec<Locked> = chosen.into_values().map(|c| c.locked).collect();
                dependencies.sort_by(|a, b| (&a.name, &a.alias).cmp(&(&b.name, &b.alias)));
                let lock = LockFile { version: 1, generated: now_rfc3339(), pack_yaml_digest: digest, policy: strict(), dependencies };
                return Ok(Resolution { lock, staging });
            }
            Round::Retry(name, ranges) => {
                extra_ranges.insert(name, ranges);
            }
        }
    }
    Err(Error::Resolve("the ranges kept changing after 8 rounds; simplify the version ranges".into()))
}

enum Round {
    Done(BTreeMap<String, Chosen>),
    Retry(String, Vec<(String, String)>),
}

async fn resolve_round(
    ctx: &Context,
    dir: &Path,
    root: &PackMeta,
    extra_ranges: &BTreeMap<String, Vec<(String, String)>>,
    staging: &Path,
    progress: &ProgressBar,
) -> Result<Round> {
    let root_values = parse_values(root.values.as_deref());
    // Breadth first, one level at a time: versions are chosen in order (conflicts are found
    // the same way every run), then the level's archives are fetched concurrently.
    let mut level: Vec<Want> = root
        .dependencies
        .iter()
        .filter(|d| enabled(d, &root_values))
        .map(|d| Want { chain: vec![root.name.clone()], dep: d.clone(), base_dir: dir.to_path_buf() })
        .collect();
    let mut chosen: BTreeMap<String, Chosen> = BTreeMap::new();
    let mut sources: BTreeMap<String, Source> = BTreeMap::new();
    while !level.is_empty() {
        let mut to_fetch: Vec<(String, Want, String)> = Vec::new();
        for want in level.drain(..) {
            let dep = &want.dep;
            let requester = want.chain.last().cloned().unwrap_or_default();
            if want.chain.contains(&dep.name) {
                let mut cycle = want.chain.clone();
                cycle.push(dep.name.clone());
                let start = cycle.iter().position(|n| *n == dep.name).unwrap_or(0);
                return Err(Error::Resolve(format!("dependency cycle: {}", cycle[start..].join(" -> "))));
            }
            let Some(repository) = dep.repository.clone().filter(|r| !r.is_empty()) else {
                // No repository: the pack is vendored under charts/ by its author.
                continue;
            };
            let range = dep.version.clone().unwrap_or_else(|| "*".into());
            parse_range(&range).map_err(|e| Error::Resolve(format!("{} asks for {} `{range}`: {e}", requester, dep.name)))?;
            let key = dep.alias.clone().unwrap_or_else(|| dep.name.clone());
            if !sources.contains_key(&repository) {
                let source = ctx.source(&repository, &want.base_dir).await?;
                sources.insert(repository.clone(), source);
            }
            let source = &sources[&repository];
            let mut ranges: Vec<(String, String)> = extra_ranges.get(&key).cloned().unwrap_or_default();
            if let Some(existing) = chosen.get(&key) {
                ranges.extend(existing.ranges.iter().cloned());
            }
            if !ranges.iter().any(|(who, r)| *who == requester && *r == range) {
                ranges.push((requester.clone(), range.clone()));
            }
            if let Some(existing) = chosen.get_mut(&key) {
                let version = semver::Version::parse(&existing.locked.version).ok();
                if version.as_ref().is_some_and(|v| parse_range(&range).is_ok_and(|r| r.matches(v))) {
                    existing.ranges = ranges;
                    continue;
                }
                // The version chosen earlier does not satisfy this range: try again knowing both.
                let versions = source.versions(&dep.name).await?;
                if pick(&versions, &ranges).is_none() {
                    return Err(conflict(&dep.name, &ranges, &versions));
                }
                return Ok(Round::Retry(key, ranges));
            }
            let versions = source.versions(&dep.name).await.map_err(|e| match e {
                Error::NotFound { .. } => Error::Resolve(format!("{} needs `{}`, which {} does not have", requester, dep.name, source.url())),
                other => other,
            })?;
            let Some(version) = pick(&versions, &ranges) else {
                return Err(if ranges.len() > 1 {
                    conflict(&dep.name, &ranges, &versions)
                } else {
                    Error::Resolve(format!(
                        "{} needs {} `{range}` from {}; versions available: {}",
                        requester,
                        dep.name,
                        source.url(),
                        if versions.is_empty() { "none".into() } else { sorted_versions(versions.iter().map(String::as_str)).join(", ") }
                    ))
                });
            };
            let locked = Locked {
                name: dep.name.clone(),
                version: version.clone(),
                repository: source.url(),
                digest: String::new(),
                constraint: range,
                alias: dep.alias.clone(),
                dependencies: Vec::new(),
            };
            chosen.insert(key.clone(), Chosen { locked, ranges });
            to_fetch.push((key, want, repository));
        }
        level = fetch_level(&sources, to_fetch, &mut chosen, staging, progress).await?;
    }
    Ok(Round::Done(chosen))
}

/// Fetches the archives chosen for one level, concurrently; records their digests and
/// dependencies, and returns the next level (their dependencies).
async fn fetch_level(
    sources: &BTreeMap<String, Source>,
    to_fetch: Vec<(String, Want, String)>,
    chosen: &mut BTreeMap<String, Chosen>,
    staging: &Path,
    progress: &ProgressBar,
) -> Result<Vec<Want>> {
    let chosen_ref = &*chosen;
    let fetches = futures::stream::iter(to_fetch.iter().map(|(key, want, repository)| {
        let (name, version) = (&want.dep.name, &chosen_ref[key].locked.version);
        let file = staging.join(format!("{name}-{version}.tgz"));
        let source = &sources[repository];
        async move {
            let fetched = source.fetch(name, version, &file, progress).await?;
            let data = std::fs::read(&file).map_err(Error::io(&file))?;
            let meta = crate::archive::meta(&data, &file)?;
            if meta.name != *name || meta.version != *version {
                return Err(Error::Integrity { what: format!("{name} {version} from {}", source.url()), reason: format!("the archive holds {} {}", meta.name, meta.version) });
            }
            Ok((fetched.digest, meta))
        }
    }))
    .buffered(FETCH_CONCURRENCY)
    .collect::<Vec<Result<_>>>()
    .await;
    let mut next = Vec::new();
    for ((key, want, _), result) in to_fetch.into_iter().zip(fetches) {
        let (digest, meta) = result?;
        let child_values = parse_values(meta.values.as_deref());
        let mut children = Vec::new();
        for child in meta.dependencies.iter().filter(|d| enabled(d, &child_values)) {
            if child.repository.as_deref().is_some_and(|r| !r.is_empty()) {
                children.push(child.alias.clone().unwrap_or_else(|| child.name.clone()));
                let mut chain = want.chain.clone();
                chain.push(want.dep.name.clone());
                // A `file://` path inside a fetched pack means nothing here: resolve it from
                // the requesting pack's directory.
                next.push(Want { chain, dep: child.clone(), base_dir: want.base_dir.clone() });
            }
        }
        children.sort();
        if let Some(c) = chosen.get_mut(&key) {
            c.locked.digest = digest;
            c.locked.dependencies = children;
        }
    }
    Ok(next)
}

/// Archives fetched at once.
const FETCH_CONCURRENCY: usize = 8;

fn pick(versions: &[String], ranges: &[(String, String)]) -> Option<String> {
    let ok: Vec<&String> = versions
        .iter()
        .filter(|v| {
            ranges.iter().all(|(_, r)| {
                semver::Version::parse(v).is_ok_and(|sv| parse_range(r).is_ok_and(|req| req.matches(&sv)) || r.trim_start_matches('=') == v.as_str())
            })
        })
        .collect();
    best_match(ok.iter().map(|v| (v.as_str(), (*v).clone())), Some("*")).or_else(|| ok.first().map(|v| (*v).clone()))
}

fn conflict(name: &str, ranges: &[(String, String)], versions: &[String]) -> Error {
    let asks: Vec<String> = ranges.iter().map(|(who, r)| format!("{who} needs `{r}`")).collect();
    Error::Resolve(format!(
        "conflict on `{name}`: {}; no version satisfies all (versions available: {})",
        asks.join(", "),
        sorted_versions(versions.iter().map(String::as_str)).join(", ")
    ))
}

impl Resolution {
    /// Moves the staged archives into `dir/charts/` (replacing older versions of the same
    /// packs) and writes the lock file.
    pub fn install(self, dir: &Path) -> Result<LockFile> {
        install_charts(dir, &self.lock, self.staging.path())?;
        let text = serde_saphyr::to_string(&self.lock).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::config::write_atomic(&dir.join(LOCK_FILE), text.as_bytes(), false)?;
        Ok(self.lock)
    }
}

fn install_charts(dir: &Path, lock: &LockFile, staging: &Path) -> Result<()> {
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).map_err(Error::io(&charts))?;
    // Older archives of the locked packs go; everything else in charts/ (vendored) stays.
    if let Ok(entries) = std::fs::read_dir(&charts) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let stale = lock.dependencies.iter().any(|d| {
                file.strip_prefix(&format!("{}-", d.name)).and_then(|v| v.strip_suffix(".tgz")).is_some_and(|v| semver::Version::parse(v).is_ok())
            });
            if stale {
                std::fs::remove_file(entry.path()).map_err(Error::io(entry.path()))?;
            }
        }
    }
    for locked in &lock.dependencies {
        let from = staging.join(locked.file_name());
        let to = charts.join(locked.file_name());
        std::fs::rename(&from, &to).or_else(|_| std::fs::copy(&from, &to).map(drop)).map_err(Error::io(&to))?;
    }
    Ok(())
}

/// `dependency build`: fetches exactly the locked versions and checks their digests.
pub async fn build(ctx: &Context, dir: &Path, progress: &ProgressBar) -> Result<LockFile> {
    let lock = read_lock(dir)?.ok_or_else(|| Error::Usage(format!("{} has no {LOCK_FILE}: run `sherpack dependency update` first", dir.display())))?;
    let (meta_path, digest) = metadata_file(dir)?;
    if digest != lock.pack_yaml_digest {
        return Err(Error::Usage(format!("{} changed since {LOCK_FILE} was written: run `sherpack dependency update`", meta_path.display())));
    }
    let staging = tempfile::tempdir_in(dir).map_err(Error::io(dir))?;
    let mut sources: BTreeMap<&str, Source> = BTreeMap::new();
    for locked in &lock.dependencies {
        if !sources.contains_key(locked.repository.as_str()) {
            sources.insert(&locked.repository, ctx.source(&locked.repository, dir).await?);
        }
    }
    let fetches = futures::stream::iter(lock.dependencies.iter().map(|locked| {
        let file = staging.path().join(locked.file_name());
        let source = &sources[locked.repository.as_str()];
        async move {
            let fetched = source.fetch(&locked.name, &locked.version, &file, progress).await?;
            if fetched.digest != locked.digest {
                return Err(Error::Integrity {
                    what: format!("{} {}", locked.name, locked.version),
                    reason: format!("{LOCK_FILE} says {}, {} served {}; nothing was changed", locked.digest, locked.repository, fetched.digest),
                });
            }
            Ok(())
        }
    }))
    .buffered(FETCH_CONCURRENCY)
    .collect::<Vec<Result<()>>>()
    .await;
    fetches.into_iter().collect::<Result<Vec<()>>>()?;
    install_charts(dir, &lock, staging.path())?;
    Ok(lock)
}

/// A row of `dependency list`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub name: String,
    pub alias: Option<String>,
    pub version: String,
    pub repository: String,
    pub locked: Option<String>,
    pub status: String,
}

/// The dependencies of `dir` with what the lock and `charts/` say about each.
pub fn list(dir: &Path) -> Result<Vec<Status>> {
    let meta = crate::package::read_dir_meta(dir)?;
    let lock = read_lock(dir)?;
    let values = parse_values(meta.values.as_deref());
    let (_, digest) = metadata_file(dir)?;
    Ok(meta
        .dependencies
        .iter()
        .map(|d| {
            let key = d.alias.as_ref().unwrap_or(&d.name);
            let locked = lock.as_ref().and_then(|l| l.dependencies.iter().find(|x| x.alias.as_ref().unwrap_or(&x.name) == key));
            let status = if !enabled(d, &values) {
                "disabled".to_owned()
            } else if d.repository.as_deref().is_none_or(str::is_empty) {
                "vendored".to_owned()
            } else if let Some(l) = locked {
                let present = std::fs::read(dir.join("charts").join(l.file_name())).ok().map(|data| crate::oci::sha256_digest(&data));
                match present {
                    Some(d) if d == l.digest && lock.as_ref().is_some_and(|l| l.pack_yaml_digest == digest) => "ok".to_owned(),
                    Some(d) if d == l.digest => "lock out of date".to_owned(),
                    Some(_) => "digest mismatch".to_owned(),
                    None => "missing".to_owned(),
                }
            } else {
                "not locked".to_owned()
            };
            Status {
                name: d.name.clone(),
                alias: d.alias.clone(),
                version: d.version.clone().unwrap_or_else(|| "*".into()),
                repository: d.repository.clone().unwrap_or_default(),
                locked: locked.map(|l| l.version.clone()),
                status,
            }
        })
        .collect())
}

#[must_use]
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::package::rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(yaml: &str) -> Dependency {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn conditions_and_tags_switch_dependencies() {
        let values: Value = serde_saphyr::from_str("redis:\n  enabled: false\ntags:\n  front: true\n  back: false\n").unwrap();
        assert!(!enabled(&dep("name: redis\ncondition: redis.enabled\n"), &values));
        assert!(enabled(&dep("name: pg\ncondition: pg.enabled\n"), &values));
        assert!(enabled(&dep("name: web\ntags: [front]\n"), &values));
        assert!(!enabled(&dep("name: api\ntags: [back]\n"), &values));
        assert!(!enabled(&dep("name: x\nenabled: false\n"), &values));
    }

    #[test]
    fn picks_satisfy_every_range() {
        let versions: Vec<String> = ["1.0.0", "1.4.0", "1.9.0", "2.0.0"].iter().map(|s| (*s).to_owned()).collect();
        let r = |list: &[&str]| list.iter().map(|r| ("x".to_owned(), (*r).to_owned())).collect::<Vec<_>>();
        assert_eq!(pick(&versions, &r(&["^1"])).as_deref(), Some("1.9.0"));
        assert_eq!(pick(&versions, &r(&["^1", "<1.5"])).as_deref(), Some("1.4.0"));
        assert_eq!(pick(&versions, &r(&["^1", "^2"])), None);
    }
}
