//! One incident, one message: pure decisions about whether a notification opens a new incident
//! (post a message) or updates the current one (edit it in place).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::alertmanager::{Status, Webhook};

pub mod seen;

/// What the store keeps per Alertmanager group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id of this incident, unique to the store that made it; also the Discord nonce, and
    /// named in the message's footer ("incident <id>") so a post that may already be out can be
    /// found in the channel after a crash, long after Discord has forgotten the nonce.
    pub id: String,
    pub group_key: String,
    pub channel_id: u64,
    pub message_id: Option<u64>,
    pub firing_since: DateTime<Utc>,
    /// Notifications Alertmanager sent for this incident (first, repeats, updates, resolve).
    pub notifications: u64,
    pub last_notified_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The Flink job the message is about, once enrichment found it: what its buttons ask about.
    #[serde(default)]
    pub job: Option<IncidentJob>,
    /// The lead alert's labels: what a silence from the message matches.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Shown as a line of its channel's storm digest (`digest`) instead of a message of its own.
    #[serde(default)]
    pub digested: bool,
    /// When Discord took the incident's first message: detection's end on its timeline
    /// (`story`). None for incidents paged by an older version, or only digested.
    #[serde(default)]
    pub first_paged_at: Option<DateTime<Utc>>,
    /// Shown as a line of a topology incident (a lost TaskManager's or an unreachable
    /// cluster's board, `topology`) instead of a message of its own: the board's key.
    #[serde(default)]
    pub board: Option<String>,
    /// What Flink said at the first page and the newest updates and refills (`seen`), for the
    /// incident's timeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<seen::Seen>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentJob {
    pub cluster: String,
    pub id: String,
    pub name: Option<String>,
}

/// Where a new incident comes from: the store instance and the first notification's sequence.
/// Sequences restart with a new store, so the instance keeps two stores (a wiped one, a second
/// deployment) from ever making the same id, which Discord would take as the same nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub instance: &'a str,
    pub first_seq: u64,
}

/// A bare sequence: previews and tests, where no store exists.
impl From<u64> for Origin<'static> {
    fn from(first_seq: u64) -> Self {
        Origin {
            instance: "",
            first_seq,
        }
    }
}

impl Origin<'_> {
    fn incident_id(&self, group_key: &str) -> String {
        let Origin {
            instance,
            first_seq,
        } = self;
        hex::encode(&Sha256::digest(format!("{instance}\n{group_key}\n{first_seq}"))[..12])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Post,
    Edit { message_id: u64 },
}

impl Incident {
    /// Keeps the job enrichment found; a later lookup that found none keeps the earlier one.
    pub fn remember_job(&mut self, facts: &crate::facts::Facts) {
        if let (Some(cluster), Some(job)) = (&facts.cluster, &facts.job) {
            self.job = Some(IncidentJob {
                cluster: cluster.name.clone(),
                id: job.id.clone(),
                name: job.name.clone(),
            });
        }
    }

    /// Keeps what Flink said for this delivery (see [`seen`]): a refill's look, else the first
    /// page's or an update's.
    pub fn saw(&mut self, facts: &crate::facts::Facts, diagnosis: &str, refill: bool) {
        let look = match (refill, self.seen.is_empty()) {
            (true, _) => seen::Look::Refill,
            (false, true) => seen::Look::Page,
            (false, false) => seen::Look::Update,
        };
        seen::keep(
            &mut self.seen,
            seen::Seen::of(facts, diagnosis, look, Utc::now()),
        );
    }

    pub fn is_resolved(&self) -> bool {
        self.resolved_at.is_some()
    }

    /// How long it has been firing (until resolved, or until `now`).
    pub fn duration_secs(&self, now: DateTime<Utc>) -> i64 {
        (self.resolved_at.unwrap_or(now) - self.firing_since)
            .num_seconds()
            .max(0)
    }
}

