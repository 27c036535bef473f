//! Diagnosis: from the root cause, the checkpoint facts and the alert name, decide which failure
//! pattern this is. Pure functions only; the table of patterns is the runbook's index.
//!
//! # Precedence
//!
//! A restart that the adaptive scheduler's rescale history shows as a rescale, with no failure
//! since, is [`Pattern::Rescale`] before any stage below (`facts::rescale` decides).
//!
//! The first stage that recognises something wins; within a stage the most specific rule comes
//! first (see `rules.rs`):
//!
//! 1. **The root cause** — the innermost `Caused by` — by class, then by its own message.
//!    State-compatibility rules open this stage, because their roots (`IllegalStateException:
//!    Failed to rollback to checkpoint/savepoint ...`, `InvalidClassException` while restoring)
//!    would otherwise read as a user-code bug or a plain serialization error.
//! 2. **The cause chain**, innermost to outermost, **by class only** (a matched class may read its
//!    own message to refine the verdict, e.g. `CheckpointException: ... expired`). A message that
//!    merely *mentions* an exception ("looks like: java.lang.OutOfMemoryError") is not that
//!    exception and is never matched.
//! 3. **Weak root classes** (`ClassNotFoundException`, `NoSuchMethodError`, ...): usually a
//!    packaging bug, but also the inner cause of Kryo errors, so the chain speaks first.
//! 4. **Failure labels** from Flink failure enrichers (`type=USER`, or `pattern=<slug>`).
//! 5. **Whose code threw the root** (`facts::frames`): the job's own exception class, or a JDK
//!    exception whose top frame outside the JDK is the job's, is a code bug. It comes after the
//!    class rules, so a serialization error or an OOM thrown from the job's code keeps its own
//!    runbook, and before the alert, because a known cause explains a restart loop.
//! 6. **The alert name** with the facts it implies: checkpoint alerts by the last failed
//!    checkpoint's message; watermark, lag/backpressure, skew, GC/heap, TaskManager and restart
//!    alerts by what they measure.
//! 7. **Facts alone**: a job in `RESTARTING` is a restart loop; HIGH backpressure is backpressure.
//! 8. Otherwise [`Pattern::Unknown`], whose template points at the alert's runbook.

mod classify;
mod rules;

#[cfg(test)]
mod origin_tests;
#[cfg(test)]
mod template_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod traces;

use serde::Serialize;

use crate::buttons::suggest::*;
use crate::buttons::Offer;

use crate::facts::Facts;

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
    Rescale,
    Unknown,
}

impl Pattern {
    pub const ALL: [Pattern; 18] = [
        Pattern::HeapOom,
        Pattern::DirectOom,
        Pattern::MetaspaceOom,
        Pattern::CheckpointTimeout,
        Pattern::CheckpointDeclined,
        Pattern::Serialization,
        Pattern::UserCodeBug,
        Pattern::TaskmanagerLost,
        Pattern::KafkaUnavailable,
        Pattern::SinkThrottled,
        Pattern::Timeout,
        Pattern::Backpressure,
        Pattern::WatermarkStall,
        Pattern::DataSkew,
        Pattern::RestartLoop,
        Pattern::IncompatibleState,
        Pattern::Rescale,
        Pattern::Unknown,
    ];

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
            Pattern::Rescale => "rescale",
            Pattern::Unknown => "unknown",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Pattern> {
        Pattern::ALL.into_iter().find(|p| p.slug() == slug)
    }

    /// The safe next steps (buttons) that fit the pattern, status first. Anything that changes
    /// the job still goes through policy and approval; this only decides what is offered.
    /// Whether waiting loses the job's state: the runbook's first step is a savepoint before
    /// the job dies (memory exhaustion). Such an incident keeps its own message in a storm,
    /// where other minor ones become digest lines.
    pub fn state_at_risk(self) -> bool {
        matches!(
            self,
            Pattern::HeapOom | Pattern::DirectOom | Pattern::MetaspaceOom
        )
    }

