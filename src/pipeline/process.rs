//! Processing one group's work: enrich, diagnose, render, deliver, record.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tracing::Instrument;

use super::Pipeline;
use crate::alertmanager::Webhook;
use crate::compose;
use crate::deliver::{self, RetryPolicy, Undeliverable};
use crate::diagnose::Diagnosis;
use crate::digest;
use crate::facts::{Facts, Target};
use crate::incident::{self, Delivery, Incident, Origin};
use crate::message::Message;
use crate::severity::Level;
use crate::store::{
    decode_incident, Delivered, DueItem, GroupBatch, InboxEntry, LineChange, StoreError,
};

/// A rendered page on its way out: the message, and what the delivery is waited and logged by.
struct Page<'a> {
    message: &'a Message,
    /// The diagnosis' runbook slug (logged).
    pattern: &'a str,
    /// Whether every Flink fact was there (logged).
    complete: bool,
    /// Severity rank: its place in the rate-limit waiting line.
    rank: u8,
}

/// How many times a page with missing facts is looked at again.
const REFILL_ATTEMPTS: u32 = 3;

impl Pipeline {
    /// Delivers a batch of notifications for one group (oldest first; the newest speaks).
    pub(super) async fn process(self: &Arc<Self>, work: GroupBatch) {
        let GroupBatch {
            group_key,
            entries: batch,
            incident,
        } = work;
        let key = group_key.as_str();
        let newest = batch.last().expect("batches are never empty");
        let hook = match Webhook::parse(&newest.body) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "unreadable inbox entry");
                let _ = self.store.complete(&batch);
                return;
            }
        };
        let received_at = Utc
            .timestamp_millis_opt(newest.received_at_ms)
            .single()
            .unwrap_or_else(Utc::now);
        let prev: Option<Incident> =
            decode_incident(key, incident.as_deref()).unwrap_or_else(|e| {
                tracing::error!(error = %e, "incident record unreadable; starting a new one");
                None
            });
        let prev_id = prev.as_ref().map(|p| p.id.clone());
        let target = self.target(&hook);
        let severity = hook.severity();
        let channel = self.config.discord.channel_for(target.cluster(), &severity);
        let origin = Origin {
            instance: self.store.instance_id(),
            first_seq: batch[0].seq,
        };
        let (mut inc, delivery) = incident::advance(
            prev,
            &hook,
            batch.len() as u64,
            received_at,
            channel,
            origin,
        );

        // The id index changes only when the incident is new (its id is never reused).
        let new_id = prev_id.as_deref() != Some(inc.id.as_str());
        let rank = Level::of(&severity).rank();
        // The posting mark must be on disk before the post; when the page is sure to be a post
        // of its own, its sync runs while Flink is asked instead of after.
        let early =
            delivery == Delivery::Post && !self.may_digest(inc.channel_id, rank, inc.digested);
        let ((facts, diagnosis), early_mark) = if early {
            let (look, marked) = tokio::join!(
                self.look(&hook, &target, &inc),
                self.before_post(&inc.id, delivery)
            );
            (look, Some(marked))
        } else {
            (self.look(&hook, &target, &inc).await, None)
        };
        // A rescale is not a failure: it ranks as information whatever the alert's severity,
        // so it waits behind real pages and joins a storm's digest.
        let rank = if diagnosis.pattern == crate::diagnose::Pattern::Rescale {
            rank.min(Level::Info.rank())
        } else {
            rank
        };
        // A job page sharing a lost TaskManager or an unreachable cluster with others becomes a
        // line of that cause's one incident (see `topology`); the record takes it out of the
        // inbox (and its posting mark, if one was written while Flink was asked).
        if delivery == Delivery::Post && !inc.digested {
            let on_board = super::topology::OnBoard {
                key,
                new_id,
                batch: &batch,
                hook: &hook,
                facts: &facts,
                diagnosis: &diagnosis,
            };
            if self.to_board(&mut inc, on_board).await {
                return;
            }
        }
        let mut line = LineChange::Keep;
        if delivery == Delivery::Post {
            let route = digest::Route {
                rank,
                needs_action: diagnosis.pattern.state_at_risk(),
                already_digested: inc.digested,
                storm: false,
            };
            if self.to_digest(inc.channel_id, route) {
                if early_mark.is_some() {
                    // A storm began while Flink was asked: no post after all (the digest's
                    // record makes this durable).
                    if let Err(e) = self.store.clear_posting(&inc.id) {
                        tracing::warn!(error = %e, "cannot clear a posting mark");
                    }
                }
                inc.remember_job(&facts);
                inc.saw(&facts, &diagnosis.title, false);
                self.digest_line(key, inc, new_id, &batch, &hook, rank)
                    .await;
                return;
            }
            if inc.digested {
                // Turned high or critical, or needs an action now: a message of its own.
                inc.digested = false;
                line = LineChange::Remove {
                    channel: inc.channel_id,
                };
                self.digest_changed(inc.channel_id);
            }
        }
        // Rendered only now: a digest line needs no message.
        let message = self.render(&hook, &inc, &facts, &diagnosis);
        let possibly_sent = match early_mark {
            Some(marked) => marked,
            None => self.before_post(&inc.id, delivery).await,
        };
        let page = Page {
            message: &message,
            pattern: diagnosis.slug,
            complete: facts.is_complete(),
            rank,
        };
        let shown = self.send(&inc, delivery, page, possibly_sent).await;
        match shown {
            Ok(message_id) => {
                self.metrics.page_delivered(batch[0].received_at_ms);
                inc.message_id = Some(message_id);
                inc.first_paged_at.get_or_insert_with(chrono::Utc::now);
                inc.remember_job(&facts);
                inc.saw(&facts, &diagnosis.title, false);
                let refill = (!facts.is_complete() && !inc.is_resolved())
                    .then(|| self.refill_item(key, &inc, 1))
                    .flatten();
                self.record(
                    Delivered {
                        group_key: key,
                        incident_id: &inc.id,
                        incident: &inc,
                        new_id,
                        batch: &batch,
                        refill: refill.as_ref().map(|d| (d, &newest.body[..])),
                        digest: line,
                        shown: self.page_copy(&inc, &message),
                    },
                    "a delivery",
                )
                .await;
            }
            Err(undeliverable) => self.give_up(&inc, &batch, &undeliverable).await,
        }
    }

    /// Looks at Flink again for a page that went out with facts missing, and edits it in place.
    pub(super) async fn refill(self: &Arc<Self>, key: &str, due: DueItem) {
        let body = match self.store.due_body(&due.key) {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a due refill; dropping it");
                return;
            }
        };
        let current: Option<Incident> = self.store.incident(key).ok().flatten();
        // Only the same, still-open incident, and only if no newer notification (which brought
        // fresh facts and scheduled its own refill) was delivered since.
        let still = current.filter(|i| {
            i.id == due.incident_id && !i.is_resolved() && i.notifications == due.notifications
        });
        let mut next = None;
        let mut shown = None;
        let mut looked = None;
        if let (Some(mut inc), Ok(hook)) = (still, Webhook::parse(&body)) {
            if let Some(message_id) = inc.message_id {
                let target = self.target(&hook);
                let delivery = Delivery::Edit { message_id };
                let rank = Level::of(&hook.severity()).rank();
                let (facts, diagnosis) = self.look(&hook, &target, &inc).await;
                let message = self.render(&hook, &inc, &facts, &diagnosis);
                let page = Page {
                    message: &message,
                    pattern: diagnosis.slug,
                    complete: facts.is_complete(),
                    rank,
                };
                let sent = self.send(&inc, delivery, page, false).await;
                if sent.is_ok() {
                    shown = self.page_copy(&inc, &message);
                    inc.saw(&facts, &diagnosis.title, true);
                    looked = Some(inc.clone());
                }
                match sent {
                    Ok(_) if !facts.is_complete() && due.attempt < REFILL_ATTEMPTS => {
                        next = self.refill_item(key, &inc, due.attempt + 1);
                    }
                    Ok(_) => {}
                    Err(u) => {
                        tracing::error!(incident = %inc.id, reason = %u.reason, "cannot edit the page with the new facts; giving up on this refill");
                    }
                }
            }
        }
        self.persist("a refill", || {
            self.store.remove_due(&due.key)?;
            if let Some(d) = &next {
                self.store.schedule_due(d, &body)?;
            }
            if let Some((k, v)) = &shown {
                self.store.put_shown_raw(k, v.clone())?;
            }
            if let Some(inc) = &looked {
                self.store.put_incident(key, inc)?;
            }
            Ok(())
        })
        .await;
    }

    /// The refill to schedule after a delivery that lacked facts (none when refills are off).
    fn refill_item(&self, key: &str, inc: &Incident, attempt: u32) -> Option<DueItem> {
        let after = self.config.flink.refill_after_ms;
        (after > 0).then(|| DueItem {
            key: Vec::new(),
            due_ms: Utc::now().timestamp_millis()
                + (after.saturating_mul(u64::from(attempt))) as i64,
            incident_id: inc.id.clone(),
            group_key: key.to_string(),
            attempt,
            notifications: inc.notifications,
        })
    }

    /// The message as sent, kept so the incident's state line can change without a new render
    /// (see `outbox.rs`). Only where buttons and commands can change it: a rich page is about
    /// 5 KB of JSON, which a bot without interactions would keep for nothing.
    fn page_copy(&self, inc: &Incident, message: &Message) -> Option<(String, Vec<u8>)> {
        self.interactions.then(|| {
            (
                crate::outbox::page_key(&inc.id),
                serde_json::to_vec(message).unwrap_or_default(),
            )
        })
    }

    fn target(&self, hook: &Webhook) -> Target {
        compose::target(&self.config, hook)
    }

    /// Before a new incident's first post, puts on disk that it may be out; returns whether an
    /// earlier attempt (before a crash) had already started, so delivery looks for it first.
    pub(super) async fn before_post(&self, id: &str, delivery: Delivery) -> bool {
        if delivery != Delivery::Post {
            return false;
        }
        match self.store.mark_posting(id) {
            Ok(true) => true,
            Ok(false) => {
                if let Err(e) = self.store.durable().await {
                    tracing::error!(error = %e, "cannot record that a post starts; posting anyway");
                }
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read post marks; looking in the channel first");
                true
            }
        }
    }

    /// What Flink says about the incident's job, and the failure pattern that shows.
    async fn look(&self, hook: &Webhook, target: &Target, inc: &Incident) -> (Facts, Diagnosis) {
        let facts = compose::facts(&self.clusters, hook, target)
            .instrument(crate::telemetry::incident_span(&inc.id))
            .await;
        self.metrics.enrichment(&facts);
        let diagnosis = compose::diagnosis(hook, &facts);
        (facts, diagnosis)
    }

    /// The incident's message, with its one-line state (acknowledged, silenced, last action).
    fn render(&self, hook: &Webhook, inc: &Incident, facts: &Facts, d: &Diagnosis) -> Message {
        let note = self
            .store
            .incident_note::<crate::guard::Note>(&inc.id)
            .ok()
            .and_then(|n| n.line());
        compose::message(&self.config, &self.renderer, hook, inc, facts, d, note)
    }

    /// Delivers the page; returns the id of the message that shows the incident.
    async fn send(
        &self,
        inc: &Incident,
        delivery: Delivery,
        page: Page<'_>,
        possibly_sent: bool,
    ) -> Result<u64, Undeliverable> {
        let shown = deliver::deliver(
            &self.via(page.rank),
            inc.channel_id,
            delivery,
            page.message,
            &deliver::Tag::incident(&inc.id),
            possibly_sent,
        )
        .instrument(crate::telemetry::incident_span(&inc.id))
        .await;
        if let Ok(id) = shown {
            tracing::info!(incident = %inc.id, message_id = id, pattern = page.pattern, notifications = inc.notifications, complete = page.complete, "delivered");
        }
        shown
    }

    pub(super) fn via(&self, rank: u8) -> deliver::Via<'_> {
        deliver::Via {
            sink: &self.sink,
            policy: self.retry_policy(),
            metrics: &self.metrics,
            rank,
        }
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(self.config.delivery.retry_initial_ms),
            max: Duration::from_millis(self.config.delivery.retry_max_ms),
        }
    }

    /// Records a delivery (and the refill it needs) in one durable write.
    pub(super) async fn record<T: serde::Serialize>(
        &self,
        delivered: Delivered<'_, T>,
        what: &str,
    ) {
        self.persist(what, || self.store.record_delivery(&delivered))
            .await;
    }

    /// Keeps a page Discord will not take aside (the store's `dead` tree), so it neither blocks
    /// the group nor is lost, and says so where an operator looks.
    async fn give_up(&self, inc: &Incident, batch: &[InboxEntry], why: &Undeliverable) {
        self.persist("an undeliverable page", || {
            self.store.bury(batch, &why.reason)?;
            self.store.clear_posting(&inc.id)
        })
        .await;
        tracing::error!(
            incident = %inc.id,
            channel = inc.channel_id,
            group = %inc.group_key,
            notifications = batch.len(),
            reason = %why.reason,
            undeliverable_total = self.store.dead_count(),
            "PAGE NOT DELIVERED: Discord will not take it; kept in the store's dead letters"
        );
    }

    /// Writes, then waits until durable; retried until storage accepts it (the message is
    /// already out, so giving up would post it again after a restart).
    pub(super) async fn persist(&self, what: &str, write: impl Fn() -> Result<(), StoreError>) {
        let policy = self.retry_policy();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = async {
                write()?;
                self.store.durable().await
            }
            .await;
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, "cannot record {what}; retrying");
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
            }
        }
    }
}
