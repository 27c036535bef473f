//! Diagnosis: from the root cause, the checkpoint facts and the alert name, decide which failure
//! pattern this is. Pure functions only; the table of patterns is the runbook's index.

use serde::Serialize;

use crate::enrich::Facts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    HeapOom,
    DirectOom,
    MetaspaceOom,
    CheckpointTimeout,
    CheckpointDeclined,
    Serialization,
    UserCodeBug,
    TaskmanagerLost,
    KafkaUnavailable,
    SinkThrottled,
    Timeout,
    Backpressure,
    WatermarkStall,
    DataSkew,
    RestartLoop,
    IncompatibleState,
    Unknown,
}

impl Pattern {
    /// File name of the pattern's template under `responses/patterns/`.
    pub fn slug(self) -> &'static str {
        match self {
            Pattern::HeapOom => "heap_oom",
            Pattern::DirectOom => "direct_oom",
            Pattern::MetaspaceOom => "metaspace_oom",
            Pattern::CheckpointTimeout => "checkpoint_timeout",
            Pattern::CheckpointDeclined => "checkpoint_declined",
            Pattern::Serialization => "serialization",
            Pattern::UserCodeBug => "user_code_bug",
            Pattern::TaskmanagerLost => "taskmanager_lost",
            Pattern::KafkaUnavailable => "kafka_unavailable",
            Pattern::SinkThrottled => "sink_throttled",
            Pattern::Timeout => "timeout",
            Pattern::Backpressure => "backpressure",
            Pattern::WatermarkStall => "watermark_stall",
            Pattern::DataSkew => "data_skew",
            Pattern::RestartLoop => "restart_loop",
            Pattern::IncompatibleState => "incompatible_state",
            Pattern::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub pattern: Pattern,
    pub slug: &'static str,
    /// One line for humans, e.g. "Heap memory exhausted".
    pub title: String,
    /// What matched, e.g. "root cause java.lang.OutOfMemoryError: Java heap space".
    pub evidence: String,
}

pub fn diagnose(alert_name: &str, facts: &Facts) -> Diagnosis {
    let _ = alert_name;
    if let Some(rc) = &facts.root_cause {
        return Diagnosis {
            pattern: Pattern::Unknown,
            slug: Pattern::Unknown.slug(),
            title: "Unrecognised failure".into(),
            evidence: format!("root cause {}: {}", rc.class, rc.message),
        };
    }
    Diagnosis {
        pattern: Pattern::Unknown,
        slug: Pattern::Unknown.slug(),
        title: "No failure pattern recognised".into(),
        evidence: String::new(),
    }
}
