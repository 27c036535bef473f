//! Discord's rate limits, kept before they are hit, and the most urgent page first.
//!
//! Every answer to a message write carries the channel bucket's `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset-After`. Once a bucket is used up, writes to that channel wait here until it
//! resets instead of collecting 429s: Discord bans a bot that gets 10,000 invalid (401/403/429)
//! answers in 10 minutes, and a storm of pages is exactly when that would happen. A 429 that
//! still comes (another process using the same token, a global limit) closes the bucket, or
//! every bucket, for as long as Discord asks.
//!
//! Waiters for a bucket go in order of rank (severity), then arrival: when a channel can take
//! one more message, a critical page behind a thousand warnings is that message.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// A place in a bucket's line: higher rank first, then the earlier ticket.
type Place = (Reverse<u8>, u64);

#[derive(Debug)]
pub(crate) struct Bucket {
    /// Writes Discord still takes before `reset_at`; `None`: no limit (answers carry none).
    remaining: Option<u32>,
    reset_at: Option<Instant>,
    /// The bucket's size (`X-RateLimit-Limit`): what `remaining` becomes once it resets.
    limit: u32,
    waiting: BTreeSet<Place>,
}

impl Bucket {
    /// A bucket whose reset has passed is full again; until an answer names the next reset,
    /// only that many writes go.
    fn refill(&mut self, now: Instant) {
        if self.remaining.is_some() && self.reset_at.is_some_and(|t| t <= now) {
            self.remaining = Some(self.limit);
            self.reset_at = None;
        }
    }
}

impl Default for Bucket {
    /// A channel not written to yet: one write goes, and its answer tells the bucket's size.
    /// (Thirty-two workers starting at once on an unknown bucket would collect 27 429s.)
    fn default() -> Bucket {
        Bucket {
            remaining: Some(1),
            reset_at: None,
            limit: 1,
            waiting: BTreeSet::new(),
        }
    }
}

/// While the first answer of a bucket is awaited, others look again this often (an answer that
/// never comes must not hold the channel).
const PROBE: Duration = Duration::from_millis(500);

/// How long a used-up bucket whose answers are not in yet stays closed.
const UNANSWERED: Duration = Duration::from_secs(2);

/// Two answers whose resets are this close describe the same window.
const SAME_WINDOW: Duration = Duration::from_millis(250);

/// What a waiter does now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    Go,
    /// The bucket is used up until then.
    Until(Instant),
    /// Someone more urgent (or earlier) goes first.
    Behind,
}

/// The pure decision: may the waiter at `me` send now?
pub(crate) fn turn(
    bucket: &Bucket,
    global_until: Option<Instant>,
    me: Place,
    now: Instant,
) -> Turn {
    if let Some(until) = global_until.filter(|t| *t > now) {
        return Turn::Until(until);
    }
    if bucket.waiting.first().is_some_and(|first| *first != me) {
        return Turn::Behind;
    }
    match (bucket.remaining, bucket.reset_at) {
        (Some(0), Some(reset)) if reset > now => Turn::Until(reset),
        (Some(0), None) => Turn::Until(now + PROBE),
        _ => Turn::Go,
    }
}

/// What an answer said about its bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    pub reset_after: Option<Duration>,
}

#[derive(Default)]
pub struct Limits {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    buckets: HashMap<u64, Bucket>,
    global_until: Option<Instant>,
    tickets: u64,
}

