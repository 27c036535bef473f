//! `[discord]`: where pages go (channels, routes, mentions) and how interactions arrive.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub const DISCORD_API_BASE: &str = "https://discord.com";

/// Whether this binary has the gateway client (cargo feature `gateway`, on by default). A build
/// without it receives interactions only on the signed endpoint (README "Security and
/// dependencies").
pub const GATEWAY_BUILT: bool = cfg!(feature = "gateway");

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
    /// Receive interactions over the gateway (needs no public URL). Default: on when a token is
    /// set and the binary has the gateway (cargo feature `gateway`); see [`GATEWAY_BUILT`].
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

    /// Whether interactions come over the gateway: `gateway` as set, else on when there is a
    /// token; never in a binary built without it (`gateway_built`), where only an unset or
    /// `false` key gets this far ([`DiscordConfig::check_gateway_built`] refuses `true`).
    pub fn gateway_on(&self, has_token: bool, gateway_built: bool) -> bool {
        gateway_built && self.gateway.unwrap_or(has_token)
    }

    /// Refuses `gateway = true` in a binary built without the gateway, naming the key, rather
    /// than starting a bot that silently never sees a button press.
    pub fn check_gateway_built(&self, gateway_built: bool) -> Result<(), String> {
        if self.gateway == Some(true) && !gateway_built {
            return Err(
                "key `discord.gateway`: this binary was built without the gateway \
                 (cargo feature `gateway`); receive interactions on the signed endpoint \
                 (`discord.public_key`) or run a build with the gateway"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(gateway: Option<bool>) -> DiscordConfig {
        DiscordConfig {
            gateway,
            ..DiscordConfig::default()
        }
    }

    #[test]
    fn gateway_on_follows_the_key_then_the_token_and_never_without_the_feature() {
        // (key, has token, built with the gateway) -> on
        let table = [
            (None, true, true, true),
            (None, false, true, false),
            (Some(true), false, true, true),
            (Some(false), true, true, false),
            (None, true, false, false),
            (Some(true), true, false, false),
            (Some(false), true, false, false),
        ];
        for (key, token, built, on) in table {
            assert_eq!(
                with(key).gateway_on(token, built),
                on,
                "gateway = {key:?}, token {token}, built {built}"
            );
        }
    }

    #[test]
    fn a_gateway_asked_of_a_build_without_it_is_refused_naming_the_key() {
        let err = with(Some(true)).check_gateway_built(false).unwrap_err();
        assert!(err.starts_with("key `discord.gateway`:"), "{err}");
        assert!(err.contains("cargo feature `gateway`"), "{err}");
        // Unset or off is fine without it; anything is fine with it.
        for key in [None, Some(false)] {
            assert_eq!(with(key).check_gateway_built(false), Ok(()));
        }
        for key in [None, Some(false), Some(true)] {
            assert_eq!(with(key).check_gateway_built(true), Ok(()));
        }
    }
}
