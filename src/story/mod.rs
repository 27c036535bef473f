//! The incident's story (pure): a timeline assembled from what the bot already holds about one
//! incident, and the facts a postmortem draft is written from.
//!
//! Sources, each entry naming its own: the incident record (the alert's `startsAt`, the first
//! page, Alertmanager's notifications, the resolve's `endsAt`), the guarded requests made from
//! its message and their audit entries (who asked, approved, denied, what ran and what came of
//! it), and the exception history the bot keeps for the job (Flink's own timestamps, including
//! failures Flink itself has since dropped). Nothing is inferred: a fact the bot holds without a
//! time is listed in `unplaced`, not guessed onto the timeline. Reading the sources is
//! `gather.rs`; a request's steps are `actions.rs`; the draft's facts are `draft.rs`; turning a
//! story into Markdown is `markdown.rs`.

mod actions;
mod draft;
pub mod gather;
mod looks;
pub mod markdown;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::facts::history::{JobHistory, KeptFailure};
use crate::guard::{Note, Request};
use crate::incident::Incident;

/// How long before the alert fired a job's failures still belong to its incident: alert rules
/// wait (`for:`) and count restarts over a window before they fire, so the first failure of a
/// restart loop comes minutes before the alert does.
pub const LOOKBACK_MINUTES: i64 = 60;

/// Everything the bot holds about one incident, as read from the store.
pub struct Held<'a> {
    pub incident: &'a Incident,
    pub note: &'a Note,
    /// The requests made about this incident (any order).
    pub requests: &'a [Request],
    /// Audit entries; only those naming one of `requests` are used.
    pub audit: &'a [audit::Entry],
    /// The job's kept exception history, if the incident has a job and the bot kept any.
    pub history: Option<&'a JobHistory>,
    /// What the incident's message said when last sent: the diagnosis's pattern and the root
    /// cause it showed.
    pub shown: Shown,
}

/// The diagnosis as the incident's message last showed it (see `gather::shown`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    pub pattern: Option<String>,
    pub root_cause: Option<String>,
}

/// What an entry is about; the postmortem draft picks its facts by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    AlertFired,
    FirstPage,
    /// What Flink said at a page, an update or a refill (`incident::seen`).
    FlinkSaid,
    Notified,
    Failure,
    FailureRepeated,
    Requested,
    Approved,
    Denied,
    Expired,
    Started,
    Succeeded,
    Failed,
    Refused,
    /// An audit entry of a kind requests do not write today, shown as the log names it.
    Noted,
    Resolved,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Its number on the timeline (1-based), which the postmortem cites as `#n`.
    pub n: usize,
    pub at: DateTime<Utc>,
    pub kind: Kind,
    /// Where the bot has it from: `alertmanager`, `bot`, `flink exception history`,
    /// `audit #<seq>`, `request <id>`.
    pub source: String,
    /// Who did it, when a person did.
    pub who: Option<String>,
    pub what: String,
    /// The request it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// The incident's story: its timeline and the facts of its postmortem draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Story {
    pub incident_id: String,
    pub alert: Option<String>,
    pub cluster: Option<String>,
    pub job_id: Option<String>,
    pub job_name: Option<String>,
    pub entries: Vec<Entry>,
    pub draft: Draft,
    /// Facts the bot holds but cannot put a time on, and facts it never had, said plainly.
    pub unplaced: Vec<String>,
}

/// A fact of the draft and the timeline entry it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cited {
    pub text: String,
    pub entry: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// The diagnosis's pattern and root cause as the incident's message last showed them.
    pub pattern: Option<String>,
    pub root_cause: Option<String>,
    /// The first failure on the timeline, as Flink recorded it.
    pub first_failure: Option<Cited>,
    /// The last failure on the timeline (the root cause as it stood).
    pub last_failure: Option<Cited>,
    pub impact_start: Option<Cited>,
    pub impact_end: Option<Cited>,
    /// Whole minutes from impact start to end.
    pub impact_minutes: Option<i64>,
    pub alert_fired: Option<Cited>,
    pub first_page: Option<Cited>,
    /// Whole seconds from the alert's start to the first page.
    pub detection_seconds: Option<i64>,
    /// Who did what, in order: every request's steps.
    pub response: Vec<Cited>,
    /// The newest savepoint a request from this incident took.
    pub restore_point: Option<Cited>,
    /// What the job's run restored from, as Flink said at the newest page or refill that knew.
    #[serde(default)]
    pub restored_from: Option<Cited>,
    /// The longest outage Flink's `downtime` gauge reported at a look.
    #[serde(default)]
    pub downtime: Option<Cited>,
}

