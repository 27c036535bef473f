//! The pipeline: from what the store holds to a delivered message, one incident at a time.
//!
//! Notifications of the same Alertmanager group are processed in order and coalesced (a burst of
//! repeats becomes one edit); different groups run concurrently up to `delivery.concurrency`.
//! An entry leaves the inbox only after its message is delivered and the incident is saved, so a
//! crash at any point means "deliver again after restart", never "lost".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tokio::sync::{Notify, Semaphore};

use crate::alertmanager::Webhook;
use crate::config::Config;
use crate::deliver::{self, RetryPolicy, Sink};
use crate::diagnose::diagnose;
use crate::enrich::{self, Clusters, Target};
use crate::incident::{self, Incident};
use crate::render::{RenderInput, Renderer};
use crate::store::{InboxEntry, Store};

pub struct Pipeline {
    pub store: Store,
    pub clusters: Clusters,
    pub renderer: Renderer,
    pub sink: Sink,
    pub config: Config,
    /// Poked by intake after each durable write.
    pub wake: Arc<Notify>,
}

type Queues = Arc<Mutex<HashMap<String, Vec<InboxEntry>>>>;

impl Pipeline {
    pub async fn run(self: Arc<Self>) {
        let queues: Queues = Arc::default();
        let permits = Arc::new(Semaphore::new(self.config.delivery.concurrency));
        let mut last: Option<u64> = None;
        loop {
            // Register interest before scanning so a wake-up during the scan is not missed.
            let woken = self.wake.notified();
            match self.store.pending_after(last) {
                Ok(entries) => {
                    for entry in entries {
                        last = Some(entry.seq);
                        self.dispatch(entry, &queues, &permits);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the inbox; retrying"),
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    fn dispatch(self: &Arc<Self>, entry: InboxEntry, queues: &Queues, permits: &Arc<Semaphore>) {
        let key = match Webhook::parse(&entry.body) {
            Ok(hook) => hook.group_key,
            Err(e) => {
                // Intake validated it, so only a foreign or corrupt record lands here; keep it
                // out of the way but visible in the log rather than retrying forever.
                tracing::error!(seq = entry.seq, error = %e, body = %String::from_utf8_lossy(&entry.body), "unreadable inbox entry");
                let _ = self.store.complete(&[entry]);
                return;
            }
        };
        let mut q = queues.lock().expect("queue lock");
        if let Some(pending) = q.get_mut(&key) {
            pending.push(entry);
            return;
        }
        q.insert(key.clone(), vec![entry]);
        drop(q);
        let (me, queues, permits) = (self.clone(), queues.clone(), permits.clone());
        tokio::spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            loop {
                let batch = {
                    let mut q = queues.lock().expect("queue lock");
                    match q.get_mut(&key) {
                        Some(pending) if !pending.is_empty() => std::mem::take(pending),
                        _ => {
                            q.remove(&key);
                            break;
                        }
                    }
                };
                me.process(&key, batch).await;
            }
        });
    }

    /// Delivers a batch of notifications for one group (oldest first; the newest speaks).
    async fn process(&self, key: &str, batch: Vec<InboxEntry>) {
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
        let lead = hook.lead_alert();
        let cfg = &self.config;
        let known: Vec<String> = cfg.clusters.iter().map(|c| c.name.clone()).collect();
        let target = enrich::target(
            lead,
            &cfg.flink.cluster_label,
            &known,
            &cfg.default_cluster().name,
        );
        let cluster = match &target {
            Target::Cluster { cluster, .. } => Some(cluster.as_str()),
            Target::UnknownCluster(_) => None,
        };
        let severity = hook.severity();
        let channel = cfg.discord.channel_for(cluster, &severity);
        let (mut inc, delivery) = incident::advance(
            prev,
            &hook,
            batch.len() as u64,
            received_at,
            channel,
            batch[0].seq,
        );

        let started = lead.starts_at.timestamp_millis();
        let facts = enrich::gather(
            &self.clusters,
            &target,
            wants_backpressure(lead.name()),
            started,
        )
        .await;
        let diagnosis = diagnose(lead.name(), &facts);
        let message = self.renderer.render(&RenderInput {
            hook: &hook,
            incident: &inc,
            facts: &facts,
            diagnosis: &diagnosis,
            mentions: cfg.discord.mentions_for(&severity),
            now: Utc::now(),
        });
        let policy = RetryPolicy {
            initial: Duration::from_millis(cfg.delivery.retry_initial_ms),
            max: Duration::from_millis(cfg.delivery.retry_max_ms),
        };
        let id = deliver::deliver(
            &self.sink,
            policy,
            inc.channel_id,
            delivery,
            &message,
            &inc.id,
        )
        .await;
        inc.message_id = Some(id);
        tracing::info!(incident = %inc.id, message = id, pattern = diagnosis.slug, notifications = inc.notifications, "delivered");
        self.commit(key, &inc, &batch, policy).await;
    }

    /// Records the delivery; retried until storage accepts it (the message is already out).
    async fn commit(&self, key: &str, inc: &Incident, batch: &[InboxEntry], policy: RetryPolicy) {
        let mut backoff = policy.initial;
        loop {
            let result = async {
                self.store.put_incident(key, inc)?;
                self.store.complete(batch)?;
                self.store.durable().await
            }
            .await;
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, "cannot record a delivery; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(policy.max);
                }
            }
        }
    }
}

/// Back-pressure sampling costs a second round of calls; only worth it when the alert is about
/// throughput.
fn wants_backpressure(alert_name: &str) -> bool {
    let n = alert_name.to_ascii_lowercase();
    n.contains("backpressure") || n.contains("lag") || n.contains("watermark")
}
