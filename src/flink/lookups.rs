//! Look-ups an action needs before it runs: the job snapshot `action::plan` decides on, Flink's
//! default savepoint directory, and the TaskManagers of the failing task with their health (so
//! the caller can ask before dumping one that is already struggling). Enrichment's deadline.

use super::client::segment;
use super::types::*;
use super::{FlinkClient, FlinkError};
use crate::action::operator::{self, Operated};
use crate::action::plan::is_task_manager_id;
use crate::action::{JobSnapshot, TaskManagerHealth};

/// The cluster-wide default savepoint directory keys: 2.x, then the 1.x name.
const SAVEPOINT_DIR_KEYS: [&str; 2] = [
    "execution.checkpointing.savepoint-dir",
    "state.savepoints.dir",
];

impl FlinkClient {
    /// Flink's own default savepoint directory, if the cluster sets one.
    pub async fn default_savepoint_dir(&self) -> Result<Option<String>, FlinkError> {
        let entries: Vec<ConfigEntry> = self.get("jobmanager/config").await?;
        Ok(savepoint_dir_of(&entries))
    }

    /// The Flink Kubernetes Operator's resource that runs this cluster's job: the configured
    /// one without a call, else what the JobManager's configuration says (`action::operator`).
    pub async fn operated(&self) -> Result<Option<Operated>, FlinkError> {
        if self.operator.is_some() {
            return Ok(operator::detect(self.operator.as_ref(), &[]));
        }
        if let Some(known) = self.operated.get() {
            return Ok(known.clone());
        }
        let entries: Vec<ConfigEntry> = self.get("jobmanager/config").await?;
        let found = operated_by(None, &entries);
        Ok(self.operated.get_or_init(|| found).clone())
    }

    /// The newest completed savepoint of the job triggered at or after `since_ms`, from its
    /// checkpoint statistics. For when `savepoint_status` answers `Unknown` because the trigger
    /// outlived `rest.async.store-duration` (the bot was down a while); after a JobManager
    /// failover the statistics are gone too, and only the savepoint directory can tell.
    pub async fn savepoint_since(
        &self,
        job_id: &str,
        since_ms: i64,
    ) -> Result<Option<String>, FlinkError> {
        let c = self.checkpoints(job_id).await?;
        Ok(c.latest
            .savepoint
            .iter()
            .chain(c.history.iter())
            .filter(|s| {
                s.is_savepoint && s.status == "COMPLETED" && s.trigger_timestamp >= since_ms
            })
            .max_by_key(|s| s.trigger_timestamp)
            .and_then(|s| s.external_path.clone()))
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
        // One read of the JobManager's configuration serves both the savepoint directory and
        // the operator; when it fails the job counts as not operator-managed unless configured.
        let entries: Vec<ConfigEntry> = self.get("jobmanager/config").await.unwrap_or_default();
        Ok(JobSnapshot {
            id: job.jid,
            name: Some(job.name),
            state: job.state,
            last_completed_checkpoint_age_secs: age,
            flink_savepoint_dir: savepoint_dir_of(&entries),
            task_managers,
            operator: operated_by(self.operator.as_ref(), &entries),
        })
    }
}

fn savepoint_dir_of(entries: &[ConfigEntry]) -> Option<String> {
    SAVEPOINT_DIR_KEYS.iter().find_map(|key| {
        entries
            .iter()
            .find(|e| e.key == *key && !e.value.trim().is_empty())
            .map(|e| e.value.clone())
    })
}

fn operated_by(
    configured: Option<&crate::config::OperatorConfig>,
    entries: &[ConfigEntry],
) -> Option<Operated> {
    let pairs: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    operator::detect(configured, &pairs)
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

pub(crate) fn tm_segment(id: &str) -> Result<&str, FlinkError> {
    if is_task_manager_id(id) {
        Ok(id)
    } else {
        Err(FlinkError::Decode(format!(
            "{id:?} is not a TaskManager id"
        )))
    }
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
}
