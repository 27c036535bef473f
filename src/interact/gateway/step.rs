//! The reconnect decision, kept pure: given how a gateway connection ended and what came before,
//! what the gateway does next (resume, identify again, or stop for good) and after how long.
//!
//! Discord's rules, as this reads them: close codes 4004 and 4010-4014 never heal by
//! reconnecting; 4007, 4009 and a non-resumable INVALID_SESSION end the session (identify
//! again, 1-5 s later); everything else may resume. IDENTIFY is budgeted (`session_start_limit`
//! of `GET /gateway/bot`: about 1,000 a day, `max_concurrency` per 5 s); RESUME is not. Every
//! connection that ends before it proved itself (READY or RESUMED and a heartbeat acknowledged)
//! is a failure and backs off, so a gateway that closes every connection is asked a few times a
//! minute, not a thousand times a second.

use std::time::Duration;

/// Exponential backoff between failed connections.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// After the `failures`-th failure in a row (1-based): `initial · 2^(failures-1)`, capped at
    /// `max`, scaled by `0.5 + jitter / 2` (`jitter` in [0, 1)) so that bots cut off together do
    /// not come back together, while each wait still grows.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        let base = self.initial.saturating_mul(factor).min(self.max);
        base.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// How one connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// No WebSocket at all (DNS, TCP, TLS, the HTTP upgrade), or `GET /gateway/bot` failed.
    ConnectFailed(String),
    /// Connected, but no HELLO came in time.
    NoHello,
    /// A heartbeat was not acknowledged before the next was due: a zombie connection.
    Zombie,
    /// The gateway closed the connection (its close code, if it sent a close frame), or the
    /// stream ended or failed (`None`).
    Closed(Option<u16>),
    /// The gateway asked for a reconnect (opcode 7).
    ReconnectAsked,
    /// INVALID_SESSION (opcode 9) and whether Discord said it is resumable.
    InvalidSession { resumable: bool },
    /// The bot is stopping: the supervisor closes the connection (1000) and ends.
    Stopping,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::ConnectFailed(e) => write!(f, "could not connect: {e}"),
            Ended::NoHello => f.write_str("no HELLO from the gateway"),
            Ended::Zombie => f.write_str("a heartbeat was not acknowledged (zombie connection)"),
            Ended::Closed(Some(code)) => write!(f, "closed by the gateway with code {code}"),
            Ended::Closed(None) => f.write_str("the connection was lost"),
            Ended::ReconnectAsked => f.write_str("the gateway asked for a reconnect"),
            Ended::InvalidSession { resumable } => {
                write!(f, "invalid session (resumable: {resumable})")
            }
            Ended::Stopping => f.write_str("the bot is stopping"),
        }
    }
}

/// What the next connection does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// RESUME the session at its `resume_gateway_url` after this long.
    Resume { after: Duration },
    /// IDENTIFY at the gateway URL of `GET /gateway/bot` after this long (the budget may add to
    /// it: [`identify_wait`]).
    Identify { after: Duration },
    /// Never reconnect: the reason, for `/readyz` and the log.
    Stop { reason: String },
}

/// What came before the connection that just ended.
#[derive(Debug, Clone, Copy)]
pub struct History {
    /// Failed connections in a row before this one.
    pub failures: u32,
    /// This connection got READY or RESUMED and then a heartbeat acknowledgement.
    pub proved: bool,
    /// A session (id, sequence, resume URL) is known.
    pub has_session: bool,
}

/// The next step and the new count of failures in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub step: Step,
    pub failures: u32,
}

/// Why a close code is final, or `None` when reconnecting may help.
pub fn fatal(code: u16) -> Option<&'static str> {
    Some(match code {
        4004 => "Discord refused the bot token (close code 4004, authentication failed): check the token",
        4010 => "Discord refused the shard (close code 4010, invalid shard)",
        4011 => "Discord requires sharding for this bot (close code 4011, sharding required)",
        4012 => "Discord refused the gateway version (close code 4012, invalid API version)",
        4013 => "Discord refused the intents (close code 4013, invalid intents)",
        4014 => "Discord refused the intents (close code 4014, disallowed intents)",
        _ => return None,
    })
}

