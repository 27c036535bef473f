//! Stops asking a cluster that refused a connection a moment ago.
//!
//! When a cluster is down, every page of a storm would otherwise open (and be refused) four or
//! more connections for the same answer. For `COOL_OFF` after a refusal, reads answer at once
//! with the refusal they would get, marked as not retried; the first read after that goes to
//! Flink again, and any answer (even an HTTP error) closes the breaker. A slow answer (timeout)
//! does not open it: a slow Flink is not a down one. Actions never go through it: a person who
//! asks for a savepoint gets a real attempt.
//!
//! The page built from such an answer says enrichment is unavailable, as it would have, and is
//! refilled later like any incomplete page.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::FlinkError;

/// How long a refusal stands for the cluster's answer.
pub const COOL_OFF: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Breaker {
    refused: Mutex<Option<Refusal>>,
}

#[derive(Debug)]
struct Refusal {
    at: Instant,
    reason: String,
}

impl Breaker {
    /// `Err` with the recent refusal while it stands; `Ok` when the call should be made.
    pub fn check(&self, now: Instant) -> Result<(), FlinkError> {
        let refused = self.refused.lock().expect("breaker lock");
        match refused.as_ref() {
            Some(r) if now.saturating_duration_since(r.at) < COOL_OFF => {
                Err(FlinkError::Unreachable(format!(
                    "{} (not retried: refused {} ms ago)",
                    r.reason,
                    now.saturating_duration_since(r.at).as_millis()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Learns from a call that was made.
    pub fn record<T>(&self, result: &Result<T, FlinkError>, now: Instant) {
        let mut refused = self.refused.lock().expect("breaker lock");
        match result {
            Err(FlinkError::Unreachable(reason)) => {
                *refused = Some(Refusal {
                    at: now,
                    reason: reason.clone(),
                })
            }
            Ok(_) | Err(FlinkError::Status { .. }) => *refused = None,
            Err(FlinkError::Timeout(_) | FlinkError::Decode(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Result<(), FlinkError> {
        Err(FlinkError::Unreachable(
            "Connection refused (os error 111)".into(),
        ))
    }

    #[test]
    fn a_refusal_answers_for_the_cool_off_then_flink_is_asked_again() {
        let b = Breaker::default();
        let t0 = Instant::now();
        assert!(b.check(t0).is_ok());
        b.record(&refused(), t0);
        let Err(FlinkError::Unreachable(text)) = b.check(t0 + Duration::from_millis(300)) else {
            panic!("the refusal should stand")
        };
        assert!(text.starts_with("Connection refused"), "{text}");
        assert!(text.contains("not retried: refused 300 ms ago"), "{text}");
        assert!(
            b.check(t0 + COOL_OFF).is_ok(),
            "asked again after the cool-off"
        );
    }

    #[test]
    fn any_answer_closes_it_and_a_timeout_does_not_open_it() {
        let b = Breaker::default();
        let t0 = Instant::now();
        b.record(&refused(), t0);
        b.record::<()>(
            &Err(FlinkError::Status {
                status: 404,
                body: String::new(),
            }),
            t0,
        );
        assert!(b.check(t0).is_ok(), "an HTTP error is an answer");
        b.record::<()>(&Err(FlinkError::Timeout(2000)), t0);
        assert!(b.check(t0).is_ok(), "slow is not down");
        b.record(&refused(), t0);
        b.record(&Ok(()), t0);
        assert!(b.check(t0).is_ok());
    }
}
