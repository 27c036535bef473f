//! Which TaskManager was lost, when, and what became of the jobs that ran on it (pure).
//!
//! Flink says so in the exception history of every job that had tasks on it: the failure's text
//! names the TaskManager ("TaskManager with id … is no longer reachable." when its process is
//! gone, "Heartbeat of TaskManager with id … timed out." when it hangs; 1.20 wraps the first in a
//! `ResourceManagerException` and writes "The heartbeat of …"), and the entry carries its
//! `taskManagerId` and `endpoint`. The cluster's `/taskmanagers` and `/overview` say whether it
//! came back and what capacity is left.

use serde::Serialize;

use super::root_cause::from_entry;
use crate::flink::types::{ClusterOverview, ExceptionEntry, Exceptions, JobSummary, TaskManagers};

/// One job's answers, as enrichment gathered them.
pub struct JobView<'a> {
    pub job: &'a JobSummary,
    pub exceptions: &'a Exceptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskManagerLoss {
    /// Flink's id of the TaskManager, e.g. `127.0.0.1:39153-043da1` (host:port-suffix).
    pub id: String,
    /// Its data endpoint as Flink reported it (`localhost:44145`), when known.
    pub endpoint: Option<String>,
    /// The host part of the id.
    pub host: String,
    /// When the first job noticed (epoch ms).
    pub lost_at_ms: i64,
    /// "no longer reachable" or "heartbeat timed out".
    pub how: &'static str,
    /// Whether a TaskManager with this id is registered again (a network blip, not a crash).
    pub registered_again: bool,
    pub jobs: Vec<AffectedJob>,
    pub cluster: Capacity,
    /// Other TaskManagers lost in the same window (the newest loss is the one described).
    pub also_lost: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffectedJob {
    pub id: String,
    pub name: String,
    pub state: String,
    /// Failures of the job after the loss (each was followed by a restart unless it ended).
    pub failures_since: usize,
    /// What the job did since, in a word: `recovered`, `restarting`, `failed`, or its state.
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub task_managers: i64,
    pub slots_total: i64,
    pub slots_free: i64,
}

/// A lost TaskManager as one exception entry (or one of its concurrent ones) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub id: String,
    pub endpoint: Option<String>,
    pub at_ms: i64,
    pub how: &'static str,
}

/// Whether this failure is a TaskManager loss, and which one.
pub fn mention(entry: &ExceptionEntry) -> Option<Mention> {
    std::iter::once(entry)
        .chain(entry.concurrent.iter())
        .find_map(|e| {
            let rc = from_entry(e);
            rc.chain.iter().find_map(|link| {
                let (id, how) = lost_id(&link.message)?;
                Some(Mention {
                    id: e.task_manager_id.clone().unwrap_or(id),
                    endpoint: e.endpoint.clone(),
                    at_ms: e.timestamp,
                    how,
                })
            })
        })
}

/// Whether a root cause is Flink reporting a TaskManager lost (any link of its chain), or the
/// missing slots that follow one (1.20 fails the job with `NoResourceAvailableException` while
/// no replacement has registered yet).
pub fn names_a_loss(rc: &super::root_cause::RootCause) -> bool {
    rc.chain.iter().any(|l| lost_id(&l.message).is_some())
        || lost_id(&rc.message).is_some()
        || rc.class.ends_with(".NoResourceAvailableException")
}

/// The TaskManager id in Flink's loss messages (both versions).
fn lost_id(message: &str) -> Option<(String, &'static str)> {
    let (_, rest) = message.split_once("TaskManager with id ")?;
    let id = rest.split_whitespace().next()?.trim_end_matches('.');
    let how = if rest.contains("is no longer reachable") {
        "no longer reachable"
    } else if rest.contains("timed out") {
        "heartbeat timed out"
    } else {
        return None;
    };
    (!id.is_empty()).then(|| (id.to_string(), how))
}

/// The newest TaskManager loss at or after `since_ms` across the jobs, with what each job that
/// had tasks on it did since and the cluster's capacity now; `None` when no job reports one.
pub fn decide(
    jobs: &[JobView<'_>],
    registered: &TaskManagers,
    overview: &ClusterOverview,
    since_ms: i64,
) -> Option<TaskManagerLoss> {
    let mut mentions: Vec<(usize, Mention)> = jobs
        .iter()
        .enumerate()
        .flat_map(|(i, j)| {
            j.exceptions
                .history
                .entries
                .iter()
                .filter_map(mention)
                .map(move |m| (i, m))
        })
        .filter(|(_, m)| m.at_ms >= since_ms)
        .collect();
    let newest = mentions.iter().max_by_key(|(_, m)| m.at_ms)?.1.clone();
    let mut also_lost: Vec<String> = mentions
        .iter()
        .map(|(_, m)| m.id.clone())
        .filter(|id| *id != newest.id)
        .collect();
    also_lost.sort();
    also_lost.dedup();
    mentions.retain(|(_, m)| m.id == newest.id);
    let lost_at_ms = mentions.iter().map(|(_, m)| m.at_ms).min()?;
    let endpoint = mentions.iter().find_map(|(_, m)| m.endpoint.clone());
    let mut affected: Vec<usize> = mentions.iter().map(|(i, _)| *i).collect();
    affected.sort();
    affected.dedup();
    let jobs = affected
        .into_iter()
        .map(|i| affected_job(&jobs[i], &newest.id, lost_at_ms))
        .collect();
    Some(TaskManagerLoss {
        host: newest
            .id
            .split(':')
            .next()
            .unwrap_or(&newest.id)
            .to_string(),
        registered_again: registered.taskmanagers.iter().any(|t| t.id == newest.id),
        id: newest.id,
        endpoint,
        lost_at_ms,
        how: newest.how,
        jobs,
        cluster: Capacity {
            task_managers: overview.taskmanagers,
            slots_total: overview.slots_total,
            slots_free: overview.slots_available,
        },
        also_lost,
    })
}

fn affected_job(view: &JobView<'_>, tm_id: &str, lost_at_ms: i64) -> AffectedJob {
    // The loss itself is one failure of the job; count what came after it.
    let failures_since = view
        .exceptions
        .history
        .entries
        .iter()
        .filter(|e| e.timestamp > lost_at_ms)
        .filter(|e| mention(e).is_none_or(|m| m.id != tm_id))
        .count();
    let j = view.job;
    let outcome = match j.state.as_str() {
        "RUNNING" if j.tasks.total > 0 && j.tasks.running == j.tasks.total => "recovered",
        "RUNNING" | "RESTARTING" | "CREATED" | "INITIALIZING" | "RECONCILING" => "restarting",
        "FAILING" | "FAILED" => "failed",
        "CANCELED" | "CANCELLING" => "cancelled",
        "FINISHED" => "finished",
        _ => "unknown",
    };
    AffectedJob {
        id: j.jid.clone(),
        name: j.name.clone(),
        state: j.state.clone(),
        failures_since,
        outcome,
    }
}

#[cfg(test)]
#[path = "taskmanager_tests.rs"]
mod tests;
