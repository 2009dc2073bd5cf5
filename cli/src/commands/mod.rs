//! One function per command, over `client-lib`.

mod auth;
mod deps;
mod pack;
mod repo;
mod search;
mod transfer;

use client_lib::Result;
use client_lib::http::HttpOptions;
use client_lib::sources::Context;

use crate::cli::{Cli, Command, Global};

pub async fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Login(args) => auth::login(g, args).await,
        Command::Logout { host } => auth::logout(g, &host),
        Command::Push(args) => transfer::push(g, args).await,
        Command::Pull(args) => transfer::pull(g, args).await,
        Command::Repo(c) => repo::run(g, c).await,
        Command::Search(c) => search::run(g, c).await,
        Command::Dependency(c) => deps::run(g, c).await,
        Command::Package { dir, destination, sign } => pack::package(g, &dir, &destination, sign.as_deref()),
        Command::Sign { archive, key } => pack::sign(g, &archive, &key),
        Command::Verify { archive, key, signature } => pack::verify(g, &archive, &key, signature.as_deref()),
        Command::Keygen { name, destination } => pack::keygen(g, &name, &destination),
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "sherpack", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn options(g: &Global) -> HttpOptions {
    HttpOptions { ca_file: g.ca_file.clone(), insecure: g.insecure, plain_http: g.plain_http, ..HttpOptions::default() }
}

fn context(g: &Global) -> Result<Context> {
    Context::load(options(g))
}
