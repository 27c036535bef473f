//! The exception history the bot keeps beyond Flink's own (pure; the store does the I/O).
//!
//! Flink keeps the newest `web.exception-history-size` (16 by default) failures of a job in
//! memory and loses them when its JobManager restarts, so by the time someone looks at a restart
//! loop its first failure is gone. Each time the bot reads a job's history it merges what Flink
//! answered into its own record of the job: de-duplicated by timestamp and exception name,
//! bounded to [`KEPT`] entries, the oldest dropped first except the very first one, which is the
//! one an on-call engineer asks for ("what started this?").

use serde::{Deserialize, Serialize};

use super::frames::{Frame, Origin, Owner};
use super::root_cause::{from_entry, CauseLink, RootCause};
use crate::flink::types::ExceptionEntry;

/// Entries kept per job, the first one included.
pub const KEPT: usize = 200;
/// Longest message kept per cause link: a record stays small however long Flink's texts are.
const MESSAGE_CHARS: usize = 300;
/// Cause links kept per failure (outermost first, the root always last).
const CHAIN_LINKS: usize = 6;
/// Top frames of the root cause kept: enough to tell whose code threw it (`facts::frames`).
const ROOT_FRAMES: usize = 8;

/// One failure as the bot saw it, reduced to what a page and `/flink exceptions` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptFailure {
    /// Flink's timestamp of the entry (epoch ms); with `exception_name`, the entry's identity.
    pub timestamp: i64,
    pub exception_name: String,
    /// The root cause's class and message (the innermost `Caused by`, unwrapped).
    pub class: String,
    pub message: String,
    /// Outermost wrapper to root, messages shortened.
    #[serde(default)]
    pub chain: Vec<KeptLink>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub task_manager: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The root cause's top frames, as the JVM prints them without `at `.
    #[serde(default)]
    pub root_frames: Vec<String>,
}

