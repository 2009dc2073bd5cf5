//! `sherpack-registry`: parse the command line, load the configuration, run.

use std::process::ExitCode;

use clap::Parser;
use sherpack_registry::cli::{Cli, Command};
use sherpack_registry::config::Overrides;
use sherpack_registry::{Config, serve, telemetry};

/// mimalloc rather than glibc's allocator: glibc kept as resident memory what a large render
/// freed (at 1,000,000 versions, hundreds of MiB after the registry-wide index), mimalloc gives
/// it back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for a configuration the operator must fix.
const EXIT_CONFIG: u8 = 2;

fn load(file: Option<&std::path::Path>, overrides: &Overrides) -> Result<Config, ExitCode> {
    Config::load(file, std::env::vars(), overrides).map_err(config_error)
}

fn config_error(error: sherpack_registry::config::ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(EXIT_CONFIG)
}

/// Runs a command to completion on a new runtime; an error is printed as one line.
fn block_on<T, E: std::fmt::Display>(work: impl Future<Output = Result<T, E>>, done: impl FnOnce(T)) -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(value) => {
            done(value);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Admin(args) => load(args.store.config.as_deref(), &args.store.overrides())
            .map(|config| block_on(sherpack_registry::admin_cli::run(&config, args.command), |()| {})),
        Command::Import(args) => load(args.store.config.as_deref(), &args.store.overrides()).map(|config| {
            let json = args.json;
            let failed = std::cell::Cell::new(false);
            let code = block_on(sherpack_registry::import::run_command(config, *args), |summary| {
                failed.set(!summary.failed.is_empty());
                if json {
                    println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
                } else {
                    print!("{summary}");
                }
            });
            if failed.get() { ExitCode::FAILURE } else { code }
        }),
        Command::Reindex(args) => load(args.config.as_deref(), &args.overrides())
            .map(|config| block_on(sherpack_registry::reindex::run(&config), |outcome| print!("{outcome}"))),
        Command::Gc(args) => load(args.store.config.as_deref(), &args.store.overrides()).map(|config| {
            let json = args.json;
            block_on(sherpack_registry::gc::run_command(config, args), move |report| {
                if json {
                    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                } else {
                    println!("{report}");
                }
            })
        }),
        Command::Healthcheck { url, config } => {
            let url = match url {
                Some(url) => Ok(url),
                None => Config::load_listen(config.as_deref(), std::env::vars()).map(sherpack_registry::health_probe::readiness_url).map_err(config_error),
            };
            url.map(|url| if sherpack_registry::health_probe::probe(&url) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::CheckConfig(args) => load(args.config.as_deref(), &args.overrides()).and_then(|config| {
            // The password file is read at start: a missing one is a configuration error too.
            config.auth.initial_admin().map_err(config_error)?;
            println!(
                "configuration is valid: listen {}, database {}, storage {}",
                config.listen,
                registry_store::sql::redact_url(&config.database_url),
                config.storage_url
            );
            Ok(ExitCode::SUCCESS)
        }),
        Command::Serve(args) => load(args.config.as_deref(), &args.overrides()).map(|config| {
            telemetry::init(&config.log);
            block_on(serve::run(config), |()| {})
        }),
    };
    result.unwrap_or_else(|code| code)
}
