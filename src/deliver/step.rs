//! The retry decision, kept pure: given what Discord answered, what delivery does next.
//!
//! Errors that never heal (the bot may not post there, the channel does not exist, a minimal
//! message is still refused) give up, so a page that cannot be delivered does not hold a worker
//! forever; everything else waits and tries again.

use std::time::Duration;

use super::SendError;
use crate::incident::Delivery;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Exponential backoff after the `attempt`-th failure (1-based), capped at `max`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Discord asked for exactly this long (429): wait, then send the same again.
    Wait(Duration),
    /// Discord (or the way to it) is failing: back off this long, or less if it recovers.
    Backoff(Duration),
    /// The message was deleted: post a new one.
    Repost,
    /// Discord refused the message as invalid: send the minimal version.
    SendSmaller,
    /// This never heals; keep the page and stop trying.
    GiveUp(String),
}

/// What to do after the `attempt`-th failed call. `smaller` says the minimal version was sent.
pub fn next_step(
    error: &SendError,
    attempt: u32,
    delivery: Delivery,
    smaller: bool,
    policy: RetryPolicy,
) -> Step {
    match error {
        SendError::RateLimited(after) => Step::Wait(*after),
        SendError::NotFound => match delivery {
            Delivery::Edit { .. } => Step::Repost,
            Delivery::Post => Step::GiveUp("Discord does not know this channel (404)".into()),
        },
        SendError::Rejected { status: 400, .. } if !smaller => Step::SendSmaller,
        SendError::Rejected { status: 400, body } => Step::GiveUp(format!(
            "Discord refused even the minimal message (400): {body}"
        )),
        SendError::Rejected {
            status: status @ (401 | 403),
            body,
        } => Step::GiveUp(format!(
            "the bot may not post in this channel (HTTP {status}): {body}"
        )),
        // Other 4xx (405, 413, ...) do not change by sending the same request again.
        SendError::Rejected { status, body } => Step::GiveUp(format!(
            "Discord refused the request (HTTP {status}): {body}"
        )),
        SendError::Transient(_) => Step::Backoff(policy.backoff(attempt)),
    }
}

/// Whether a failed post may still have created the message (the request may have reached
/// Discord): then the next post must first look for it.
pub fn may_have_posted(error: &SendError) -> bool {
    matches!(error, SendError::Transient(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy = RetryPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(10),
    };
    const EDIT: Delivery = Delivery::Edit { message_id: 9 };

    fn rejected(status: u16) -> SendError {
        SendError::Rejected {
            status,
            body: "x".into(),
        }
    }

    #[test]
    fn next_step_table() {
        let ms = Duration::from_millis;
        let transient = || SendError::Transient("HTTP 502".into());
        // `None`: gives up.
        let cases: Vec<(SendError, u32, Delivery, bool, Option<Step>)> = vec![
            (
                SendError::RateLimited(ms(1500)),
                1,
                Delivery::Post,
                false,
                Some(Step::Wait(ms(1500))),
            ),
            (
                SendError::RateLimited(ms(1500)),
                30,
                EDIT,
                true,
                Some(Step::Wait(ms(1500))),
            ),
            (SendError::NotFound, 1, EDIT, false, Some(Step::Repost)),
            (SendError::NotFound, 1, Delivery::Post, false, None),
            (
                rejected(400),
                1,
                Delivery::Post,
                false,
                Some(Step::SendSmaller),
            ),
            (rejected(400), 2, Delivery::Post, true, None),
            (rejected(401), 1, Delivery::Post, false, None),
            (rejected(403), 1, EDIT, false, None),
            (rejected(413), 1, Delivery::Post, false, None),
            (
                transient(),
                1,
                Delivery::Post,
                false,
                Some(Step::Backoff(ms(100))),
            ),
            (transient(), 3, EDIT, false, Some(Step::Backoff(ms(400)))),
            (
                transient(),
                40,
                Delivery::Post,
                false,
                Some(Step::Backoff(ms(10_000))),
            ),
        ];
        for (error, attempt, delivery, smaller, want) in cases {
            let step = next_step(&error, attempt, delivery, smaller, P);
            let what =
                format!("{error:?} attempt {attempt} {delivery:?} smaller={smaller}: got {step:?}");
            match want {
                Some(want) => assert_eq!(step, want, "{what}"),
                None => assert!(matches!(step, Step::GiveUp(_)), "{what}"),
            }
        }
    }

    #[test]
    fn only_an_unanswered_post_may_have_landed() {
        assert!(may_have_posted(&SendError::Transient("timeout".into())));
        assert!(!may_have_posted(&SendError::RateLimited(Duration::ZERO)));
        assert!(!may_have_posted(&rejected(403)));
        assert!(!may_have_posted(&SendError::NotFound));
    }
}
