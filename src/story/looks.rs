//! What Flink said at each page, update and refill (`incident::seen`), as timeline entries.

use chrono::{TimeZone, Utc};

use super::{raw, stamp, Entry, Kind};
use crate::incident::seen::{Look, Seen};
use crate::incident::Incident;

pub(super) fn entries(inc: &Incident, entries: &mut Vec<Entry>) {
    for s in &inc.seen {
        entries.push(raw(s.at, Kind::FlinkSaid, source(s.look), None, said(s)));
    }
}

pub(super) fn source(look: Look) -> &'static str {
    match look {
        Look::Page => "flink, at the first page",
        Look::Update => "flink, at an update",
        Look::Refill => "flink, at a refill",
    }
}

/// "2 min 5 s", "40 s", "1 h 3 min".
pub(super) fn duration(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s >= 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{s} s"),
    }
}

/// One line: the job's state and restarts, the diagnosis, the root cause, the newest checkpoint,
/// what the run restored from, and whether anything could not be fetched.
pub(super) fn said(s: &Seen) -> String {
    let at = |ms: i64| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map_or_else(|| "?".into(), stamp)
    };
    let mut parts = vec![match &s.state {
        Some(state) => format!("job {state}"),
        None => "job state not known".to_string(),
    }];
    if let Some(n) = s.restarts {
        parts.push(format!("{n} restart(s)"));
    }
    if let Some(ms) = s.downtime_ms {
        parts.push(format!("down for {}", duration(ms)));
    }
    parts.push(format!("diagnosis: {}", s.diagnosis));
    if let Some(rc) = &s.root_cause {
        parts.push(match s.root_cause_at_ms {
            Some(ms) => format!("root cause {rc} (failed {})", at(ms)),
            None => format!("root cause {rc}"),
        });
    }
    if let Some((id, ms)) = s.checkpoint {
        parts.push(format!("last checkpoint #{id} completed {}", at(ms)));
    }
    if let Some(from) = &s.restored_from {
        parts.push(format!("restored from {from}"));
    }
    if !s.complete {
        parts.push("some facts could not be fetched".into());
    }
    format!("Flink said: {}", parts.join("; "))
}
