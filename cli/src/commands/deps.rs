//! `dependency list|update|build`.

use client_lib::{Result, resolve};

use crate::cli::{DependencyCommand, Format, Global};
use crate::output::{info, listing, progress};

pub async fn run(g: &Global, command: DependencyCommand) -> Result<()> {
    match command {
        DependencyCommand::List { dir } => {
            let rows = resolve::list(&dir)?;
            listing(g, &["NAME", "VERSION", "REPOSITORY", "LOCKED", "STATUS"], &rows, |s| {
                vec![
                    s.alias.as_ref().map_or_else(|| s.name.clone(), |a| format!("{a} ({})", s.name)),
                    s.version.clone(),
                    s.repository.clone(),
                    s.locked.clone().unwrap_or_default(),
                    s.status.clone(),
                ]
            });
            Ok(())
        }
        DependencyCommand::Update { dir } => {
            let ctx = super::context(g)?;
            let bar = progress(g, 0, "dependencies");
            let lock = resolve::resolve(&ctx, &dir, &bar).await?.install(&dir)?;
            bar.finish_and_clear();
            report(g, &lock, "Saved", &dir);
            Ok(())
        }
        DependencyCommand::Build { dir } => {
            let ctx = super::context(g)?;
            let bar = progress(g, 0, "dependencies");
            let lock = resolve::build(&ctx, &dir, &bar).await?;
            bar.finish_and_clear();
            report(g, &lock, "Fetched", &dir);
            Ok(())
        }
    }
}

fn report(g: &Global, lock: &resolve::LockFile, verb: &str, dir: &std::path::Path) {
    if g.output == Format::Json {
        println!("{}", serde_json::to_string_pretty(&lock.dependencies).unwrap_or_default());
        return;
    }
    for d in &lock.dependencies {
        info(g, &format!("{verb} {} {} from {} ({})", d.name, d.version, d.repository, d.digest));
    }
    info(g, &format!("{} dependencies in {}", lock.dependencies.len(), dir.join("charts").display()));
}
