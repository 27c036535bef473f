//! Asks every cluster for its jobs, every `flink.roster_every_ms`, and keeps the answer
//! (see the module above). A cluster that does not answer keeps its last roster: that is the
//! one its topology incident needs.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use prometheus::{IntGaugeVec, Opts};

use super::Roster;
use crate::enrich::Clusters;
use crate::store::Store;

pub struct Watch {
    store: Store,
    clusters: Clusters,
    every: Duration,
    up: IntGaugeVec,
    jobs: IntGaugeVec,
}

impl Watch {
    pub fn new(store: Store, clusters: Clusters, every: Duration) -> prometheus::Result<Watch> {
        let up = IntGaugeVec::new(
            Opts::new(
                "flink_chatops_cluster_up",
                "1 when the cluster answered the bot's last GET /jobs/overview (every flink.roster_every_ms), else 0.",
            ),
            &["flink_cluster"],
        )?;
        let jobs = IntGaugeVec::new(
            Opts::new(
                "flink_chatops_cluster_jobs",
                "Jobs not in a terminal state at the cluster's last answer (what its topology incident lists when it stops answering).",
            ),
            &["flink_cluster"],
        )?;
        // Every cluster has both series from the start: down until it answers, with the jobs
        // of the roster kept from before (a restart while a cluster is down keeps them).
        for name in clusters.keys() {
            up.with_label_values(&[name]).set(0);
            let kept = store.roster::<Roster>(name).ok().flatten();
            jobs.with_label_values(&[name])
                .set(kept.map_or(0, |r| i64::try_from(r.jobs.len()).unwrap_or(i64::MAX)));
        }
        Ok(Watch {
            store,
            clusters,
            every,
            up,
            jobs,
        })
    }

    /// For `/metrics` (`Metrics::register`).
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![Box::new(self.up.clone()), Box::new(self.jobs.clone())]
    }

    /// Polls at once, then every `every`, forever.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let polls = self.clusters.keys().map(|name| self.poll(name));
            futures::future::join_all(polls).await;
        }
    }

    async fn poll(&self, name: &str) {
        let Some(client) = self.clusters.get(name) else {
            return;
        };
        let overview = match client.jobs_overview().await {
            Ok(o) => o,
            Err(e) => {
                self.up.with_label_values(&[name]).set(0);
                tracing::debug!(cluster = name, error = %e, "roster: the cluster did not answer");
                return;
            }
        };
        self.up.with_label_values(&[name]).set(1);
        let roster = Roster::from_overview(&overview, Utc::now().timestamp_millis());
        self.jobs
            .with_label_values(&[name])
            .set(i64::try_from(roster.jobs.len()).unwrap_or(i64::MAX));
        let kept = match self.store.roster::<Roster>(name) {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(cluster = name, error = %e, "roster: cannot read the kept one");
                return;
            }
        };
        if kept.is_some_and(|k| !k.outdated_by(&roster)) {
            return;
        }
        if let Err(e) = self.store.put_roster(name, &roster) {
            tracing::warn!(cluster = name, error = %e, "roster: cannot keep it");
        }
    }
}