/// Assembles the story (pure): entries in time order, numbered, and the draft's facts.
pub fn assemble(held: &Held<'_>) -> Story {
    let inc = held.incident;
    let mut entries = Vec::new();
    let mut unplaced = Vec::new();
    let alert = inc.labels.get("alertname").cloned();
    entries.push(raw(
        inc.firing_since,
        Kind::AlertFired,
        "alertmanager",
        None,
        format!(
            "alert {} started firing (startsAt)",
            alert.as_deref().unwrap_or("(unnamed)")
        ),
    ));
    match inc.first_paged_at {
        Some(at) => entries.push(raw(
            at,
            Kind::FirstPage,
            "bot",
            None,
            "first page posted to Discord".into(),
        )),
        None if inc.digested && inc.message_id.is_none() => {
            unplaced.push("the incident was shown only as a line of a storm digest".into())
        }
        None => unplaced
            .push("when the first page went out (not recorded by the version that sent it)".into()),
    }
    // Once resolved, the last notification is the resolve itself.
    if inc.notifications > 1 && inc.resolved_at.is_none() {
        entries.push(raw(
            inc.last_notified_at,
            Kind::Notified,
            "bot",
            None,
            format!(
                "last of {} notifications from Alertmanager received",
                inc.notifications
            ),
        ));
    }
    if let Some(at) = inc.resolved_at {
        entries.push(raw(
            at,
            Kind::Resolved,
            "alertmanager",
            None,
            "alert resolved (endsAt)".into(),
        ));
    }
    looks::entries(inc, &mut entries);
    failures(held, &mut entries, &mut unplaced);
    for req in held.requests {
        let audited: Vec<&audit::Entry> = held
            .audit
            .iter()
            .filter(|e| e.event.request_id.as_deref() == Some(req.id.as_str()))
            .collect();
        if audited.is_empty() {
            actions::from_request(req, &mut entries);
        } else {
            for e in audited {
                entries.extend(actions::from_audit(e, req));
            }
        }
    }
    noted(held, &mut unplaced);
    unplaced.push(
        "which alerts joined the group and when (the store keeps the group, not each alert)".into(),
    );
    if inc.seen.is_empty() {
        unplaced.push(
            "what Flink said at each page and refill (not recorded by the version that sent them)"
                .into(),
        );
    }
    // Stable: same-time entries keep the order they were found in (alert, page, request steps).
    entries.sort_by_key(|e| e.at);
    for (i, e) in entries.iter_mut().enumerate() {
        e.n = i + 1;
    }
    let draft = draft::draft(held, &entries);
    Story {
        incident_id: inc.id.clone(),
        alert,
        cluster: inc.job.as_ref().map(|j| j.cluster.clone()),
        job_id: inc.job.as_ref().map(|j| j.id.clone()),
        job_name: inc.job.as_ref().and_then(|j| j.name.clone()),
        entries,
        draft,
        unplaced,
    }
}

fn raw(at: DateTime<Utc>, kind: Kind, source: &str, who: Option<String>, what: String) -> Entry {
    Entry {
        n: 0,
        at,
        kind,
        source: source.into(),
        who,
        what,
        request: None,
    }
}

/// The job's failures from the alert's lookback to its resolve, runs of the same exception
/// class folded into their first and last occurrence (a restart loop's messages differ only
/// in a record number or an attempt).
fn failures(held: &Held<'_>, entries: &mut Vec<Entry>, unplaced: &mut Vec<String>) {
    let Some(history) = held.history else {
        if held.incident.job.is_some() {
            unplaced.push("the job's failures (the bot kept no exception history for it)".into());
        }
        return;
    };
    let inc = held.incident;
    let from = inc.firing_since - Duration::minutes(LOOKBACK_MINUTES);
    let to = inc.resolved_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
    let window: Vec<(&KeptFailure, DateTime<Utc>)> = history
        .entries
        .iter()
        .filter_map(|f| Some((f, Utc.timestamp_millis_opt(f.timestamp).single()?)))
        .filter(|(_, at)| *at >= from && *at <= to)
        .collect();
    if history.started_truncated {
        unplaced.push("failures before the first one the bot saw: Flink had already dropped them when the bot first looked".into());
    }
    let dropped = history.seen.saturating_sub(history.entries.len() as u64);
    if dropped > 0 {
        unplaced.push(format!(
            "{dropped} failure(s) the bot saw but no longer keeps (it keeps the first and the newest)"
        ));
    }
    let mut i = 0;
    while i < window.len() {
        let (first, at) = window[i];
        let mut j = i + 1;
        while j < window.len() && same_cause(window[j].0, first) {
            j += 1;
        }
        entries.push(raw(
            at,
            Kind::Failure,
            "flink exception history",
            None,
            format!("job failed: {}", cause(first)),
        ));
        if j - i > 1 {
            let (last, last_at) = window[j - 1];
            entries.push(raw(
                last_at,
                Kind::FailureRepeated,
                "flink exception history",
                None,
                format!(
                    "{} again: {} times in all, the last: {}",
                    last.class,
                    j - i,
                    cause(last)
                ),
            ));
        }
        i = j;
    }
}

fn same_cause(a: &KeptFailure, b: &KeptFailure) -> bool {
    a.class == b.class && a.exception_name == b.exception_name
}

fn cause(f: &KeptFailure) -> String {
    let mut s = f.class.clone();
    if !f.message.is_empty() {
        s.push_str(": ");
        s.push_str(first_line(&f.message));
    }
    if let Some(tm) = &f.task_manager {
        s.push_str(&format!(" (on {tm})"));
    }
    s
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// What the incident's note says that no request on the timeline accounts for.
fn noted(held: &Held<'_>, unplaced: &mut Vec<String>) {
    let acked: BTreeSet<&str> = held
        .requests
        .iter()
        .filter(|r| r.plan.kind.slug() == "acknowledge")
        .map(|r| r.approval.requester.name.as_str())
        .collect();
    if let Some(by) = &held.note.acknowledged_by {
        if !acked.contains(by.as_str()) {
            unplaced.push(format!(
                "acknowledged by {by} (the request that did it is no longer stored)"
            ));
        }
    }
}

/// How times are written in the story: UTC, to the second.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}
