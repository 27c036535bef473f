//! Discord through serenity: serenity's builders, routes and request construction, executed on
//! a reqwest client we hold.
//!
//! Why not `Http::send_message`: with a proxy (tests, corporate proxies) serenity's rate limiter
//! must be off, and then serenity turns a 429 into an error that has dropped `retry_after`. We
//! build the identical request with `serenity::http::Request::build` and read 429s ourselves.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serenity::all::{
    ButtonStyle, ChannelId, Colour, CreateActionRow, CreateAllowedMentions, CreateButton,
    CreateEmbed, CreateEmbedFooter, CreateMessage, EditMessage, MessageId, Nonce, RoleId, UserId,
};
use serenity::http::{LightMethod, Request, Route};

use super::SendError;
use crate::buttons::Style;
use crate::message::Message;

pub struct DiscordSink {
    client: reqwest::Client,
    token: SecretString,
    /// `Some(base)` sends every call to `base` instead of https://discord.com.
    proxy: Option<String>,
    /// Shared by every delivery: lets sleepers wake when Discord recovers.
    health: super::health::Health,
    /// The bot's own user id, asked once, to tell its messages from others'.
    pub(super) me: tokio::sync::OnceCell<u64>,
    /// Each channel's bucket as Discord's answers describe it; writes wait here, not in 429s.
    limits: Box<super::ratelimit::Limits>,
}

impl DiscordSink {
    pub fn new(token: SecretString, api_base: &str) -> DiscordSink {
        let proxy = (api_base.trim_end_matches('/') != crate::config::DISCORD_API_BASE)
            .then(|| api_base.trim_end_matches('/').to_string());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("the HTTP client builds (its TLS backend initialises)");
        let raw = token.expose_secret().trim();
        let token = if raw.starts_with("Bot ") || raw.starts_with("Bearer ") {
            SecretString::from(raw.to_string())
        } else {
            SecretString::from(format!("Bot {raw}"))
        };
        DiscordSink {
            client,
            token,
            proxy,
            health: Default::default(),
            me: Default::default(),
            limits: Default::default(),
        }
    }

    /// Posts `msg`; `rank` (severity) orders it among writes waiting for the channel's bucket.
    pub async fn post(
        &self,
        channel: u64,
        msg: &Message,
        nonce: &str,
        rank: u8,
    ) -> Result<u64, SendError> {
        let builder = CreateMessage::new()
            .content(msg.content.clone())
            .embed(embed(msg))
            .allowed_mentions(allowed(msg))
            .components(components(msg))
            // Discord drops a second post with the same nonce: a retry after a crash between
            // Discord's answer and our write does not produce a second message.
            .nonce(Nonce::String(nonce.to_string()))
            .enforce_nonce(true);
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let body = serde_json::to_vec(&builder).map_err(|e| SendError::Transient(e.to_string()))?;
        self.limits.acquire(channel, rank).await;
        let answer = self
            .execute_in(
                Some(channel),
                Request::new(route, LightMethod::Post).body(Some(body)),
            )
            .await?;
        parse_id(&answer)
    }

    pub async fn edit(
        &self,
        channel: u64,
        message_id: u64,
        msg: &Message,
        rank: u8,
    ) -> Result<(), SendError> {
        // Components are always sent, so an edit also replaces the buttons (none = removed).
        let builder = EditMessage::new()
            .content(msg.content.clone())
            .embed(embed(msg))
            .allowed_mentions(allowed(msg))
            .components(components(msg));
        let route = Route::ChannelMessage {
            channel_id: ChannelId::new(channel),
            message_id: MessageId::new(message_id),
        };
        let body = serde_json::to_vec(&builder).map_err(|e| SendError::Transient(e.to_string()))?;
        self.limits.acquire(channel, rank).await;
        self.execute_in(
            Some(channel),
            Request::new(route, LightMethod::Patch).body(Some(body)),
        )
        .await?;
        Ok(())
    }

    pub(super) fn health(&self) -> &super::health::Health {
        &self.health
    }

