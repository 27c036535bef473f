//! `[discord]`: where pages go (channels, routes, mentions) and how interactions arrive.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub const DISCORD_API_BASE: &str = "https://discord.com";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Base URL of the Discord API. Anything but the default sends every call there (a proxy or a
    /// test recorder) and turns off serenity's pre-emptive rate limiter, which ignores proxies.
    pub api_base: String,
    pub token_env: String,
    pub token_file: Option<PathBuf>,
    /// Channel used when no route matches (required with a token; unset with console output).
    pub default_channel: Option<u64>,
    pub routes: Vec<RouteConfig>,
    /// Who to notify per severity: `"<@&ROLE>"` or `"<@USER>"` strings keyed by severity.
    pub mentions: BTreeMap<String, Vec<String>>,
    /// The application (bot) id: needed to answer interactions and register commands.
    pub application_id: Option<u64>,
    /// The application's Ed25519 public key (64 hex digits), for `POST /discord/interactions`.
    /// Set it only if the application's Interactions Endpoint URL points at this bot.
    pub public_key: Option<String>,
    /// Receive interactions over the gateway (needs no public URL). Default: on when a token is set.
    pub gateway: Option<bool>,
    /// The gateway's first wait after a failed connection; it doubles per failure in a row.
    pub gateway_backoff_initial_ms: u64,
    /// The longest wait between gateway connection attempts.
    pub gateway_backoff_max_ms: u64,
    /// A gateway connection without HELLO within this is dropped (and counts as failed).
    pub gateway_hello_timeout_ms: u64,
    /// Signed requests older (or newer) than this are refused as replays.
    pub max_request_age_secs: u64,
    /// Register the slash commands at start-up (bulk overwrite), in `commands_guild` if set.
    pub register_commands: bool,
    /// Guild for command registration: guild commands update at once, global ones can take a while.
    pub commands_guild: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    pub channel: u64,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            api_base: DISCORD_API_BASE.into(),
            token_env: "FLINK_CHATOPS_DISCORD_TOKEN".into(),
            token_file: None,
            default_channel: None,
            routes: Vec::new(),
            mentions: BTreeMap::new(),
            application_id: None,
            public_key: None,
            gateway: None,
            gateway_backoff_initial_ms: 1_000,
            gateway_backoff_max_ms: 30_000,
            gateway_hello_timeout_ms: 20_000,
            max_request_age_secs: 300,
            register_commands: false,
            commands_guild: None,
        }
    }
}

impl DiscordConfig {
    /// The first route matching the cluster and severity (an unset field matches anything),
    /// else the default channel. Without either the bot has no token (start-up refuses a token
    /// without a default channel), and the console sink only prints the number.
    pub fn channel_for(&self, cluster: Option<&str>, severity: &str) -> u64 {
        self.routes
            .iter()
            .find(|r| {
                r.cluster.as_deref().is_none_or(|c| Some(c) == cluster)
                    && r.severity.as_deref().is_none_or(|s| s == severity)
            })
            .map_or(self.default_channel.unwrap_or_default(), |r| r.channel)
    }

    pub fn mentions_for(&self, severity: &str) -> &[String] {
        self.mentions.get(severity).map_or(&[], Vec::as_slice)
    }
}