    pub fn actions(self) -> &'static [Offer] {
        match self {
            // Memory: keep state safe first, then restart with more memory.
            Pattern::HeapOom => &[STATUS, SAVEPOINT, STOP, THREAD_DUMP],
            Pattern::DirectOom | Pattern::MetaspaceOom => &[STATUS, SAVEPOINT, STOP],
            // Checkpoints: see what the tasks are doing; a savepoint may still succeed.
            Pattern::CheckpointTimeout | Pattern::CheckpointDeclined => {
                &[STATUS, THREAD_DUMP, SAVEPOINT]
            }
            // Deterministic failures: no savepoint can be taken while the job loops; stop the
            // thrashing and redeploy a fix from the last retained checkpoint.
            Pattern::Serialization => &[STATUS, CANCEL, SILENCE],
            Pattern::UserCodeBug => &[STATUS, SAVEPOINT, CANCEL, SILENCE],
            Pattern::IncompatibleState => &[STATUS, CANCEL],
            Pattern::RestartLoop => &[STATUS, THREAD_DUMP, CANCEL],
            // External or infrastructure trouble: Flink recovers by itself once it is fixed.
            Pattern::TaskmanagerLost | Pattern::KafkaUnavailable | Pattern::SinkThrottled => {
                &[STATUS, SILENCE]
            }
            Pattern::Timeout => &[STATUS, THREAD_DUMP],
            // Throughput: find the bottleneck; rescaling needs a savepoint first.
            Pattern::Backpressure | Pattern::DataSkew => &[STATUS, THREAD_DUMP, SAVEPOINT, STOP],
            Pattern::WatermarkStall => &[STATUS, THREAD_DUMP, SILENCE],
            // Nothing failed: the scheduler changed the job's parallelism on purpose.
            Pattern::Rescale => &[STATUS, SILENCE],
            Pattern::Unknown => &[STATUS, SILENCE],
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
    /// Safe next-step buttons for this pattern (`Pattern::actions`).
    pub actions: Vec<Offer>,
}

impl Diagnosis {
    pub fn new(
        pattern: Pattern,
        title: impl Into<String>,
        evidence: impl Into<String>,
    ) -> Diagnosis {
        Diagnosis {
            pattern,
            slug: pattern.slug(),
            title: title.into(),
            evidence: evidence.into(),
            actions: pattern.actions().to_vec(),
        }
    }
}

/// Decides the failure pattern; see the module documentation for the precedence.
pub fn diagnose(alert_name: &str, facts: &Facts) -> Diagnosis {
    // Before everything: a restart the scheduler made on purpose, with no failure since, is not
    // a failure whatever the alert measured (see `facts::rescale`).
    if let Some(r) = &facts.rescale {
        let title = match r.inferred {
            true => "Restarted without a failure",
            false => "Rescaled, not failed",
        };
        return Diagnosis::new(Pattern::Rescale, title, format!("the job was {}", r.line));
    }
    // A failure from long before the alert is history, not the explanation.
    let rc = facts.root_cause.as_ref().filter(|rc| !rc.stale);
    let finding = rc
        .and_then(rules::by_root)
        .or_else(|| rc.and_then(rules::by_chain))
        .or_else(|| rc.and_then(rules::by_weak_root))
        .or_else(|| rc.and_then(rules::by_failure_labels))
        .or_else(|| rc.and_then(rules::by_origin))
        .or_else(|| rules::by_alert(alert_name, facts))
        .or_else(|| rules::by_facts(facts))
        .unwrap_or_else(|| rules::unknown(facts));
    // What the logs add to a generic failure; it does not change the pattern, which the REST
    // answers decided (a log line is evidence, not a class to match on).
    let evidence = match facts.log.as_ref().and_then(|l| l.cause.as_ref()) {
        Some(c) if finding.evidence.is_empty() => format!("in the log: {}", c.line()),
        Some(c) => format!("{}; in the log: {}", finding.evidence, c.line()),
        None => finding.evidence,
    };
    Diagnosis::new(finding.pattern, finding.title, evidence)
}
