//! `search repo` and `search hub`.

use client_lib::config::RepoType;
use client_lib::{Error, Result, search};

use crate::cli::{Global, SearchCommand};
use crate::output::listing;

pub async fn run(g: &Global, command: SearchCommand) -> Result<()> {
    let hits = match command {
        SearchCommand::Repo { query, versions } => {
            let ctx = super::context(g)?;
            let repos: Vec<_> = ctx.repositories.repositories.iter().filter(|r| r.repo_type == RepoType::Http).collect();
            if repos.is_empty() {
                return Err(Error::Usage("no repositories to search: add one with `sherpack repo add <name> <url>`".into()));
            }
            let mut hits = Vec::new();
            for repo in repos {
                let index = ctx.cached_index(repo).await?;
                hits.extend(search::search_index(&index, &repo.name, &query, versions));
            }
            hits
        }
        SearchCommand::Hub { query, endpoint, max_results } => search::search_hub(&super::options(g), &endpoint, &query, max_results).await?,
    };
    if hits.is_empty() && g.output == crate::cli::Format::Table {
        eprintln!("No results found");
        return Ok(());
    }
    let with_url = hits.iter().any(|h| h.url.is_some());
    let headers: &[&str] = if with_url { &["URL", "CHART VERSION", "APP VERSION", "DESCRIPTION"] } else { &["NAME", "CHART VERSION", "APP VERSION", "DESCRIPTION"] };
    listing(g, headers, &hits, |h| {
        vec![
            if with_url { h.url.clone().unwrap_or_default() } else { h.name.clone() },
            h.version.clone(),
            h.app_version.clone().unwrap_or_default(),
            h.description.chars().take(80).collect(),
        ]
    });
    Ok(())
}
