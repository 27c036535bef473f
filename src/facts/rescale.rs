//! Was the job's latest restart a rescale? Pure: decides from the adaptive scheduler's rescale
//! history (`GET /jobs/:id/rescales/history`, Flink 2.3+, with
//! `web.adaptive-scheduler.rescale-history.size` above 0) and the time of the job's newest
//! failure.
//!
//! A rescale restarts the job (Flink counts it in `numRestarts`) without a failure: the exception
//! history stays as it was. Flink records why each rescale happened (`triggerCause`): a change of
//! the job's resource requirements (`UPDATE_REQUIREMENT`: `PUT /jobs/:id/resource-requirements`,
//! the operator's autoscaler) or new slots (`NEW_RESOURCE_AVAILABLE`) is a rescale someone or
//! something asked for; `RECOVERABLE_FAILOVER` is the restart after a failure and
//! `INITIAL_SCHEDULE` the job's start, neither of which is a rescale. So the restart is a rescale
//! when such a rescale started within the window and no failure came after it: a failure after
//! the rescale, or a crash loop going on beside it, is the better explanation.
//!
//! Without that history (Flink 1.x answers 404; 2.x keeps none unless configured),
//! [`without_history`] says what can still be seen: the job's run restored from a checkpoint
//! within the window, after the job's start, and Flink's exception history has no failure in
//! the window. Checked on Flink 1.20 with the adaptive scheduler: a rescale restores from a
//! checkpoint, leaves the exception history alone and does not even move `numRestarts`. The
//! page then says the job restarted with no failure, and does not claim to know who asked.

use serde::{Deserialize, Serialize};

/// How far back a rescale explains an alert: the shipped restart alert looks at 10 minutes of
/// history (`increase(flink_jobmanager_job_numRestarts[10m])`, `for: 2m`), and Alertmanager
/// groups for a little more.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// One entry of Flink's rescale history, as the REST API gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RescaleEntry {
    #[serde(default)]
    pub trigger_cause: String,
    /// `COMPLETED`, `FAILED`, `IGNORED`; absent while in progress.
    #[serde(default)]
    pub terminal_state: Option<String>,
    #[serde(default)]
    pub start_timestamp_in_millis: i64,
    #[serde(default)]
    pub end_timestamp_in_millis: Option<i64>,
}

/// The rescale that explains the restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RescaleFacts {
    /// "its resource requirements changed", "new slots became available".
    pub cause: &'static str,
    pub started_at_ms: i64,
    /// Still going on (no terminal state yet).
    pub in_progress: bool,
    /// Rescales in the window that restarted the job.
    pub count: usize,
    /// "rescaled at 03:12 UTC because its resource requirements changed (2 rescales in 15 min)"
    pub line: String,
    /// Seen without Flink's rescale history ([`without_history`]): a restart with no failure,
    /// cause unknown.
    pub inferred: bool,
}

/// The rescale that explains the job's latest restart, if one does.
pub fn decide(
    history: &[RescaleEntry],
    newest_failure_ms: Option<i64>,
    alert_started_ms: i64,
) -> Option<RescaleFacts> {
    let since = alert_started_ms - WINDOW_MS;
    let rescales: Vec<&RescaleEntry> = history
        .iter()
        .filter(|r| cause_words(&r.trigger_cause).is_some())
        // An ignored rescale did not restart anything; a failed one ended in a failover, which
        // the exception history shows.
        .filter(|r| r.terminal_state.as_deref().is_none_or(|s| s == "COMPLETED"))
        .filter(|r| r.start_timestamp_in_millis >= since)
        .collect();
    let latest = rescales
        .iter()
        .max_by_key(|r| r.start_timestamp_in_millis)?;
    if newest_failure_ms.is_some_and(|f| f >= latest.start_timestamp_in_millis) {
        return None;
    }
    let cause = cause_words(&latest.trigger_cause)?;
    let in_progress = latest.terminal_state.is_none();
    let at = chrono::DateTime::from_timestamp_millis(latest.start_timestamp_in_millis)
        .map(|t| t.format("%H:%M UTC").to_string())
        .unwrap_or_default();
    let mut line = format!(
        "{} {at} because {cause}",
        if in_progress {
            "rescaling since"
        } else {
            "rescaled at"
        }
    );
    if rescales.len() > 1 {
        line.push_str(&format!(" ({} rescales in 15 min)", rescales.len()));
    }
    Some(RescaleFacts {
        cause,
        started_at_ms: latest.start_timestamp_in_millis,
        in_progress,
        count: rescales.len(),
        line,
        inferred: false,
    })
}

