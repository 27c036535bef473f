//! Response shapes, lenient on purpose: fields differ between 1.20 and 2.x (compare the
//! captured answers of both versions in `src/facts/testdata/`), so everything not needed is
//! ignored and most fields default.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct JobsOverview {
    #[serde(default)]
    pub jobs: Vec<JobSummary>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobSummary {
    pub jid: String,
    pub name: String,
    pub state: String,
    #[serde(rename = "start-time", default)]
    pub start_time: i64,
    /// -1 while the job runs.
    #[serde(rename = "end-time", default)]
    pub end_time: i64,
    #[serde(default)]
    pub tasks: TaskCounts,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobDetails {
    pub jid: String,
    pub name: String,
    pub state: String,
    #[serde(rename = "start-time", default)]
    pub start_time: i64,
    #[serde(rename = "end-time", default)]
    pub end_time: i64,
    #[serde(default)]
    pub duration: i64,
    #[serde(default)]
    pub now: i64,
    #[serde(default)]
    pub vertices: Vec<Vertex>,
    /// The job graph: which vertex feeds which (the bottleneck search walks it downstream).
    #[serde(default)]
    pub plan: Option<JobGraph>,
}

/// `plan` of `/jobs/:id` (Flink's name; the job graph, not an action's `action::plan`): one node
/// per vertex (same ids), each naming the vertices it reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JobGraph {
    #[serde(default)]
    pub nodes: Vec<GraphNode>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphNode {
    pub id: String,
    /// Absent on sources.
    #[serde(default)]
    pub inputs: Vec<GraphInput>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphInput {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Vertex {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub parallelism: i64,
    #[serde(default)]
    pub status: String,
}

/// `/jobs/:id/exceptions`: 2.x has only `exceptionHistory`; 1.20 also has the legacy
/// `root-exception` / `all-exceptions` fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Exceptions {
    #[serde(rename = "exceptionHistory", default)]
    pub history: ExceptionHistory,
    #[serde(rename = "root-exception", default)]
    pub legacy_root_exception: Option<String>,
    #[serde(rename = "all-exceptions", default)]
    pub legacy_all: Vec<LegacyException>,
    #[serde(default)]
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExceptionHistory {
    #[serde(default)]
    pub entries: Vec<ExceptionEntry>,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExceptionEntry {
    #[serde(rename = "exceptionName", default)]
    pub exception_name: String,
    #[serde(default)]
    pub stacktrace: String,
    #[serde(default)]
    pub timestamp: i64,
    #[serde(rename = "failureLabels", default)]
    pub failure_labels: BTreeMap<String, String>,
    #[serde(rename = "taskName", default)]
    pub task_name: Option<String>,
    #[serde(rename = "taskManagerId", default)]
    pub task_manager_id: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(rename = "concurrentExceptions", default)]
    pub concurrent: Vec<ExceptionEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LegacyException {
    #[serde(default)]
    pub exception: String,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Checkpoints {
    #[serde(default)]
    pub counts: CheckpointCounts,
    #[serde(default)]
    pub latest: LatestCheckpoints,
    #[serde(default)]
    pub history: Vec<CheckpointSummary>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckpointCounts {
    #[serde(default)]
    pub restored: i64,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub in_progress: i64,
    #[serde(default)]
    pub completed: i64,
    #[serde(default)]
    pub failed: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LatestCheckpoints {
    #[serde(default)]
    pub completed: Option<CheckpointSummary>,
    #[serde(default)]
    pub savepoint: Option<CheckpointSummary>,
    #[serde(default)]
    pub failed: Option<CheckpointSummary>,
    #[serde(default)]
    pub restored: Option<RestoredCheckpoint>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckpointSummary {
    pub id: i64,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub is_savepoint: bool,
    #[serde(default)]
    pub trigger_timestamp: i64,
    #[serde(default)]
    pub latest_ack_timestamp: i64,
    #[serde(default)]
    pub end_to_end_duration: i64,
    #[serde(default)]
    pub checkpointed_size: i64,
    #[serde(default)]
    pub state_size: i64,
    #[serde(default)]
    pub external_path: Option<String>,
    #[serde(default)]
    pub failure_timestamp: Option<i64>,
    #[serde(default)]
    pub failure_message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RestoredCheckpoint {
    pub id: i64,
    #[serde(default)]
    pub restore_timestamp: i64,
    #[serde(default)]
    pub is_savepoint: bool,
    #[serde(default)]
    pub external_path: Option<String>,
}

/// One `{"id": ..., "value": ...}` item of a metrics answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Metric {
    pub id: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// `/jobs/:id/vertices/:vid/backpressure` (the first call may only start sampling).
#[derive(Debug, Clone, Deserialize)]
pub struct Backpressure {
    #[serde(default)]
    pub status: String,
    // Flink sends both `backpressureLevel` and `backpressure-level`; read one (an alias would
    // make serde see a duplicate field).
    #[serde(rename = "backpressureLevel", default)]
    pub level: Option<String>,
    #[serde(default)]
    pub subtasks: Vec<BackpressureSubtask>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BackpressureSubtask {
    /// The subtask index (if ever absent, the position in `subtasks` stands in).
    #[serde(default)]
    pub subtask: Option<i64>,
    #[serde(default)]
    pub ratio: f64,
    /// None when Flink does not measure busy time for the task (it then sends `"NaN"`).
    #[serde(rename = "busyRatio", default, deserialize_with = "lenient_ratio")]
    pub busy_ratio: Option<f64>,
}

/// A ratio Flink may send as a number or, unmeasured, as the string `"NaN"` (Jackson's way).
fn lenient_ratio<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ratio {
        Number(f64),
        Text(String),
    }
    Ok(match Option::<Ratio>::deserialize(d)? {
        Some(Ratio::Number(n)) => Some(n),
        Some(Ratio::Text(t)) => t.parse::<f64>().ok(),
        None => None,
    }
    .filter(|r| r.is_finite()))
}

// --- Shapes of the action endpoints (flink::actions) ---

/// `POST /jobs/:id/savepoints` and `/stop` answer `{"request-id": <triggerId>}` with 202.
#[derive(Debug, Clone, Deserialize)]
pub struct TriggerResponse {
    #[serde(rename = "request-id")]
    pub request_id: String,
}

/// `GET /jobs/:id/savepoints/:triggerId`: `operation` is null while IN_PROGRESS, then holds
/// `location` or `failure-cause`.
#[derive(Debug, Clone, Deserialize)]
pub struct AsyncOperation {
    pub status: AsyncStatus,
    #[serde(default)]
    pub operation: Option<SavepointOperation>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AsyncStatus {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SavepointOperation {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(rename = "failure-cause", default)]
    pub failure_cause: Option<FailureCause>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FailureCause {
    #[serde(default)]
    pub class: String,
    #[serde(rename = "stack-trace", default)]
    pub stack_trace: String,
}

/// `GET /jobmanager/thread-dump`, `GET /taskmanagers/:id/thread-dump`.
#[derive(Debug, Clone, Deserialize)]
pub struct ThreadDump {
    #[serde(rename = "threadInfos", default)]
    pub thread_infos: Vec<ThreadInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ThreadInfo {
    #[serde(rename = "threadName")]
    pub thread_name: String,
    #[serde(rename = "stringifiedThreadInfo", default)]
    pub stringified: String,
}

/// `GET /taskmanagers`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskManagers {
    #[serde(default)]
    pub taskmanagers: Vec<TaskManagerSummary>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaskManagerSummary {
    pub id: String,
    /// Despite its name, the epoch-ms time of the last heartbeat (1.20 and 2.3 alike).
    #[serde(rename = "timeSinceLastHeartbeat", default)]
    pub last_heartbeat: i64,
    #[serde(rename = "slotsNumber", default)]
    pub slots: i64,
    #[serde(rename = "freeSlots", default)]
    pub free_slots: i64,
}

/// `GET /taskmanagers/:id`: the summary plus JVM metrics.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskManagerDetails {
    pub id: String,
    #[serde(rename = "timeSinceLastHeartbeat", default)]
    pub last_heartbeat: i64,
    #[serde(default)]
    pub metrics: Option<TaskManagerMetrics>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaskManagerMetrics {
    #[serde(rename = "heapUsed", default)]
    pub heap_used: Option<i64>,
    #[serde(rename = "heapMax", default)]
    pub heap_max: Option<i64>,
    #[serde(rename = "garbageCollectors", default)]
    pub garbage_collectors: Vec<GarbageCollector>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GarbageCollector {
    pub name: String,
    #[serde(default)]
    pub count: i64,
    #[serde(default)]
    pub time: i64,
}

/// `GET /jobs/:id/vertices/:vid/taskmanagers`: where a vertex's subtasks run.
#[derive(Debug, Clone, Deserialize)]
pub struct VertexTaskManagers {
    #[serde(default)]
    pub taskmanagers: Vec<VertexTaskManager>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VertexTaskManager {
    #[serde(rename = "taskmanager-id", default)]
    pub taskmanager_id: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// One `{"key": ..., "value": ...}` of `GET /jobmanager/config`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigEntry {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// `GET /overview`: the cluster's capacity now (same keys in 1.20 and 2.3).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClusterOverview {
    #[serde(default)]
    pub taskmanagers: i64,
    #[serde(rename = "slots-total", default)]
    pub slots_total: i64,
    #[serde(rename = "slots-available", default)]
    pub slots_available: i64,
}

/// `tasks` of a `/jobs/overview` entry: how many of the job's tasks are in each state.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskCounts {
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub running: i64,
}

/// `/jobs/:id/vertices/:vid`: what each subtask read and wrote.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VertexDetails {
    #[serde(default)]
    pub subtasks: Vec<SubtaskDetails>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubtaskDetails {
    #[serde(default)]
    pub subtask: i64,
    #[serde(default)]
    pub metrics: Option<SubtaskIo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubtaskIo {
    #[serde(rename = "read-records", default)]
    pub read_records: i64,
    #[serde(rename = "write-records", default)]
    pub write_records: i64,
}
