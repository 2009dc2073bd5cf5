//! `sherpack`: the command line for Sherpack registries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sherpack",
    version,
    about = "Push, pull and search Sherpack packs and Helm charts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that a URL is an OCI registry and print the API version it announces.
    Ping {
        /// Registry URL, e.g. <http://127.0.0.1:5050>
        url: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ping { url } => ping(&url).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn ping(url: &str) -> anyhow::Result<()> {
    let client = client_lib::OciClient::new(url)?;
    let version = client.check().await?;
    println!("{url}: {version}");
    Ok(())
}
