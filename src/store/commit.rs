//! Group commit: every writer asks for durability, one task syncs for all of them at once.
//!
//! The disk does ~7,500 fsyncs/s for one writer; paying one sync per webhook would cap intake
//! there. Writers that arrive while a sync is running are served together by the next one, so
//! the cost of a sync is shared by everyone who was waiting for it. A writer waits at most
//! `storage.timeout_ms`; a flush that fails or hangs marks the store failed (see `thread`).

use prometheus::{Histogram, HistogramOpts};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::thread::{Health, StoreThread};
use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

/// A writer waiting for the next sync, or (`None`) the order to stop after the current one.
type Request = Option<Waiter>;

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<Request>,
    commits: Arc<AtomicU64>,
    thread: StoreThread,
    pub metrics: CommitMetrics,
}

impl Committer {
    pub(super) fn start(
        db: sled::Db,
        path: &Path,
        thread: StoreThread,
    ) -> Result<Committer, StoreError> {
        // sled 0.34's flush() ends in sync_file_range on Linux, which neither writes metadata
        // nor flushes the device cache: it survives a crash of the process but not of the
        // machine. An fdatasync of its log file after each flush makes a 200 mean "on disk"
        // (about -30% intake ceiling, measured in BENCHMARKS.md).
        let log = File::open(path.join("db"))
            .map_err(|e| StoreError::Flush(format!("opening the log for sync: {e}")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let metrics = CommitMetrics::new();
        tokio::spawn(run(
            db,
            log,
            rx,
            commits.clone(),
            thread.health().clone(),
            metrics.clone(),
        ));
        Ok(Committer {
            tx,
            commits,
            thread,
            metrics,
        })
    }

    /// Resolves once a flush that started after this call has completed, or fails after
    /// `storage.timeout_ms`.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.thread.check()?;
        let stopped = || StoreError::Flush("the commit task has stopped".into());
        let (tx, rx) = oneshot::channel();
        self.tx.send(Some(tx)).map_err(|_| stopped())?;
        match tokio::time::timeout(self.thread.timeout(), rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(StoreError::Flush(e)),
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(self.thread.timed_out("flush")),
        }
    }

    /// Stops the task once the syncs asked for so far are done.
    pub fn stop(&self) {
        let _ = self.tx.send(None);
    }

    /// Group commits so far (each served every writer waiting at that moment).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

async fn run(
    db: sled::Db,
    log: File,
    mut rx: mpsc::UnboundedReceiver<Request>,
    commits: Arc<AtomicU64>,
    health: Arc<Health>,
    metrics: CommitMetrics,
) {
    let log = Arc::new(log);
    let mut batch = Vec::new();
    let mut stop = false;
    while !stop {
        let Some(first) = rx.recv().await else {
            break;
        };
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        stop = batch.iter().any(Option::is_none);
        if let Some(reason) = health.failure() {
            // A failed store is not touched again: sled would only repeat its error, or hang.
            for waiter in batch.drain(..).flatten() {
                let _ = waiter.send(Err(reason.clone()));
            }
            continue;
        }
        let (db, log, started) = (db.clone(), log.clone(), std::time::Instant::now());
        // sled's flush_async is unreliable in 0.34; the blocking flush on a worker thread is not.
        let result = tokio::task::spawn_blocking(move || -> Result<(), String> {
            db.flush().map_err(|e| e.to_string())?;
            log.sync_data().map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        commits.fetch_add(1, Ordering::Relaxed);
        metrics.record(started.elapsed(), batch.len());
        if let Err(e) = &result {
            health.fail(format!("flush failed: {e}"));
        }
        for waiter in batch.drain(..).flatten() {
            let _ = waiter.send(result.clone());
        }
    }
}

/// The group-commit figures; owned by the store's commit task, registered by `metrics::Metrics::new`
/// (kept here so the store reports to metrics without knowing it).
#[derive(Clone)]
pub struct CommitMetrics {
    pub seconds: Histogram,
    pub writers: Histogram,
}

impl CommitMetrics {
    pub fn new() -> CommitMetrics {
        let seconds = HistogramOpts::new(
            "flink_chatops_store_commit_duration_seconds",
            "Time of one group commit (sled flush + fdatasync).",
        )
        .buckets(exp_buckets(0.000_25, 2.0, 14));
        let writers = HistogramOpts::new(
            "flink_chatops_store_commit_writers",
            "Writers served by one group commit (all waiting when it started).",
        )
        .buckets(exp_buckets(1.0, 2.0, 12));
        CommitMetrics {
            seconds: Histogram::with_opts(seconds).expect("valid histogram"),
            writers: Histogram::with_opts(writers).expect("valid histogram"),
        }
    }

    pub fn record(&self, took: std::time::Duration, writers: usize) {
        self.seconds.observe(took.as_secs_f64());
        self.writers.observe(writers as f64);
    }
}

impl Default for CommitMetrics {
    fn default() -> Self {
        CommitMetrics::new()
    }
}

fn exp_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    prometheus::exponential_buckets(start, factor, count).expect("valid buckets")
}
