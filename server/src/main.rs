//! `sherpack-registry`: parse the command line, load the configuration, run.

use std::process::ExitCode;

use clap::Parser;
use sherpack_registry::cli::{Cli, Command};
use sherpack_registry::{Config, serve, telemetry};

/// Exit code for a configuration the operator must fix.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Admin(args) => {
            let overrides = sherpack_registry::config::Overrides { database_url: args.database_url.clone(), ..Default::default() };
            let config = match Config::load(args.config.as_deref(), std::env::vars(), &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(sherpack_registry::admin_cli::run(&config, args.command)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(args) => {
            let config =
                match Config::load(args.config.as_deref(), std::env::vars(), &args.overrides()) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                };
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            telemetry::init(&config.log);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
