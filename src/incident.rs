//! One incident, one message: pure decisions about whether a notification opens a new incident
//! (post a message) or updates the current one (edit it in place).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::alertmanager::{Status, Webhook};

/// What the store keeps per Alertmanager group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id of this incident; also the Discord nonce, so a post retried after a crash
    /// (between Discord's answer and our write) is deduplicated by Discord.
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentJob {
    pub cluster: String,
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Post,
    Edit { message_id: u64 },
}

impl Incident {
    /// Keeps the job enrichment found; a later lookup that found none keeps the earlier one.
    pub fn remember_job(&mut self, facts: &crate::enrich::Facts) {
        if let (Some(cluster), Some(job)) = (&facts.cluster, &facts.job) {
            self.job = Some(IncidentJob {
                cluster: cluster.name.clone(),
                id: job.id.clone(),
                name: job.name.clone(),
            });
        }
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
pub fn advance(
    prev: Option<Incident>,
    hook: &Webhook,
    count: u64,
    received_at: DateTime<Utc>,
    channel_id: u64,
    first_seq: u64,
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
            if inc.message_id.is_some()
                && !(inc.is_resolved() && hook.status == Status::Firing) =>
        {
            let message_id = inc.message_id.expect("checked above");
            inc.notifications += count;
            inc.firing_since = inc.firing_since.min(started);
            inc.last_notified_at = received_at;
            inc.resolved_at = resolved_at;
            (inc, Delivery::Edit { message_id })
        }
        _ => {
            let id = hex::encode(&Sha256::digest(format!("{}\n{first_seq}", hook.group_key))[..12]);
            let inc = Incident {
                id,
                group_key: hook.group_key.clone(),
                channel_id,
                message_id: None,
                firing_since: started,
                notifications: count,
                last_notified_at: received_at,
                resolved_at,
                job: None,
                labels: hook.lead_alert().labels.clone(),
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
}