impl Limits {
    /// Waits until a write to `channel` may go out; `rank` orders the waiters.
    pub async fn acquire(&self, channel: u64, rank: u8) {
        let me = {
            let mut s = self.state.lock().expect("rate limit lock");
            s.tickets += 1;
            let me = (Reverse(rank), s.tickets);
            s.buckets.entry(channel).or_default().waiting.insert(me);
            me
        };
        // Leaves the line also when the delivery is dropped while waiting (shutdown).
        let _leave = Leave(self, channel, me);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let decision = {
                let mut s = self.state.lock().expect("rate limit lock");
                let global = s.global_until;
                let bucket = s.buckets.entry(channel).or_default();
                bucket.refill(now);
                let t = turn(bucket, global, me, now);
                if t == Turn::Go {
                    bucket.waiting.remove(&me);
                    // Counted now, so the next waiter does not go on a stale "remaining".
                    if let Some(r) = bucket.remaining.as_mut() {
                        *r = r.saturating_sub(1);
                        // Until an answer names the reset, assume one soon: an answer that
                        // never comes (a hung request) must not close the channel for good.
                        if *r == 0 && bucket.reset_at.is_none() {
                            bucket.reset_at = Some(now + UNANSWERED);
                        }
                    }
                }
                t
            };
            match decision {
                Turn::Go => {
                    self.changed.notify_waiters();
                    return;
                }
                Turn::Until(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = notified => {}
                    }
                }
                Turn::Behind => notified.await,
            }
        }
    }

    /// Takes what an answer said about the channel's bucket (no figures: no limit known).
    pub fn observe(&self, channel: u64, seen: Observed) {
        let mut s = self.state.lock().expect("rate limit lock");
        let b = s.buckets.entry(channel).or_default();
        match seen {
            Observed {
                limit,
                remaining: Some(remaining),
                reset_after: Some(after),
            } => {
                let reset = Instant::now() + after;
                // Answers of one window can arrive out of order: an early answer's larger
                // "remaining" must not reopen writes already counted.
                let same_window = b
                    .reset_at
                    .is_some_and(|t| t.max(reset) - t.min(reset) < SAME_WINDOW);
                b.remaining = match (same_window, b.remaining) {
                    (true, Some(current)) => Some(current.min(remaining)),
                    _ => Some(remaining),
                };
                b.reset_at = Some(reset);
                b.limit = limit.unwrap_or(b.limit).max(1);
            }
            _ => {
                b.remaining = None;
                b.reset_at = None;
            }
        }
        drop(s);
        self.changed.notify_waiters();
    }

    /// A 429 came anyway: nothing goes to the channel (or anywhere, if `global`) for `after`.
    pub fn limited(&self, channel: u64, after: Duration, global: bool) {
        let until = Instant::now() + after;
        let mut s = self.state.lock().expect("rate limit lock");
        if global {
            s.global_until = Some(s.global_until.map_or(until, |t| t.max(until)));
        } else {
            let b = s.buckets.entry(channel).or_default();
            b.remaining = Some(0);
            b.reset_at = Some(b.reset_at.map_or(until, |t| t.max(until)));
        }
    }
}

struct Leave<'a>(&'a Limits, u64, Place);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().expect("rate limit lock");
        let removed = s
            .buckets
            .get_mut(&self.1)
            .is_some_and(|b| b.waiting.remove(&self.2));
        drop(s);
        if removed {
            self.0.changed.notify_waiters();
        }
    }
}

