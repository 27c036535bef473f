//! Which jobs each cluster runs, as it last answered.
//!
//! When a JobManager stops answering, its topology incident lists the jobs whose alerts arrived;
//! but a job without an alerting rule, or whose alert Alertmanager still holds in `for:`, is just
//! as down. So the bot asks each cluster for `GET /jobs/overview` every `flink.roster_every_ms`
//! ([`watch`]) and keeps the answer in the store; the cluster's incident lists every job of the
//! last answer, alerting or not, with the time of that answer.
//!
//! Everything here but [`watch`] is pure.

pub mod watch;

use serde::{Deserialize, Serialize};

use crate::flink::types::JobsOverview;

/// A cluster's jobs at its last answer: those not yet in a terminal state (Flink keeps finished,
/// cancelled and failed jobs in the overview for an hour; they do not run on it any more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// When the cluster answered with these jobs (epoch ms).
    pub at_ms: i64,
    /// Sorted by name, then id.
    pub jobs: Vec<RosterJob>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterJob {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// Flink's globally terminal job states.
const TERMINAL: [&str; 3] = ["FINISHED", "CANCELED", "FAILED"];

/// Kept again when unchanged after this long, so "as of" stays close to the last answer without a
/// store write at every poll.
pub const REWRITE_AFTER_MS: i64 = 10 * 60 * 1000;

impl Roster {
    pub fn from_overview(overview: &JobsOverview, at_ms: i64) -> Roster {
        let mut jobs: Vec<RosterJob> = overview
            .jobs
            .iter()
            .filter(|j| !TERMINAL.contains(&j.state.as_str()))
            .map(|j| RosterJob {
                id: j.jid.clone(),
                name: j.name.clone(),
                state: j.state.clone(),
            })
            .collect();
        jobs.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Roster { at_ms, jobs }
    }

    /// Whether `newer` is worth a store write over `self` (the kept one).
    pub fn outdated_by(&self, newer: &Roster) -> bool {
        self.jobs != newer.jobs || newer.at_ms - self.at_ms >= REWRITE_AFTER_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overview(jobs: &[(&str, &str, &str)]) -> JobsOverview {
        serde_json::from_value(serde_json::json!({
            "jobs": jobs.iter().map(|(id, name, state)| serde_json::json!(
                {"jid": id, "name": name, "state": state, "start-time": 1, "end-time": -1}
            )).collect::<Vec<_>>()
        }))
        .unwrap()
    }

    #[test]
    fn a_roster_keeps_the_jobs_that_still_run_in_name_order() {
        let r = Roster::from_overview(
            &overview(&[
                ("3", "orders", "RESTARTING"),
                ("1", "billing", "RUNNING"),
                ("2", "old", "FINISHED"),
                ("4", "gone", "CANCELED"),
                ("5", "broken", "FAILED"),
                ("6", "orders", "CREATED"),
            ]),
            7,
        );
        let names: Vec<(&str, &str)> = r
            .jobs
            .iter()
            .map(|j| (j.name.as_str(), j.id.as_str()))
            .collect();
        assert_eq!(names, [("billing", "1"), ("orders", "3"), ("orders", "6")]);
        assert_eq!(r.at_ms, 7);
    }

    #[test]
    fn a_roster_is_written_again_when_its_jobs_change_or_it_grew_old() {
        let at = |ms, jobs: &[(&str, &str, &str)]| Roster::from_overview(&overview(jobs), ms);
        let kept = at(0, &[("1", "a", "RUNNING")]);
        assert!(!kept.outdated_by(&at(1_000, &[("1", "a", "RUNNING")])));
        assert!(kept.outdated_by(&at(1_000, &[("1", "a", "RESTARTING")])));
        assert!(kept.outdated_by(&at(1_000, &[("1", "a", "RUNNING"), ("2", "b", "RUNNING")])));
        assert!(kept.outdated_by(&at(1_000, &[])));
        assert!(kept.outdated_by(&at(REWRITE_AFTER_MS, &[("1", "a", "RUNNING")])));
    }
}
