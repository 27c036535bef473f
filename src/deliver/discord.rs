//! Discord through serenity: serenity's builders, routes and request construction, executed on
//! a reqwest client we hold.
//!
//! Why not `Http::send_message`: with a proxy (tests, corporate proxies) serenity's rate limiter
//! must be off, and then serenity turns a 429 into an error that has dropped `retry_after`. We
//! build the identical request with `serenity::http::Request::build` and read 429s ourselves.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serenity::all::{
    AutoArchiveDuration, ButtonStyle, ChannelId, Colour, CreateActionRow, CreateAllowedMentions,
    CreateButton, CreateEmbed, CreateEmbedFooter, CreateMessage, CreateThread, EditMessage,
    MessageId, Nonce, RoleId, UserId,
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
            .nonce(Nonce::String(fit_nonce(nonce)))
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

    /// Starts a thread on message `message` (named `name`, cut to Discord's 100 characters);
    /// its id. Discord answers 160004 when the message already has a thread: a thread started
    /// from a message has that message's id, so that answer names the thread too.
    pub async fn thread(&self, channel: u64, message: u64, name: &str) -> Result<u64, SendError> {
        let builder = CreateThread::new(crate::message::truncate(
            name,
            crate::message::limits::THREAD_NAME,
        ))
        .auto_archive_duration(AutoArchiveDuration::OneDay);
        let body = serde_json::to_vec(&builder).map_err(|e| SendError::Transient(e.to_string()))?;
        let route = Route::ChannelMessageThreads {
            channel_id: ChannelId::new(channel),
            message_id: MessageId::new(message),
        };
        let answer = self
            .execute_in(
                None,
                Request::new(route, LightMethod::Post).body(Some(body)),
            )
            .await;
        match answer {
            Ok(body) => parse_id(&body),
            Err(SendError::Rejected { status: 400, body }) if body.contains("160004") => {
                tracing::debug!(channel, message, "the message already has a thread");
                Ok(message)
            }
            Err(e) => Err(e),
        }
    }

    /// Posts `text` with `files` attached (one multipart request); the new message's id.
    pub async fn post_files(
        &self,
        channel: u64,
        text: &str,
        files: &[crate::outbox::Attachment],
        nonce: &str,
    ) -> Result<u64, SendError> {
        let attachments: Vec<serde_json::Value> = files
            .iter()
            .enumerate()
            .map(|(i, f)| serde_json::json!({"id": i, "filename": f.name}))
            .collect();
        let payload = serde_json::json!({
            "content": crate::message::truncate(text, crate::message::limits::CONTENT),
            "nonce": fit_nonce(nonce),
            "enforce_nonce": true,
            "allowed_mentions": {"parse": []},
            "attachments": attachments,
        });
        let mut form = reqwest::multipart::Form::new().text("payload_json", payload.to_string());
        for (i, f) in files.iter().enumerate() {
            let part = reqwest::multipart::Part::bytes(f.bytes.clone())
                .file_name(f.name.clone())
                .mime_str("text/plain")
                .map_err(|e| SendError::Transient(e.to_string()))?;
            form = form.part(format!("files[{i}]"), part);
        }
        // serenity's request gives the URL and headers; the form is ours, because serenity's
        // multipart names every file `files[0]` unless its own builders number them.
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let shell = self.built(Request::new(route, LightMethod::Post))?;
        let mut builder = self.client.post(shell.url().clone());
        for (name, value) in shell.headers() {
            if name != reqwest::header::CONTENT_LENGTH && name != reqwest::header::CONTENT_TYPE {
                builder = builder.header(name, value);
            }
        }
        let request = builder
            .multipart(form)
            .build()
            .map_err(|e| SendError::Transient(format!("cannot build the request: {e}")))?;
        self.limits.acquire(channel, u8::MAX).await;
        let answer = self.send(Some(channel), request).await?;
        parse_id(&answer)
    }

    fn built(&self, request: Request<'_>) -> Result<reqwest::Request, SendError> {
        request
            .build(
                &self.client,
                self.token.expose_secret(),
                self.proxy.as_deref(),
            )
            .map_err(|e| SendError::Transient(format!("cannot build the request: {e}")))?
            .build()
            .map_err(|e| SendError::Transient(format!("cannot build the request: {e}")))
    }

    /// A call; `channel`: a message write in that channel, whose bucket the answer describes.
    async fn execute_in(
        &self,
        channel: Option<u64>,
        request: Request<'_>,
    ) -> Result<Vec<u8>, SendError> {
        let built = self.built(request)?;
        self.send(channel, built).await
    }

    async fn send(
        &self,
        channel: Option<u64>,
        built: reqwest::Request,
    ) -> Result<Vec<u8>, SendError> {
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

/// Discord takes nonces of at most 25 characters; a longer one (a record from an older version)
/// is replaced by a digest of it, the same every time, so de-duplication still works.
fn fit_nonce(nonce: &str) -> String {
    use sha2::{Digest, Sha256};
    if nonce.len() <= crate::message::limits::NONCE {
        return nonce.to_string();
    }
    let mut fitted = hex::encode(Sha256::digest(nonce.as_bytes()));
    fitted.truncate(crate::message::limits::NONCE);
    fitted
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

#[cfg(test)]
mod tests {
    #[test]
    fn nonces_longer_than_discord_takes_are_fitted_the_same_way_every_time() {
        let old = "digest-1a2b3c4d5e6f7a8b-18c0ffee000";
        let fitted = super::fit_nonce(old);
        assert_eq!(fitted.len(), 25);
        assert_eq!(fitted, super::fit_nonce(old));
        assert_eq!(super::fit_nonce("abc"), "abc");
    }
}
