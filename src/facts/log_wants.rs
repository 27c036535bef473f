//! When the bot looks in Flink's logs, and for what: the REST answers end in a failure that
//! does not say what went wrong (a generic checkpoint failure, a bare wrapper as the root
//! cause). Pure, decided from the facts already gathered; reading and searching the logs is
//! `facts::logs` and `enrich::logs`.

use super::logs::task_mention;

/// Why the bot looks in the logs: the REST answers end in a failure that does not say what
/// went wrong. Decided from the facts already gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogWant {
    /// When it failed (epoch ms).
    pub at_ms: i64,
    /// The bare cause REST gave, if that is what sent the bot to the logs (see `LogQuery::known`).
    pub known: Option<(String, String)>,
    /// The failing task as the TaskManager logs it, and that TaskManager, when Flink names them.
    pub task: Option<String>,
    pub task_manager: Option<String>,
}

/// Checkpoint failure messages that only say that, not why (Flink's `CheckpointFailureReason`
/// texts for I/O, declines and asynchronous snapshot failures). An expired checkpoint says why.
const GENERIC_CHECKPOINT_MESSAGES: &[&str] = &[
    "io-problem detected",
    "asynchronous task checkpoint failed",
    "checkpoint was declined",
    "task local checkpoint failure",
    "failure to finalize checkpoint",
    "an exception occurred while triggering the checkpoint",
    "task has failed",
];

/// Wrapper classes that, as the innermost cause, say only that something failed.
const GENERIC_ROOT_CLASSES: &[&str] = &[
    "JobException",
    "FlinkException",
    "FlinkRuntimeException",
    "CheckpointException",
    "Exception",
    "RuntimeException",
    "ExecutionException",
    "CompletionException",
];

