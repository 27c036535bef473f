//! The remediation vocabulary: what a person can ask the bot to do about an incident, chat-neutral
//! and free of I/O. [`plan`] turns a request into the exact call that will run (or a refusal),
//! [`threaddump`] holds the pure parts of thread dumps (text rendering, "is this TaskManager
//! struggling?"). The effects live in `flink::actions` and `silences`.
//!
//! Slugs and serde names are stable: they end up in custom ids, audit entries and the store, so
//! renaming a variant must not change them.

pub mod job;
pub mod operator;
pub mod plan;
pub mod threaddump;

use serde::{Deserialize, Serialize};

pub use job::TaskManagerHealth;
pub use job::{Call, Effect, JobSnapshot, Method, Plan};
pub use plan::{plan, trigger_id};
pub use threaddump::{render_thread_dump, DumpFile, DUMP_FILE_CAP_BYTES};

/// Savepoint format (Flink's `formatType`): canonical is portable across state backends and
/// versions; native is faster to take and restore but tied to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SavepointFormat {
    #[default]
    Canonical,
    Native,
}

impl SavepointFormat {
    /// The value Flink's REST API expects in `formatType`.
    pub fn flink_name(self) -> &'static str {
        match self {
            SavepointFormat::Canonical => "CANONICAL",
            SavepointFormat::Native => "NATIVE",
        }
    }
}

/// One action, with exactly the parameters an approval binds to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionKind {
    Savepoint {
        format: SavepointFormat,
    },
    #[serde(rename = "stop")]
    StopWithSavepoint {
        drain: bool,
        format: SavepointFormat,
    },
    Cancel,
    #[serde(rename = "threaddump")]
    ThreadDump,
    Silence {
        minutes: u32,
    },
    Unsilence {
        silence_id: String,
    },
    Acknowledge,
}

impl ActionKind {
    /// Stable short name: slash subcommand, custom id part, audit field.
    pub fn slug(&self) -> &'static str {
        match self {
            ActionKind::Savepoint { .. } => "savepoint",
            ActionKind::StopWithSavepoint { .. } => "stop",
            ActionKind::Cancel => "cancel",
            ActionKind::ThreadDump => "threaddump",
            ActionKind::Silence { .. } => "silence",
            ActionKind::Unsilence { .. } => "unsilence",
            ActionKind::Acknowledge => "acknowledge",
        }
    }

    /// Button label (Discord allows 80 characters; these stay far below).
    pub fn label(&self) -> String {
        match self {
            ActionKind::Savepoint {
                format: SavepointFormat::Canonical,
            } => "Savepoint".into(),
            ActionKind::Savepoint {
                format: SavepointFormat::Native,
            } => "Savepoint (native)".into(),
            ActionKind::StopWithSavepoint { drain: false, .. } => "Stop with savepoint".into(),
            ActionKind::StopWithSavepoint { drain: true, .. } => {
                "Stop with savepoint (drain)".into()
            }
            ActionKind::Cancel => "Cancel job".into(),
            ActionKind::ThreadDump => "Thread dump".into(),
            ActionKind::Silence { minutes } => format!("Silence {}", duration_words(*minutes)),
            ActionKind::Unsilence { .. } => "Unsilence".into(),
            ActionKind::Acknowledge => "Acknowledge".into(),
        }
    }

    /// Ends the job: the approval message shows its state and checkpoint age first.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            ActionKind::StopWithSavepoint { .. } | ActionKind::Cancel
        )
    }

    /// Touches the Flink job at all (a savepoint does not stop it, but it does load it).
    pub fn changes_job(&self) -> bool {
        matches!(
            self,
            ActionKind::Savepoint { .. }
                | ActionKind::StopWithSavepoint { .. }
                | ActionKind::Cancel
        )
    }
}

/// "1 h", "4 h", "90 min", "2 d": short enough for a button.
pub fn duration_words(minutes: u32) -> String {
    match minutes {
        m if m >= 1440 && m % 1440 == 0 => format!("{} d", m / 1440),
        m if m >= 60 && m % 60 == 0 => format!("{} h", m / 60),
        m => format!("{m} min"),
    }
}

/// Why the bot will not do what was asked, written for the person who asked: safe to post in
/// chat as is. It never carries a URL, a file path, a token or a stack trace; internal errors
/// are logged instead and never become a `Refusal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// Stable machine-readable reason (tests, audit): `job_not_running`, `no_savepoint_dir`, ...
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<ActionKind> {
        vec![
            ActionKind::Savepoint {
                format: SavepointFormat::Canonical,
            },
            ActionKind::StopWithSavepoint {
                drain: false,
                format: SavepointFormat::Canonical,
            },
            ActionKind::Cancel,
            ActionKind::ThreadDump,
            ActionKind::Silence { minutes: 60 },
            ActionKind::Unsilence {
                silence_id: "x".into(),
            },
            ActionKind::Acknowledge,
        ]
    }

    #[test]
    fn slugs_are_stable_and_distinct() {
        let slugs: Vec<&str> = all().iter().map(ActionKind::slug).collect();
        assert_eq!(
            slugs,
            [
                "savepoint",
                "stop",
                "cancel",
                "threaddump",
                "silence",
                "unsilence",
                "acknowledge"
            ]
        );
    }

    #[test]
    fn the_policy_governs_exactly_these_actions() {
        let mut governed: Vec<&str> = crate::config::policy::ACTIONS.iter().map(|a| a.0).collect();
        let mut ours: Vec<&str> = all().iter().map(ActionKind::slug).collect();
        governed.sort();
        ours.sort();
        assert_eq!(governed, ours);
    }

    #[test]
    fn serde_names_match_the_slugs() {
        for kind in all() {
            let v = serde_json::to_value(&kind).unwrap();
            assert_eq!(v["action"], kind.slug(), "{v}");
            let back: ActionKind = serde_json::from_value(v).unwrap();
            assert_eq!(back, kind);
        }
        let v = serde_json::to_value(ActionKind::StopWithSavepoint {
            drain: true,
            format: SavepointFormat::Native,
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"action": "stop", "drain": true, "format": "native"})
        );
    }

    #[test]
    fn only_stop_and_cancel_are_destructive() {
        for kind in all() {
            let expected = matches!(kind.slug(), "stop" | "cancel");
            assert_eq!(kind.is_destructive(), expected, "{}", kind.slug());
            assert_eq!(
                kind.changes_job(),
                matches!(kind.slug(), "savepoint" | "stop" | "cancel"),
                "{}",
                kind.slug()
            );
            assert!(kind.label().len() <= 80);
        }
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(duration_words(60), "1 h");
        assert_eq!(duration_words(240), "4 h");
        assert_eq!(duration_words(1440), "1 d");
        assert_eq!(duration_words(90), "90 min");
        assert_eq!(ActionKind::Silence { minutes: 1440 }.label(), "Silence 1 d");
    }
}
