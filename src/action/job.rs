//! What an action is about and what it will do: the job as it is now, the Flink calls, the effect
//! and the plan an approval is bound to. Shared by the planners (`plan.rs`, `threaddump.rs`),
//! which each import these and none of each other's types.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{ActionKind, SavepointFormat};

/// What the caller knows about the job (and its cluster) when the action is requested.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobSnapshot {
    /// Flink job id (32 hex digits); empty when the alert names no job (thread dump, silence).
    pub id: String,
    pub name: Option<String>,
    /// Flink's job state as reported (`RUNNING`, `RESTARTING`, `FAILED`, ...).
    pub state: String,
    /// Age of the last completed checkpoint; `None` when the job has none.
    pub last_completed_checkpoint_age_secs: Option<i64>,
    /// Flink's cluster-wide `execution.checkpointing.savepoint-dir` (the only default the REST
    /// handler honours), from `FlinkClient::default_savepoint_dir`.
    pub flink_savepoint_dir: Option<String>,
    /// The TaskManagers to dump: those of the failing task, else those running the job.
    pub task_managers: Vec<TaskManagerHealth>,
    /// The Flink Kubernetes Operator's resource that runs the job, if one does (see
    /// `action::operator`): stop and cancel then go through it, not through REST.
    #[serde(default)]
    pub operator: Option<super::operator::Operated>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    Get,
    Post,
    Patch,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        })
    }
}

/// One REST call exactly as the executor will send it (path relative to the cluster's base).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(body) = &self.body {
            write!(f, " {body}")?;
        }
        Ok(())
    }
}

/// What the executor does; the fields are the parameters the approval is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    TriggerSavepoint {
        target_dir: String,
        format: SavepointFormat,
        trigger_id: String,
    },
    StopWithSavepoint {
        target_dir: String,
        drain: bool,
        format: SavepointFormat,
        trigger_id: String,
    },
    Cancel,
    /// The JobManager always, then these TaskManagers; `struggling` is the subset `confirm`
    /// asks about (leave them out if the answer is no).
    ThreadDumps {
        task_managers: Vec<String>,
        struggling: Vec<String>,
    },
    Silence {
        minutes: u32,
    },
    Unsilence {
        silence_id: String,
    },
    Acknowledge,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub kind: ActionKind,
    pub cluster: String,
    pub job_id: String,
    pub effect: Effect,
    /// One line for people: "Savepoint of harness-healthy on prod".
    pub summary: String,
    /// The Flink calls, shown verbatim to approvers (empty for silence and acknowledge).
    pub calls: Vec<Call>,
    /// State and checkpoint age, shown before a destructive action.
    pub facts: Option<String>,
    pub warning: Option<String>,
    /// A question to ask before running ("... is struggling: dump it anyway?").
    pub confirm: Option<String>,
}

impl Plan {
    /// What an approval is bound to: a digest of the action, cluster, job and effect (with
    /// its parameters and trigger id). An approval given for one binding counts for no other.
    pub fn binding(&self) -> String {
        let bound = json!({
            "kind": self.kind,
            "cluster": self.cluster,
            "job": self.job_id,
            "effect": self.effect,
        });
        hex::encode(Sha256::digest(bound.to_string().as_bytes()))
    }

    /// The approval text: summary, each call, then facts, warning and question.
    pub fn shown(&self) -> String {
        let mut lines = vec![self.summary.clone()];
        lines.extend(self.calls.iter().map(|c| format!("`{c}`")));
        lines.extend(self.facts.clone());
        lines.extend(self.warning.as_ref().map(|w| format!("⚠ {w}")));
        lines.extend(self.confirm.clone());
        lines.join("\n")
    }
}

pub(crate) fn job_words(job: &JobSnapshot) -> String {
    match &job.name {
        Some(name) => format!("job {name}"),
        None if job.id.is_empty() => "the job".into(),
        None => format!("job {}", job.id),
    }
}

/// TaskManager ids look like `10.0.0.7:6122-3f9a1c` or `flink-taskmanager-1-1`.
pub fn is_task_manager_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_'))
}

/// What Flink tells about one TaskManager's health; every fact is optional because each comes
/// from a separate call that may fail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskManagerHealth {
    pub id: String,
    /// `host:port` of the failing task, from the exceptions history.
    pub endpoint: Option<String>,
    pub heartbeat_age_ms: Option<i64>,
    pub heap_used_bytes: Option<i64>,
    pub heap_max_bytes: Option<i64>,
    /// JVM process CPU load, 0..1 (`Status.JVM.CPU.Load`).
    pub cpu_load: Option<f64>,
    /// Live threads (`Status.JVM.Threads.Count`): the size of the dump.
    pub threads: Option<i64>,
    /// Cumulative since the TaskManager started: context, not a verdict.
    pub gc_count: Option<i64>,
    pub gc_time_ms: Option<i64>,
}