/// Folds `count` notifications (the newest is `hook`) into the group's incident.
pub fn advance<'a>(
    prev: Option<Incident>,
    hook: &Webhook,
    count: u64,
    received_at: DateTime<Utc>,
    channel_id: u64,
    origin: impl Into<Origin<'a>>,
) -> (Incident, Delivery) {
    let started = hook
        .alerts
        .iter()
        .map(|a| a.starts_at)
        .min()
        .unwrap_or(received_at);
    let resolved_at = (hook.status == Status::Resolved).then(|| {
        hook.alerts
            .iter()
            .map(|a| a.ends_at)
            .max()
            .filter(|t| *t > started)
            .unwrap_or(received_at)
    });
    match prev {
        Some(mut inc)
            if (inc.message_id.is_some() || inc.digested || inc.board.is_some())
                && !(inc.is_resolved() && hook.status == Status::Firing) =>
        {
            inc.notifications += count;
            inc.firing_since = inc.firing_since.min(started);
            inc.last_notified_at = received_at;
            inc.resolved_at = resolved_at;
            // A digested (or board) incident has no message yet: its first own one is a post.
            let delivery = match inc.message_id {
                Some(message_id) => Delivery::Edit { message_id },
                None => Delivery::Post,
            };
            (inc, delivery)
        }
        _ => {
            let inc = Incident {
                id: origin.into().incident_id(&hook.group_key),
                group_key: hook.group_key.clone(),
                channel_id,
                message_id: None,
                firing_since: started,
                notifications: count,
                last_notified_at: received_at,
                resolved_at,
                job: None,
                labels: hook.lead_alert().labels.clone(),
                digested: false,
                first_paged_at: None,
                board: None,
                seen: Vec::new(),
            };
            (inc, Delivery::Post)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(status: &str) -> Webhook {
        let ends = if status == "firing" {
            "0001-01-01T00:00:00Z"
        } else {
            "2026-11-21T05:40:00Z"
        };
        let json = format!(
            r#"{{"version":"4","groupKey":"g1","status":"{status}","receiver":"bot","alerts":[{{"status":"{status}","labels":{{"alertname":"A"}},"startsAt":"2026-11-21T05:35:00Z","endsAt":"{ends}","fingerprint":"f"}}]}}"#
        );
        Webhook::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn first_posts_repeat_edits_resolve_edits_refire_posts() {
        let now = Utc::now();
        let (mut inc, d) = advance(None, &hook("firing"), 1, now, 7, 1);
        assert_eq!(d, Delivery::Post);
        inc.message_id = Some(99);
        let (inc, d) = advance(Some(inc), &hook("firing"), 2, now, 7, 2);
        assert_eq!(d, Delivery::Edit { message_id: 99 });
        assert_eq!(inc.notifications, 3);
        let (inc, d) = advance(Some(inc), &hook("resolved"), 1, now, 7, 3);
        assert_eq!(d, Delivery::Edit { message_id: 99 });
        assert_eq!(inc.duration_secs(now), 300);
        let (inc2, d) = advance(Some(inc.clone()), &hook("firing"), 1, now, 7, 4);
        assert_eq!(d, Delivery::Post);
        assert_ne!(inc2.id, inc.id);
    }

    #[test]
    fn ids_differ_between_store_instances_and_fit_a_nonce() {
        let now = Utc::now();
        let id = |instance, seq| {
            let origin = Origin {
                instance,
                first_seq: seq,
            };
            advance(None, &hook("firing"), 1, now, 7, origin).0.id
        };
        assert_eq!(id("aa01", 1), id("aa01", 1), "stable within a store");
        assert_ne!(
            id("aa01", 1),
            id("bb02", 1),
            "same group, same sequence, other store"
        );
        assert_ne!(id("aa01", 1), id("aa01", 2));
        // Discord's nonce is at most 25 characters.
        assert!(id("aa01", 1).len() <= 25);
    }
}
