//! Registering `/flink` with Discord (bulk overwrite, so the registered set is exactly ours),
//! and the serenity HTTP client the interaction path uses.

use secrecy::{ExposeSecret, SecretString};
use serenity::all::{ApplicationId, Command, GuildId};
use serenity::http::{Http, HttpBuilder};

use super::commands;

/// serenity's HTTP client for this application. A non-default `api_base` (a proxy, the test
/// recorder) sends every call there; serenity's pre-emptive rate limiter ignores proxies, so it
/// is off then (Discord's 429s are still answered by serenity's error handling).
pub fn http_client(
    token: Option<&SecretString>,
    api_base: &str,
    application_id: Option<u64>,
) -> Http {
    let token = token
        .map(|t| t.expose_secret().trim().to_string())
        .unwrap_or_default();
    let mut builder = HttpBuilder::new(token);
    let base = api_base.trim_end_matches('/');
    if base != crate::config::DISCORD_API_BASE {
        builder = builder.proxy(base).ratelimiter_disabled(true);
    }
    if let Some(id) = application_id.filter(|id| *id != 0) {
        builder = builder.application_id(ApplicationId::new(id));
    }
    builder.build()
}

/// Overwrites the application's commands with `/flink`, in one guild (instant) or globally.
pub async fn register(
    http: &Http,
    guild: Option<u64>,
    clusters: &[String],
) -> serenity::Result<usize> {
    let command = commands::register(clusters);
    let registered = match guild {
        Some(g) => GuildId::new(g).set_commands(http, vec![command]).await?,
        None => Command::set_global_commands(http, vec![command]).await?,
    };
    Ok(registered.len())
}
