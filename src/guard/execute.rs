//! Running an approved plan's effect against Flink or Alertmanager, following it to its end.
//! Every effect is safe to start again after a restart: savepoints and stops carry the
//! request's own `triggerId` (Flink answers a repeat with the first operation), a cancel of a
//! cancelled job is a no-op, dumps only read; a silence is never created twice (see `silence`).

use std::time::Duration;

use chrono::Utc;

use super::done::Done;
use super::request::Request;
use super::{Attachment, Guard};
use crate::action::{render_thread_dump, Effect, SavepointFormat, DUMP_FILE_CAP_BYTES};
use crate::flink::actions::{CancelOutcome, SavepointStatus};
use crate::flink::FlinkClient;

/// A savepoint that has not finished by then is reported as failed (Flink may still finish it).
const SAVEPOINT_LIMIT: Duration = Duration::from_secs(15 * 60);
/// How long a stopped or cancelled job may take to reach its final state.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(500);

pub type Outcome = (Result<Done, String>, Vec<Attachment>);

pub async fn execute(guard: &Guard, req: &Request, resumed: bool) -> Outcome {
    let plan = &req.plan;
    if req.approval.dry_run {
        return (Ok(Done::DryRun { calls: calls(req) }), vec![]);
    }
    let client = guard.clusters.get(&plan.cluster);
    let job = plan.job_id.as_str();
    match (&plan.effect, client) {
        (Effect::Acknowledge, _) => (
            Ok(Done::Acknowledged {
                by: req.approval.requester.name.clone(),
            }),
            vec![],
        ),
        (Effect::Silence { minutes }, _) => (silence(guard, req, *minutes, resumed).await, vec![]),
        (Effect::Unsilence { silence_id }, _) => match &guard.silences {
            Some(s) => (
                s.expire(silence_id)
                    .await
                    .map(|()| Done::Unsilenced {
                        id: silence_id.clone(),
                    })
                    .map_err(|e| problem("Alertmanager", &e)),
                vec![],
            ),
            None => (Err("no Alertmanager is configured".into()), vec![]),
        },
        (_, None) => (
            Err(format!("cluster {} is not configured", plan.cluster)),
            vec![],
        ),
        (
            Effect::TriggerSavepoint {
                target_dir,
                format,
                trigger_id,
            },
            Some(c),
        ) => (
            savepoint(c, job, target_dir, *format, trigger_id, None, req, resumed)
                .await
                .map(|location| Done::Savepoint { location }),
            vec![],
        ),
        (
            Effect::StopWithSavepoint {
                target_dir,
                drain,
                format,
                trigger_id,
            },
            Some(c),
        ) => {
            let taken = savepoint(
                c,
                job,
                target_dir,
                *format,
                trigger_id,
                Some(*drain),
                req,
                resumed,
            )
            .await;
            let outcome = match taken {
                Ok(location) => settle(c, job)
                    .await
                    .map(|state| Done::Stopped { location, state }),
                Err(e) => Err(e),
            };
            (outcome, vec![])
        }
        (Effect::Cancel, Some(c)) => (cancel(c, job).await, vec![]),
        (Effect::ThreadDumps { task_managers, .. }, Some(c)) => dumps(c, task_managers).await,
    }
}

