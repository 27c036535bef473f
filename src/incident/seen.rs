//! What Flink said at each page, update and refill of an incident: kept with the incident so its
//! timeline and postmortem draft (`story`) can say what was known when, and what the job
//! restarted from. Pure.
//!
//! Kept small: the first look and the newest few ([`KEEP`]), each a handful of short fields,
//! and a look that says what the previous one said adds nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::facts::Facts;

/// Looks kept per incident: the first and the newest `KEEP - 1`.
pub const KEEP: usize = 6;

/// Room for a root cause or a path (characters): enough to recognise it; the page has the rest.
const TEXT_MAX: usize = 200;

/// Which delivery looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Look {
    /// The incident's first message.
    Page,
    /// A later notification edited it.
    Update,
    /// A page sent with facts missing was looked at again (`flink.refill_after_ms`).
    Refill,
}

/// One look at Flink, as the page showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub at: DateTime<Utc>,
    pub look: Look,
    /// The diagnosis's title ("Heap memory exhausted").
    pub diagnosis: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<i64>,
    /// Flink's `downtime` gauge when the job was down (above 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<i64>,
    /// `class: message` of the root cause, cut to [`TEXT_MAX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause_at_ms: Option<i64>,
    /// The newest completed checkpoint: id and completion time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<(i64, i64)>,
    /// What the run restored from ("savepoint `file:/…` (id 12) at …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// Every fact was fetched (else the page said what was missing).
    pub complete: bool,
}

impl Seen {
    pub fn of(facts: &Facts, diagnosis: &str, look: Look, at: DateTime<Utc>) -> Seen {
        let cps = facts.checkpoints.as_ref();
        Seen {
            at,
            look,
            diagnosis: cut(diagnosis),
            state: facts.job.as_ref().and_then(|j| j.state.clone()),
            restarts: facts.restarts,
            downtime_ms: facts.downtime_ms.filter(|ms| *ms > 0),
            root_cause: facts
                .root_cause
                .as_ref()
                .map(|rc| cut(&format!("{}: {}", rc.class, first_line(&rc.message)))),
            root_cause_at_ms: facts.root_cause.as_ref().and_then(|rc| rc.timestamp),
            checkpoint: cps
                .and_then(|c| c.last_completed.as_ref())
                .map(|c| (c.id, c.completed_at_ms)),
            restored_from: cps
                .and_then(|c| c.last_restored.as_ref())
                .map(|r| cut(&r.summary)),
            complete: facts.is_complete(),
        }
    }

    /// Says what `other` said (its time and which delivery aside).
    fn same_as(&self, other: &Seen) -> bool {
        let strip = |s: &Seen| Seen {
            at: DateTime::<Utc>::MIN_UTC,
            look: Look::Page,
            ..s.clone()
        };
        strip(self) == strip(other)
    }
}

/// Adds `seen` to `kept`: nothing when it says what the newest kept look said; else appended,
/// dropping the oldest but the first when more than [`KEEP`] are kept.
pub fn keep(kept: &mut Vec<Seen>, seen: Seen) {
    if kept.last().is_some_and(|last| last.same_as(&seen)) {
        return;
    }
    kept.push(seen);
    if kept.len() > KEEP {
        kept.remove(1);
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(TEXT_MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn look(n: i64, state: &str) -> Seen {
        Seen {
            at: Utc.timestamp_opt(1_800_000_000 + n, 0).unwrap(),
            look: Look::Update,
            diagnosis: "Restart loop".into(),
            state: Some(state.into()),
            restarts: Some(n),
            downtime_ms: None,
            root_cause: None,
            root_cause_at_ms: None,
            checkpoint: None,
            restored_from: None,
            complete: true,
        }
    }

    #[test]
    fn the_first_look_and_the_newest_are_kept_and_repeats_add_nothing() {
        let mut kept = Vec::new();
        keep(&mut kept, look(1, "RESTARTING"));
        let mut same = look(1, "RESTARTING");
        same.at += chrono::Duration::minutes(5);
        same.look = Look::Refill;
        keep(&mut kept, same);
        assert_eq!(kept.len(), 1, "the same facts again add nothing");
        for n in 2..=10 {
            keep(&mut kept, look(n, "RESTARTING"));
        }
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].restarts, Some(1), "the first look stays");
        let newest: Vec<Option<i64>> = kept[1..].iter().map(|s| s.restarts).collect();
        assert_eq!(newest, [Some(6), Some(7), Some(8), Some(9), Some(10)]);
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        let c = cut(&long);
        assert_eq!(c.chars().count(), TEXT_MAX + 1);
        assert!(c.ends_with('…'));
        assert_eq!(cut("short"), "short");
    }
}
