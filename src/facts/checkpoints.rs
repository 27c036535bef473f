//! Checkpoint facts from Flink's `/jobs/:id/checkpoints` answer (pure).

use super::{CheckpointFacts, CompletedCheckpoint, FailedCheckpoint, RestoredCheckpoint};
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
        last_restored: c.latest.restored.as_ref().map(restored),
    }
}

/// Flink sets `latest.restored` when the run began from a checkpoint or savepoint: a job
/// submitted with `savepointPath`, and every restart after a failure (from the latest checkpoint).
fn restored(r: &crate::flink::types::RestoredCheckpoint) -> RestoredCheckpoint {
    let kind = if r.is_savepoint {
        "savepoint"
    } else {
        "checkpoint"
    };
    let path = r
        .external_path
        .as_deref()
        .filter(|p| !p.is_empty() && *p != "<checkpoint-not-externally-addressable>");
    let at = chrono::DateTime::from_timestamp_millis(r.restore_timestamp)
        .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    let summary = match path {
        Some(p) => format!("{kind} `{p}` (id {}){at}", r.id),
        None => format!("{kind} id {}{at}", r.id),
    };
    RestoredCheckpoint {
        id: r.id,
        restored_at_ms: r.restore_timestamp,
        path: path.map(str::to_string),
        is_savepoint: r.is_savepoint,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flink::types::Checkpoints;

    fn read(path: &str) -> Checkpoints {
        let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Real `/jobs/:id/checkpoints` answers of both versions.
    #[test]
    fn what_the_job_restored_from() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<&str>)] = &[
            ("src/facts/testdata/checkpoints-restored-savepoint-2.3.0.json", Some("savepoint `")),
            ("src/facts/testdata/checkpoints-restored-savepoint-1.20.5.json", Some("savepoint `")),
            ("src/facts/testdata/checkpoints-restored-after-failure-2.3.0.json", Some("checkpoint `")),
            ("src/facts/testdata/checkpoints-restored-after-failure-1.20.5.json", Some("checkpoint `")),
            ("src/facts/testdata/checkpoints-fresh-2.3.0.json", None),
            ("src/facts/testdata/checkpoints-fresh-1.20.5.json", None),
        ];
        for (path, starts) in cases {
            let c = read(path);
            let facts = checkpoint_facts(&c, 0);
            let got = facts.last_restored.as_ref();
            assert_eq!(
                got.map(|r| r.summary.starts_with(starts.unwrap_or(""))),
                starts.map(|_| true),
                "{path}: {got:?}"
            );
            if let (Some(r), Some(raw)) = (got, c.latest.restored.as_ref()) {
                assert_eq!(r.id, raw.id, "{path}");
                assert!(
                    r.summary.contains(&format!("(id {})", raw.id)),
                    "{path}: {}",
                    r.summary
                );
                assert!(r.summary.ends_with(" UTC"), "{path}: {}", r.summary);
                let p = r.path.as_deref().expect("a path");
                assert!(r.summary.contains(p), "{path}: {}", r.summary);
                assert_eq!(p.contains("/savepoint-"), r.is_savepoint, "{path}: {p}");
            }
        }
    }

    #[test]
    fn a_restore_without_an_external_path_says_its_id() {
        let c: Checkpoints = serde_json::from_value(serde_json::json!({
            "latest": {"restored": {"id": 7, "restore_timestamp": 1_795_240_164_335_i64, "is_savepoint": false,
                                    "external_path": "<checkpoint-not-externally-addressable>"}}
        }))
        .unwrap();
        let r = checkpoint_facts(&c, 0).last_restored.unwrap();
        assert_eq!(r.path, None);
        assert_eq!(r.summary, "checkpoint id 7 at 2026-11-21 05:49 UTC");
    }
}
