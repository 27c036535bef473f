//! `exception_history`: each job's failures as the bot read them, beyond Flink's own history
//! (which keeps 16 and forgets them on a JobManager restart). Keyed by cluster and job id; the
//! merge rules (de-duplication, the bound, the first failure kept) are in `facts::history`.
//!
//! The archive is best effort: a page never waits on it or fails for it. A failed call is
//! logged and counted, and the page goes on with what Flink itself still has.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Store, StoreError};
use crate::facts::history::{merge, JobHistory, KEPT};
use crate::flink::types::Exceptions;

/// The handle Flink clients carry (see `FlinkClient::archive`): cheap to clone.
#[derive(Clone)]
pub struct ExceptionArchive {
    store: Store,
    tree: sled::Tree,
    failures: Arc<AtomicU64>,
}

impl Store {
    /// The exception-history archive of this store.
    pub async fn exception_archive(&self) -> Result<ExceptionArchive, StoreError> {
        let db = self.db.clone();
        let tree = self
            .thread
            .run("history open", move || {
                Ok(db.open_tree("exception_history")?)
            })
            .await?;
        Ok(ExceptionArchive {
            store: self.clone(),
            tree,
            failures: Arc::default(),
        })
    }
}

impl std::fmt::Debug for ExceptionArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExceptionArchive")
    }
}

impl ExceptionArchive {
    /// Merges Flink's answer into the job's kept history and returns the result; written only
    /// when something was new (durable with the next group commit).
    pub async fn record(
        &self,
        cluster: &str,
        job_id: &str,
        exceptions: &Exceptions,
    ) -> Result<JobHistory, StoreError> {
        let key = key(cluster, job_id);
        let entries = exceptions.history.entries.clone();
        let truncated = exceptions.history.truncated;
        let tree = self.tree.clone();
        let result = self
            .store
            .thread
            .run("history record", move || {
                let mut history: JobHistory = match tree.get(&key)? {
                    Some(v) => serde_json::from_slice(&v)
                        .map_err(|e| StoreError::Corrupt(format!("exception history: {e}")))?,
                    None => JobHistory::default(),
                };
                if merge(&mut history, &entries, truncated, KEPT) > 0 {
                    let bytes = serde_json::to_vec(&history)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    tree.insert(key, bytes)?;
                }
                Ok(history)
            })
            .await;
        if let Err(e) = &result {
            let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(error = %e, cluster, job = job_id, archive_failures_total = n,
                "could not keep the exception history; the page shows Flink's own");
        }
        result
    }

    /// The job's kept history, without adding to it.
    pub async fn read(&self, cluster: &str, job_id: &str) -> Result<JobHistory, StoreError> {
        let (tree, key) = (self.tree.clone(), key(cluster, job_id));
        self.store
            .thread
            .run("history read", move || match tree.get(&key)? {
                Some(v) => serde_json::from_slice(&v)
                    .map_err(|e| StoreError::Corrupt(format!("exception history: {e}"))),
                None => Ok(JobHistory::default()),
            })
            .await
    }

    /// Calls that failed since start-up.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// `cluster \0 job id`: a NUL cannot occur in either.
fn key(cluster: &str, job_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(cluster.len() + 1 + job_id.len());
    k.extend_from_slice(cluster.as_bytes());
    k.push(0);
    k.extend_from_slice(job_id.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use crate::flink::types::Exceptions;
    use crate::store::Store;

    const FLAKY_23: &str = include_str!("../diagnose/testdata/flink-2.3.0-exceptions-flaky.json");

    #[tokio::test]
    async fn kept_per_job_and_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ex: Exceptions = serde_json::from_str(FLAKY_23).unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let archive = store.exception_archive().await.unwrap();
            let h = archive.record("prod", "a1", &ex).await.unwrap();
            assert_eq!((h.entries.len(), h.seen), (3, 3));
            // Another job, and another cluster with the same job id, are apart.
            assert_eq!(archive.read("prod", "b2").await.unwrap().seen, 0);
            assert_eq!(archive.read("staging", "a1").await.unwrap().seen, 0);
            store.close().await.unwrap();
        }
        // The dropped store's commit task releases sled's file lock when it notices.
        let mut reopened = Store::open(dir.path());
        for _ in 0..100 {
            if reopened.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            reopened = Store::open(dir.path());
        }
        let store = reopened.unwrap();
        let archive = store.exception_archive().await.unwrap();
        let again = archive.record("prod", "a1", &ex).await.unwrap();
        assert_eq!((again.entries.len(), again.seen), (3, 3));
        assert_eq!(archive.failures(), 0);
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_read_fails_only_itself_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let archive = store.exception_archive().await.unwrap();
        archive
            .tree
            .insert(super::key("prod", "a1"), &b"not json"[..])
            .unwrap();
        let ex: Exceptions = serde_json::from_str(FLAKY_23).unwrap();
        let err = archive.record("prod", "a1", &ex).await.unwrap_err();
        assert!(err.to_string().contains("exception history"), "{err}");
        assert_eq!(archive.failures(), 1);
        // The store itself goes on: other jobs, and everything else, still work.
        assert!(store.failure().is_none());
        assert_eq!(archive.record("prod", "b2", &ex).await.unwrap().seen, 3);
        store.check().await.unwrap();
    }
}