impl KeptFailure {
    pub fn from_entry(entry: &ExceptionEntry) -> KeptFailure {
        let rc = from_entry(entry);
        let mut chain: Vec<KeptLink> = rc.chain.iter().map(short_link).collect();
        if chain.len() > CHAIN_LINKS {
            // Keep the outermost links and the root.
            let root = chain.pop().expect("chain is longer than CHAIN_LINKS");
            chain.truncate(CHAIN_LINKS - 1);
            chain.push(root);
        }
        KeptFailure {
            timestamp: entry.timestamp,
            exception_name: entry.exception_name.clone(),
            class: rc.class,
            message: truncate(&rc.message),
            chain,
            task: rc.task,
            task_manager: entry.task_manager_id.clone().or(rc.task_manager),
            endpoint: entry.endpoint.clone(),
            root_frames: rc
                .chain
                .last()
                .map(|l| {
                    l.frames
                        .iter()
                        .take(ROOT_FRAMES)
                        .map(Frame::display)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn same_failure(&self, other: &KeptFailure) -> bool {
        self.timestamp == other.timestamp && self.exception_name == other.exception_name
    }

    /// The failure as a root cause, for diagnosing it alone (`/flink exceptions`).
    pub fn root_cause(&self) -> RootCause {
        let last = self.chain.len().saturating_sub(1);
        let chain: Vec<CauseLink> = self
            .chain
            .iter()
            .enumerate()
            .map(|(i, l)| CauseLink {
                class: l.class.clone(),
                message: l.message.clone(),
                frames: if i == last {
                    self.root_frames
                        .iter()
                        .filter_map(|f| Frame::parse(&format!("at {f}")))
                        .collect()
                } else {
                    Vec::new()
                },
            })
            .collect();
        let mut rc = RootCause {
            class: self.class.clone(),
            message: self.message.clone(),
            chain,
            failure_labels: Default::default(),
            task: self.task.clone(),
            task_manager: self.task_manager.clone(),
            timestamp: Some(self.timestamp),
            unwrapped: false,
            stale: false,
            origin: Origin {
                thrown_by: Owner::Unknown,
                job_frame: None,
            },
            restore_source: None,
        };
        rc.locate(&[]);
        rc
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptLink {
    pub class: String,
    pub message: String,
}

/// The bot's record of one job's failures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobHistory {
    /// Oldest first; at most [`KEPT`]; `entries[0]` is the first failure the bot ever saw.
    pub entries: Vec<KeptFailure>,
    /// Distinct failures seen, including those dropped to stay within [`KEPT`].
    pub seen: u64,
    /// Newest timestamp among dropped entries: an entry at or before it is not new (it was
    /// kept once and dropped), so it is not counted again.
    #[serde(default)]
    pub dropped_through_ms: Option<i64>,
    /// Flink had already dropped older entries when the bot first looked, so `entries[0]` is
    /// the first failure the bot saw, not necessarily the job's first.
    #[serde(default)]
    pub started_truncated: bool,
}

/// Merges what Flink answered into the kept record; returns how many failures were new.
pub fn merge(
    history: &mut JobHistory,
    flink: &[ExceptionEntry],
    flink_truncated: bool,
    limit: usize,
) -> usize {
    if history.entries.is_empty() && history.seen == 0 {
        history.started_truncated = flink_truncated;
    }
    let mut fresh: Vec<KeptFailure> = flink
        .iter()
        .map(KeptFailure::from_entry)
        .filter(|f| history.dropped_through_ms.is_none_or(|t| f.timestamp > t))
        .collect();
    fresh.sort_by_key(|f| f.timestamp);
    fresh.dedup_by(|a, b| a.same_failure(b));
    fresh.retain(|f| !history.entries.iter().any(|k| k.same_failure(f)));
    let added = fresh.len();
    if added == 0 {
        return 0;
    }
    history.seen += added as u64;
    history.entries.extend(fresh);
    // Flink's answer may hold a failure older than what is kept (a read missed earlier).
    history.entries.sort_by_key(|f| f.timestamp);
    let limit = limit.max(2);
    if history.entries.len() > limit {
        let excess = history.entries.len() - limit;
        // Drop the oldest after the first.
        let dropped: Vec<KeptFailure> = history.entries.drain(1..1 + excess).collect();
        let newest_dropped = dropped.iter().map(|f| f.timestamp).max();
        history.dropped_through_ms = history.dropped_through_ms.max(newest_dropped);
    }
    added
}

/// What a page says about the kept history: the first failure of the loop and how many came
/// after it. `flink_has` is how many entries Flink itself still returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryFacts {
    pub first: KeptFailure,
    /// Failures seen after the first one.
    pub since_first: u64,
    /// Entries kept by the bot now.
    pub kept: usize,
    /// Kept entries Flink no longer returns (older than its oldest).
    pub beyond_flink: usize,
    /// The first failure may not be the job's first (Flink had dropped older ones already).
    pub first_seen_only: bool,
}

pub fn facts(history: &JobHistory, flink: &[ExceptionEntry]) -> Option<HistoryFacts> {
    let first = history.entries.first()?.clone();
    let flink_oldest = flink.iter().map(|e| e.timestamp).min();
    let beyond_flink = history
        .entries
        .iter()
        .filter(|k| flink_oldest.is_none_or(|t| k.timestamp < t))
        .count();
    Some(HistoryFacts {
        since_first: history.seen.saturating_sub(1),
        kept: history.entries.len(),
        beyond_flink,
        first_seen_only: history.started_truncated,
        first,
    })
}

impl HistoryFacts {
    /// Restarts the kept failures prove: each was followed by one, except the failure that
    /// ended a job FAILED. More than Flink's own history can show once it has dropped some.
    pub fn restarts_at_least(&self, job_state: Option<&str>) -> i64 {
        let failures = self.since_first as i64 + 1;
        if job_state == Some("FAILED") {
            failures - 1
        } else {
            failures
        }
    }

    /// "first failure 2026-12-01 03:02:11 UTC: `IllegalStateException`: poison; 37 failures seen since".
    pub fn line(&self) -> String {
        let label = if self.first_seen_only {
            "earliest failure the bot saw"
        } else {
            "first failure"
        };
        let simple = self.first.class.rsplit(['.', '$']).next().unwrap_or("");
        let mut line = format!("{label} {}: `{simple}`", utc(self.first.timestamp));
        if !self.first.message.is_empty() {
            line.push_str(&format!(": {}", self.first.message));
        }
        line.push_str(&format!("; {} failures seen since", self.since_first));
        if self.beyond_flink > 0 {
            line.push_str(&format!(
                " ({} kept by the bot beyond Flink's own history)",
                self.beyond_flink
            ));
        }
        line
    }
}

fn short_link(link: &CauseLink) -> KeptLink {
    KeptLink {
        class: link.class.clone(),
        message: truncate(&link.message),
    }
}

/// `2026-12-01 03:02:11 UTC`, as `render::helpers::human_time` writes it.
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MESSAGE_CHARS {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(MESSAGE_CHARS - 1).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
