//! The Flink calls that act: savepoint, stop-with-savepoint, cancel, thread dumps, and the
//! look-ups an action needs first (job snapshot for `action::plan`, the TaskManagers of the
//! failing task and their health). They use `flink.action_timeout_ms`, not enrichment's shorter
//! deadline. Triggers carry a caller-chosen `triggerId` (see `action::trigger_id`), so a retry
//! after a lost answer returns the first operation instead of starting a second one, for as long
//! as Flink keeps the trigger (`rest.async.store-duration`, 5 min by default, JobManager memory).

use std::time::Duration;

use serde_json::{json, Value};

use super::client::{classify, first_error, segment};
use super::types::*;
use super::{FlinkClient, FlinkError};
use crate::action::plan::is_task_manager_id;
use crate::action::{JobSnapshot, SavepointFormat, TaskManagerHealth};

/// Where a savepoint (or the savepoint of a stop) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavepointStatus {
    InProgress,
    Completed {
        location: String,
    },
    /// Flink's own message (innermost cause); may name paths, so log it and summarise in chat.
    Failed {
        cause: String,
    },
    /// Flink does not know the trigger: older than `rest.async.store-duration`, or the
    /// JobManager restarted. Look at the job's checkpoint history instead.
    Unknown,
}

/// What a cancel request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// 202: cancellation started (also for a job that is already CANCELED).
    Accepted,
    /// 409: the job already ended in another terminal state (FAILED, FINISHED).
    AlreadyTerminal { state: Option<String> },
    /// 404: the cluster does not know the job (wrong cluster, or gone from its history).
    NotFound,
}

/// The cluster-wide default savepoint directory keys: 2.x, then the 1.x name.
const SAVEPOINT_DIR_KEYS: [&str; 2] = [
    "execution.checkpointing.savepoint-dir",
    "state.savepoints.dir",
];

impl FlinkClient {
    /// Deadline of the calls in this module (default: the enrichment deadline).
    pub fn with_action_timeout(mut self, timeout: Duration) -> FlinkClient {
        self.action_timeout = timeout;
        self
    }

    /// Flink's own default savepoint directory, if the cluster sets one.
    pub async fn default_savepoint_dir(&self) -> Result<Option<String>, FlinkError> {
        let entries: Vec<ConfigEntry> = self.get("jobmanager/config").await?;
        Ok(SAVEPOINT_DIR_KEYS.iter().find_map(|key| {
            entries
                .iter()
                .find(|e| e.key == *key && !e.value.trim().is_empty())
                .map(|e| e.value.clone())
        }))
    }

    /// `POST /jobs/:id/savepoints`; returns the trigger id Flink acknowledged.
    pub async fn trigger_savepoint(
        &self,
        job_id: &str,
        target_dir: &str,
        format: SavepointFormat,
        trigger_id: &str,
    ) -> Result<String, FlinkError> {
        let body = json!({
            "target-directory": target_dir,
            "cancel-job": false,
            "formatType": format.flink_name(),
            "triggerId": segment(trigger_id)?,
        });
        let path = format!("jobs/{}/savepoints", segment(job_id)?);
        self.trigger(&path, body).await
    }

    /// `POST /jobs/:id/stop`: a savepoint, then the job ends FINISHED.
    pub async fn stop_with_savepoint(
        &self,
        job_id: &str,
        target_dir: &str,
        drain: bool,
        format: SavepointFormat,
        trigger_id: &str,
    ) -> Result<String, FlinkError> {
        let body = json!({
            "targetDirectory": target_dir,
            "drain": drain,
            "formatType": format.flink_name(),
            "triggerId": segment(trigger_id)?,
        });
        let path = format!("jobs/{}/stop", segment(job_id)?);
        self.trigger(&path, body).await
    }

    /// `GET /jobs/:id/savepoints/:triggerId` (savepoints and stops alike).
    pub async fn savepoint_status(
        &self,
        job_id: &str,
        trigger_id: &str,
    ) -> Result<SavepointStatus, FlinkError> {
        let path = format!(
            "jobs/{}/savepoints/{}",
            segment(job_id)?,
            segment(trigger_id)?
        );
        let (status, bytes) = self.send(reqwest::Method::GET, &path, None).await?;
        if status == 404 {
            return Ok(SavepointStatus::Unknown);
        }
        let op: AsyncOperation = decode(status, &bytes)?;
        Ok(match (op.status.id.as_str(), op.operation) {
            ("IN_PROGRESS", _) => SavepointStatus::InProgress,
            (
                _,
                Some(SavepointOperation {
                    location: Some(location),
                    ..
                }),
            ) => SavepointStatus::Completed { location },
            (
                _,
                Some(SavepointOperation {
                    failure_cause: Some(cause),
                    ..
                }),
            ) => SavepointStatus::Failed {
                cause: innermost_cause(&cause),
            },
            (other, _) => {
                return Err(FlinkError::Decode(format!(
                    "savepoint status {other:?} without location or cause"
                )))
            }
        })
    }

