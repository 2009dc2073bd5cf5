//! `repo add|list|update|remove`.

use client_lib::config::{CredentialStore, RepoType, Repositories, Repository};
use client_lib::oci::OciRef;
use client_lib::{Error, Result};

use crate::cli::{Global, RepoCommand};
use crate::output::{info, listing};

pub async fn run(g: &Global, command: RepoCommand) -> Result<()> {
    match command {
        RepoCommand::Add { name, url, username, password_stdin, password, force_update } => {
            add(g, &name, &url, username, password_stdin, password, force_update).await
        }
        RepoCommand::List => {
            let repos = Repositories::load()?;
            listing(g, &["NAME", "URL", "TYPE"], &repos.repositories, |r| vec![r.name.clone(), r.url.clone(), format!("{:?}", r.repo_type).to_lowercase()]);
            Ok(())
        }
        RepoCommand::Update { names } => update(g, &names).await,
        RepoCommand::Remove { names } => remove(g, &names),
    }
}

async fn add(g: &Global, name: &str, url: &str, username: Option<String>, password_stdin: bool, password: Option<String>, force: bool) -> Result<()> {
    if name.is_empty() || name.contains(['/', ' ', '@']) {
        return Err(Error::Usage(format!("`{name}` is not a repository name: no `/`, `@` or spaces")));
    }
    let url = url.trim_end_matches('/').to_owned();
    let repo_type = RepoType::detect(&url)?;
    let mut repos = Repositories::load()?;
    if repos.get(name).is_some() && !force {
        return Err(Error::Usage(format!("repository `{name}` already exists (use --force-update to replace it)")));
    }
    let credential = match (username.is_some(), password_stdin || password.is_some()) {
        (false, false) => None,
        _ => Some(super::auth::credential(username, super::auth::read_password(password_stdin, password, &format!("Password for {url}: "))?)),
    };
    let repo = Repository {
        name: name.to_owned(),
        url: url.clone(),
        repo_type,
        ca_bundle: g.ca_file.clone(),
        insecure_skip_tls: g.insecure,
        credential_ref: None,
        etag: None,
        last_updated: None,
        metadata: std::collections::BTreeMap::default(),
    };
    // Check it before writing anything: the index must load, the registry must answer.
    let mut ctx = super::context(g)?;
    ctx.repositories.repositories.retain(|r| r.name != name);
    ctx.repositories.repositories.push(repo.clone());
    if let Some(c) = &credential {
        ctx.credentials.credentials.insert(name.to_owned(), c.clone());
    }
    match repo_type {
        RepoType::Http => {
            ctx.update_index(&repo).await?;
        }
        RepoType::Oci => {
            let r = OciRef::parse(&url)?;
            ctx.oci(&r.host)?.check().await?;
        }
        RepoType::File => {
            let path = url.strip_prefix("file://").unwrap_or(&url);
            if !std::path::Path::new(path).is_dir() {
                return Err(Error::NotFound { what: format!("directory {path}"), hint: String::new() });
            }
        }
    }
    if let Some(c) = credential {
        let mut store = CredentialStore::load()?;
        store.credentials.insert(name.to_owned(), c);
        store.save()?;
    }
    repos.repositories.retain(|r| r.name != name);
    repos.repositories.push(repo);
    repos.save()?;
    info(g, &format!("\"{name}\" has been added to your repositories"));
    Ok(())
}

async fn update(g: &Global, names: &[String]) -> Result<()> {
    let ctx = super::context(g)?;
    let targets: Vec<&Repository> = if names.is_empty() {
        ctx.repositories.repositories.iter().filter(|r| r.repo_type == RepoType::Http).collect()
    } else {
        names.iter().map(|n| ctx.repositories.require(n)).collect::<Result<_>>()?
    };
    if targets.is_empty() {
        return Err(Error::Usage("no HTTP repositories to update: add one with `sherpack repo add <name> <url>`".into()));
    }
    let mut failed = Vec::new();
    for repo in targets {
        if repo.repo_type != RepoType::Http {
            info(g, &format!("{}: OCI repositories have no index to update", repo.name));
            continue;
        }
        match ctx.update_index(repo).await {
            Ok(_) => info(g, &format!("...Successfully got an update from the \"{}\" repository", repo.name)),
            Err(e) => {
                eprintln!("...Unable to get an update from the \"{}\" repository ({}): {e}", repo.name, repo.url);
                failed.push(e);
            }
        }
    }
    match failed.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn remove(g: &Global, names: &[String]) -> Result<()> {
    let mut repos = Repositories::load()?;
    for name in names {
        repos.require(name)?;
    }
    repos.repositories.retain(|r| !names.contains(&r.name));
    repos.save()?;
    let mut store = CredentialStore::load()?;
    let removed: Vec<bool> = names.iter().map(|n| store.credentials.remove(n).is_some()).collect();
    let had_credentials = removed.contains(&true);
    if had_credentials {
        store.save()?;
    }
    let cache = client_lib::config::cache_home().join("repository");
    for name in names {
        for ext in ["json", "yaml"] {
            let _ = std::fs::remove_file(cache.join(format!("{name}-index.{ext}")));
        }
        info(g, &format!("\"{name}\" has been removed from your repositories"));
    }
    Ok(())
}
