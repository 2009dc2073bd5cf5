//! `sherpack`: the command line for Sherpack registries, any OCI registry and any Helm
//! repository. Exit codes: 0 success, 1 other failure, 2 usage, 3 authentication or
//! permission, 4 not found (also a missing file), 5 network or TLS, 6 integrity (digest or signature),
//! 7 dependency resolution, 8 invalid input.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
