//! Command line: `serve`, `check-config`, `render`, `audit`, `incident`.

mod audit;
mod incident;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::alertmanager::Webhook;
use crate::compose;
use crate::config::{Config, Secrets};
use crate::render::Renderer;

#[derive(Parser)]
#[command(
    name = "flink-chatops",
    version,
    about = "Alertmanager pages in, Flink runbook guidance out to Discord"
)]
struct Cli {
    /// Log lines as text (colours only on a terminal) or one JSON object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "FLINK_CHATOPS_LOG_FORMAT"
    )]
    log_format: crate::telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot: webhook intake, enrichment, delivery.
    Serve {
        /// TOML config file; without one, embedded defaults apply.
        #[arg(long, env = "FLINK_CHATOPS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate the config, secrets and templates, then exit (non-zero on any problem).
    CheckConfig {
        #[arg(long, env = "FLINK_CHATOPS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Preview the message for saved webhook bodies on the console, without Discord.
    Render {
        /// A webhook body as Alertmanager sends it (JSON); repeatable.
        #[arg(long = "alert", required = true)]
        alerts: Vec<PathBuf>,
        /// Fetch live facts from the configured Flink clusters.
        #[arg(long)]
        enrich: bool,
        #[arg(long, env = "FLINK_CHATOPS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Read and verify the audit log (stop the bot first: one process at a time opens the store).
    Audit {
        #[arg(long, env = "FLINK_CHATOPS_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// An incident's timeline and postmortem draft (stop the bot first, as for `audit`).
    Incident {
        #[arg(long, env = "FLINK_CHATOPS_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: incident::IncidentCommand,
    },
    /// Register the /flink slash commands with Discord (overwrites the application's commands).
    RegisterCommands {
        /// Register in this guild only (updates at once); without it, globally.
        #[arg(long)]
        guild: Option<u64>,
        #[arg(long, env = "FLINK_CHATOPS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Exit 0 if the running bot answers /readyz (for container health checks).
    Healthcheck {
        /// Ask this URL instead of /readyz at the configured `server.listen`.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, env = "FLINK_CHATOPS_CONFIG")]
        config: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.log_format);
    let env: HashMap<String, String> = std::env::vars().collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve { config } => {
            let result = runtime.block_on(serve(config, env));
            // Leave without destructors: after a store failure a sled call may be stuck, and
            // dropping the runtime waits for it while dropping sled flushes into the same
            // failure, forever. Everything acknowledged was synced before it was acknowledged.
            let code = match result {
                Ok(()) => 0,
                Err(e) => {
                    // Not eprintln!: it panics when stderr is a file on a full disk.
                    let _ = writeln!(std::io::stderr(), "error: {e:#}");
                    1
                }
            };
            let _ = std::io::stdout().flush();
            std::process::exit(code)
        }
        Command::CheckConfig { config } => check_config(config, &env),
        Command::Render {
            alerts,
            enrich,
            config,
        } => runtime.block_on(render(alerts, enrich, config, &env)),
        Command::Audit { config, command } => runtime.block_on(audit::run(config, command, &env)),
        Command::Incident { config, command } => {
            runtime.block_on(incident::run(config, command, &env))
        }
        Command::RegisterCommands { guild, config } => {
            runtime.block_on(register_commands(guild, config, &env))
        }
        Command::Healthcheck { url, config } => {
            runtime.block_on(crate::healthcheck::run(url, config, &env))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Option<PathBuf>, env: HashMap<String, String>) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref(), env.clone())?;
    let app = crate::startup::Application::build(config, &env).await?;
    app.run_until_stopped().await
}

fn check_config(path: Option<PathBuf>, env: &HashMap<String, String>) -> anyhow::Result<()> {
    let config = Config::load(path.as_deref(), env.clone())?;
    let secrets = Secrets::resolve(&config, env)?;
    crate::startup::check_output(&config, &secrets)?;
    Renderer::new(config.responses.dir.as_deref())?;
    println!(
        "config OK ({}): listen {}, store {}, {} cluster(s) [{}], output {}",
        path.as_ref()
            .map_or("defaults".into(), |p| p.display().to_string()),
        config.server.listen,
        config.storage.path.display(),
        config.clusters.len(),
        config
            .clusters
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        if secrets.discord_token.is_some() {
            "discord"
        } else {
            "console"
        },
    );
    for line in crate::policy::Policy::new(&config.policy).describe() {
        println!("policy: {line}");
    }
    println!(
        "audit: heads published to {}, {}, heartbeat {}",
        config.audit.head_file(&config.storage.path).display(),
        if secrets.audit_hmac_key.is_some() {
            "entries HMAC-sealed"
        } else {
            "no HMAC key (whoever can write the store could rebuild the chain)"
        },
        match config.audit.heartbeat_secs {
            0 => "off".to_string(),
            s => format!("every {s} s"),
        }
    );
    Ok(())
}

async fn register_commands(
    guild: Option<u64>,
    path: Option<PathBuf>,
    env: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let config = Config::load(path.as_deref(), env.clone())?;
    let secrets = Secrets::resolve(&config, env)?;
    let token = secrets.discord_token.as_ref().ok_or_else(|| {
        anyhow::anyhow!("a Discord token is needed to register commands (key `discord.token_env`, default FLINK_CHATOPS_DISCORD_TOKEN)")
    })?;
    let app_id = config.discord.application_id.ok_or_else(|| {
        anyhow::anyhow!("key `discord.application_id`: needed to register commands")
    })?;
    let http =
        crate::interact::register::http_client(Some(token), &config.discord.api_base, Some(app_id));
    let guild = guild.or(config.discord.commands_guild);
    let names: Vec<String> = config.clusters.iter().map(|c| c.name.clone()).collect();
    let n = crate::interact::register::register(&http, guild, &names)
        .await
        .map_err(|e| anyhow::anyhow!("Discord refused the registration: {e}"))?;
    match guild {
        Some(g) => println!("registered {n} command(s) in guild {g}"),
        None => println!("registered {n} global command(s); Discord may take a while to show them"),
    }
    Ok(())
}

async fn render(
    files: Vec<PathBuf>,
    enrich: bool,
    path: Option<PathBuf>,
    env: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let config = Config::load(path.as_deref(), env.clone())?;
    let secrets = Secrets::resolve(&config, env)?;
    let renderer = Renderer::new(config.responses.dir.as_deref())?;
    let clusters = crate::startup::clients(&config, &secrets)?;
    for file in files {
        let body = std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let hook = Webhook::parse(&body).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let (incident, _) = crate::incident::advance(
            None,
            &hook,
            1,
            chrono::Utc::now(),
            config.discord.default_channel.unwrap_or_default(),
            0,
        );
        let facts = if enrich {
            let target = compose::target(&config, &hook);
            compose::facts(&clusters, &hook, &target).await
        } else {
            crate::facts::Facts {
                notes: vec!["preview without Flink facts (add --enrich to fetch them)".into()],
                ..Default::default()
            }
        };
        let diagnosis = compose::diagnosis(&hook, &facts);
        let message = compose::message(
            &config, &renderer, &hook, &incident, &facts, &diagnosis, None,
        );
        println!("===== {} =====", file.display());
        print!("{}", crate::deliver::console::format(&message));
    }
    Ok(())
}
