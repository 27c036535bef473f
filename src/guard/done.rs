//! What a guarded action achieved, typed (pure): stored with the request, audited, read by the
//! incident's note (the silence to end) and shown in chat through `Display`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "done", rename_all = "snake_case")]
pub enum Done {
    /// `policy.dry_run`: approved and audited, never executed.
    DryRun {
        calls: String,
    },
    Acknowledged {
        by: String,
    },
    Silenced {
        id: String,
        until: DateTime<Utc>,
    },
    Unsilenced {
        id: String,
    },
    Savepoint {
        location: String,
    },
    /// Stop-with-savepoint: where the savepoint is and the job's final state.
    Stopped {
        location: String,
        state: String,
    },
    Cancelled {
        state: String,
    },
    /// A cancel of a job that had already ended (a repeat after a restart, or a race).
    AlreadyEnded {
        state: String,
    },
    /// Thread dumps: how many files are attached, which were cut, which could not be taken.
    Dumps {
        attached: usize,
        cut: Vec<String>,
        missing: Vec<String>,
    },
}

impl Done {
    /// The silence this action made, for Unsilence.
    pub fn silence_id(&self) -> Option<&str> {
        match self {
            Done::Silenced { id, .. } => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Done::DryRun { calls } => {
                write!(f, "dry run: nothing was changed; it would have run {calls}")
            }
            Done::Acknowledged { by } => write!(f, "acknowledged by {by}"),
            Done::Silenced { id, until } => write!(
                f,
                "silenced until {} UTC (silence {id})",
                until.format("%Y-%m-%d %H:%M")
            ),
            Done::Unsilenced { id } => write!(f, "silence {id} expired"),
            Done::Savepoint { location } => write!(f, "savepoint at `{location}`"),
            Done::Stopped { location, state } => {
                write!(f, "savepoint at `{location}`; the job is now {state}")
            }
            Done::Cancelled { state } => write!(f, "the job is now {state}"),
            Done::AlreadyEnded { state } => write!(f, "the job had already ended ({state})"),
            Done::Dumps {
                attached,
                cut,
                missing,
            } => {
                write!(f, "{attached} thread dump(s) attached")?;
                for c in cut {
                    write!(f, "; {c}")?;
                }
                if !missing.is_empty() {
                    write!(f, "; not dumped: {}", missing.join("; "))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn shown_as_people_read_it_and_kept_as_data() {
        let until = Utc.with_ymd_and_hms(2026, 12, 7, 4, 0, 0).unwrap();
        let silenced = Done::Silenced {
            id: "3e952529-0ef2-485f-8fef-6065b003a46f".into(),
            until,
        };
        assert_eq!(
            silenced.to_string(),
            "silenced until 2026-12-07 04:00 UTC (silence 3e952529-0ef2-485f-8fef-6065b003a46f)"
        );
        assert_eq!(
            silenced.silence_id(),
            Some("3e952529-0ef2-485f-8fef-6065b003a46f")
        );
        let json = serde_json::to_string(&silenced).unwrap();
        assert_eq!(serde_json::from_str::<Done>(&json).unwrap(), silenced);
        let stopped = Done::Stopped {
            location: "file:/sp/savepoint-1".into(),
            state: "FINISHED".into(),
        };
        assert_eq!(
            stopped.to_string(),
            "savepoint at `file:/sp/savepoint-1`; the job is now FINISHED"
        );
        assert_eq!(stopped.silence_id(), None);
        let dumps = Done::Dumps {
            attached: 1,
            cut: vec!["jobmanager-threads.txt: cut to 100 of 400 threads".into()],
            missing: vec!["TaskManager tm-1: the cluster is unreachable".into()],
        };
        assert_eq!(
            dumps.to_string(),
            "1 thread dump(s) attached; jobmanager-threads.txt: cut to 100 of 400 threads; not dumped: TaskManager tm-1: the cluster is unreachable"
        );
    }
}
