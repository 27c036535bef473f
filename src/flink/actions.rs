//! The Flink calls that act: savepoint, stop-with-savepoint, cancel, thread dumps (the look-ups
//! before them are in `lookups`). They use `flink.action_timeout_ms`, not enrichment's shorter
//! deadline. Triggers carry a caller-chosen `triggerId` (see `action::trigger_id`), so a retry
//! after a lost answer returns the first operation instead of starting a second one, for as long
//! as Flink keeps the trigger (`rest.async.store-duration`, 5 min by default, JobManager memory).
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{classify, first_error, segment};
use super::lookups::tm_segment;
use super::types::*;
use super::{FlinkClient, FlinkError};
use crate::action::SavepointFormat;

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

impl FlinkClient {
    /// Deadline of the calls in this module (default: the enrichment deadline).
    pub fn with_action_timeout(mut self, timeout: Duration) -> FlinkClient {
        self.action_timeout = timeout;
        self
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
