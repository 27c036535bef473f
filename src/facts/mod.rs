//! What is known about a job, in the shape templates read: the pure types and decisions that
//! enrichment fills in and diagnosis, rendering, commands and actions read. No I/O here.

use serde::Serialize;

pub mod bottleneck;
mod checkpoints;
pub mod frames;
pub mod history;
pub mod log_wants;
pub mod logs;
pub mod rescale;
pub mod restarts;
pub mod root_cause;
mod target;
pub mod taskmanager;
pub mod watermarks;

pub use bottleneck::{Bottleneck, Skew};
pub use checkpoints::checkpoint_facts;
use root_cause::RootCause;
pub use target::{target, Target};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    pub cluster: Option<ClusterFacts>,
    pub job: Option<JobFacts>,
    pub root_cause: Option<RootCause>,
    pub checkpoints: Option<CheckpointFacts>,
    pub restarts: Option<i64>,
    /// Flink's `downtime` gauge at the look: how long the current outage has lasted (0 while
    /// the job runs); `None` when Flink did not say.
    pub downtime_ms: Option<i64>,
    pub backpressure: Option<BackpressureFacts>,
    /// The first failure of the job as the bot kept it, beyond Flink's own history.
    pub history: Option<history::HistoryFacts>,
    /// The TaskManager lost most recently, with the jobs that ran on it and the cluster now.
    pub task_manager_lost: Option<taskmanager::TaskManagerLoss>,
    /// The source subtask that holds the job's watermark back (watermark alerts only).
    pub watermark: Option<watermarks::WatermarkFacts>,
    /// The cause in Flink's logs, looked for when the REST answers end in a generic failure.
    pub log: Option<logs::LogFacts>,
    /// The Flink Kubernetes Operator's resource that runs the job (stop and cancel go through it).
    pub operator: Option<crate::action::operator::Operated>,
    /// The cluster answered the bot before (since it started): if it does not now, it went down.
    pub cluster_answered_before: bool,
    /// The rescale (adaptive scheduler) that explains the latest restart, when no failure does.
    pub rescale: Option<rescale::RescaleFacts>,
    /// Facts that could not be fetched, each with the reason ("exceptions: no answer within 2000 ms").
    pub missing: Vec<String>,
    /// Something the reader should know about the lookup itself (e.g. no job labels).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterFacts {
    pub name: String,
    pub ui_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobFacts {
    pub id: String,
    pub name: Option<String>,
    pub state: Option<String>,
    pub start_time_ms: Option<i64>,
    pub ui_url: String,
    pub exceptions_url: String,
    pub checkpoints_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointFacts {
    pub completed: i64,
    pub failed: i64,
    pub in_progress: i64,
    pub restored: i64,
    pub last_completed: Option<CompletedCheckpoint>,
    pub last_failed: Option<FailedCheckpoint>,
    /// What the job's current run started from (`latest.restored`): None for a fresh start.
    pub last_restored: Option<RestoredCheckpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoredCheckpoint {
    pub id: i64,
    pub restored_at_ms: i64,
    /// Where the state lives (`file:/…/savepoint-7c2e5a-…`); shown, since rolling back needs it.
    pub path: Option<String>,
    pub is_savepoint: bool,
    /// "savepoint `file:/…/savepoint-7c2e5a-…` (id 12) at 2026-12-01 03:12 UTC"
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompletedCheckpoint {
    pub id: i64,
    pub completed_at_ms: i64,
    /// Seconds between completion and the moment the facts were gathered.
    pub age_secs: i64,
    pub duration_ms: i64,
    pub size_bytes: i64,
    pub path: Option<String>,
    pub is_savepoint: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedCheckpoint {
    pub id: i64,
    pub failed_at_ms: Option<i64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackpressureFacts {
    /// Vertex with the highest back-pressure ratio.
    pub vertex: String,
    pub level: String,
    pub ratio: f64,
    /// The busy vertex downstream that holds the back-pressured ones back (see `bottleneck`).
    pub bottleneck: Option<Bottleneck>,
    /// The most skewed vertex, bottleneck or not (see `bottleneck::hottest`): data skew.
    pub hot: Option<bottleneck::HotSubtask>,
}

impl BackpressureFacts {
    /// One line for a diagnosis: "backpressure high (93%) at `A`; bottleneck `B` (99% busy)".
    pub fn evidence(&self) -> String {
        let mut line = format!(
            "backpressure {} ({:.0}%) at {}",
            self.level,
            self.ratio * 100.0,
            self.vertex
        );
        if let Some(b) = &self.bottleneck {
            line.push_str(&format!(
                "; bottleneck `{}` ({}% busy)",
                b.vertex, b.busy_pct
            ));
        }
        if let Some(h) = &self.hot {
            line.push_str(&format!("; hot subtask: {}", h.line()));
        }
        line
    }
}

impl Facts {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}
