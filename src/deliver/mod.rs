//! Delivery: post or edit the incident's message, retrying until it lands.
//!
//! Nothing is dropped: transient failures back off exponentially, 429 waits exactly as long as
//! Discord asks, a deleted message is re-posted, and a message Discord refuses as invalid is
//! replaced by a minimal one rather than lost.

pub mod console;
pub mod discord;

use std::time::Duration;

use crate::incident::Delivery;
use crate::message::{Embed, Message};

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    #[error("the message no longer exists")]
    NotFound,
    #[error("refused with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("{0}")]
    Transient(String),
}

pub enum Sink {
    Discord(discord::DiscordSink),
    Console(console::ConsoleSink),
}

impl Sink {
    pub fn describe(&self) -> &'static str {
        match self {
            Sink::Discord(_) => "discord",
            Sink::Console(_) => "console",
        }
    }

    async fn post(&self, channel: u64, msg: &Message, nonce: &str) -> Result<u64, SendError> {
        match self {
            Sink::Discord(d) => d.post(channel, msg, nonce).await,
            Sink::Console(c) => Ok(c.post(channel, msg)),
        }
    }

    async fn edit(&self, channel: u64, message_id: u64, msg: &Message) -> Result<(), SendError> {
        match self {
            Sink::Discord(d) => d.edit(channel, message_id, msg).await,
            Sink::Console(c) => {
                c.edit(channel, message_id, msg);
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
}

/// Delivers until it succeeds; returns the id of the message that now shows the incident.
pub async fn deliver(
    sink: &Sink,
    policy: RetryPolicy,
    channel: u64,
    mut delivery: Delivery,
    msg: &Message,
    nonce: &str,
    metrics: &crate::metrics::Metrics,
) -> u64 {
    let mut backoff = policy.initial;
    let mut current = msg.clone();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = match delivery {
            Delivery::Post => sink.post(channel, &current, nonce).await,
            Delivery::Edit { message_id } => sink
                .edit(channel, message_id, &current)
                .await
                .map(|_| message_id),
        };
        metrics.delivery_attempt(&result);
        let wait = match result {
            Ok(id) => return id,
            Err(SendError::RateLimited(after)) => {
                tracing::warn!(
                    channel,
                    attempt,
                    ?after,
                    "Discord rate limit; waiting as asked"
                );
                after
            }
            Err(SendError::NotFound) if matches!(delivery, Delivery::Edit { .. }) => {
                tracing::warn!(channel, "incident message was deleted; posting a new one");
                delivery = Delivery::Post;
                Duration::ZERO
            }
            Err(SendError::Rejected { status, body })
                if status == 400 && current != minimal(msg) =>
            {
                tracing::error!(channel, status, %body, "Discord refused the message; sending a minimal version");
                current = minimal(msg);
                Duration::ZERO
            }
            Err(e) => {
                tracing::warn!(channel, attempt, error = %e, ?backoff, "delivery failed; retrying");
                let wait = backoff;
                backoff = (backoff * 2).min(policy.max);
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Title and plain facts only: what is left when Discord refuses the full message.
fn minimal(msg: &Message) -> Message {
    Message {
        content: String::new(),
        mention_roles: vec![],
        mention_users: vec![],
        embed: Embed {
            title: msg.embed.title.clone(),
            description: crate::message::truncate(&msg.embed.description, 1_500),
            color: msg.embed.color,
            ..Default::default()
        },
        buttons: msg.buttons.clone(),
    }
}