/// The bucket figures of a Discord answer's headers.
pub fn observed(headers: &reqwest::header::HeaderMap) -> Observed {
    let num = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    Observed {
        limit: num("x-ratelimit-limit").and_then(|v| v.parse().ok()),
        remaining: num("x-ratelimit-remaining").and_then(|v| v.parse().ok()),
        reset_after: num("x-ratelimit-reset-after")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(3_600.0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(
        remaining: Option<u32>,
        reset_in: Option<u64>,
        waiting: &[Place],
    ) -> (Bucket, Instant) {
        let now = Instant::now();
        (
            Bucket {
                remaining,
                reset_at: reset_in.map(|s| now + Duration::from_secs(s)),
                limit: 5,
                waiting: waiting.iter().copied().collect(),
            },
            now,
        )
    }

    const CRITICAL: u8 = 4;
    const WARNING: u8 = 2;

    #[test]
    fn a_new_bucket_lets_one_write_go_and_the_next_wait_for_its_answer() {
        let me = (Reverse(WARNING), 1);
        let mut b = Bucket::default();
        b.waiting.insert(me);
        let now = Instant::now();
        assert_eq!(turn(&b, None, me, now), Turn::Go);
        b.remaining = Some(0);
        assert_eq!(turn(&b, None, me, now), Turn::Until(now + PROBE));
    }

    #[test]
    fn a_bucket_without_limits_or_with_room_lets_the_first_in_line_go() {
        let me = (Reverse(WARNING), 1);
        let (b, now) = bucket(None, None, &[me]);
        assert_eq!(turn(&b, None, me, now), Turn::Go);
        let (b, now) = bucket(Some(3), Some(5), &[me]);
        assert_eq!(turn(&b, None, me, now), Turn::Go);
    }

    #[test]
    fn a_used_up_bucket_waits_for_its_reset_and_a_past_reset_is_room_again() {
        let me = (Reverse(WARNING), 1);
        let (b, now) = bucket(Some(0), Some(4), &[me]);
        assert_eq!(
            turn(&b, None, me, now),
            Turn::Until(now + Duration::from_secs(4))
        );
        let (mut b, now) = bucket(Some(0), Some(0), &[me]);
        b.refill(now);
        assert_eq!(turn(&b, None, me, now), Turn::Go);
        assert_eq!(
            b.remaining,
            Some(5),
            "full again, and no more than its size goes"
        );
        assert_eq!(b.reset_at, None);
    }

    #[test]
    fn a_critical_page_goes_before_earlier_warnings() {
        let early_warning = (Reverse(WARNING), 1);
        let late_critical = (Reverse(CRITICAL), 900);
        let (b, now) = bucket(Some(1), Some(5), &[early_warning, late_critical]);
        assert_eq!(turn(&b, None, late_critical, now), Turn::Go);
        assert_eq!(turn(&b, None, early_warning, now), Turn::Behind);
    }

    #[test]
    fn equal_ranks_keep_arrival_order() {
        let first = (Reverse(WARNING), 1);
        let second = (Reverse(WARNING), 2);
        let (b, now) = bucket(None, None, &[first, second]);
        assert_eq!(turn(&b, None, second, now), Turn::Behind);
        assert_eq!(turn(&b, None, first, now), Turn::Go);
    }

    #[test]
    fn a_global_limit_holds_every_channel() {
        let me = (Reverse(CRITICAL), 1);
        let (b, now) = bucket(Some(5), Some(5), &[me]);
        let until = now + Duration::from_millis(300);
        assert_eq!(turn(&b, Some(until), me, now), Turn::Until(until));
        assert_eq!(turn(&b, Some(now), me, now), Turn::Go);
    }

    #[test]
    fn headers_are_read_as_discord_writes_them() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset-after", "4.250".parse().unwrap());
        assert_eq!(
            observed(&h),
            Observed {
                limit: None,
                remaining: Some(0),
                reset_after: Some(Duration::from_millis(4250))
            }
        );
        h.insert("x-ratelimit-reset-after", "-1".parse().unwrap());
        assert_eq!(observed(&h).reset_after, None);
    }

    #[tokio::test]
    async fn waiters_leave_a_used_up_bucket_in_rank_order_when_it_resets() {
        let limits = std::sync::Arc::new(Limits::default());
        limits.observe(
            7,
            Observed {
                limit: Some(1),
                remaining: Some(0),
                reset_after: Some(Duration::from_millis(40)),
            },
        );
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, rank) in [
            ("warning-1", WARNING),
            ("warning-2", WARNING),
            ("critical", CRITICAL),
        ] {
            let (limits, order) = (limits.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                limits.acquire(7, rank).await;
                order.lock().unwrap().push(name);
                // Each answer says how much room is left: one more per reset.
                limits.observe(
                    7,
                    Observed {
                        limit: Some(1),
                        remaining: Some(0),
                        reset_after: Some(Duration::from_millis(40)),
                    },
                );
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["critical", "warning-1", "warning-2"]
        );
    }
}