    /// `PATCH /jobs/:id?mode=cancel`.
    pub async fn cancel(&self, job_id: &str) -> Result<CancelOutcome, FlinkError> {
        let path = format!("jobs/{}?mode=cancel", segment(job_id)?);
        let (status, bytes) = self.send(reqwest::Method::PATCH, &path, None).await?;
        match status {
            200..=299 => Ok(CancelOutcome::Accepted),
            404 => Ok(CancelOutcome::NotFound),
            409 => Ok(CancelOutcome::AlreadyTerminal {
                state: terminal_state(&first_error(&bytes)),
            }),
            _ => Err(FlinkError::Status {
                status,
                body: first_error(&bytes),
            }),
        }
    }

    pub async fn jobmanager_thread_dump(&self) -> Result<ThreadDump, FlinkError> {
        let (status, bytes) = self
            .send(reqwest::Method::GET, "jobmanager/thread-dump", None)
            .await?;
        decode(status, &bytes)
    }

    pub async fn taskmanager_thread_dump(&self, tm_id: &str) -> Result<ThreadDump, FlinkError> {
        let path = format!("taskmanagers/{}/thread-dump", tm_segment(tm_id)?);
        let (status, bytes) = self.send(reqwest::Method::GET, &path, None).await?;
        decode(status, &bytes)
    }

    pub async fn taskmanagers(&self) -> Result<TaskManagers, FlinkError> {
        self.get("taskmanagers").await
    }

