//! Whether Discord is answering, shared by every worker so a long outage does not leave them
//! all asleep in long backoffs when it ends.
//!
//! While calls fail, each worker backs off as usual, but one of them (whoever's turn it is)
//! probes at least every [`PROBE_EVERY`]; the first success wakes every sleeper at once.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Longest time nobody tries Discord while it is failing.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Health {
    state: Mutex<State>,
    recovered: Notify,
}

#[derive(Default)]
struct State {
    failing: bool,
    next_probe: Option<Instant>,
}

impl Health {
    pub fn succeeded(&self) {
        let was_failing = {
            let mut s = self.state.lock().expect("health lock");
            std::mem::replace(&mut s.failing, false)
        };
        if was_failing {
            tracing::info!("Discord answers again; waking deliveries that were backing off");
            self.recovered.notify_waiters();
        }
    }

    pub fn failed(&self) {
        let mut s = self.state.lock().expect("health lock");
        if !s.failing {
            s.failing = true;
            s.next_probe = Some(Instant::now() + PROBE_EVERY);
        }
    }

    /// Sleeps `backoff`, returning early when Discord recovers or when it is this caller's turn
    /// to probe.
    pub async fn back_off(&self, backoff: Duration) {
        let until = Instant::now() + backoff;
        loop {
            let recovered = self.recovered.notified();
            tokio::pin!(recovered);
            // Registered before reading the state, so a recovery in between is not missed.
            recovered.as_mut().enable();
            let probe_at = {
                let s = self.state.lock().expect("health lock");
                if !s.failing {
                    return;
                }
                s.next_probe.unwrap_or(until)
            };
            tokio::select! {
                _ = &mut recovered => return,
                _ = tokio::time::sleep_until(until.min(probe_at)) => {}
            }
            let now = Instant::now();
            if now >= until || self.claim_probe(now) {
                return;
            }
        }
    }

    fn claim_probe(&self, now: Instant) -> bool {
        let mut s = self.state.lock().expect("health lock");
        match s.next_probe {
            Some(at) if now >= at => {
                s.next_probe = Some(now + PROBE_EVERY);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn one_sleeper_probes_and_the_first_success_wakes_the_rest() {
        let health = Arc::new(Health::default());
        health.failed();
        let sleepers: Vec<_> = (0..3)
            .map(|_| {
                let h = health.clone();
                tokio::spawn(async move { h.back_off(Duration::from_secs(120)).await })
            })
            .collect();
        // Polled, not timed: wait (generously) until one of them is released to probe.
        let deadline = Instant::now() + PROBE_EVERY * 10;
        while sleepers.iter().filter(|s| s.is_finished()).count() == 0 {
            assert!(Instant::now() < deadline, "nobody probed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            sleepers.iter().filter(|s| s.is_finished()).count(),
            1,
            "one probe per interval, not all at once"
        );
        health.succeeded();
        for s in sleepers {
            tokio::time::timeout(Duration::from_secs(10), s)
                .await
                .expect("woken by the recovery, not by the 120 s backoff")
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_healthy_discord_does_not_delay_anyone() {
        let health = Health::default();
        tokio::time::timeout(
            Duration::from_secs(10),
            health.back_off(Duration::from_secs(120)),
        )
        .await
        .expect("not failing: no backoff");
    }
}