/// The decision after a connection ended. `jitter` is a random number in [0, 1).
pub fn next_step(ended: &Ended, history: History, backoff: Backoff, jitter: f64) -> Decision {
    if let Ended::Closed(Some(code)) = ended {
        if let Some(reason) = fatal(*code) {
            return Decision {
                step: Step::Stop {
                    reason: reason.to_string(),
                },
                failures: history.failures + 1,
            };
        }
    }
    let session_over = matches!(
        ended,
        Ended::InvalidSession { resumable: false } | Ended::Closed(Some(4007 | 4009))
    );
    let failures = if history.proved {
        0
    } else {
        history.failures + 1
    };
    let resume = history.has_session && !session_over;
    let after = match (failures, resume) {
        // A connection that had proved itself ended (Discord moves bots between nodes every
        // few hours): resume at once; identifying again waits 1-5 s as Discord asks.
        (0, true) => Duration::ZERO,
        (0, false) => Duration::from_secs(1) + Duration::from_secs(4).mul_f64(jitter),
        (n, _) => backoff.delay(n, jitter),
    };
    let step = if resume {
        Step::Resume { after }
    } else {
        Step::Identify { after }
    };
    Decision { step, failures }
}

/// The close code to send when the bot ends a connection itself before the next step: 1000
/// ends the session (the next step identifies anyway), anything else keeps it resumable.
pub fn close_code(next: &Step) -> u16 {
    match next {
        Step::Resume { .. } => 4000,
        Step::Identify { .. } | Step::Stop { .. } => 1000,
    }
}

/// Discord's IDENTIFY budget, as `GET /gateway/bot` last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub remaining: u64,
    pub total: u64,
    /// Until the daily budget is full again.
    pub resets_in: Duration,
    /// IDENTIFYs allowed per 5 s.
    pub max_concurrency: u64,
}

/// Discord's window for `max_concurrency`.
pub const CONCURRENCY_WINDOW: Duration = Duration::from_secs(5);

/// How much longer an IDENTIFY must wait for the budget: until the reset when none is left;
/// spread over the rest of the period when under a tenth is left (a bot that keeps losing its
/// session then identifies at the pace the budget allows instead of spending it and having its
/// token reset); at least [`CONCURRENCY_WINDOW`]`/max_concurrency` after the previous one.
pub fn identify_wait(budget: &Budget, since_last: Option<Duration>) -> Duration {
    if budget.remaining == 0 {
        return budget.resets_in;
    }
    let per = CONCURRENCY_WINDOW / u32::try_from(budget.max_concurrency.max(1)).unwrap_or(1);
    let mut spacing = per;
    if budget.remaining * 10 < budget.total {
        spacing = spacing.max(budget.resets_in / u32::try_from(budget.remaining).unwrap_or(1));
    }
    match since_last {
        Some(since) => spacing.saturating_sub(since),
        None if budget.remaining * 10 < budget.total => spacing,
        None => Duration::ZERO,
    }
}

