//! The pure decisions. Table-tested in `tests.rs`.

/// The part of a stored incident retention reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentAge {
    /// When it resolved (epoch ms); `None` while firing.
    pub resolved_ms: Option<i64>,
    /// Something still refers to it as work to do: an inbox entry for its group, a post in
    /// progress, a refill due, a request not finished.
    pub pending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Remove,
    KeepFiring,
    KeepRecent,
    KeepPending,
}

/// An incident goes once it resolved before `cutoff_ms` and nothing waits on it.
pub fn incident(i: IncidentAge, cutoff_ms: i64) -> Verdict {
    match i.resolved_ms {
        None => Verdict::KeepFiring,
        Some(t) if t >= cutoff_ms => Verdict::KeepRecent,
        Some(_) if i.pending => Verdict::KeepPending,
        Some(_) => Verdict::Remove,
    }
}

/// An incident id no longer shown by its group (a newer incident of the same group took
/// its place) ended before the newer one started: it goes once that start is before
/// `cutoff_ms`. An id whose group has no incident any more was removed: it goes too.
pub fn superseded(current_started_ms: Option<i64>, cutoff_ms: i64, pending: bool) -> bool {
    !pending && current_started_ms.is_none_or(|t| t < cutoff_ms)
}

/// A request goes once finished, created before `cutoff_ms`, and its incident (if it has
/// one) is gone. One still waiting or running is never removed.
pub fn request(run: &str, created_ms: i64, cutoff_ms: i64, incident_gone: bool) -> bool {
    let finished = matches!(run, "succeeded" | "failed" | "denied" | "expired");
    finished && created_ms < cutoff_ms && incident_gone
}

/// A request still to be acted on keeps its incident.
pub fn request_is_open(run: &str) -> bool {
    !matches!(run, "succeeded" | "failed" | "denied" | "expired")
}

/// A topology incident goes once it was opened before `cutoff_ms`, every job line on it
/// recovered (`recovered`, one per line; none left is over too) and no post of it is in
/// progress. A page of the same cause after that opens a new board anyway
/// (`topology::opens_anew`: the window is at least an hour, the board's ten minutes).
pub fn board(opened_ms: i64, recovered: &[bool], posting: bool, cutoff_ms: i64) -> bool {
    !posting && opened_ms < cutoff_ms && recovered.iter().all(|r| *r)
}

/// A job's kept exception history goes once its newest failure is before `cutoff_ms`.
pub fn history(newest_failure_ms: Option<i64>, cutoff_ms: i64) -> bool {
    newest_failure_ms.is_some_and(|t| t < cutoff_ms)
}
