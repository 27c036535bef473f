//! The cause in Flink's logs, when the REST answers end in a generic failure (see
//! `facts::log_wants::wants`): the JobManager's log first, then the failing task's TaskManager's,
//! each read from its end (at most [`MAX_LOG_BYTES`] per file) within the enrichment's one
//! deadline. What was read, or why nothing could be, goes on the page either way.

use crate::facts::log_wants::LogWant;
use crate::facts::logs::{self, LogFacts, LogQuery};
use crate::flink::{FlinkClient, FlinkError, LogTail};

use super::Deadline;

/// The end of a log file that is read: a few minutes of a busy cluster's JobManager (the test
/// clusters log ~0.5 MiB a minute with five jobs failing in a loop).
pub const MAX_LOG_BYTES: usize = 1024 * 1024;

/// Looks in the logs for `want`'s failure of `job_id`.
pub(super) async fn look(
    client: &FlinkClient,
    deadline: Deadline,
    job_id: &str,
    want: &LogWant,
) -> LogFacts {
    let mut tried = Vec::new();
    let mut mentions = vec![job_id.to_string()];
    mentions.extend(want.task.clone());
    let jm = deadline.bound(search(client, None, &mentions, want)).await;
    match jm {
        Ok(Found::Cause(facts)) => return *facts,
        Ok(Found::Nothing(read)) => tried.push(read),
        Err(e) => tried.push(format!("the JobManager's log could not be read ({e})")),
    }
    if let Some(tm) = &want.task_manager {
        let found = deadline
            .bound(search(client, Some(tm), &mentions, want))
            .await;
        match found {
            Ok(Found::Cause(facts)) => return *facts,
            Ok(Found::Nothing(read)) => tried.push(read),
            Err(e) => tried.push(format!("TaskManager {tm}'s log could not be read ({e})")),
        }
    }
    LogFacts {
        cause: None,
        read_from: None,
        not_found: Some(tried.join("; ")),
    }
}

enum Found {
    Cause(Box<LogFacts>),
    /// What was read, in words.
    Nothing(String),
}

async fn search(
    client: &FlinkClient,
    tm: Option<&str>,
    mentions: &[String],
    want: &LogWant,
) -> Result<Found, FlinkError> {
    let whose = match tm {
        None => "the JobManager's".to_string(),
        Some(id) => format!("TaskManager {id}'s"),
    };
    let list = match tm {
        None => client.jobmanager_logs().await?,
        Some(id) => client.taskmanager_logs(id).await?,
    };
    let files = logs::files_to_read(&logs::files_of(&list, tm.is_some()), want.at_ms);
    let Some(current) = files.first() else {
        return Ok(Found::Nothing(format!(
            "{whose} REST API serves no log file (it may log to the console only)"
        )));
    };
    let read = |name: String| async move {
        match tm {
            None => client.jobmanager_log_tail(&name, MAX_LOG_BYTES).await,
            Some(id) => client.taskmanager_log_tail(id, &name, MAX_LOG_BYTES).await,
        }
    };
    let tail = read(current.name.clone()).await?;
    let offset_ms = logs::clock_offset(&tail.text, current.mtime_ms);
    let mut read_from = vec![describe(&current.name, &tail)];
    let mut text = tail.text.clone();
    // A current file too young for the failure: its rotated predecessor holds the start.
    if !tail.cut && !logs::reaches_back(&tail.text, want.at_ms, offset_ms) {
        if let Some(older) = files.get(1) {
            let before = read(older.name.clone()).await?;
            read_from.push(describe(&older.name, &before));
            text = format!("{}{}", before.text, text);
        }
    }
    let query = LogQuery {
        mentions: mentions.to_vec(),
        at_ms: want.at_ms,
        offset_ms,
        known: want.known.clone(),
    };
    let read_from = format!("{whose} log {}", read_from.join(" and "));
    Ok(match logs::find_cause(&text, &query) {
        Some(cause) => Found::Cause(Box::new(LogFacts {
            cause: Some(cause),
            read_from: Some(read_from),
            not_found: None,
        })),
        None => Found::Nothing(format!(
            "{read_from} names no error of this job {}around {}",
            if want.known.is_some() {
                "beyond what Flink's REST API says "
            } else {
                ""
            },
            chrono::DateTime::from_timestamp_millis(want.at_ms)
                .map(|t| t.format("%H:%M:%S UTC").to_string())
                .unwrap_or_default()
        )),
    })
}

/// "`x.log` (last 1.0 MiB of 2.2 MiB)" or "`x.log` (all 80 KiB)".
fn describe(name: &str, tail: &LogTail) -> String {
    let kept = tail.text.len() as u64;
    let total = tail.total_bytes;
    if tail.cut {
        format!(
            "`{name}` (last {} of {})",
            logs::size(kept),
            logs::size(total)
        )
    } else {
        format!("`{name}` (all {})", logs::size(total))
    }
}
