//! The postmortem draft's facts, each taken from one timeline entry (nothing the timeline does
//! not hold).

use super::{stamp, Cited, Draft, Entry, Held, Kind};
use crate::guard::Run;

fn cite(e: &Entry, text: String) -> Cited {
    Cited { text, entry: e.n }
}

/// The postmortem draft's facts, each taken from one timeline entry.
pub(super) fn draft(held: &Held<'_>, entries: &[Entry]) -> Draft {
    let first = |k: Kind| entries.iter().find(|e| e.kind == k);
    let fired = first(Kind::AlertFired);
    let page = first(Kind::FirstPage);
    let first_failure = first(Kind::Failure);
    let last_failure = entries.iter().rev().find(|e| e.kind == Kind::Failure);
    let resolved = first(Kind::Resolved);
    let start = match (first_failure, fired) {
        (Some(f), Some(a)) if f.at < a.at => Some(f),
        (_, a) => a,
    };
    let response = entries
        .iter()
        .filter(|e| e.request.is_some())
        .map(|e| {
            let who = e.who.as_deref().map_or(String::new(), |w| format!("{w}: "));
            cite(
                e,
                format!("{} UTC {who}{}", e.at.format("%H:%M:%S"), e.what),
            )
        })
        .collect();
    let restore_point = held
        .requests
        .iter()
        .filter_map(|r| match &r.run {
            Run::Succeeded {
                done: Some(done),
                at,
                ..
            } => savepoint(done).map(|loc| (r, *at, loc)),
            _ => None,
        })
        .max_by_key(|(_, at, _)| *at)
        .and_then(|(r, _, loc)| {
            let e = entries
                .iter()
                .rev()
                .find(|e| e.request.as_deref() == Some(&r.id) && e.kind == Kind::Succeeded)?;
            Some(cite(e, loc.to_string()))
        });
    Draft {
        pattern: held.shown.pattern.clone(),
        root_cause: held.shown.root_cause.clone(),
        first_failure: first_failure.map(|e| cite(e, failure_text(e))),
        last_failure: last_failure.map(|e| cite(e, failure_text(e))),
        impact_start: start.map(|e| cite(e, stamp(e.at))),
        impact_end: resolved.map(|e| cite(e, stamp(e.at))),
        impact_minutes: start
            .zip(resolved)
            .map(|(s, r)| (r.at - s.at).num_minutes()),
        alert_fired: fired.map(|e| cite(e, stamp(e.at))),
        first_page: page.map(|e| cite(e, stamp(e.at))),
        detection_seconds: fired.zip(page).map(|(a, p)| (p.at - a.at).num_seconds()),
        response,
        restore_point,
        restored_from: restored_from(held, entries),
        downtime: downtime(held, entries),
    }
}

/// The newest look at Flink that knew what the run restored from, cited by its entry.
fn restored_from(held: &Held<'_>, entries: &[Entry]) -> Option<Cited> {
    let seen = held
        .incident
        .seen
        .iter()
        .rev()
        .find(|s| s.restored_from.is_some())?;
    Some(cite(
        look_entry(seen, entries)?,
        seen.restored_from.clone()?,
    ))
}

/// The look at which Flink's `downtime` gauge was highest, cited by its entry.
fn downtime(held: &Held<'_>, entries: &[Entry]) -> Option<Cited> {
    let seen = held
        .incident
        .seen
        .iter()
        .filter(|s| s.downtime_ms.is_some())
        .max_by_key(|s| s.downtime_ms)?;
    let text = format!(
        "{} (Flink's downtime gauge)",
        super::looks::duration(seen.downtime_ms?)
    );
    Some(cite(look_entry(seen, entries)?, text))
}

/// The timeline entry of one look at Flink.
fn look_entry<'e>(seen: &crate::incident::seen::Seen, entries: &'e [Entry]) -> Option<&'e Entry> {
    entries.iter().find(|e| {
        e.kind == Kind::FlinkSaid && e.at == seen.at && e.source == super::looks::source(seen.look)
    })
}

fn failure_text(e: &Entry) -> String {
    let cause = e.what.strip_prefix("job failed: ").unwrap_or(&e.what);
    format!("{} at {}", cause, stamp(e.at))
}

fn savepoint(done: &crate::guard::done::Done) -> Option<&str> {
    use crate::guard::done::Done;
    match done {
        Done::Savepoint { location } | Done::Stopped { location, .. } => Some(location),
        _ => None,
    }
}