/// A restore this long after the job's start is a restart, not the run's first start from a
/// savepoint (which restores while its tasks first deploy, a second or two after the start).
const AFTER_START_MS: i64 = 10_000;

/// What a restart without Flink's rescale history shows (see the module): the run restored from
/// checkpoint `restored` = (id, when) within the window, well after the job started, the job is
/// RUNNING, and no failure came within the window. Asked only for an alert about restarts: a job
/// freshly started from a savepoint also restored within the window, and its other alerts must
/// keep their own diagnosis.
pub fn without_history(
    restored: Option<(i64, i64)>,
    job_started_ms: Option<i64>,
    state: Option<&str>,
    newest_failure_ms: Option<i64>,
    alert_started_ms: i64,
) -> Option<RescaleFacts> {
    let (id, at) = restored?;
    let since = alert_started_ms - WINDOW_MS;
    let restarted = at >= since && job_started_ms.is_none_or(|s| at - s > AFTER_START_MS);
    let failed = newest_failure_ms.is_some_and(|f| f >= since);
    if !restarted || failed || state != Some("RUNNING") {
        return None;
    }
    let hhmm = chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.format("%H:%M UTC").to_string())
        .unwrap_or_default();
    Some(RescaleFacts {
        cause: "it restarted with no failure",
        started_at_ms: at,
        in_progress: false,
        count: 1,
        line: format!(
            "restarted with no failure at {hhmm} (this run restored from checkpoint #{id}; Flink's exception history has no failure in the last 15 min)"
        ),
        inferred: true,
    })
}

