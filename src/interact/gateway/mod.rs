//! Interactions over the gateway: the bot connects out to Discord (no public URL, no privileged
//! intents), and each INTERACTION_CREATE goes to the same dispatcher as the HTTP endpoint; the
//! answer goes back through serenity's HTTP client (the interaction callback).
//!
//! [`run`] supervises: one connection at a time ([`session`]), and after each the pure
//! [`step::next_step`] decides what follows: RESUME at READY's `resume_gateway_url`, IDENTIFY
//! at the URL of `GET /gateway/bot` within Discord's budget, each after a backoff with jitter
//! when connections keep failing, or stop for good on a close code that never heals, reported
//! on `/readyz` and `flink_chatops_gateway_up`. When the bot stops (SIGTERM), the connection is
//! closed with 1000, so Discord ends the session at once instead of waiting out its heartbeats.

pub mod session;
pub mod step;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serenity::all::Interaction;
use serenity::http::Http;

use super::endpoint::interaction_token;
use super::{dispatch, finish_deferred, Answer, InteractState};
use crate::readiness::{GatewayHealth, GatewayState};
use session::{Open, Session};
use step::{Backoff, Budget, Ended, History, Step};

/// The supervisor's settings (`discord.gateway_*`).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub backoff: Backoff,
    /// A connection without HELLO within this is dropped and counts as failed.
    pub hello_timeout: Duration,
}

impl Options {
    pub fn from_config(d: &crate::config::DiscordConfig) -> Options {
        Options {
            backoff: Backoff {
                initial: Duration::from_millis(d.gateway_backoff_initial_ms),
                max: Duration::from_millis(d.gateway_backoff_max_ms),
            },
            hello_timeout: Duration::from_millis(d.gateway_hello_timeout_ms),
        }
    }
}

/// Answers interactions and marks the gateway live.
struct Handler {
    state: Arc<InteractState>,
    health: Arc<GatewayHealth>,
}

impl session::Events for Handler {
    fn identified(&self) {
        self.health.identifies.inc();
        self.health.identify_remaining.dec();
    }

    fn live(&self) {
        if self.health.state() != GatewayState::Up {
            tracing::info!("gateway connected");
        }
        self.health.set(GatewayState::Up);
    }

    fn interaction(&self, interaction: Interaction) {
        tokio::spawn(answer(self.state.clone(), interaction));
    }
}

async fn answer(state: Arc<InteractState>, interaction: Interaction) {
    let (id, token) = match (&interaction, interaction_token(&interaction)) {
        (Interaction::Command(c) | Interaction::Autocomplete(c), Some(t)) => (c.id, t),
        (Interaction::Component(c), Some(t)) => (c.id, t),
        _ => return,
    };
    let http = state.http.clone();
    let (initial, rest) = match dispatch(state, interaction).await {
        Answer::Now(r) => (r, None),
        Answer::Later { initial, rest } => (initial, Some(rest)),
    };
    if let Err(e) = http
        .create_interaction_response(id, &token, &initial, vec![])
        .await
    {
        tracing::error!(error = %e, "could not answer an interaction");
        return;
    }
    if let Some(rest) = rest {
        finish_deferred(http, token, rest).await;
    }
}

/// Starts the gateway as `discord` configures it, reporting to `health`, until `stopping` turns
/// true (the task then closes the connection and ends, dropping its `stopping`).
pub fn spawn(
    state: Arc<InteractState>,
    http: Http,
    discord: &crate::config::DiscordConfig,
    health: Arc<GatewayHealth>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    health.start(discord.public_key.is_some());
    let options = Options::from_config(discord);
    tokio::spawn(async move { run(state, http, options, health, &mut stopping).await });
    tracing::info!("interactions: gateway on");
}

