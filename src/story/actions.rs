//! A guarded request's steps on the timeline: from its audit entries (the chained record of who
//! did what), else from its stored record.

use chrono::{TimeZone, Utc};

use super::{Entry, Kind};
use crate::audit::{self, EventKind};
use crate::guard::{Request, Run};

/// A request's steps from its audit entries (the chained record of who did what).
pub(super) fn from_audit(e: &audit::Entry, req: &Request) -> Option<Entry> {
    let at = Utc.timestamp_millis_opt(e.at_ms).single()?;
    let ev = &e.event;
    let who = ev.actor.as_ref().map(|a| a.name.clone());
    let action = ev.action.as_deref().unwrap_or("action");
    let target = target(req);
    let detail = |k: &str| {
        ev.detail
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let (kind, what) = match ev.kind {
        EventKind::Requested => (Kind::Requested, format!("requested {action} of {target}")),
        EventKind::Approved if who.is_none() => (
            Kind::Approved,
            format!(
                "{action} approved: {}",
                detail("reason").unwrap_or_else(|| "no approval needed".into())
            ),
        ),
        EventKind::Approved => match ev.detail.get("confirmed").and_then(|v| v.as_bool()) {
            Some(yes) => (
                Kind::Approved,
                format!(
                    "confirmed {action}{}",
                    if yes {
                        ""
                    } else {
                        " without the struggling TaskManagers"
                    }
                ),
            ),
            None => {
                let votes = ev.detail.get("votes").and_then(|v| v.as_u64());
                let needed = ev.detail.get("needed").and_then(|v| v.as_u64());
                let count = match (votes, needed) {
                    (Some(v), Some(n)) => format!(" ({v} of {n})"),
                    _ => String::new(),
                };
                (Kind::Approved, format!("approved {action}{count}"))
            }
        },
        EventKind::Denied => (Kind::Denied, format!("denied {action}")),
        EventKind::Expired => (
            Kind::Expired,
            format!("{action} request expired unanswered"),
        ),
        EventKind::Executing => (Kind::Started, format!("{action} started on {target}")),
        EventKind::Succeeded => (
            Kind::Succeeded,
            format!(
                "{action} done: {}",
                detail("result").unwrap_or_else(|| "succeeded".into())
            ),
        ),
        EventKind::Failed => (
            Kind::Failed,
            format!(
                "{action} failed: {}",
                detail("reason").unwrap_or_else(|| "no reason recorded".into())
            ),
        ),
        EventKind::Refused => (
            Kind::Refused,
            format!(
                "a click on {action} was refused: {}",
                detail("reason").unwrap_or_default()
            ),
        ),
        // Not written for requests today; shown as the audit log names them.
        other => (Kind::Noted, format!("{} {action}", other.as_str())),
    };
    Some(Entry {
        n: 0,
        at,
        kind,
        source: format!("audit #{}", e.seq),
        who,
        what,
        request: Some(req.id.clone()),
    })
}

/// A request's steps from its stored record, when the audit log has none for it (a store
/// without the chain, or entries beyond what was read). The record keeps the last run state
/// only, so a finished request shows no start.
pub(super) fn from_request(req: &Request, entries: &mut Vec<Entry>) {
    let action = req.plan.kind.slug();
    let source = format!("request {}", req.id);
    let mut push = |at, kind, who: Option<String>, what: String| {
        entries.push(Entry {
            n: 0,
            at,
            kind,
            source: source.clone(),
            who,
            what,
            request: Some(req.id.clone()),
        })
    };
    push(
        req.created_at,
        Kind::Requested,
        Some(req.approval.requester.name.clone()),
        format!("requested {action} of {}", target(req)),
    );
    for v in &req.approval.votes {
        push(
            v.at,
            Kind::Approved,
            Some(v.by.name.clone()),
            format!("approved {action}"),
        );
    }
    match &req.run {
        Run::Running { since } => push(
            *since,
            Kind::Started,
            None,
            format!("{action} started on {}", target(req)),
        ),
        Run::Succeeded { result, at, .. } => push(
            *at,
            Kind::Succeeded,
            None,
            format!("{action} done: {result}"),
        ),
        Run::Failed { reason, at } => push(
            *at,
            Kind::Failed,
            None,
            format!("{action} failed: {reason}"),
        ),
        Run::Denied { by, at } => push(
            *at,
            Kind::Denied,
            Some(by.clone()),
            format!("denied {action}"),
        ),
        Run::Expired { at } => push(
            *at,
            Kind::Expired,
            None,
            format!("{action} request expired unanswered"),
        ),
        Run::Confirm | Run::Waiting | Run::Ready => {}
    }
}

fn target(req: &Request) -> String {
    format!("{}/{}", req.plan.cluster, req.plan.job_id)
}