/// Whether to look in the logs, and for what: a checkpoint that failed with a generic message
/// (or was only counted as failed), or a failure whose innermost cause is a bare wrapper
/// ("Recovery is suppressed by …" with nothing under it, a task failure without a cause).
/// A failure before `since_ms` does not explain the alert and is not looked for.
pub fn wants(facts: &super::Facts, since_ms: i64) -> Option<LogWant> {
    if let Some(rc) = facts.root_cause.as_ref().filter(|rc| !rc.stale) {
        let bare = rc.chain.len() <= 1 && GENERIC_ROOT_CLASSES.contains(&rc.simple_class());
        if !bare {
            // A job failing for a named reason: its checkpoints fail because of it (declined
            // while tasks restart), and REST already says why.
            return None;
        }
        if let Some(at_ms) = rc.timestamp {
            return Some(LogWant {
                at_ms,
                known: Some((rc.class.clone(), rc.message.clone())),
                task: rc.task.as_deref().map(task_mention),
                task_manager: rc.task_manager.clone(),
            });
        }
    }
    let cp = facts.checkpoints.as_ref()?;
    let failed = cp.last_failed.as_ref();
    let generic = failed.is_some_and(|f| {
        let m = f.message.as_deref().unwrap_or("").to_lowercase();
        m.is_empty() || GENERIC_CHECKPOINT_MESSAGES.iter().any(|g| m.contains(g))
    });
    let at_ms = failed
        .and_then(|f| f.failed_at_ms)
        .filter(|at| *at >= since_ms);
    if generic {
        return at_ms.map(|at_ms| LogWant {
            at_ms,
            known: None,
            task: None,
            task_manager: None,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_failed_checkpoint(message: Option<&str>) -> crate::facts::Facts {
        crate::facts::Facts {
            checkpoints: Some(crate::facts::CheckpointFacts {
                completed: 12,
                failed: 7,
                in_progress: 0,
                restored: 0,
                last_completed: None,
                last_failed: Some(crate::facts::FailedCheckpoint {
                    id: 18,
                    failed_at_ms: Some(1_796_620_801_735),
                    message: message.map(str::to_string),
                }),
                last_restored: None,
            }),
            ..Default::default()
        }
    }

    /// The exception history's newest entry, as both versions answer for a failure.
    fn with_failure(class: &str, message: &str, task: Option<&str>) -> crate::facts::Facts {
        let mut entry = serde_json::json!({
            "exceptionName": class,
            "stacktrace": format!("{class}: {message}\n\tat a.B.c(B.java:1)\n"),
            "timestamp": 1_796_620_801_735_i64,
        });
        if let Some(t) = task {
            entry["taskName"] = t.into();
            entry["taskManagerId"] = "127.0.0.1:40501-c01a65".into();
        }
        let ex: crate::flink::types::Exceptions =
            serde_json::from_value(serde_json::json!({"exceptionHistory": {"entries": [entry]}}))
                .unwrap();
        crate::facts::Facts {
            root_cause: crate::facts::root_cause::root_cause(&ex),
            ..Default::default()
        }
    }

    #[test]
    fn the_logs_are_read_only_for_a_generic_failure() {
        let at = 1_796_620_801_735;
        let storage = Some(LogWant {
            at_ms: at,
            known: None,
            task: None,
            task_manager: None,
        });
        let cases = [
            (
                "IO problem when triggering (the unwritable directory, both versions)",
                with_failed_checkpoint(Some(
                    "An Exception occurred while triggering the checkpoint. IO-problem detected.",
                )),
                storage.clone(),
            ),
            (
                "asynchronous snapshot failure",
                with_failed_checkpoint(Some("Asynchronous task checkpoint failed.")),
                storage.clone(),
            ),
            (
                "a failed checkpoint without a message",
                with_failed_checkpoint(None),
                storage.clone(),
            ),
            (
                "an expired checkpoint says why",
                with_failed_checkpoint(Some("Checkpoint expired before completing.")),
                None,
            ),
            (
                "a task failure without a cause",
                with_failure(
                    "java.lang.RuntimeException",
                    "",
                    Some("count-per-key (1/2) - execution #3"),
                ),
                Some(LogWant {
                    at_ms: at,
                    known: Some(("java.lang.RuntimeException".into(), "".into())),
                    task: Some("count-per-key (1/2)#3 (".into()),
                    task_manager: Some("127.0.0.1:40501-c01a65".into()),
                }),
            ),
            (
                "Recovery is suppressed with nothing under it",
                with_failure(
                    "org.apache.flink.runtime.JobException",
                    "Recovery is suppressed by NoRestartBackoffTimeStrategy",
                    None,
                ),
                Some(LogWant {
                    known: Some((
                        "org.apache.flink.runtime.JobException".into(),
                        "Recovery is suppressed by NoRestartBackoffTimeStrategy".into(),
                    )),
                    ..storage.clone().unwrap()
                }),
            ),
            (
                "a named cause",
                with_failure(
                    "java.lang.IllegalStateException",
                    "harness restart loop: poison record 7",
                    Some("poison-map (1/1) - execution #2"),
                ),
                None,
            ),
            ("nothing known", crate::facts::Facts::default(), None),
        ];
        for (name, facts, want) in cases {
            assert_eq!(wants(&facts, at - 3_600_000), want, "{name}");
        }
        // A restart loop's checkpoints are declined while its tasks restart: its root cause says why.
        let mut looping = with_failure(
            "java.lang.IllegalStateException",
            "harness restart loop: poison record 7",
            Some("poison-map (1/1) - execution #2"),
        );
        looping.checkpoints =
            with_failed_checkpoint(Some("Checkpoint was declined (tasks not ready)")).checkpoints;
        assert_eq!(wants(&looping, at - 3_600_000), None, "a named cause");
        let old = with_failed_checkpoint(Some("Asynchronous task checkpoint failed."));
        assert_eq!(
            wants(&old, at + 1),
            None,
            "a failure before the alert's window"
        );
    }
}
