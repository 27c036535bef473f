//! Decide, before anyone approves, exactly what an action will do: the REST call as it will be
//! sent (shown to approvers verbatim), the preconditions, the savepoint directory, the warning for
//! destructive actions and Flink's `triggerId`. Pure: the caller gathers a [`JobSnapshot`] first,
//! and the executor runs the [`Effect`] through `flink::actions` / `silences`.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::job::job_words;
pub use super::job::{
    is_task_manager_id, Call, Effect, JobSnapshot, Method, Plan, TaskManagerHealth,
};
use super::{duration_words, ActionKind, Refusal, SavepointFormat};
use crate::config::ClusterConfig;

/// Longest silence offered from chat: a longer one hides the next real incident.
pub const MAX_SILENCE_MINUTES: u32 = 7 * 24 * 60;

/// Flink's `triggerId` for this request and action: 32 hex digits (Flink parses it as a 16-byte
/// `AbstractID` from hex, `TriggerId.fromHexString`), the same on every retry of the request and
/// different per action kind, because savepoints and stops share one trigger cache in which a
/// reused id is silently answered with the earlier operation.
pub fn trigger_id(request_id: &str, kind: &ActionKind) -> String {
    let mut h = Sha256::new();
    h.update(b"flink-chatops/trigger-id/v1\0");
    h.update(kind.slug().as_bytes());
    h.update(b"\0");
    h.update(request_id.as_bytes());
    hex::encode(&h.finalize()[..16])
}

pub fn plan(
    kind: &ActionKind,
    cluster: &ClusterConfig,
    job: &JobSnapshot,
    request_id: &str,
) -> Result<Plan, Refusal> {
    if kind.changes_job() && !is_job_id(&job.id) {
        return Err(Refusal::new(
            "no_job",
            "this alert does not name a Flink job, so there is nothing to act on",
        ));
    }
    let mut plan = Plan {
        kind: kind.clone(),
        cluster: cluster.name.clone(),
        job_id: job.id.clone(),
        effect: Effect::Acknowledge,
        summary: String::new(),
        calls: Vec::new(),
        facts: None,
        warning: None,
        confirm: None,
    };
    let (who, on) = (job_words(job), &cluster.name);
    match kind {
        ActionKind::Savepoint { format } => {
            require_running(job, "a savepoint")?;
            let target_dir = savepoint_dir(cluster, job)?;
            let trigger_id = trigger_id(request_id, kind);
            if let Some(op) = &job.operator {
                plan.warning = Some(unlisted_savepoint_warning(op, &trigger_id));
            }
            plan.summary = format!("Savepoint ({}) of {who} on {on}", format_words(*format));
            plan.calls.push(Call {
                method: Method::Post,
                path: format!("/jobs/{}/savepoints", job.id),
                body: Some(json!({
                    "target-directory": target_dir,
                    "cancel-job": false,
                    "formatType": format.flink_name(),
                    "triggerId": trigger_id,
                })),
            });
            plan.effect = Effect::TriggerSavepoint {
                target_dir,
                format: *format,
                trigger_id,
            };
        }
        ActionKind::StopWithSavepoint { drain, format } => {
            refuse_operated(job, "stop", "savepoint")?;
            require_running(job, "stop-with-savepoint")?;
            let target_dir = savepoint_dir(cluster, job)?;
            let trigger_id = trigger_id(request_id, kind);
            let drained = if *drain { ", drain" } else { "" };
            plan.summary = format!(
                "Stop {who} on {on} with a savepoint ({}{drained})",
                format_words(*format)
            );
            plan.calls.push(Call {
                method: Method::Post,
                path: format!("/jobs/{}/stop", job.id),
                body: Some(json!({
                    "targetDirectory": target_dir,
                    "drain": drain,
                    "formatType": format.flink_name(),
                    "triggerId": trigger_id,
                })),
            });
            plan.facts = Some(state_and_checkpoint(job));
            plan.warning = Some(stop_warning(*drain));
            plan.effect = Effect::StopWithSavepoint {
                target_dir,
                drain: *drain,
                format: *format,
                trigger_id,
            };
        }
        ActionKind::Cancel => {
            refuse_operated(job, "cancel", "stateless")?;
            refuse_cancel(job)?;
            plan.summary = format!("Cancel {who} on {on} (no savepoint)");
            plan.calls.push(Call {
                method: Method::Patch,
                path: format!("/jobs/{}?mode=cancel", job.id),
                body: None,
            });
            plan.facts = Some(state_and_checkpoint(job));
            plan.warning = Some(cancel_warning(job.last_completed_checkpoint_age_secs));
            plan.effect = Effect::Cancel;
        }
        ActionKind::ThreadDump => super::threaddump::plan_dumps(&mut plan, job),
        ActionKind::Silence { minutes } => {
            if *minutes == 0 || *minutes > MAX_SILENCE_MINUTES {
                return Err(Refusal::new(
                    "bad_duration",
                    format!(
                        "a silence lasts from 1 minute to {}",
                        duration_words(MAX_SILENCE_MINUTES)
                    ),
                ));
            }
            plan.summary = format!(
                "Silence this alert in Alertmanager for {}",
                duration_words(*minutes)
            );
            plan.effect = Effect::Silence { minutes: *minutes };
        }
        ActionKind::Unsilence { silence_id } => {
            if !crate::silences::is_silence_id(silence_id) {
                return Err(Refusal::new("bad_silence", "that is not a silence id"));
            }
            plan.summary = "Expire the silence of this alert".into();
            plan.effect = Effect::Unsilence {
                silence_id: silence_id.clone(),
            };
        }
        ActionKind::Acknowledge => plan.summary = "Acknowledge: you are on it".into(),
    }
    Ok(plan)
}