/// The causes that are rescales (None: the start, or a restart after a failure).
fn cause_words(trigger_cause: &str) -> Option<&'static str> {
    match trigger_cause {
        "UPDATE_REQUIREMENT" => Some("its resource requirements changed"),
        "NEW_RESOURCE_AVAILABLE" => Some("new slots became available"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_796_623_304_807; // 2026-12-07 06:01:44 UTC

    fn entry(cause: &str, state: Option<&str>, start: i64) -> RescaleEntry {
        RescaleEntry {
            trigger_cause: cause.into(),
            terminal_state: state.map(String::from),
            start_timestamp_in_millis: start,
            end_timestamp_in_millis: state.map(|_| start + 1000),
        }
    }

    #[test]
    fn the_real_answer_parses() {
        // From Flink 2.3.0 after `PUT /jobs/:id/resource-requirements` (adaptive scheduler).
        let body = r#"[{"rescaleUuid":"d83a2a624f9f2650efc40411218a9d0a","resourceRequirementsUuid":"466c92838de0a07cc501e957177cd6ca","rescaleAttemptId":1,"vertices":{},"slots":{},"schedulerStates":[],"startTimestampInMillis":1796623304807,"endTimestampInMillis":1796623322696,"terminalState":"COMPLETED","triggerCause":"UPDATE_REQUIREMENT","terminatedReason":"SUCCEEDED"},{"rescaleUuid":"d2ac65d57eb85524593f3b834d05c026","resourceRequirementsUuid":"15f8a1fa2fc284213dcd2cf701a72469","rescaleAttemptId":1,"vertices":{},"slots":{},"schedulerStates":[],"startTimestampInMillis":1796623292003,"endTimestampInMillis":1796623292577,"terminalState":"COMPLETED","triggerCause":"INITIAL_SCHEDULE","terminatedReason":"SUCCEEDED"}]"#;
        let history: Vec<RescaleEntry> = serde_json::from_str(body).unwrap();
        let got = decide(&history, None, T + 20_000).unwrap();
        assert_eq!(got.cause, "its resource requirements changed");
        assert_eq!(got.started_at_ms, T);
        assert_eq!(got.count, 1);
        assert_eq!(
            got.line,
            "rescaled at 06:01 UTC because its resource requirements changed"
        );
    }

    /// (history, newest failure, alert start) -> rescale count or none.
    #[test]
    fn decision_table() {
        let up = |state, start| entry("UPDATE_REQUIREMENT", state, start);
        let done = Some("COMPLETED");
        type Case = (&'static str, Vec<RescaleEntry>, Option<i64>, Option<usize>);
        let cases: Vec<Case> = vec![
            ("a requirement change", vec![up(done, T)], None, Some(1)),
            (
                "new slots",
                vec![entry("NEW_RESOURCE_AVAILABLE", done, T)],
                None,
                Some(1),
            ),
            ("in progress", vec![up(None, T)], None, Some(1)),
            (
                "only the start",
                vec![entry("INITIAL_SCHEDULE", done, T)],
                None,
                None,
            ),
            (
                "a restart after a failure",
                vec![entry("RECOVERABLE_FAILOVER", done, T)],
                Some(T - 1),
                None,
            ),
            ("ignored", vec![up(Some("IGNORED"), T)], None, None),
            ("failed", vec![up(Some("FAILED"), T)], None, None),
            (
                "a failure after it",
                vec![up(done, T)],
                Some(T + 5_000),
                None,
            ),
            (
                "a failure long before",
                vec![up(done, T)],
                Some(T - 3_600_000),
                Some(1),
            ),
            (
                "too old for this alert",
                vec![up(done, T - WINDOW_MS - 60_000)],
                None,
                None,
            ),
            (
                "two in the window",
                vec![up(done, T - 60_000), up(done, T)],
                None,
                Some(2),
            ),
            ("no history", vec![], None, None),
        ];
        for (what, history, failure, expected) in cases {
            let got = decide(&history, failure, T + 30_000).map(|r| r.count);
            assert_eq!(got, expected, "{what}");
        }
    }

    /// (restored (id, at), job start, state, newest failure) -> a restart with no failure?
    #[test]
    fn without_history_a_restore_after_the_start_with_no_failure_is_a_restart_without_failure() {
        let start = T - 3_600_000;
        type Restored = Option<(i64, i64)>;
        type Case = (
            &'static str,
            Restored,
            Option<i64>,
            &'static str,
            Option<i64>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "restored, no failure",
                Some((29, T)),
                Some(start),
                "RUNNING",
                None,
                true,
            ),
            (
                "an old failure",
                Some((29, T)),
                Some(start),
                "RUNNING",
                Some(start),
                true,
            ),
            (
                "a failure in the window",
                Some((29, T)),
                Some(start),
                "RUNNING",
                Some(T - 5_000),
                false,
            ),
            ("never restored", None, Some(start), "RUNNING", None, false),
            (
                "restored at the start",
                Some((3, start + 2_000)),
                Some(start),
                "RUNNING",
                None,
                false,
            ),
            (
                "restored long ago",
                Some((29, T - WINDOW_MS - 60_000)),
                Some(start),
                "RUNNING",
                None,
                false,
            ),
            (
                "not running",
                Some((29, T)),
                Some(start),
                "RESTARTING",
                None,
                false,
            ),
        ];
        for (what, restored, started, state, failure, want) in cases {
            let got = without_history(restored, started, Some(state), failure, T + 30_000);
            assert_eq!(got.is_some(), want, "{what}");
            if let Some(r) = got {
                assert!(r.inferred);
                assert_eq!(
                    r.line,
                    "restarted with no failure at 06:01 UTC (this run restored from checkpoint #29; Flink's exception history has no failure in the last 15 min)"
                );
            }
        }
    }

    #[test]
    fn the_line_says_in_progress_and_how_many() {
        let h = [
            entry("UPDATE_REQUIREMENT", Some("COMPLETED"), T - 120_000),
            entry("NEW_RESOURCE_AVAILABLE", None, T),
        ];
        let got = decide(&h, None, T).unwrap();
        assert!(got.in_progress);
        assert_eq!(
            got.line,
            "rescaling since 06:01 UTC because new slots became available (2 rescales in 15 min)"
        );
    }
}
