//! `push` and `pull`.

use std::path::{Path, PathBuf};

use client_lib::config::RepoType;
use client_lib::helmrepo::best_match;
use client_lib::oci::{OciClient, OciRef};
use client_lib::{Error, Result, archive, signing};
use registry_core::pack::{PackKind, PackMeta};
use serde::Serialize;

use crate::cli::{Format, Global, Pull, Push};
use crate::output::{info, progress};

/// The OCI config blob: Chart.yaml as JSON for Helm charts (what helm writes), `{}` for
/// Sherpack packs (what the upstream client writes).
fn config_blob(meta: &PackMeta) -> Vec<u8> {
    if meta.kind == PackKind::Sherpack {
        return b"{}".to_vec();
    }
    let config = meta.chart_json(&[]);
    serde_json::to_vec(&config).unwrap_or_else(|_| b"{}".to_vec())
}

fn read_archive(path: &Path) -> Result<(Vec<u8>, PackMeta)> {
    let data = std::fs::read(path).map_err(Error::io(path))?;
    let meta = archive::meta(&data, path)?;
    Ok((data, meta))
}

/// The signature next to an archive, if there is one (it must be a minisign signature).
fn sibling_signature(path: &Path) -> Result<Option<Vec<u8>>> {
    let sig_path = signing::signature_path(path);
    match std::fs::read(&sig_path) {
        Ok(sig) => {
            let text = String::from_utf8_lossy(&sig);
            if !text.starts_with("untrusted comment:") {
                return Err(Error::Invalid(format!("{} is not a minisign signature", sig_path.display())));
            }
            Ok(Some(sig))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&sig_path)(e)),
    }
}

#[derive(Serialize)]
struct Pushed {
    reference: String,
    digest: Option<String>,
    signed: bool,
}

