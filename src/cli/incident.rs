//! `flink-chatops incident list|show|export`: an incident's timeline and postmortem draft from
//! the command line.
//!
//! While the bot runs they ask it over its admin socket (beside the store, mode 0600) for the
//! incidents and the story as data, and render here with the configured templates; with the bot
//! stopped they open the store folder themselves. Nothing is written.

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
    let source = Source::new(&config).await?;
    match command {
        IncidentCommand::List => {
            let all = source.list().await?;
            if all.is_empty() {
                println!("no incidents");
            }
            for i in all {
                println!("{}", line(&i));
            }
        }
        IncidentCommand::Show { id } => {
            let renderer = Renderer::new(config.responses.dir.as_deref())?;
            print!(
                "{}",
                markdown::timeline(&renderer, &source.story(&id).await?)
            );
        }
        IncidentCommand::Export { id, format } => {
            let story = source.story(&id).await?;
            match format {
                Format::Md => {
                    let renderer = Renderer::new(config.responses.dir.as_deref())?;
                    print!("{}", markdown::document(&renderer, &story));
                }
                Format::Json => println!("{}", serde_json::to_string_pretty(&story)?),
            }
        }
    }
    source.close().await
}

/// Where the incidents are read: the running bot, or the store when the bot is stopped.
enum Source<'a> {
    Bot(&'a Config),
    Store(Box<crate::store::Store>),
}

impl<'a> Source<'a> {
    async fn new(config: &'a Config) -> anyhow::Result<Source<'a>> {
        // A bot that answers holds the store; else open it (a locked store is reported).
        if super::ops::ask_running(config, "incident list")
            .await?
            .is_some()
        {
            return Ok(Source::Bot(config));
        }
        Ok(Source::Store(Box::new(open_store(&config.storage.path)?)))
    }

    async fn list(&self) -> anyhow::Result<Vec<crate::incident::Incident>> {
        match self {
            Source::Bot(config) => {
                let text = super::ops::ask_running(config, "incident list")
                    .await?
                    .context("the bot stopped answering")?;
                text.lines()
                    .filter(|l| l.starts_with('{'))
                    .map(|l| serde_json::from_str(l).context("the bot's answer is unreadable"))
                    .collect()
            }
            Source::Store(store) => Ok(story::gather::list(store).await?),
        }
    }

    async fn story(&self, id: &str) -> anyhow::Result<story::Story> {
        match self {
            Source::Bot(config) => {
                let text = super::ops::ask_running(config, &format!("incident story {id}"))
                    .await?
                    .context("the bot stopped answering")?;
                let json = text
                    .lines()
                    .find(|l| l.starts_with('{'))
                    .context("the bot's answer has no story")?;
                Ok(serde_json::from_str(json).context("the bot's answer is unreadable")?)
            }
            Source::Store(store) => story::gather::story(store, id)
                .await?
                .with_context(|| format!("the store has no incident {id}")),
        }
    }

    async fn close(self) -> anyhow::Result<()> {
        if let Source::Store(store) = self {
            store.close().await?;
        }
        Ok(())
    }
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
