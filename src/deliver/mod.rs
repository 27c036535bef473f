//! Delivery: post or edit the incident's message, retrying while retrying can help.
//!
//! What to do after a failure is decided by [`step::next_step`]: 429 waits exactly as long as
//! Discord asks, transient failures back off (and wake early when Discord recovers, see
//! [`health`]), a deleted message is re-posted, a message Discord refuses as invalid is replaced
//! by a minimal one, and errors that never heal (401/403, an unknown channel) give up so the
//! page can be kept aside without holding a worker. A post that may already have reached
//! Discord is looked up among the channel's recent messages before it is sent again, so
//! exactly-once does not rest on Discord's short nonce window.

pub mod console;
pub mod discord;
pub mod health;
pub mod ratelimit;
mod search;
pub mod step;

use std::time::Duration;

pub use step::{next_step, RetryPolicy, Step};

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

impl SendError {
    /// Its label in `flink_chatops_delivery_attempts_total` (one of `DELIVERY_OUTCOMES`).
    pub fn label(&self) -> &'static str {
        match self {
            SendError::RateLimited(_) => "rate_limited",
            SendError::NotFound => "not_found",
            SendError::Rejected { .. } => "rejected",
            SendError::Transient(_) => "transient",
        }
    }

    fn asked_to_wait(&self) -> Option<Duration> {
        match self {
            SendError::RateLimited(after) => Some(*after),
            _ => None,
        }
    }
}

/// Counts one Discord request by its outcome.
fn count(metrics: &crate::metrics::Metrics, result: Result<(), &SendError>) {
    match result {
        Ok(()) => metrics.delivery_attempt("ok", None),
        Err(e) => metrics.delivery_attempt(e.label(), e.asked_to_wait()),
    }
}

/// A page Discord will not take however often it is sent; the reason is for the operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("undeliverable: {reason}")]
pub struct Undeliverable {
    pub reason: String,
}

/// How a post is recognised: the nonce Discord de-duplicates by (at most 25 characters) and the
/// text its footer or content carries, by which it is found again after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub nonce: String,
    pub mark: String,
}

impl Tag {
    /// An incident's (or a digest's) message: the id is the nonce, the footer names it.
    pub fn incident(id: &str) -> Tag {
        Tag {
            nonce: id.to_string(),
            mark: format!("incident {id}"),
        }
    }
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

    async fn post(
        &self,
        channel: u64,
        msg: &Message,
        nonce: &str,
        rank: u8,
    ) -> Result<u64, SendError> {
        match self {
            Sink::Discord(d) => d.post(channel, msg, nonce, rank).await,
            Sink::Console(c) => Ok(c.post(channel, msg)),
        }
    }

    async fn edit(
        &self,
        channel: u64,
        message_id: u64,
        msg: &Message,
        rank: u8,
    ) -> Result<(), SendError> {
        match self {
            Sink::Discord(d) => d.edit(channel, message_id, msg, rank).await,
            Sink::Console(c) => {
                c.edit(channel, message_id, msg);
                Ok(())
            }
        }
    }

    /// The bot's recent message in `channel` whose footer or text carries `mark`, if any.
    pub(crate) async fn find_posted(
        &self,
        channel: u64,
        mark: &str,
    ) -> Result<Option<u64>, SendError> {
        match self {
            Sink::Discord(d) => d.find_posted(channel, mark).await,
            Sink::Console(_) => Ok(None),
        }
    }

    /// Starts (or finds) the thread on message `message`; its id.
    pub async fn thread(&self, channel: u64, message: u64, name: &str) -> Result<u64, SendError> {
        match self {
            Sink::Discord(d) => d.thread(channel, message, name).await,
            Sink::Console(c) => Ok(c.thread(channel, message, name)),
        }
    }

    /// Posts `text` with files; the new message's id.
    pub async fn post_files(
        &self,
        channel: u64,
        text: &str,
        files: &[crate::outbox::Attachment],
        nonce: &str,
    ) -> Result<u64, SendError> {
        match self {
            Sink::Discord(d) => d.post_files(channel, text, files, nonce).await,
            Sink::Console(c) => Ok(c.post_files(channel, text, files)),
        }
    }

    fn health(&self) -> Option<&health::Health> {
        match self {
            Sink::Discord(d) => Some(d.health()),
            Sink::Console(_) => None,
        }
    }
}

/// Where and how pages go out: the sink, its retry policy, the counters, and the page's rank
/// (severity: higher goes first when a channel's rate limit makes pages wait).
pub struct Via<'a> {
    pub sink: &'a Sink,
    pub policy: RetryPolicy,
    pub metrics: &'a crate::metrics::Metrics,
    pub rank: u8,
}

