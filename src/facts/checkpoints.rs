//! Checkpoint facts from Flink's `/jobs/:id/checkpoints` answer (pure).

use super::{CheckpointFacts, CompletedCheckpoint, FailedCheckpoint};
use crate::flink::types::Checkpoints;

pub fn checkpoint_facts(c: &Checkpoints, now_ms: i64) -> CheckpointFacts {
    let last_completed = c.latest.completed.as_ref().map(|cp| {
        let at = if cp.latest_ack_timestamp > 0 {
            cp.latest_ack_timestamp
        } else {
            cp.trigger_timestamp
        };
        CompletedCheckpoint {
            id: cp.id,
            completed_at_ms: at,
            age_secs: ((now_ms - at) / 1000).max(0),
            duration_ms: cp.end_to_end_duration,
            size_bytes: cp.checkpointed_size.max(cp.state_size),
            path: cp.external_path.clone(),
            is_savepoint: cp.is_savepoint,
        }
    });
    // `latest.failed` is sometimes null although `counts.failed` > 0; the history still has it.
    let failed = c
        .latest
        .failed
        .as_ref()
        .or_else(|| c.history.iter().find(|h| h.status == "FAILED"));
    let last_failed = failed.map(|f| FailedCheckpoint {
        id: f.id,
        failed_at_ms: f.failure_timestamp,
        message: f.failure_message.clone(),
    });
    CheckpointFacts {
        completed: c.counts.completed,
        failed: c.counts.failed,
        in_progress: c.counts.in_progress,
        restored: c.counts.restored,
        last_completed,
        last_failed,
    }
}