/// Stop and cancel of an operator-managed job: the operator would undo a REST cancel
/// (it resubmits the job from its last state) and would restore from an older savepoint than a
/// REST stop took, so the answer is the operator's own way, ready to paste. `upgrade_mode`
/// is the suspend that does what was asked: `savepoint` for a stop, `stateless` for a cancel.
fn refuse_operated(job: &JobSnapshot, verb: &str, upgrade_mode: &str) -> Result<(), Refusal> {
    let Some(op) = &job.operator else {
        return Ok(());
    };
    Err(Refusal::new(
        "operator_managed",
        format!(
            "{} is run by the Flink Kubernetes Operator ({}): a {verb} through Flink's REST API would be undone or forgotten by the operator, so nothing was called. Suspend it through the operator instead ({}):\n```\n{}\n```",
            job_words(job),
            op.words(),
            if upgrade_mode == "savepoint" {
                "it takes a savepoint first and resumes from it when `spec.job.state` is set back to `running`"
            } else {
                "without a savepoint; on resume it starts from its last checkpoint or empty state, as `upgradeMode` and `initialSavepointPath` say"
            },
            op.suspend_command(upgrade_mode)
        ),
    ))
}

/// A REST savepoint of an operator-managed job works, but the operator does not know of it.
fn unlisted_savepoint_warning(op: &super::operator::Operated, trigger_id: &str) -> String {
    // Any new value triggers the operator's savepoint; derive it from the trigger id so the same
    // request shows the same command.
    let nonce = u64::from_str_radix(&trigger_id[..12], 16).unwrap_or(1);
    format!(
        "the job is run by the Flink Kubernetes Operator ({}): it will not list this savepoint nor restore from it on its own; for one it records, run `{}`",
        op.words(),
        op.savepoint_command(nonce)
    )
}

fn refuse_cancel(job: &JobSnapshot) -> Result<(), Refusal> {
    match job.state.as_str() {
        "FINISHED" | "CANCELED" | "FAILED" => Err(Refusal::new(
            "job_finished",
            format!(
                "{} is already {}: there is nothing to cancel",
                job_words(job),
                job.state
            ),
        )),
        "CANCELLING" => Err(Refusal::new(
            "job_cancelling",
            format!("{} is already being cancelled", job_words(job)),
        )),
        _ => Ok(()),
    }
}

fn stop_warning(drain: bool) -> String {
    if drain {
        "stopping ends the job; drain first sends MAX_WATERMARK, so event-time windows and timers fire as if the input had ended".into()
    } else {
        "stopping ends the job until someone resumes it from the savepoint; if the savepoint fails, the job keeps running".into()
    }
}

fn require_running(job: &JobSnapshot, what: &str) -> Result<(), Refusal> {
    if job.state == "RUNNING" {
        return Ok(());
    }
    Err(Refusal::new(
        "job_not_running",
        format!(
            "{} is {}: {what} needs it RUNNING",
            job_words(job),
            if job.state.is_empty() {
                "in an unknown state"
            } else {
                &job.state
            }
        ),
    ))
}

/// The cluster's configured `savepoint_dir`, else Flink's own default, else a refusal.
fn savepoint_dir(cluster: &ClusterConfig, job: &JobSnapshot) -> Result<String, Refusal> {
    cluster
        .savepoint_dir
        .iter()
        .chain(job.flink_savepoint_dir.iter())
        .find(|d| !d.trim().is_empty())
        .cloned()
        .ok_or_else(|| {
            Refusal::new(
                "no_savepoint_dir",
                format!(
                    "no savepoint directory for cluster {}: set `savepoint_dir` for it in the bot's configuration, or Flink's `execution.checkpointing.savepoint-dir`",
                    cluster.name
                ),
            )
        })
}

fn format_words(format: SavepointFormat) -> &'static str {
    match format {
        SavepointFormat::Canonical => "canonical",
        SavepointFormat::Native => "native",
    }
}

fn state_and_checkpoint(job: &JobSnapshot) -> String {
    let checkpoint = match job.last_completed_checkpoint_age_secs {
        Some(age) => format!("last completed checkpoint {} ago", age_words(age)),
        None => "no completed checkpoint".into(),
    };
    format!("{} is {}; {checkpoint}", job_words(job), job.state)
}

fn cancel_warning(age_secs: Option<i64>) -> String {
    match age_secs {
        None => "the job has no completed checkpoint: cancelling loses all of its state".into(),
        Some(age) if age >= 60 => format!(
            "no completed checkpoint for {}: cancelling loses that work",
            age_words(age)
        ),
        Some(age) => format!(
            "last completed checkpoint {} ago: cancelling loses the work since then",
            age_words(age)
        ),
    }
}

/// "12 s", "42 min", "2 h 5 min".
pub fn age_words(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if (s / 60) % 60 == 0 => format!("{} h", s / 3600),
        s => format!("{} h {} min", s / 3600, (s / 60) % 60),
    }
}

fn is_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
