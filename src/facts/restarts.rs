//! How many times the job restarted, decided from two sources.
//!
//! Flink serves `/jobs/:id/metrics` from a cache it refreshes only every few seconds, so right
//! after a failure `numRestarts` is often absent or still the old value. The exception history
//! (fetched anyway for the root cause) lists every failure, and each failure of a job that is
//! not terminally FAILED was followed by a restart; it is a lower bound when truncated.

use crate::flink::types::{Exceptions, Metric};
use crate::flink::FlinkError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restarts {
    /// Flink's own count.
    Counted(i64),
    /// Counted from the exception history because the metric was absent or behind it.
    AtLeast(i64),
    /// Neither source answered; the reason is shown as a missing fact.
    Unknown(String),
}

pub fn decide(
    metrics: &Result<Vec<Metric>, FlinkError>,
    exceptions: &Result<Exceptions, FlinkError>,
    job_state: Option<&str>,
) -> Restarts {
    let metric = metrics.as_ref().ok().and_then(|m| metric(m, "numRestarts"));
    let history = exceptions.as_ref().ok().map(|ex| {
        let failures = ex.history.entries.len() as i64;
        // The failure that made the job FAILED was not followed by a restart.
        let restarts = if job_state == Some("FAILED") {
            (failures - 1).max(0)
        } else {
            failures
        };
        (restarts, ex.history.truncated)
    });
    match (metric, history) {
        (Some(m), Some((h, _))) if h > m => Restarts::AtLeast(h),
        (Some(m), _) => Restarts::Counted(m),
        (None, Some((0, false))) => Restarts::Counted(0),
        (None, Some((h, _))) => Restarts::AtLeast(h),
        (None, None) => {
            let metric_why = match metrics {
                Ok(_) => "Flink's restart metric had no value yet".to_string(),
                Err(e) => format!("metric: {e}"),
            };
            let history_why = match exceptions {
                Err(e) => format!("exception history: {e}"),
                Ok(_) => unreachable!("history is None only when exceptions failed"),
            };
            Restarts::Unknown(format!("{metric_why}; {history_why}"))
        }
    }
}

/// Flink's `downtime` gauge: how long the job's current outage has lasted, in milliseconds (0
/// while it runs, -1 once it finished); `None` when the metric did not answer or is negative.
pub fn downtime_ms(metrics: &Result<Vec<Metric>, FlinkError>) -> Option<i64> {
    metrics
        .as_ref()
        .ok()
        .and_then(|m| metric(m, "downtime"))
        .filter(|ms| *ms >= 0)
}

fn metric(metrics: &[Metric], id: &str) -> Option<i64> {
    metrics
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.value.as_deref())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flink::types::ExceptionHistory;

    fn metrics(value: Option<&str>) -> Result<Vec<Metric>, FlinkError> {
        Ok(value
            .map(|v| {
                vec![Metric {
                    id: "numRestarts".into(),
                    value: Some(v.into()),
                }]
            })
            .unwrap_or_default())
    }

    fn down<T>() -> Result<T, FlinkError> {
        Err(FlinkError::Timeout(2000))
    }

    fn history(failures: usize, truncated: bool) -> Result<Exceptions, FlinkError> {
        let entry: crate::flink::types::ExceptionEntry =
            serde_json::from_str(r#"{"exceptionName":"x","stacktrace":"x","timestamp":1}"#)
                .unwrap();
        Ok(Exceptions {
            history: ExceptionHistory {
                entries: vec![entry; failures],
                truncated,
            },
            ..Default::default()
        })
    }

    type Case = (
        &'static str,
        Result<Vec<Metric>, FlinkError>,
        Result<Exceptions, FlinkError>,
        Option<&'static str>,
        Restarts,
    );

    #[test]
    fn restarts_fallback_table() {
        use Restarts::*;
        let cases: Vec<Case> = vec![
            ("metric answers, history agrees", metrics(Some("27")), history(10, true), Some("RUNNING"), Counted(27)),
            ("metric answers, history down", metrics(Some("3")), down(), None, Counted(3)),
            ("metric cache empty: history", metrics(None), history(3, false), Some("RUNNING"), AtLeast(3)),
            ("metric stale at 0: history", metrics(Some("0")), history(2, false), Some("RESTARTING"), AtLeast(2)),
            ("metric down, history truncated", down(), history(10, true), Some("RUNNING"), AtLeast(10)),
            ("no failures at all", metrics(None), history(0, false), Some("RUNNING"), Counted(0)),
            ("FAILED: the last failure did not restart", metrics(None), history(3, false), Some("FAILED"), AtLeast(2)),
            ("nothing answers", down(), down(), None, Unknown("metric: no answer within 2000 ms; exception history: no answer within 2000 ms".into())),
            ("metric empty, history down", metrics(None), down(), None, Unknown("Flink's restart metric had no value yet; exception history: no answer within 2000 ms".into())),
        ];
        for (name, m, ex, state, want) in cases {
            assert_eq!(decide(&m, &ex, state), want, "{name}");
        }
    }
}