    /// A call outside the message-write buckets (reads).
    pub(super) async fn execute(&self, request: Request<'_>) -> Result<Vec<u8>, SendError> {
        self.execute_in(None, request).await
    }

    /// A call; `channel`: a message write in that channel, whose bucket the answer describes.
    async fn execute_in(
        &self,
        channel: Option<u64>,
        request: Request<'_>,
    ) -> Result<Vec<u8>, SendError> {
        let built = request
            .build(
                &self.client,
                self.token.expose_secret(),
                self.proxy.as_deref(),
            )
            .map_err(|e| SendError::Transient(format!("cannot build the request: {e}")))?
            .build()
            .map_err(|e| SendError::Transient(format!("cannot build the request: {e}")))?;
        let response = self
            .client
            .execute(built)
            .await
            .map_err(|e| SendError::Transient(format!("Discord unreachable: {e}")))?;
        let status = response.status();
        let retry_header = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let global = response.headers().contains_key("x-ratelimit-global");
        if let Some(channel) = channel {
            self.limits
                .observe(channel, super::ratelimit::observed(response.headers()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SendError::Transient(format!("reading Discord's answer: {e}")))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let text = String::from_utf8_lossy(&bytes)
            .chars()
            .take(500)
            .collect::<String>();
        Err(match status.as_u16() {
            429 => {
                let body_secs = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["retry_after"].as_f64());
                let secs = body_secs
                    .or(retry_header)
                    .unwrap_or(1.0)
                    .clamp(0.0, 3_600.0);
                let after = Duration::from_secs_f64(secs);
                if let Some(channel) = channel {
                    self.limits.limited(channel, after, global);
                }
                SendError::RateLimited(after)
            }
            404 => SendError::NotFound,
            s @ 400..=499 if s != 408 => SendError::Rejected {
                status: s,
                body: text,
            },
            s => SendError::Transient(format!("HTTP {s}: {text}")),
        })
    }
}

/// Buttons in action rows of at most five (Discord's limit), at most five rows.
pub(crate) fn components(msg: &Message) -> Vec<CreateActionRow> {
    msg.buttons
        .chunks(5)
        .take(5)
        .map(|row| {
            CreateActionRow::Buttons(
                row.iter()
                    .map(|b| {
                        CreateButton::new(b.custom_id.clone())
                            .label(b.label.clone())
                            .style(match b.style {
                                Style::Primary => ButtonStyle::Primary,
                                Style::Secondary => ButtonStyle::Secondary,
                                Style::Success => ButtonStyle::Success,
                                Style::Danger => ButtonStyle::Danger,
                            })
                    })
                    .collect(),
            )
        })
        .collect()
}

pub(crate) fn embed(msg: &Message) -> CreateEmbed {
    let e = &msg.embed;
    let mut out = CreateEmbed::new()
        .title(e.title.clone())
        .description(e.description.clone())
        .colour(Colour::new(e.color));
    if let Some(url) = &e.url {
        out = out.url(url.clone());
    }
    for f in &e.fields {
        out = out.field(f.name.clone(), f.value.clone(), f.inline);
    }
    if !e.footer.is_empty() {
        out = out.footer(CreateEmbedFooter::new(e.footer.clone()));
    }
    if let Some(ts) = e.timestamp {
        out = out.timestamp(ts);
    }
    out
}

/// Only the configured on-call roles and users may be pinged; never @everyone.
fn allowed(msg: &Message) -> CreateAllowedMentions {
    CreateAllowedMentions::new()
        .everyone(false)
        .roles(msg.mention_roles.iter().map(|id| RoleId::new(*id)))
        .users(msg.mention_users.iter().map(|id| UserId::new(*id)))
}

fn parse_id(body: &[u8]) -> Result<u64, SendError> {
    #[derive(serde::Deserialize)]
    struct Created {
        id: MessageId,
    }
    serde_json::from_slice::<Created>(body)
        .map(|c| c.id.get())
        .map_err(|e| SendError::Transient(format!("Discord's answer has no message id: {e}")))
}
