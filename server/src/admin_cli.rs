//! `sherpack-registry admin ...`: the administration operations run directly against the
//! configured database, as a registry admin (for bootstrapping, scripts and recovery).
//! Output is JSON; passwords are read from standard input, never from arguments.

use std::io::BufRead;

use clap::{Args, Subcommand};
use registry_core::auth::{Action, AuditQuery, NamespacePolicy, Principal, Role, Visibility};

use crate::Config;
use crate::admin::{Admin, AdminError, NewToken};
use crate::auth::{Auth, Caller};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Users: add, list, passwd, set-admin, delete.
    #[command(subcommand)]
    User(UserCommand),
    /// Namespaces: add, list, set, delete.
    #[command(subcommand)]
    Namespace(NamespaceCommand),
    /// Namespace members and their roles.
    #[command(subcommand)]
    Member(MemberCommand),
    /// API tokens for people and robots.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Trusted minisign keys of a namespace.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Namespace policies (JSON).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Namespaces that mirror a Helm repository: add, list, remove, sync.
    #[command(subcommand)]
    Mirror(crate::mirrors::cli::MirrorCommand),
    /// The audit log, newest first.
    Audit {
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Creates a user; the password is read from standard input.
    Add {
        name: String,
        /// Make the user a registry admin.
        #[arg(long)]
        admin: bool,
    },
    List,
    /// Sets a new password, read from standard input.
    Passwd { name: String },
    SetAdmin { name: String, admin: bool },
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    Add {
        name: String,
        #[arg(long, default_value = "private")]
        visibility: Visibility,
    },
    List,
    Set {
        name: String,
        #[arg(long)]
        visibility: Visibility,
    },
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Adds a member or changes its role (reader, writer, admin).
    Set { namespace: String, user: String, role: Role },
    Remove { namespace: String, user: String },
    List { namespace: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints its secret, once.
    Create {
        /// The user the token belongs to.
        #[arg(long)]
        owner: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: pull, push, delete, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<Action>,
        /// Makes a robot token bound to this namespace.
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Every token, or one owner's.
    List {
        #[arg(long)]
        owner: Option<String>,
    },
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Trusts a minisign public key (a `.pub` file) for a namespace.
    Add { namespace: String, name: String, file: std::path::PathBuf },
    List { namespace: String },
    Remove { namespace: String, id: String },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    Get { namespace: String },
    /// Replaces the policy with a JSON object, e.g. '{"`keep_last_versions":10`}'.
    Set { namespace: String, json: String },
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub store: crate::cli::StoreArgs,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// A password on the first line of standard input.
pub(crate) fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

fn print(value: impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn show(value: impl serde::Serialize) -> Result<(), AdminError> {
    print(value).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Runs one admin command against the configured store.
pub async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let caller = Caller {
        principal: Principal::User { name: format!("cli:{who}"), is_admin: true, scopes: registry_core::auth::Actions::ALL, token: None },
        claims: None,
        address: None,
    };
    // Mirrors need the blob store too (a sync writes versions).
    let command = match command {
        AdminCommand::Mirror(c) => return crate::mirrors::cli::run(config, &caller, c).await,
        other => other,
    };
    let store = registry_store::open_store(&config.database_url).await?;
    let auth = Auth::open(store, &config.auth, config.listen).await?;
    let admin = Admin { auth: &auth, caller: &caller };
    execute(&admin, command).await.map_err(|e| match e {
        AdminError::Store(s) => anyhow::anyhow!("database error: {s}"),
        other => anyhow::anyhow!("{other}"),
    })
}

async fn execute(admin: &Admin<'_>, command: AdminCommand) -> Result<(), AdminError> {
    match command {
        AdminCommand::User(c) => match c {
            UserCommand::Add { name, admin: is_admin } => {
                let password = read_password().map_err(|e| AdminError::Invalid(e.to_string()))?;
                show(admin.create_user(&name, &password, is_admin).await?)
            }
            UserCommand::List => show(admin.list_users().await?),
            UserCommand::Passwd { name } => {
                let password = read_password().map_err(|e| AdminError::Invalid(e.to_string()))?;
                show(admin.update_user(&name, Some(&password), None).await?)
            }
            UserCommand::SetAdmin { name, admin: flag } => show(admin.update_user(&name, None, Some(flag)).await?),
            UserCommand::Delete { name } => admin.delete_user(&name).await,
        },
        AdminCommand::Namespace(c) => match c {
            NamespaceCommand::Add { name, visibility } => show(admin.create_namespace(&name, visibility).await?),
            NamespaceCommand::List => show(admin.list_namespaces().await?),
            NamespaceCommand::Set { name, visibility } => show(admin.update_namespace(&name, Some(visibility), None).await?),
            NamespaceCommand::Delete { name } => admin.delete_namespace(&name).await,
        },
        AdminCommand::Member(c) => match c {
            MemberCommand::Set { namespace, user, role } => show(admin.set_member(&namespace, &user, role).await?),
            MemberCommand::Remove { namespace, user } => admin.remove_member(&namespace, &user).await,
            MemberCommand::List { namespace } => show(admin.members(&namespace).await?),
        },
        AdminCommand::Token(c) => match c {
            TokenCommand::Create { owner, name, scopes, namespace, expires_in_days } => {
                let request = NewToken { name, scopes, namespace, expires_in_days, owner: Some(owner) };
                show(admin.create_token(&request).await?)
            }
            TokenCommand::List { owner } => {
                let tokens = admin.list_tokens(true).await?;
                let tokens: Vec<_> = tokens.into_iter().filter(|t| owner.as_ref().is_none_or(|o| *o == t.owner)).collect();
                show(tokens)
            }
            TokenCommand::Revoke { id } => admin.revoke_token(&id).await,
        },
        AdminCommand::Key(c) => match c {
            KeyCommand::Add { namespace, name, file } => {
                let text = std::fs::read_to_string(&file).map_err(|e| AdminError::Invalid(format!("{}: {e}", file.display())))?;
                show(admin.add_signing_key(&namespace, &name, &text).await?)
            }
            KeyCommand::List { namespace } => show(admin.signing_keys(&namespace).await?),
            KeyCommand::Remove { namespace, id } => admin.remove_signing_key(&namespace, &id).await,
        },
        AdminCommand::Policy(c) => match c {
            PolicyCommand::Get { namespace } => show(admin.namespace(&namespace).await?.policy),
            PolicyCommand::Set { namespace, json: text } => {
                let policy: NamespacePolicy =
                    serde_json::from_str(&text).map_err(|e| AdminError::Invalid(format!("invalid policy: {e}")))?;
                show(admin.update_namespace(&namespace, None, Some(&policy)).await?.policy)
            }
        },
        AdminCommand::Mirror(_) => unreachable!("run handles mirror commands"),
        AdminCommand::Audit { actor, action, limit } => {
            show(admin.audit_log(&AuditQuery { actor, action, before: None, limit }).await?)
        }
    }
}
