//! `login` and `logout`.

use std::io::{BufRead as _, IsTerminal as _};

use client_lib::config::{Credential, CredentialStore, RepoType, host_of};
use client_lib::{Error, Result};

use crate::cli::{Global, Login};
use crate::output::info;

/// The password from `--password-stdin`, `--password`/`SHERPACK_PASSWORD`, or a prompt.
pub fn read_password(password_stdin: bool, password: Option<String>, prompt: &str) -> Result<String> {
    if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(Error::io("standard input"))?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Err(Error::Usage("--password-stdin: standard input was empty".into()));
        }
        return Ok(line);
    }
    if let Some(p) = password {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).map_err(Error::io("terminal"));
    }
    Err(Error::Usage("no password: pass --password-stdin (and pipe it), or set SHERPACK_PASSWORD".into()))
}

/// The credential for `username` and a secret: Basic with a user name, else a bearer token.
pub fn credential(username: Option<String>, secret: String) -> Credential {
    match username {
        Some(username) => Credential::Basic { username, password: secret },
        None => Credential::Bearer { token: secret },
    }
}

pub async fn login(g: &Global, args: Login) -> Result<()> {
    let target = args.host.trim_end_matches('/');
    let host = host_of(target);
    let secret = read_password(args.password_stdin, args.password, &format!("Password for {host}: "))?;
    let cred = credential(args.username, secret);
    let mut ctx = super::context(g)?;
    // Check the credential before keeping it: against the registry API, or a repository index.
    ctx.credentials.credentials.insert(host.clone(), cred.clone());
    match RepoType::detect(target) {
        Ok(RepoType::Http) => {
            let tmp = tempfile_dir()?;
            ctx.helm(target)?.fetch_index(&tmp.path().join("index")).await?;
        }
        _ => ctx.oci(&host)?.check().await?,
    }
    let mut store = CredentialStore::load()?;
    store.credentials.insert(host.clone(), cred);
    store.save()?;
    info(g, &format!("Login succeeded: credentials for {host} stored in {}", CredentialStore::path().display()));
    Ok(())
}

pub fn logout(g: &Global, host: &str) -> Result<()> {
    let host = host_of(host);
    let mut store = CredentialStore::load()?;
    if store.credentials.remove(&host).is_none() {
        return Err(Error::NotFound { what: format!("stored credentials for {host}"), hint: String::new() });
    }
    store.save()?;
    info(g, &format!("Removed the credentials for {host}"));
    Ok(())
}

pub fn tempfile_dir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(Error::io("temporary directory"))
}