/// A warning to log (and why) when the budget is getting spent: at half, and again at a tenth.
pub fn budget_warning(budget: &Budget) -> Option<String> {
    let left = budget.remaining;
    if left * 10 < budget.total {
        Some(format!("only {left} of {} gateway IDENTIFYs left until Discord resets the budget (in {} min); the bot now spreads them out. At 0 Discord resets the bot's token", budget.total, budget.resets_in.as_secs() / 60))
    } else if left * 2 <= budget.total {
        Some(format!("{left} of {} gateway IDENTIFYs left until Discord resets the budget (in {} min): the gateway keeps losing its session", budget.total, budget.resets_in.as_secs() / 60))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_jitter_takes_off_up_to_half() {
        let cases = [
            (1, 0.0, ms(500)),
            (1, 0.999_999, ms(1_000)),
            (2, 0.0, ms(1_000)),
            (3, 0.5, ms(3_000)),
            (5, 1.0, ms(16_000)),
            (6, 0.0, ms(15_000)),
            (6, 1.0, ms(30_000)),
            (60, 1.0, ms(30_000)),
            (u32::MAX, 0.0, ms(15_000)),
        ];
        for (failures, jitter, want) in cases {
            let got = B.delay(failures, jitter);
            assert!(
                got.abs_diff(want) < ms(1),
                "failures {failures}, jitter {jitter}: {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn what_follows_each_ending() {
        let fresh = History {
            failures: 0,
            proved: false,
            has_session: false,
        };
        let live = History {
            failures: 0,
            proved: true,
            has_session: true,
        };
        let failing = History {
            failures: 3,
            proved: false,
            has_session: true,
        };
        let resume = |after| Step::Resume { after };
        let identify = |after| Step::Identify { after };
        #[rustfmt::skip]
        let cases: Vec<(&str, Ended, History, Step, u32)> = vec![
            ("a proved session dropped: resume at once", Ended::Closed(Some(4000)), live, resume(Duration::ZERO), 0),
            ("op 7 on a proved session: resume at once", Ended::ReconnectAsked, live, resume(Duration::ZERO), 0),
            ("lost TCP on a proved session: resume at once", Ended::Closed(None), live, resume(Duration::ZERO), 0),
            ("zombie on a proved session: resume at once", Ended::Zombie, live, resume(Duration::ZERO), 0),
            ("not resumable after a proved session: identify 1-5 s later", Ended::InvalidSession { resumable: false }, live, identify(ms(3_000)), 0),
            ("resumable op 9 keeps the session", Ended::InvalidSession { resumable: true }, live, resume(Duration::ZERO), 0),
            ("4007 invalid seq: identify", Ended::Closed(Some(4007)), live, identify(ms(3_000)), 0),
            ("4009 session timed out: identify", Ended::Closed(Some(4009)), live, identify(ms(3_000)), 0),
            ("a resume that fails at once is the 4th failure", Ended::Closed(Some(4000)), failing, resume(ms(6_000)), 4),
            ("no HELLO is a failure", Ended::NoHello, failing, resume(ms(6_000)), 4),
            ("a failed connect is a failure", Ended::ConnectFailed("refused".into()), failing, resume(ms(6_000)), 4),
            ("the first connection failing: identify after the first backoff", Ended::Closed(Some(4000)), fresh, identify(ms(750)), 1),
            ("4008 rate limited backs off like any failure", Ended::Closed(Some(4008)), fresh, identify(ms(750)), 1),
        ];
        for (what, ended, history, want, failures) in cases {
            let got = next_step(&ended, history, B, 0.5);
            assert_eq!(
                got,
                Decision {
                    step: want,
                    failures
                },
                "{what}"
            );
        }
    }

    #[test]
    fn fatal_close_codes_stop_with_the_reason() {
        for code in [4004, 4010, 4011, 4012, 4013, 4014] {
            let history = History {
                failures: 0,
                proved: true,
                has_session: true,
            };
            match next_step(&Ended::Closed(Some(code)), history, B, 0.5).step {
                Step::Stop { reason } => assert!(reason.contains(&code.to_string()), "{reason}"),
                other => panic!("{code}: {other:?}"),
            }
        }
        for code in [1000, 1001, 4000, 4001, 4002, 4003, 4005, 4007, 4008, 4009] {
            assert_eq!(fatal(code), None, "{code} may heal");
        }
    }

    #[test]
    fn a_resume_keeps_the_session_and_identify_ends_it() {
        assert_eq!(close_code(&Step::Resume { after: ms(0) }), 4000);
        assert_eq!(close_code(&Step::Identify { after: ms(0) }), 1000);
    }

    #[test]
    fn the_identify_budget() {
        let day = Duration::from_secs(86_400);
        let budget = |remaining, max_concurrency| Budget {
            remaining,
            total: 1_000,
            resets_in: day,
            max_concurrency,
        };
        #[rustfmt::skip]
        let cases = [
            ("plenty, first one", budget(1_000, 1), None, Duration::ZERO),
            ("plenty, 5 s window per concurrency slot", budget(990, 1), Some(ms(2_000)), ms(3_000)),
            ("max_concurrency 16 shortens the window", budget(990, 16), Some(ms(0)), Duration::from_micros(312_500)),
            ("plenty, long ago", budget(990, 1), Some(ms(60_000)), Duration::ZERO),
            ("spent: wait for the reset", budget(0, 1), Some(ms(60_000)), day),
            ("under a tenth: spread over the rest of the period", budget(50, 1), Some(ms(60_000)), day / 50 - ms(60_000)),
            ("under a tenth, none yet from this process", budget(50, 1), None, day / 50),
        ];
        for (what, budget, since, want) in cases {
            assert_eq!(identify_wait(&budget, since), want, "{what}");
        }
    }

    #[test]
    fn the_budget_warns_at_half_and_at_a_tenth() {
        let budget = |remaining| Budget {
            remaining,
            total: 1_000,
            resets_in: Duration::from_secs(3_600),
            max_concurrency: 1,
        };
        assert_eq!(budget_warning(&budget(1_000)), None);
        assert_eq!(budget_warning(&budget(501)), None);
        assert!(budget_warning(&budget(500))
            .unwrap()
            .contains("500 of 1000"));
        assert!(budget_warning(&budget(99))
            .unwrap()
            .contains("spreads them out"));
    }
}
