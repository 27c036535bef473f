//! The effectful half of storm digests (the decisions are in `crate::digest`): putting an
//! incident's line in its channel's digest, and keeping each digest message up to date.
//!
//! A notification that becomes a digest line leaves the inbox in the same durable write that
//! stores the line, so it is as safe as a posted page. The digest message itself is rebuilt from
//! the stored lines by one task, at most once per [`EDIT_EVERY`] per channel, so a storm of a
//! thousand lines costs a few edits, not a thousand; after a restart every digest is redone once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::Pipeline;
use crate::alertmanager::Webhook;
use crate::deliver;
use crate::digest::{self, Header, Line};
use crate::incident::{Delivery, Incident};
use crate::store::{Delivered, InboxEntry, LineChange};

/// The least time between two edits of one channel's digest.
const EDIT_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
pub(super) struct Digests {
    storm: std::sync::Mutex<digest::Storm>,
    dirty: std::sync::Mutex<BTreeSet<u64>>,
    signal: tokio::sync::Notify,
}

impl Pipeline {
    /// Whether a new incident in `channel` becomes a digest line (`route.storm` is filled in
    /// here). Decided and counted under one lock, so concurrent workers cannot all slip past the
    /// threshold together.
    pub(super) fn to_digest(&self, channel: u64, mut route: digest::Route) -> bool {
        let threshold = self.config.delivery.digest_after;
        let now = Instant::now();
        let mut storm = self.digests.storm.lock().expect("storm lock");
        route.storm = storm.raging(channel, threshold, now);
        let to_digest = digest::goes_to_digest(route);
        if !to_digest {
            storm.posted(channel, now);
        }
        to_digest
    }

    /// Whether the incident could still become a digest line, before its diagnosis is known
    /// (`to_digest` decides for good after it). One that cannot gets its posting mark written
    /// while Flink is asked, so the mark's sync is not on the page's path.
    pub(super) fn may_digest(&self, channel: u64, rank: u8, already_digested: bool) -> bool {
        let threshold = self.config.delivery.digest_after;
        let storm = self.digests.storm.lock().expect("storm lock").raging(
            channel,
            threshold,
            Instant::now(),
        );
        digest::goes_to_digest(digest::Route {
            rank,
            needs_action: false,
            already_digested,
            storm,
        })
    }

    /// The channel's digest message needs an edit.
    pub(super) fn digest_changed(&self, channel: u64) {
        self.digests
            .dirty
            .lock()
            .expect("digest lock")
            .insert(channel);
        self.digests.signal.notify_one();
    }

    /// Shows the incident as a line of its channel's digest and records the notifications.
    pub(super) async fn digest_line(
        &self,
        key: &str,
        mut inc: Incident,
        new_id: bool,
        batch: &[InboxEntry],
        hook: &Webhook,
        rank: u8,
    ) {
        let channel = inc.channel_id;
        if !inc.digested {
            self.current_digest(channel).await;
        }
        inc.digested = true;
        let line = Line {
            incident_id: inc.id.clone(),
            rank,
            title: line_title(hook, &inc),
            firing_since_ms: inc.firing_since.timestamp_millis(),
            resolved: inc.is_resolved(),
            notifications: inc.notifications,
        };
        let bytes = serde_json::to_vec(&line).expect("a digest line serializes");
        self.record(
            Delivered {
                group_key: key,
                incident_id: &inc.id,
                incident: &inc,
                new_id,
                batch,
                refill: None,
                digest: LineChange::Put {
                    channel,
                    line: &bytes,
                },
                shown: None,
            },
            "a digest line",
        )
        .await;
        tracing::info!(incident = %inc.id, channel, notifications = inc.notifications, "in the storm digest");
        self.digest_changed(channel);
    }

    /// Makes sure the channel has a digest of this storm (a stale one is left as it was).
    async fn current_digest(&self, channel: u64) {
        let now = Utc::now().timestamp_millis();
        match self.store.digest_header::<Header>(channel) {
            Ok(Some(h)) if !digest::is_stale(&h, now) => {}
            Ok(_) => {
                let header = Header::new(channel, now);
                self.persist("a new storm digest", || {
                    self.store.start_digest(channel, &header)
                })
                .await;
                tracing::warn!(channel, digest = %header.id, "storm: new minor incidents in this channel go into one digest message");
            }
            Err(e) => {
                tracing::error!(error = %e, channel, "cannot read the storm digest; adding the line anyway")
            }
        }
    }

    /// Keeps digest messages up to date, forever.
    pub(super) async fn edit_digests(self: Arc<Self>) {
        match self.store.digest_channels() {
            Ok(channels) => self
                .digests
                .dirty
                .lock()
                .expect("digest lock")
                .extend(channels),
            Err(e) => tracing::error!(error = %e, "cannot list storm digests"),
        }
        loop {
            let channels = std::mem::take(&mut *self.digests.dirty.lock().expect("digest lock"));
            if channels.is_empty() {
                self.digests.signal.notified().await;
                continue;
            }
            for channel in channels {
                if let Err(e) = self.edit_digest(channel).await {
                    tracing::error!(error = %e, channel, "cannot update the storm digest");
                }
            }
            tokio::time::sleep(EDIT_EVERY).await;
        }
    }

    async fn edit_digest(&self, channel: u64) -> anyhow::Result<()> {
        let Some(mut header) = self.store.digest_header::<Header>(channel)? else {
            return Ok(());
        };
        let lines: Vec<Line> = self.store.digest_lines(channel)?;
        if lines.is_empty() {
            return Ok(());
        }
        let message = digest::render(&header, &lines);
        let delivery = header
            .message_id
            .map_or(Delivery::Post, |message_id| Delivery::Edit { message_id });
        let possibly_sent = self.before_post(&header.id, delivery).await;
        // The digest waits behind its channel's urgent pages: it ranks as its worst firing line.
        let rank = lines
            .iter()
            .filter(|l| !l.resolved)
            .map(|l| l.rank)
            .max()
            .unwrap_or(0);
        let id = deliver::deliver(
            &self.via(rank),
            channel,
            delivery,
            &message,
            &deliver::Tag::incident(&header.id),
            possibly_sent,
        )
        .await
        .map_err(|u| anyhow::anyhow!("{}", u.reason))?;
        // A worker may have started a newer digest meanwhile: never write over it.
        if let Ok(Some(current)) = self.store.digest_header::<Header>(channel) {
            if current.id != header.id {
                return Ok(());
            }
        }
        header.message_id = Some(id);
        header.updated_ms = Utc::now().timestamp_millis();
        self.persist("the storm digest", || {
            self.store.put_digest_header(channel, &header)?;
            self.store.clear_posting(&header.id)
        })
        .await;
        Ok(())
    }
}

/// Alert name, then the job (or cluster) it is about: what the engineer searches for.
fn line_title(hook: &Webhook, inc: &Incident) -> String {
    let lead = hook.lead_alert();
    let what = inc
        .job
        .as_ref()
        .map(|j| j.name.clone().unwrap_or_else(|| j.id.clone()))
        .or_else(|| lead.labels.get("job_name").cloned())
        .or_else(|| lead.labels.get("job_id").cloned())
        .or_else(|| lead.labels.get("cluster").cloned());
    match what {
        Some(w) => format!("{} · {w}", lead.name()),
        None => lead.name().to_string(),
    }
}
