//! `/flink logs <job> [taskmanager]`: the job's records of the JobManager's log (or of one
//! TaskManager's), as an attached file: the end of the current log file, read like a page's
//! log cause (at most 1 MiB from Flink), then only the records that name the job, the newest
//! within a size cap. Ephemeral unless `public`. The file is named after the job, never after a
//! path of the bot's own.

use serenity::all::{CommandOptionType, CreateCommandOption};

use super::JobQuery;
use crate::facts::logs;
use crate::flink::{FlinkClient, FlinkError, LogTail};
use crate::interact::jobs::KnownJob;
use crate::interact::reply::{File, Reply};
use crate::interact::InteractState;

/// Read from Flink per file, as enrichment does.
const READ_BYTES: usize = 1024 * 1024;
/// The attachment's size cap (Discord takes more; a chat answer should not).
pub const FILE_BYTES: usize = 256 * 1024;

pub fn option(clusters: &[String]) -> CreateCommandOption {
    super::job_subcommand(
        "logs",
        "The job's lines of the JobManager's (or a TaskManager's) log, as a file",
        clusters,
    )
    .add_sub_option(
        CreateCommandOption::new(
            CommandOptionType::String,
            "taskmanager",
            "TaskManager id (default: the JobManager)",
        )
        .max_length(128),
    )
}

pub async fn answer(state: &InteractState, q: &JobQuery, tm: Option<&str>) -> Reply {
    if let Some(id) = tm.filter(|id| !crate::action::plan::is_task_manager_id(id)) {
        return Reply::text(format!(
            "⚠ `{}` is not a TaskManager id (they look like `10.0.0.5:40501-c01a65`; `/flink exceptions` names them)",
            crate::message::truncate(id, 60)
        ));
    }
    let (job, client) = match super::job_and_client(state, q).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match read(client, &job, tm).await {
        Ok(Some((file, tail, mentions))) => run(&job, tm, &file, &tail, &mentions).public(q.public),
        Ok(None) => Reply::text(format!(
            "{} serves no log file (it may log to the console only).",
            whose(tm)
        )),
        Err(e) => Reply::text(format!(
            "{} could not be read for `{}`: {}",
            whose(tm),
            job.name,
            super::flink_problem(&e)
        )),
    }
}

fn whose(tm: Option<&str>) -> String {
    match tm {
        None => "The JobManager's log".into(),
        Some(id) => format!("TaskManager `{id}`'s log"),
    }
}

/// [`whose`] inside a sentence.
fn of_whom(tm: Option<&str>) -> String {
    match tm {
        None => "the JobManager's log".into(),
        Some(id) => format!("TaskManager `{id}`'s log"),
    }
}

/// The current log file's name and end, and what a record must name to be the job's: its id,
/// and (in a TaskManager's log, where tasks are named, not jobs) its vertices' names.
async fn read(
    client: &FlinkClient,
    job: &KnownJob,
    tm: Option<&str>,
) -> Result<Option<(String, LogTail, Vec<String>)>, FlinkError> {
    let list = match tm {
        None => client.jobmanager_logs().await?,
        Some(id) => client.taskmanager_logs(id).await?,
    };
    let Some(current) = logs::files_to_read(&logs::files_of(&list, tm.is_some()), 0)
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let mut mentions = vec![job.id.clone()];
    let tail = match tm {
        None => {
            client
                .jobmanager_log_tail(&current.name, READ_BYTES)
                .await?
        }
        Some(id) => {
            if let Ok(details) = client.job(&job.id).await {
                mentions.extend(
                    details
                        .vertices
                        .into_iter()
                        .map(|v| format!("{} (", v.name)),
                );
            }
            client
                .taskmanager_log_tail(id, &current.name, READ_BYTES)
                .await?
        }
    };
    Ok(Some((current.name, tail, mentions)))
}

/// The answer for a log read: the job's records as a file, with what was read and what cut.
pub fn run(
    job: &KnownJob,
    tm: Option<&str>,
    file: &str,
    tail: &LogTail,
    mentions: &[String],
) -> Reply {
    let read = if tail.cut {
        format!(
            "the last {} of {}",
            logs::size(tail.text.len() as u64),
            logs::size(tail.total_bytes)
        )
    } else {
        format!("all {}", logs::size(tail.total_bytes))
    };
    let found = logs::excerpt(&tail.text, mentions, FILE_BYTES);
    if found.records == 0 {
        return Reply::text(format!(
            "{} (`{file}`, {read}) has no record about `{}`.",
            whose(tm),
            job.name
        ));
    }
    let mut content = format!(
        "{} records about `{}` from {} (`{file}`, {read}).",
        found.records,
        job.name,
        of_whom(tm)
    );
    if found.dropped > 0 {
        content.push_str(&format!(
            " {} older records left out to keep the file under {}.",
            found.dropped,
            logs::size(FILE_BYTES as u64)
        ));
    }
    let safe: String = job
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let source = if tm.is_some() {
        "taskmanager"
    } else {
        "jobmanager"
    };
    Reply {
        content,
        files: vec![File {
            name: format!("{safe}-{source}.log"),
            bytes: found.text.into_bytes(),
        }],
        ephemeral: true,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JM_23: &str = include_str!("../../facts/testdata/logs/jm-2.3.0-checkpoint-storage.log");

    fn job() -> KnownJob {
        KnownJob {
            cluster: "flink23".into(),
            id: "7a2536208dea25838693235352f90ca8".into(),
            name: "orders/enrich v2".into(),
            state: "RUNNING".into(),
            start_time_ms: 0,
            end_time_ms: -1,
        }
    }

    #[test]
    fn the_jobs_records_as_a_file_named_after_the_job() {
        let tail = LogTail {
            text: JM_23.into(),
            total_bytes: 9_000_000,
            cut: true,
        };
        let mentions = [job().id];
        let r = run(
            &job(),
            None,
            "flink-standalonesession-0.log",
            &tail,
            &mentions,
        );
        assert!(r.ephemeral);
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files[0].name, "orders_enrich_v2-jobmanager.log");
        let text = String::from_utf8(r.files[0].bytes.clone()).unwrap();
        assert!(text.contains("FileAlreadyExistsException"));
        assert!(
            r.content.contains("records about `orders/enrich v2` from the JobManager's log (`flink-standalonesession-0.log`, the last 72 KiB of 8.6 MiB)"),
            "{}",
            r.content
        );
        let other = KnownJob {
            id: "0".repeat(32),
            ..job()
        };
        let none = run(
            &other,
            None,
            "x.log",
            &tail,
            std::slice::from_ref(&other.id),
        );
        assert!(none.files.is_empty());
        assert!(
            none.content.contains("has no record about"),
            "{}",
            none.content
        );
    }
}
