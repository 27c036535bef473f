//! Which jobs exist: a short-lived index of every cluster's `/jobs/overview`, so autocomplete
//! answers from memory (Discord allows 3 s; Flink may be slow or down) and commands can resolve
//! a typed name or id to one job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::enrich::Clusters;

/// One job as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownJob {
    pub cluster: String,
    pub id: String,
    pub name: String,
    pub state: String,
    pub start_time_ms: i64,
    /// -1 (or 0) while running.
    pub end_time_ms: i64,
}

impl KnownJob {
    pub fn is_active(&self) -> bool {
        is_active(&self.state)
    }

    /// Failed, or failing and restarting: what an on-call engineer wants to see first.
    pub fn is_troubled(&self) -> bool {
        matches!(self.state.as_str(), "FAILED" | "FAILING" | "RESTARTING")
    }
}

pub fn is_active(state: &str) -> bool {
    matches!(
        state,
        "RUNNING" | "RESTARTING" | "FAILING" | "CREATED" | "INITIALIZING" | "RECONCILING"
    )
}

#[derive(Default)]
struct Snapshot {
    at: Option<Instant>,
    jobs: Vec<KnownJob>,
    /// Clusters whose last refresh failed (their jobs are kept from before).
    unreachable: Vec<String>,
}

#[derive(Clone)]
pub struct JobIndex {
    clusters: Clusters,
    snapshot: Arc<Mutex<Snapshot>>,
    refreshing: Arc<AtomicBool>,
    ttl: Duration,
}

impl JobIndex {
    pub fn new(clusters: Clusters, ttl: Duration) -> JobIndex {
        JobIndex {
            clusters,
            snapshot: Arc::default(),
            refreshing: Arc::default(),
            ttl,
        }
    }

    /// What is known now, without waiting; starts a refresh in the background when stale.
    pub fn cached(&self) -> Vec<KnownJob> {
        let (jobs, stale) = {
            let s = self.snapshot.lock().expect("job index lock");
            (
                s.jobs.clone(),
                s.at.is_none_or(|at| at.elapsed() > self.ttl),
            )
        };
        if stale {
            self.refresh_in_background();
        }
        jobs
    }

    /// A fresh list (refreshed when older than the ttl), and the clusters that did not answer.
    pub async fn fresh(&self) -> (Vec<KnownJob>, Vec<String>) {
        let stale = {
            let s = self.snapshot.lock().expect("job index lock");
            s.at.is_none_or(|at| at.elapsed() > self.ttl)
        };
        if stale {
            self.refresh().await;
        }
        let s = self.snapshot.lock().expect("job index lock");
        (s.jobs.clone(), s.unreachable.clone())
    }

    pub fn refresh_in_background(&self) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            me.refresh().await;
            me.refreshing.store(false, Ordering::Release);
        });
    }

    /// Asks every cluster at once; each call has the client's deadline.
    pub async fn refresh(&self) {
        let calls = self
            .clusters
            .iter()
            .map(|(name, client)| async move { (name.clone(), client.jobs_overview().await) });
        let results = futures::future::join_all(calls).await;
        let mut s = self.snapshot.lock().expect("job index lock");
        let mut jobs = Vec::new();
        let mut unreachable = Vec::new();
        for (cluster, result) in results {
            match result {
                Ok(overview) => jobs.extend(overview.jobs.into_iter().map(|j| KnownJob {
                    cluster: cluster.clone(),
                    id: j.jid,
                    name: j.name,
                    state: j.state,
                    start_time_ms: j.start_time,
                    end_time_ms: j.end_time,
                })),
                Err(e) => {
                    tracing::warn!(cluster, error = %e, "job index: cluster did not answer");
                    // Keep what we knew: a slow cluster should not empty autocomplete.
                    jobs.extend(s.jobs.iter().filter(|j| j.cluster == cluster).cloned());
                    unreachable.push(cluster);
                }
            }
        }
        jobs.sort_by(|a, b| (&a.cluster, &a.name).cmp(&(&b.cluster, &b.name)));
        *s = Snapshot {
            at: Some(Instant::now()),
            jobs,
            unreachable,
        };
    }
}