/// Connects and keeps the gateway connected until a close code that never heals, or until
/// `stopping` (then the open connection is closed with 1000 first).
pub async fn run(
    state: Arc<InteractState>,
    http: Http,
    options: Options,
    health: Arc<GatewayHealth>,
    stopping: &mut tokio::sync::watch::Receiver<bool>,
) {
    let handler = Handler {
        state,
        health: health.clone(),
    };
    let mut session: Option<Session> = None;
    let mut failures = 0;
    let mut last_identify: Option<Instant> = None;
    let mut next = Step::Identify {
        after: Duration::ZERO,
    };
    let mut first = true;
    loop {
        let after = match &next {
            Step::Stop { reason } => {
                tracing::error!(reason, "the gateway stopped: buttons and slash commands over the gateway go unanswered until the bot is restarted");
                health.set(GatewayState::Down {
                    reason: reason.clone(),
                });
                return;
            }
            Step::Resume { after } | Step::Identify { after } => *after,
        };
        // Stopping between connections (a backoff, GET /gateway/bot): nothing to close.
        tokio::select! {
            _ = tokio::time::sleep(after) => {}
            _ = session::stop_asked(stopping) => return,
        }
        if !first {
            health.reconnects.inc();
        }
        first = false;
        let outcome = match (&next, &session) {
            (Step::Resume { .. }, Some(s)) => {
                tracing::info!(url = %s.resume_url, seq = s.seq, "gateway: resuming");
                session::run(
                    Open::Resume(s),
                    http.token(),
                    options.hello_timeout,
                    session::jitter(),
                    &handler,
                    stopping,
                )
                .await
            }
            _ => match tokio::select! {
                url = identify_url(&http, &health, last_identify) => url,
                _ = session::stop_asked(stopping) => return,
            } {
                Ok(url) => {
                    session::run(
                        Open::Identify { url: &url },
                        http.token(),
                        options.hello_timeout,
                        session::jitter(),
                        &handler,
                        stopping,
                    )
                    .await
                }
                Err(NoUrl::Fatal(reason)) => {
                    next = Step::Stop { reason };
                    continue;
                }
                Err(NoUrl::Failed(e)) => session::Outcome {
                    ended: Ended::ConnectFailed(e),
                    identified_at: None,
                    proved: false,
                    session: None,
                    socket: None,
                },
            },
        };
        if matches!(outcome.ended, Ended::Stopping) {
            if let Some(socket) = outcome.socket {
                session::close(socket, 1000, true).await;
            }
            tracing::info!("gateway closed (1000): the bot is stopping");
            return;
        }
        if outcome.identified_at.is_some() {
            last_identify = outcome.identified_at;
        }
        if outcome.session.is_some() {
            session = outcome.session;
        }
        let history = History {
            failures,
            proved: outcome.proved,
            has_session: session.is_some(),
        };
        let decision = step::next_step(&outcome.ended, history, options.backoff, session::jitter());
        failures = decision.failures;
        if let Some(socket) = outcome.socket {
            let responsive = matches!(
                outcome.ended,
                Ended::ReconnectAsked | Ended::InvalidSession { .. }
            );
            session::close(socket, step::close_code(&decision.step), responsive).await;
        }
        if matches!(decision.step, Step::Identify { .. }) {
            session = None;
        }
        if let Step::Resume { after } | Step::Identify { after } = &decision.step {
            // Discord moves a live session every few hours: routine. Failures in a row are not.
            if failures == 0 {
                tracing::info!(ended = %outcome.ended, next = ?decision.step, "gateway connection ended; reconnecting");
            } else {
                tracing::warn!(ended = %outcome.ended, failures, next = ?decision.step, "gateway connection failed; trying again in {after:?}");
            }
            health.set(GatewayState::Reconnecting {
                failures,
                last: outcome.ended.to_string(),
            });
        }
        next = decision.step;
    }
}

/// Why there is no URL to identify at: Discord refused the token, or the call failed.
enum NoUrl {
    Fatal(String),
    Failed(String),
}

/// The gateway URL for an IDENTIFY, once Discord's budget allows one (`GET /gateway/bot`).
async fn identify_url(
    http: &Http,
    health: &GatewayHealth,
    last: Option<Instant>,
) -> Result<String, NoUrl> {
    let gateway = match http.get_bot_gateway().await {
        Ok(g) => g,
        Err(serenity::Error::Http(e)) if e.status_code().is_some_and(|s| s.as_u16() == 401) => {
            return Err(NoUrl::Fatal(
                "Discord refused the bot token (HTTP 401 on GET /gateway/bot): check the token"
                    .into(),
            ))
        }
        Err(e) => return Err(NoUrl::Failed(format!("GET /gateway/bot: {e}"))),
    };
    let limit = &gateway.session_start_limit;
    let budget = Budget {
        remaining: limit.remaining,
        total: limit.total,
        resets_in: Duration::from_millis(limit.reset_after),
        max_concurrency: limit.max_concurrency,
    };
    health
        .identify_remaining
        .set(i64::try_from(budget.remaining).unwrap_or(i64::MAX));
    if let Some(warning) = step::budget_warning(&budget) {
        tracing::warn!("{warning}");
    }
    let wait = step::identify_wait(&budget, last.map(|l| l.elapsed()));
    if !wait.is_zero() {
        tracing::warn!(
            remaining = budget.remaining,
            "gateway: waiting {wait:?} before the next IDENTIFY (Discord's session budget)"
        );
        tokio::time::sleep(wait).await;
    }
    Ok(gateway.url)
}