    /// Heartbeat, heap, GC, CPU and thread count of one TaskManager; facts that cannot be read
    /// stay `None` (only an unknown TaskManager is an error).
    pub async fn task_manager_health(
        &self,
        tm_id: &str,
        endpoint: Option<String>,
    ) -> Result<TaskManagerHealth, FlinkError> {
        let id = tm_segment(tm_id)?;
        let details: TaskManagerDetails = self.get(&format!("taskmanagers/{id}")).await?;
        let metrics: Vec<Metric> = self
            .get(&format!(
                "taskmanagers/{id}/metrics?get=Status.JVM.CPU.Load,Status.JVM.Threads.Count"
            ))
            .await
            .unwrap_or_default();
        let metric = |name: &str| {
            metrics
                .iter()
                .find(|m| m.id == name)
                .and_then(|m| m.value.as_deref())
                .and_then(|v| v.parse::<f64>().ok())
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        let jvm = details.metrics.as_ref();
        let gc = jvm.and_then(|m| m.garbage_collectors.iter().find(|g| g.name == "All"));
        Ok(TaskManagerHealth {
            id: details.id,
            endpoint,
            heartbeat_age_ms: heartbeat_age_ms(details.last_heartbeat, now_ms),
            heap_used_bytes: jvm.and_then(|m| m.heap_used),
            heap_max_bytes: jvm.and_then(|m| m.heap_max),
            cpu_load: metric("Status.JVM.CPU.Load"),
            threads: metric("Status.JVM.Threads.Count").map(|n| n as i64),
            gc_count: gc.map(|g| g.count),
            gc_time_ms: gc.map(|g| g.time),
        })
    }

    /// The TaskManagers to dump for a job, with their health: those named by the newest
    /// exception that has one (the failing task), else those running the job's subtasks. Only
    /// TaskManagers still registered are returned (a dead one cannot be dumped).
    pub async fn task_managers_of_job(
        &self,
        job_id: &str,
    ) -> Result<Vec<TaskManagerHealth>, FlinkError> {
        let registered = self.taskmanagers().await?.taskmanagers;
        let mut picked: Vec<(String, Option<String>)> = Vec::new();
        if let Ok(ex) = self.exceptions(job_id).await {
            let newest = ex.history.entries.iter().find_map(|e| {
                let mut found: Vec<(String, Option<String>)> = std::iter::once(e)
                    .chain(e.concurrent.iter())
                    .filter_map(|x| Some((x.task_manager_id.clone()?, x.endpoint.clone())))
                    .collect();
                found.dedup();
                (!found.is_empty()).then_some(found)
            });
            picked = newest.unwrap_or_default();
        }
        picked.retain(|(id, _)| registered.iter().any(|t| &t.id == id));
        if picked.is_empty() {
            let job = self.job(job_id).await?;
            for v in &job.vertices {
                let path = format!(
                    "jobs/{}/vertices/{}/taskmanagers",
                    segment(job_id)?,
                    segment(&v.id)?
                );
                let Ok(vt) = self.get::<VertexTaskManagers>(&path).await else {
                    continue;
                };
                for t in vt.taskmanagers {
                    if let Some(id) = t.taskmanager_id {
                        if !picked.iter().any(|(p, _)| *p == id) {
                            picked.push((id, t.endpoint));
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (id, endpoint) in picked {
            match self.task_manager_health(&id, endpoint.clone()).await {
                Ok(h) => out.push(h),
                Err(_) => out.push(TaskManagerHealth {
                    id,
                    endpoint,
                    ..Default::default()
                }),
            }
        }
        Ok(out)
    }

    /// Everything `action::plan` needs about a job. `with_task_managers` adds the TaskManagers
    /// to dump (a few more calls; only thread dumps need them).
    pub async fn job_snapshot(
        &self,
        job_id: &str,
        with_task_managers: bool,
    ) -> Result<JobSnapshot, FlinkError> {
        let job = self.job(job_id).await?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let age = match self.checkpoints(job_id).await {
            Ok(c) => c.latest.completed.map(|cp| {
                let at = if cp.latest_ack_timestamp > 0 {
                    cp.latest_ack_timestamp
                } else {
                    cp.trigger_timestamp
                };
                ((now_ms - at) / 1000).max(0)
            }),
            Err(_) => None,
        };
        let task_managers = if with_task_managers {
            self.task_managers_of_job(job_id).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(JobSnapshot {
            id: job.jid,
            name: Some(job.name),
            state: job.state,
            last_completed_checkpoint_age_secs: age,
            flink_savepoint_dir: self.default_savepoint_dir().await.unwrap_or(None),
            task_managers,
        })
    }

    async fn trigger(&self, path: &str, body: Value) -> Result<String, FlinkError> {
        let (status, bytes) = self.send(reqwest::Method::POST, path, Some(body)).await?;
        let answer: TriggerResponse = decode(status, &bytes)?;
        Ok(answer.request_id)
    }

    /// One call under the action deadline; any status comes back for the caller to read.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Vec<u8>), FlinkError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| FlinkError::Decode(format!("bad path {path}: {e}")))?;
        let mut request = self
            .authorize(self.http.request(method, url))
            .timeout(self.action_timeout);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let ms = self.action_timeout.as_millis() as u64;
        let response = request.send().await.map_err(|e| classify(e, ms))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| classify(e, ms))?;
        Ok((status, bytes.to_vec()))
    }
}

fn decode<T: serde::de::DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, FlinkError> {
    if !(200..300).contains(&status) {
        return Err(FlinkError::Status {
            status,
            body: first_error(bytes),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| FlinkError::Decode(e.to_string()))
}

fn tm_segment(id: &str) -> Result<&str, FlinkError> {
    if is_task_manager_id(id) {
        Ok(id)
    } else {
        Err(FlinkError::Decode(format!(
            "{id:?} is not a TaskManager id"
        )))
    }
}

/// Flink reports the last heartbeat's time in a field named `timeSinceLastHeartbeat`; accept a
/// real duration too, should a version ever fix the name's meaning.
fn heartbeat_age_ms(value: i64, now_ms: i64) -> Option<i64> {
    match value {
        v if v <= 0 => None,
        v if v > 1_000_000_000_000 => Some((now_ms - v).max(0)),
        v => Some(v),
    }
}

/// The innermost `Caused by:` of a Java stack trace, else its first line.
fn innermost_cause(cause: &FailureCause) -> String {
    let trace = &cause.stack_trace;
    let line = trace
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Caused by: "))
        .next_back()
        .or_else(|| trace.lines().next())
        .unwrap_or(&cause.class);
    line.chars().take(300).collect()
}

/// "... already reached another terminal state (FAILED)." -> FAILED
fn terminal_state(message: &str) -> Option<String> {
    let (_, rest) = message.rsplit_once('(')?;
    let state = rest.split(')').next()?;
    (!state.is_empty() && state.bytes().all(|b| b.is_ascii_uppercase())).then(|| state.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_field_is_a_timestamp() {
        assert_eq!(
            heartbeat_age_ms(1_795_240_075_163, 1_795_240_080_163),
            Some(5_000)
        );
        assert_eq!(heartbeat_age_ms(4_000, 1_795_240_080_163), Some(4_000));
        assert_eq!(heartbeat_age_ms(0, 1), None);
    }

    #[test]
    fn terminal_state_is_read_from_the_409_message() {
        assert_eq!(
            terminal_state("org.apache.flink.runtime.rest.handler.RestHandlerException: Job cancellation failed because the job has already reached another terminal state (FAILED)."),
            Some("FAILED".into())
        );
        assert_eq!(terminal_state("Job could not be found."), None);
    }

    #[test]
    fn failure_cause_is_the_innermost_cause() {
        let cause = FailureCause {
            class: "java.util.concurrent.CompletionException".into(),
            stack_trace: "java.util.concurrent.CompletionException: wrapper\n\tat x\nCaused by: java.io.IOException: disk full\n\tat y\n".into(),
        };
        assert_eq!(innermost_cause(&cause), "java.io.IOException: disk full");
    }
}
