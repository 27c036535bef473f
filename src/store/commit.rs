//! Group commit: every writer asks for durability, one task syncs for all of them at once.
//!
//! The disk does ~7,500 fsyncs/s for one writer; paying one sync per webhook would cap intake
//! there. Writers that arrive while a sync is running are served together by the next one, so
//! the cost of a sync is shared by everyone who was waiting for it.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<Waiter>,
    commits: Arc<AtomicU64>,
    pub metrics: crate::metrics::CommitMetrics,
}

impl Committer {
    pub fn start(db: sled::Db, path: &Path) -> Result<Committer, StoreError> {
        // sled 0.34's flush() ends in sync_file_range on Linux, which neither writes metadata
        // nor flushes the device cache: it survives a crash of the process but not of the
        // machine. An fdatasync of its log file after each flush makes a 200 mean "on disk"
        // (about -30% intake ceiling, measured in BENCHMARKS.md).
        let log = File::open(path.join("db"))
            .map_err(|e| StoreError::Flush(format!("opening the log for sync: {e}")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let metrics = crate::metrics::CommitMetrics::new();
        tokio::spawn(run(db, log, rx, commits.clone(), metrics.clone()));
        Ok(Committer {
            tx,
            commits,
            metrics,
        })
    }

    /// Resolves once a flush that started after this call has completed.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(tx)
            .map_err(|_| StoreError::Flush("the commit task has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Flush("the commit task has stopped".into()))?
            .map_err(StoreError::Flush)
    }

    /// Group commits so far (each served every writer waiting at that moment).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

async fn run(
    db: sled::Db,
    log: File,
    mut rx: mpsc::UnboundedReceiver<Waiter>,
    commits: Arc<AtomicU64>,
    metrics: crate::metrics::CommitMetrics,
) {
    let log = Arc::new(log);
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
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
            tracing::error!(error = %e, "storage flush failed; answering 503 so Alertmanager retries");
        }
        for waiter in batch.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }
}
