//! Processing one group's work: enrich, diagnose, render, deliver, record.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tracing::Instrument;

use super::Pipeline;
use crate::alertmanager::Webhook;
use crate::compose;
use crate::deliver::{self, RetryPolicy};
use crate::enrich::{Facts, Target};
use crate::incident::{self, Delivery, Incident};
use crate::store::InboxEntry;

/// A later look at Flink for an incident whose page went out with facts missing.
pub struct Refill {
    incident_id: String,
    body: Vec<u8>,
    attempt: u32,
}

/// How many times a page with missing facts is looked at again.
const REFILL_ATTEMPTS: u32 = 3;

impl Pipeline {
    /// Delivers a batch of notifications for one group (oldest first; the newest speaks).
    pub(super) async fn process(self: &Arc<Self>, key: &str, batch: Vec<InboxEntry>) {
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
        let prev: Option<Incident> = self.store.incident(key).unwrap_or_else(|e| {
            tracing::error!(error = %e, "incident record unreadable; starting a new one");
            None
        });
        let target = self.target(&hook);
        let severity = hook.severity();
        let channel = self.config.discord.channel_for(target.cluster(), &severity);
        let count = batch.len() as u64;
        let (mut inc, delivery) =
            incident::advance(prev, &hook, count, received_at, channel, batch[0].seq);

        let (facts, message_id) = self.show(&hook, &target, &inc, delivery).await;
        self.metrics.page_delivered(batch[0].received_at_ms);
        inc.message_id = Some(message_id);
        inc.remember_job(&facts);
        self.commit(key, &inc, &batch).await;
        if !facts.is_complete() && !inc.is_resolved() {
            self.schedule_refill(key, &inc, newest.body.clone(), 1);
        }
    }

    /// Looks at Flink again for a page that went out with facts missing, and edits it in place.
    pub(super) async fn refill(self: &Arc<Self>, key: &str, refill: Refill) {
        let current: Option<Incident> = self.store.incident(key).ok().flatten();
        // Only the same, still-open incident; a newer notification already brought fresh facts.
        let Some(inc) = current.filter(|i| i.id == refill.incident_id && !i.is_resolved()) else {
            return;
        };
        let (Some(message_id), Ok(hook)) = (inc.message_id, Webhook::parse(&refill.body)) else {
            return;
        };
        let target = self.target(&hook);
        let (facts, _) = self
            .show(&hook, &target, &inc, Delivery::Edit { message_id })
            .await;
        if !facts.is_complete() && refill.attempt < REFILL_ATTEMPTS {
            self.schedule_refill(key, &inc, refill.body, refill.attempt + 1);
        }
    }

    fn schedule_refill(self: &Arc<Self>, key: &str, inc: &Incident, body: Vec<u8>, attempt: u32) {
        let after = self.config.flink.refill_after_ms;
        if after == 0 {
            return;
        }
        let me = self.clone();
        let key = key.to_string();
        let refill = Refill {
            incident_id: inc.id.clone(),
            body,
            attempt,
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after * u64::from(attempt))).await;
            me.enqueue(key, |w| w.refill = Some(refill));
        });
    }

    fn target(&self, hook: &Webhook) -> Target {
        compose::target(&self.config, hook)
    }

    /// Enrich, diagnose, render and deliver; returns the facts and the message's id.
    async fn show(
        &self,
        hook: &Webhook,
        target: &Target,
        inc: &Incident,
        delivery: Delivery,
    ) -> (Facts, u64) {
        let span = crate::telemetry::incident_span(&inc.id);
        let facts = compose::facts(&self.clusters, hook, target)
            .instrument(span.clone())
            .await;
        self.metrics.enrichment(&facts);
        let note = self
            .store
            .incident_note::<crate::guard::Note>(&inc.id)
            .ok()
            .and_then(|n| n.line());
        let (message, pattern) =
            compose::message(&self.config, &self.renderer, hook, inc, &facts, note);
        let id = deliver::deliver(
            &self.sink,
            self.retry_policy(),
            inc.channel_id,
            delivery,
            &message,
            &inc.id,
            &self.metrics,
        )
        .instrument(span)
        .await;
        tracing::info!(incident = %inc.id, message_id = id, pattern, notifications = inc.notifications, complete = facts.is_complete(), "delivered");
        (facts, id)
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(self.config.delivery.retry_initial_ms),
            max: Duration::from_millis(self.config.delivery.retry_max_ms),
        }
    }

    /// Records the delivery; retried until storage accepts it (the message is already out).
    async fn commit(&self, key: &str, inc: &Incident, batch: &[InboxEntry]) {
        let policy = self.retry_policy();
        let mut backoff = policy.initial;
        loop {
            let result = async {
                self.store.put_incident(key, inc)?;
                self.store.index_incident(&inc.id, key)?;
                self.store.complete(batch)?;
                self.store.durable().await
            }
            .await;
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(incident = %inc.id, error = %e, "cannot record a delivery; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(policy.max);
                }
            }
        }
    }
}