/// Delivers until it succeeds or [`next_step`] gives up; returns the id of the message that now
/// shows the incident. `possibly_sent`: an earlier attempt to post it may have reached Discord.
pub async fn deliver(
    via: &Via<'_>,
    channel: u64,
    mut delivery: Delivery,
    msg: &Message,
    tag: &Tag,
    mut possibly_sent: bool,
) -> Result<u64, Undeliverable> {
    let nonce = tag.nonce.as_str();
    let (sink, policy, metrics, rank) = (via.sink, via.policy, via.metrics, via.rank);
    let mut current = msg.clone();
    let mut smaller = false;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = match delivery {
            Delivery::Post if possibly_sent => match sink.find_posted(channel, &tag.mark).await {
                Ok(Some(message_id)) => {
                    tracing::warn!(
                        channel,
                        message_id,
                        incident = nonce,
                        "an earlier post had reached Discord; adopting it"
                    );
                    delivery = Delivery::Edit { message_id };
                    possibly_sent = false;
                    sink.edit(channel, message_id, &current, rank)
                        .await
                        .map(|_| message_id)
                }
                Ok(None) => {
                    possibly_sent = false;
                    sink.post(channel, &current, nonce, rank).await
                }
                Err(e @ (SendError::RateLimited(_) | SendError::Transient(_))) => Err(e),
                // The bot may post without reading history; the nonce is the last defence then.
                Err(e) => {
                    tracing::warn!(channel, error = %e, "cannot look for an earlier post; posting");
                    possibly_sent = false;
                    sink.post(channel, &current, nonce, rank).await
                }
            },
            Delivery::Post => sink.post(channel, &current, nonce, rank).await,
            Delivery::Edit { message_id } => sink
                .edit(channel, message_id, &current, rank)
                .await
                .map(|_| message_id),
        };
        count(metrics, result.as_ref().map(|_| ()));
        let error = match result {
            Ok(id) => {
                if let Some(h) = sink.health() {
                    h.succeeded();
                }
                return Ok(id);
            }
            Err(e) => e,
        };
        if delivery == Delivery::Post && step::may_have_posted(&error) {
            possibly_sent = true;
        }
        match next_step(&error, attempt, delivery, smaller, policy) {
            Step::Wait(after) => {
                tracing::warn!(
                    channel,
                    attempt,
                    ?after,
                    "Discord rate limit; waiting as asked"
                );
                tokio::time::sleep(after).await;
            }
            Step::Backoff(backoff) => {
                tracing::warn!(channel, attempt, error = %error, ?backoff, "delivery failed; retrying");
                match sink.health() {
                    Some(h) => {
                        h.failed();
                        h.back_off(backoff).await;
                    }
                    None => tokio::time::sleep(backoff).await,
                }
            }
            Step::Repost => {
                tracing::warn!(channel, "incident message was deleted; posting a new one");
                delivery = Delivery::Post;
            }
            Step::SendSmaller => {
                tracing::error!(channel, error = %error, "Discord refused the message; sending a minimal version");
                current = minimal(msg);
                smaller = true;
            }
            Step::GiveUp(reason) => {
                metrics.delivery_gave_up();
                return Err(Undeliverable { reason });
            }
        }
    }
}

/// Runs one write that is not a message post or edit (a thread, files) until it succeeds or
/// [`next_step`] gives up: 429s wait as asked, failures back off, what never heals gives up.
/// `possibly_sent` is raised when a failed attempt may have reached Discord.
pub async fn attempt<T, F, Fut>(
    via: &Via<'_>,
    what: &str,
    possibly_sent: &mut bool,
    mut op: F,
) -> Result<T, Undeliverable>
where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = Result<T, SendError>>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let error = match op(*possibly_sent).await {
            Ok(v) => {
                count(via.metrics, Ok(()));
                if let Some(h) = via.sink.health() {
                    h.succeeded();
                }
                return Ok(v);
            }
            Err(e) => e,
        };
        count(via.metrics, Err(&error));
        if step::may_have_posted(&error) {
            *possibly_sent = true;
        }
        // Nothing smaller to send and nothing to re-post: what is not a wait or a backoff ends.
        match next_step(&error, attempt, Delivery::Post, true, via.policy) {
            Step::Wait(after) => {
                tracing::warn!(
                    what,
                    attempt,
                    ?after,
                    "Discord rate limit; waiting as asked"
                );
                tokio::time::sleep(after).await;
            }
            Step::Backoff(backoff) => {
                tracing::warn!(what, attempt, error = %error, ?backoff, "Discord write failed; retrying");
                match via.sink.health() {
                    Some(h) => {
                        h.failed();
                        h.back_off(backoff).await;
                    }
                    None => tokio::time::sleep(backoff).await,
                }
            }
            Step::GiveUp(reason) => {
                via.metrics.delivery_gave_up();
                return Err(Undeliverable { reason });
            }
            Step::Repost | Step::SendSmaller => {
                via.metrics.delivery_gave_up();
                return Err(Undeliverable {
                    reason: error.to_string(),
                });
            }
        }
    }
}

/// Title, plain facts and the footer (it names the incident, so the message stays findable):
/// what is left when Discord refuses the full message.
fn minimal(msg: &Message) -> Message {
    Message {
        content: String::new(),
        mention_roles: vec![],
        mention_users: vec![],
        embed: Embed {
            title: msg.embed.title.clone(),
            description: crate::message::truncate(&msg.embed.description, 1_500),
            color: msg.embed.color,
            footer: msg.embed.footer.clone(),
            ..Default::default()
        },
        buttons: msg.buttons.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_labels_are_the_metrics_closed_set() {
        let cases = [
            (
                SendError::RateLimited(Duration::from_secs(1)),
                "rate_limited",
            ),
            (SendError::NotFound, "not_found"),
            (
                SendError::Rejected {
                    status: 403,
                    body: String::new(),
                },
                "rejected",
            ),
            (SendError::Transient("HTTP 502".into()), "transient"),
        ];
        for (error, want) in cases {
            assert_eq!(error.label(), want);
            assert!(crate::metrics::DELIVERY_OUTCOMES.contains(&want));
        }
        assert!(crate::metrics::DELIVERY_OUTCOMES.contains(&"ok"));
    }
}
