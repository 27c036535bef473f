//! Command line: `serve`, `check-config`, `render`, `audit`, `incident`, `backup`, `restore`,
//! `compact`, `dead`.

mod audit;
mod incident;
#[cfg(unix)]
mod ops;

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
    /// TOML config file; without one, embedded defaults apply. Accepted before or after the
    /// subcommand (`audit list --config FILE`), like every option here.
    #[arg(long, global = true, env = "FLINK_CHATOPS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot: webhook intake, enrichment, delivery.
    Serve,
    /// Validate the config, secrets and templates, then exit (non-zero on any problem).
    CheckConfig,
    /// Preview the message for saved webhook bodies on the console, without Discord.
    Render {
        /// A webhook body as Alertmanager sends it (JSON); repeatable.
        #[arg(long = "alert", required = true)]
        alerts: Vec<PathBuf>,
        /// Fetch live facts from the configured Flink clusters.
        #[arg(long)]
        enrich: bool,
    },
    /// Read and verify the audit log, the bot running or not.
    Audit {
        /// Read the store (bot stopped) or the export file the bot keeps; `auto` picks the
        /// store when it can be opened.
        #[arg(long, global = true, value_enum, default_value_t)]
        source: audit::Source,
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// An incident's timeline and postmortem draft (stop the bot first, as for `audit`).
    Incident {
        #[command(subcommand)]
        command: incident::IncidentCommand,
    },
    /// Register the /flink slash commands with Discord (overwrites the application's commands).
    RegisterCommands {
        /// Register in this guild only (updates at once); without it, globally.
        #[arg(long)]
        guild: Option<u64>,
    },
    /// Write a backup of the store to FILE (`-`: stdout), from the running bot if it runs.
    #[cfg(unix)]
    Backup {
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Bring a backup back into `storage.path` (the bot stopped).
    #[cfg(unix)]
    Restore {
        /// The backup file; `-` reads it from stdin.
        #[arg(long, short)]
        input: PathBuf,
        /// Move an existing store aside (`<path>.before-restore-<time>`) instead of refusing.
        #[arg(long)]
        force: bool,
    },
    /// Rewrite the store into a fresh file when it has grown past MIN_RATIO x its records (the
    /// bot stopped; e.g. before each start).
    #[cfg(unix)]
    Compact {
        #[arg(long, default_value_t = 4.0)]
        min_ratio: f64,
        /// Leave stores smaller than this alone.
        #[arg(long, default_value_t = 64)]
        min_size_mb: u64,
    },
    /// Pages Discord would not take: list, replay once the cause is fixed, or drop.
    #[cfg(unix)]
    Dead {
        #[command(subcommand)]
        command: ops::DeadCommand,
    },
    /// Exit 0 if the running bot answers /readyz (for container health checks).
    Healthcheck {
        /// Ask this URL instead of /readyz at the configured `server.listen`.
        #[arg(long)]
        url: Option<String>,
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
    let config = cli.config;
    let result = match cli.command {
        Command::Serve => {
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
        Command::CheckConfig => check_config(config, &env),
        Command::Render { alerts, enrich } => {
            runtime.block_on(render(alerts, enrich, config, &env))
        }
        Command::Audit { source, command } => {
            runtime.block_on(audit::run(config, source, command, &env))
        }
        Command::Incident { command } => runtime.block_on(incident::run(config, command, &env)),
        Command::RegisterCommands { guild } => {
            runtime.block_on(register_commands(guild, config, &env))
        }
        #[cfg(unix)]
        Command::Backup { output } => runtime.block_on(async {
            let config = Config::load(config.as_deref(), env.clone())?;
            ops::backup(&config, &output).await
        }),
        #[cfg(unix)]
        Command::Restore { input, force } => runtime.block_on(async {
            let config = Config::load(config.as_deref(), env.clone())?;
            ops::restore(&config, &input, force).await
        }),
        #[cfg(unix)]
        Command::Compact {
            min_ratio,
            min_size_mb,
        } => runtime.block_on(async {
            let config = Config::load(config.as_deref(), env.clone())?;
            ops::compact(&config, min_ratio, min_size_mb * 1_000_000).await
        }),
        #[cfg(unix)]
        Command::Dead { command } => runtime.block_on(async {
            let config = Config::load(config.as_deref(), env.clone())?;
            ops::dead(&config, command).await
        }),
        Command::Healthcheck { url } => {
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
        "storage: resolved incidents kept {}",
        match config.retention() {
            Some(_) => format!(
                "for {} (storage.retention)",
                config.storage.retention.trim()
            ),
            None => "forever (storage.retention)".to_string(),
        }
    );
    let head_file = config.audit.head_file(&config.storage.path);
    println!(
        "audit: heads published to {}, entries copied to {}, {}, heartbeat {}",
        head_file.display(),
        crate::audit::export::path_beside(&head_file).display(),
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
