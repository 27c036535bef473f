//! `flink-chatops incident list|show|export`: an incident's timeline and postmortem draft from
//! the command line.
//!
//! Like `audit`, these open the store folder itself, which sled lets one process at a time do:
//! stop the bot first (a locked store is reported as such). Nothing is written.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};

use super::audit::open_store;
use crate::config::Config;
use crate::render::Renderer;
use crate::story::{self, markdown};

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// The incidents the store still has (the newest of each alert group), newest first.
    List,
    /// One incident's timeline.
    Show { id: String },
    /// One incident's timeline and postmortem draft.
    Export {
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// The postmortem draft and the timeline, Markdown (what the Timeline button posts).
    Md,
    /// The story as data: entries, the draft's facts with the entries they cite, unplaced facts.
    Json,
}

pub async fn run(
    config_path: Option<PathBuf>,
    command: IncidentCommand,
    env: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref(), env.clone())?;
    let store = open_store(&config.storage.path)?;
    let story_of = |id: String| {
        let store = store.clone();
        async move {
            story::gather::story(&store, &id)
                .await?
                .with_context(|| format!("the store has no incident {id}"))
        }
    };
    match command {
        IncidentCommand::List => {
            let all = story::gather::list(&store).await?;
            if all.is_empty() {
                println!("no incidents");
            }
            for i in all {
                println!("{}", line(&i));
            }
        }
        IncidentCommand::Show { id } => {
            let renderer = Renderer::new(config.responses.dir.as_deref())?;
            print!("{}", markdown::timeline(&renderer, &story_of(id).await?));
        }
        IncidentCommand::Export { id, format } => {
            let story = story_of(id).await?;
            match format {
                Format::Md => {
                    let renderer = Renderer::new(config.responses.dir.as_deref())?;
                    print!("{}", markdown::document(&renderer, &story));
                }
                Format::Json => println!("{}", serde_json::to_string_pretty(&story)?),
            }
        }
    }
    Ok(())
}

/// `<id>  <fired> -> <resolved|open>  <alert>  <cluster/job>`
fn line(i: &crate::incident::Incident) -> String {
    let end = i.resolved_at.map_or("open".to_string(), |t| {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    });
    let job = i.job.as_ref().map_or("-".to_string(), |j| {
        format!("{}/{}", j.cluster, j.name.as_deref().unwrap_or(&j.id))
    });
    format!(
        "{}  {} -> {}  {}  {}",
        i.id,
        i.firing_since.format("%Y-%m-%d %H:%M UTC"),
        end,
        i.labels.get("alertname").map_or("-", String::as_str),
        job
    )
}