fn calls(req: &Request) -> String {
    if req.plan.calls.is_empty() {
        req.plan.summary.clone()
    } else {
        req.plan
            .calls
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Triggers (or, with the same trigger id, re-attaches to) the savepoint and polls it to its
/// end; its location. `stop`: `Some(drain)` for stop-with-savepoint. After a restart (`resumed`) the trigger
/// is looked up first: a stopped job cannot be stopped again, and its savepoint is the answer.
#[allow(clippy::too_many_arguments)]
async fn savepoint(
    c: &FlinkClient,
    job: &str,
    dir: &str,
    format: SavepointFormat,
    trigger: &str,
    stop: Option<bool>,
    req: &Request,
    resumed: bool,
) -> Result<String, String> {
    let known = resumed
        && matches!(
            c.savepoint_status(job, trigger).await,
            Ok(SavepointStatus::Completed { .. }
                | SavepointStatus::Failed { .. }
                | SavepointStatus::InProgress)
        );
    if resumed && !known {
        if let Ok(Some(location)) = c
            .savepoint_since(job, req.created_at.timestamp_millis())
            .await
        {
            return Ok(location);
        }
    }
    let triggered = if known {
        Ok(trigger.to_string())
    } else {
        match stop {
            None => c.trigger_savepoint(job, dir, format, trigger).await,
            Some(drain) => {
                c.stop_with_savepoint(job, dir, drain, format, trigger)
                    .await
            }
        }
    };
    if let Err(e) = triggered {
        return Err(format!("Flink refused the trigger: {}", e.brief()));
    }
    let started = tokio::time::Instant::now();
    loop {
        match c.savepoint_status(job, trigger).await {
            Ok(SavepointStatus::Completed { location }) => return Ok(location),
            Ok(SavepointStatus::Failed { cause }) => {
                return Err(format!("the savepoint failed: {cause}"))
            }
            // Flink no longer knows the trigger (its cache expired while we were down): the
            // job's checkpoint history still shows a savepoint taken since the request.
            Ok(SavepointStatus::Unknown) => {
                let since = req.created_at.timestamp_millis();
                return match c.savepoint_since(job, since).await {
                    Ok(Some(location)) => Ok(location),
                    _ => Err("Flink no longer knows this savepoint and shows none taken since the request".into()),
                };
            }
            Ok(SavepointStatus::InProgress) | Err(_) => {}
        }
        if started.elapsed() > SAVEPOINT_LIMIT {
            return Err(
                "the savepoint did not finish within 15 min; Flink may still complete it".into(),
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn cancel(c: &FlinkClient, job: &str) -> Result<Done, String> {
    match c.cancel(job).await {
        Ok(CancelOutcome::Accepted) => settle(c, job).await.map(|state| Done::Cancelled { state }),
        Ok(CancelOutcome::AlreadyTerminal { state }) => Ok(Done::AlreadyEnded {
            state: state.unwrap_or_else(|| "terminal".into()),
        }),
        Ok(CancelOutcome::NotFound) => Err("Flink does not know this job any more".into()),
        Err(e) => Err(format!("Flink refused the cancel: {}", e.brief())),
    }
}

/// Waits for the job to reach a final state; its state is the check after the action.
async fn settle(c: &FlinkClient, job: &str) -> Result<String, String> {
    let started = tokio::time::Instant::now();
    let mut last = String::from("unknown");
    while started.elapsed() < SETTLE_LIMIT {
        if let Ok(d) = c.job(job).await {
            if matches!(
                d.state.as_str(),
                "FINISHED" | "CANCELED" | "FAILED" | "SUSPENDED"
            ) {
                return Ok(d.state);
            }
            last = d.state;
        }
        tokio::time::sleep(POLL).await;
    }
    Err(format!("the job was still {last} a minute later"))
}

async fn dumps(c: &FlinkClient, task_managers: &[String]) -> Outcome {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    match c.jobmanager_thread_dump().await {
        Ok(d) => files.push(dump_file("JobManager", "jobmanager", &d)),
        Err(e) => notes.push(format!("JobManager: {}", e.brief())),
    }
    for tm in task_managers {
        match c.taskmanager_thread_dump(tm).await {
            Ok(d) => files.push(dump_file(
                &format!("TaskManager {tm}"),
                &format!("taskmanager-{}", short(tm)),
                &d,
            )),
            Err(e) => notes.push(format!("TaskManager {tm}: {}", e.brief())),
        }
    }
    let done = Done::Dumps {
        attached: files.len(),
        cut: files
            .iter()
            .filter_map(|f| f.note.as_ref().map(|n| format!("{}: {n}", f.name)))
            .collect(),
        missing: notes,
    };
    let outcome = if files.is_empty() {
        Err(done.to_string())
    } else {
        Ok(done)
    };
    (outcome, files)
}

fn dump_file(source: &str, stem: &str, d: &crate::flink::types::ThreadDump) -> Attachment {
    let rendered = render_thread_dump(
        source,
        d.thread_infos
            .iter()
            .map(|t| (t.thread_name.as_str(), t.stringified.as_str())),
        DUMP_FILE_CAP_BYTES,
    );
    Attachment {
        name: format!("{stem}-threads.txt"),
        note: rendered.truncated().then(|| {
            format!(
                "cut to {} of {} threads",
                rendered.threads_shown, rendered.threads_total
            )
        }),
        bytes: rendered.text.into_bytes(),
    }
}

fn short(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect()
}

/// Creates the silence. Never twice: after a restart in the middle (the request was Running)
/// Alertmanager may already have it, so the bot says so instead of creating a second one.
async fn silence(
    guard: &Guard,
    req: &Request,
    minutes: u32,
    resumed: bool,
) -> Result<Done, String> {
    let Some(s) = &guard.silences else {
        return Err("no Alertmanager is configured (alertmanager.url)".into());
    };
    if resumed {
        return Err(format!(
            "interrupted by a restart before Alertmanager confirmed; look for a silence with comment \"flink-chatops request {}\" before silencing again",
            req.id
        ));
    }
    if req.labels.is_empty() {
        return Err("the alert's labels are unknown, so there is nothing to match".into());
    }
    let now = Utc::now();
    let comment = match (&req.link, &req.incident_id) {
        (Some(link), _) => format!("flink-chatops request {}: {link}", req.id),
        (None, Some(i)) => format!("flink-chatops request {} for incident {i}", req.id),
        (None, None) => format!("flink-chatops request {}", req.id),
    };
    let silence = s.silence_for(
        &req.labels,
        now,
        minutes,
        &req.approval.requester.name,
        &comment,
    );
    let until = silence.ends_at;
    s.create(&silence)
        .await
        .map(|id| Done::Silenced { id, until })
        .map_err(|e| problem("Alertmanager", &e))
}

fn problem(what: &str, e: &dyn std::fmt::Display) -> String {
    tracing::warn!(error = %e, "{what} call failed");
    format!("{what} did not accept it (see the bot's log)")
}
