//! The cause in Flink's logs, when the REST answers end in a generic failure (see
//! `facts::logs::wants`): the JobManager's log first, then the failing task's TaskManager's,
//! each read from its end (at most [`MAX_LOG_BYTES`] per file) within the enrichment's one
//! deadline. What was read, or why nothing could be, goes on the page either way.

use crate::facts::logs::{self, LogFacts, LogFile, LogQuery, LogWant};
use crate::flink::{FlinkClient, FlinkError, LogList, LogTail};

use super::Deadline;

/// The end of a log file that is read: a few minutes of a busy cluster's JobManager (the test
/// clusters log ~0.5 MiB a minute with five jobs failing in a loop).
pub const MAX_LOG_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    JobManager,
    TaskManager,
}

/// A process's logs in a listing that may hold both kinds (a standalone cluster on one host
/// writes them into one directory, and each process lists the whole directory).
fn is_task_manager_log(name: &str) -> bool {
    name.contains("taskexecutor") || name.contains("taskmanager")
}

fn files_of(list: &LogList, role: Role) -> Vec<LogFile> {
    let all = list.logs.iter().map(|e| LogFile {
        name: e.name.clone(),
        size: e.size,
        mtime_ms: e.mtime.unwrap_or(0),
    });
    let tm: Vec<LogFile> = all
        .clone()
        .filter(|f| is_task_manager_log(&f.name))
        .collect();
    match role {
        Role::JobManager => all.filter(|f| !is_task_manager_log(&f.name)).collect(),
        // A TaskManager's listing without such names is its own.
        Role::TaskManager if tm.is_empty() => all.collect(),
        Role::TaskManager => tm,
    }
}

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
    let jm = deadline
        .bound(search(client, Role::JobManager, None, &mentions, want))
        .await;
    match jm {
        Ok(Found::Cause(facts)) => return *facts,
        Ok(Found::Nothing(read)) => tried.push(read),
        Err(e) => tried.push(format!("the JobManager's log could not be read ({e})")),
    }
    if let Some(tm) = &want.task_manager {
        let found = deadline
            .bound(search(client, Role::TaskManager, Some(tm), &mentions, want))
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
    role: Role,
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
    let files = logs::files_to_read(&files_of(&list, role), want.at_ms);
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
    };
    let read_from = format!("{whose} log {}", read_from.join(" and "));
    Ok(match logs::find_cause(&text, &query) {
        Some(cause) => Found::Cause(Box::new(LogFacts {
            cause: Some(cause),
            read_from: Some(read_from),
            not_found: None,
        })),
        None => Found::Nothing(format!(
            "{read_from} names no error of this job around {}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flink::LogEntry;

    fn list(names: &[&str]) -> LogList {
        LogList {
            logs: names
                .iter()
                .map(|n| LogEntry {
                    name: n.to_string(),
                    size: 1,
                    mtime: Some(1),
                })
                .collect(),
        }
    }

    #[test]
    fn each_process_reads_its_own_files_of_a_shared_directory() {
        // What both test clusters' JobManagers and TaskManagers list (one log directory).
        let shared = list(&[
            "flink-chatops-taskexecutor-0-vm.out",
            "flink-chatops-taskexecutor-0-vm.log",
            "flink-chatops-standalonesession-0-vm.out",
            "flink-chatops-standalonesession-0-vm.log",
        ]);
        let names = |role| -> Vec<String> {
            files_of(&shared, role)
                .into_iter()
                .filter(|f| f.name.ends_with(".log"))
                .map(|f| f.name)
                .collect()
        };
        assert_eq!(
            names(Role::JobManager),
            ["flink-chatops-standalonesession-0-vm.log"]
        );
        assert_eq!(
            names(Role::TaskManager),
            ["flink-chatops-taskexecutor-0-vm.log"]
        );
        // A TaskManager container lists only its own, whatever it is called.
        let own = list(&["flink.log"]);
        assert_eq!(files_of(&own, Role::TaskManager).len(), 1);
    }
}