pub async fn push(g: &Global, args: Push) -> Result<()> {
    let (data, meta) = read_archive(&args.archive)?;
    let signature = sibling_signature(&args.archive)?;
    let ctx = super::context(g)?;
    let bar = progress(g, data.len() as u64, &format!("{} {}", meta.name, meta.version));
    let pushed = if let Some(name) = &args.repo {
        let repo = ctx.repositories.require(name)?;
        if repo.repo_type != RepoType::Http {
            return Err(Error::Usage(format!("--repo {name} is an {:?} repository: push to its URL with `sherpack push <archive> {}`", repo.repo_type, repo.url)));
        }
        let file_name = args.archive.file_name().map_or_else(|| format!("{}-{}.tgz", meta.name, meta.version), |f| f.to_string_lossy().into_owned());
        ctx.helm(&repo.url)?.upload(&data, &file_name, signature.as_deref(), args.force).await?;
        Pushed { reference: format!("{name}/{} {}", meta.name, meta.version), digest: None, signed: signature.is_some() }
    } else {
        let destination = args.destination.as_deref().ok_or_else(|| Error::Usage("where to? give oci://<host>/<namespace> or --repo <name>".into()))?;
        let dest = OciRef::parse(destination)?;
        if let Some(tag) = dest.reference.as_deref().filter(|t| *t != meta.version) {
            return Err(Error::Usage(format!("the archive is {} version {}, not `{tag}`: leave the tag out, it is the version", meta.name, meta.version)));
        }
        let repository = if dest.repository.rsplit('/').next() == Some(meta.name.as_str()) { dest.repository.clone() } else { format!("{}/{}", dest.repository, meta.name) };
        let client = ctx.oci(&dest.host)?;
        let (digest, size) = client.push_pack(&repository, &meta.version, &data, &config_blob(&meta), &bar).await?;
        if let Some(sig) = &signature {
            client.push_signature(&repository, &digest, size, sig).await?;
        }
        Pushed { reference: format!("oci://{}/{repository}:{}", dest.host, meta.version), digest: Some(digest), signed: signature.is_some() }
    };
    bar.finish_and_clear();
    if g.output == Format::Json {
        println!("{}", serde_json::to_string_pretty(&pushed).unwrap_or_default());
    } else {
        info(g, &format!("Pushed: {}{}", pushed.reference, if pushed.signed { " (with its signature)" } else { "" }));
        if let Some(d) = &pushed.digest {
            info(g, &format!("Digest: {d}"));
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Pulled {
    name: String,
    version: String,
    digest: String,
    path: PathBuf,
    verified: Option<String>,
}

/// A downloaded archive in the destination directory, and its signature if published.
struct Download {
    path: PathBuf,
    digest: String,
    signature: Option<Vec<u8>>,
}

async fn pull_oci(g: &Global, client: &OciClient, r: &OciRef, range: Option<&str>, dir: &Path, want_signature: bool) -> Result<Download> {
    let reference = match (&r.reference, range) {
        (Some(_), Some(_)) => return Err(Error::Usage("give either a tag/digest in the reference or --version, not both".into())),
        (Some(reference), None) => reference.clone(),
        (None, range) => {
            let tags = client.tags(&r.repository).await?;
            best_match(tags.iter().map(|t| (t.as_str(), t.clone())), range).ok_or_else(|| Error::NotFound {
                what: format!("a version of {} matching `{}`", r, range.unwrap_or("*")),
                hint: format!(" (versions available: {})", client_lib::oci::newest_first(tags.clone()).join(", ")),
            })?
        }
    };
    let manifest = client.manifest(&r.repository, &reference).await?;
    let (layer, size) = manifest.content_layer()?;
    let bar = progress(g, size, &r.repository);
    let tmp_name = dir.join(format!(".{}.download", &layer[7..19]));
    client.blob_to_file(&r.repository, &layer, &tmp_name, registry_core::pack::Limits::default().max_archive_bytes, &bar).await?;
    bar.finish_and_clear();
    let signature = if want_signature { client.signature(&r.repository, &manifest.digest).await? } else { None };
    Ok(Download { path: tmp_name, digest: layer, signature })
}

pub async fn pull(g: &Global, args: Pull) -> Result<()> {
    let ctx = super::context(g)?;
    let dir = &args.destination;
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let want_signature = args.verify.is_some();
    let download = if args.reference.starts_with("oci://") {
        let r = OciRef::parse(&args.reference)?;
        pull_oci(g, &ctx.oci(&r.host)?, &r, args.version.as_deref(), dir, want_signature).await?
    } else {
        let (repo_name, name) = args
            .reference
            .split_once('/')
            .ok_or_else(|| Error::Usage(format!("`{}`: expected oci://<host>/<repository> or <repo>/<name>", args.reference)))?;
        let repo = ctx.repositories.require(repo_name)?;
        match repo.repo_type {
            RepoType::Oci => {
                let r = OciRef::parse(&repo.url)?.child(name);
                pull_oci(g, &ctx.oci(&r.host)?, &r, args.version.as_deref(), dir, want_signature).await?
            }
            RepoType::Http => {
                let index = ctx.cached_index(repo).await?;
                let entry = index.find(name, args.version.as_deref(), repo_name).map_err(|e| match e {
                    Error::NotFound { what, hint } => Error::NotFound { what, hint: format!("{hint}; run `sherpack repo update {repo_name}` if it was pushed recently") },
                    other => other,
                })?;
                let helm = ctx.helm(&repo.url)?;
                let path = dir.join(format!(".{name}-{}.download", entry.version));
                let bar = progress(g, 0, name);
                helm.download(entry, &path, &bar).await?;
                bar.finish_and_clear();
                let digest = client_lib::sources::file_digest(&path)?;
                let signature = if want_signature { helm.signature(entry).await? } else { None };
                Download { path, digest, signature }
            }
            RepoType::File => return Err(Error::Usage(format!("{repo_name} is a local directory; nothing to pull"))),
        }
    };
    // From here on, any failure removes the download.
    let result = finish_pull(&args, &download);
    let _ = std::fs::remove_file(&download.path);
    let pulled = result?;
    if g.output == Format::Json {
        println!("{}", serde_json::to_string_pretty(&pulled).unwrap_or_default());
    } else {
        info(g, &format!("Pulled: {} {} to {}", pulled.name, pulled.version, pulled.path.display()));
        info(g, &format!("Digest: {}", pulled.digest));
        if let Some(comment) = &pulled.verified {
            info(g, &format!("Signature verified: {comment}"));
        }
    }
    Ok(())
}

fn finish_pull(args: &Pull, download: &Download) -> Result<Pulled> {
    let (data, meta) = read_archive(&download.path)?;
    let verified = match &args.verify {
        Some(key) => {
            let key = signing::read_public_key(key)?;
            let sig = download.signature.as_deref().ok_or_else(|| Error::Integrity {
                what: format!("{} {}", meta.name, meta.version),
                reason: "no signature is published for it; the download was discarded".into(),
            })?;
            Some(signing::verify(&data, &download.path, sig, &key)?)
        }
        None => None,
    };
    let dir = &args.destination;
    let path = if args.untar {
        archive::untar(&data, &meta, dir)?
    } else {
        let path = dir.join(format!("{}-{}.tgz", meta.name, meta.version));
        std::fs::rename(&download.path, &path).map_err(Error::io(&path))?;
        path
    };
    Ok(Pulled { name: meta.name, version: meta.version, digest: download.digest.clone(), path, verified })
}
