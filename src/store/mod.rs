//! The bot's only persistent state, behind the project's own interface so that sled (0.34, beta)
//! is used in exactly one place.
//!
//! Trees:
//! - `inbox`: acknowledged webhook bodies not yet fully delivered, keyed by a monotonic sequence;
//!   each entry carries its body's hash, so the index of pending hashes that lets a byte-identical
//!   resend be acknowledged without storing it twice lives in memory, rebuilt on open (see
//!   `inbox.rs`).
//! - `incidents`: one record per Alertmanager group: which Discord message shows it.
//! - `meta`: the store instance's random id, made when the store is first created.
//! - `due`, `posting`, `dead`: refills waiting for their time, posts that may be out but are not
//!   recorded, and pages Discord will not take (see `instance.rs`, `due.rs` and `posts.rs`).
//! - `audit`: the hash-chained audit log (see `audit.rs`).
//! - `incident_ids`: incident id -> group key, so a button naming an incident finds it.
//! - `requests`: guarded action requests and their approvals (see `requests.rs`).
//! - `notes`: incident id -> the one-line state its message shows (acknowledged, silenced, last action).
//! - `exception_history`: cluster + job id -> the job's failures kept beyond Flink's own (see
//!   `history.rs`).
//! - `digests`, `digest_lines`: each channel's storm digest and its lines (see `digests.rs`).
//! - `topology`: the boards of lost TaskManagers and unreachable clusters (see `topology.rs`).
//! - `outbox`, `shown`: Discord work that is not a page (a request's message and files, an
//!   incident's one-line state), and what the way out has shown (see `outbox.rs`).
//!
//! Resolved incidents and what hangs off them are removed after `storage.retention` (see
//! `retention.rs`); no other tree is pruned by age.
//!
//! No sled call runs on the caller's thread: [`thread`] runs them on the store thread under
//! `storage.timeout_ms` and latches the first failure (sled keeps it forever); [`recover`] then
//! waits for the disk to take writes again, when the bot exits to be restarted on the same store.

mod audit;
pub mod backup;
mod commit;
mod dead;
mod delivery;
mod digests;
mod due;
mod history;
mod inbox;
mod instance;
mod outbox;
mod posts;
mod recover;
mod requests;
mod retention;
mod roster;
mod thread;
mod topology;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;

pub use audit::{AuditError, AuditLog};
pub use commit::{CommitMetrics, Committer};
pub use dead::{DeadLetter, Which};
pub use delivery::Delivered;
pub use digests::LineChange;
pub use due::DueItem;
pub use history::ExceptionArchive;
use inbox::{decode_entry, encode_entry, Completed};
pub use inbox::{Accepted, GroupBatch, GroupId, InboxEntry, Pending};
pub use outbox::With;
pub use retention::Pruned;
use thread::StoreThread;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("storage flush failed: {0}")]
    Flush(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The store has failed (an I/O error or a call past its deadline) and is no longer used.
    #[error("storage failed: {0}")]
    Failed(String),
}

impl StoreError {
    /// Whether the store can no longer be trusted: sled keeps an I/O error for good.
    fn is_fatal(&self) -> bool {
        match self {
            StoreError::Sled(e) => !matches!(e, sled::Error::CollectionNotFound(_)),
            StoreError::Flush(_) | StoreError::Failed(_) => true,
            StoreError::Corrupt(_) => false,
        }
    }
}

/// A stored incident record (see [`Store::incident`]).
pub fn decode_incident<T: DeserializeOwned>(
    key: &str,
    value: Option<&[u8]>,
) -> Result<Option<T>, StoreError> {
    match value {
        Some(v) => serde_json::from_slice(v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("incident {key:?}: {e}"))),
        None => Ok(None),
    }
}

/// Page cache of the storage engine; what does not fit is read back from the file (OS cache).
const CACHE_BYTES: u64 = 20 * 1024 * 1024;

/// Deadline of one storage call (`storage.timeout_ms`) when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    inbox: sled::Tree,
    incidents: sled::Tree,
    incident_ids: sled::Tree,
    requests: sled::Tree,
    notes: sled::Tree,
    committer: Committer,
    /// Hash of each pending body -> its sequence. Sequence allocation, the inbox insert and this
    /// index change under this one lock, so entries appear in sequence order and two identical
    /// bodies arriving together are stored once...
    pending_index: Arc<Mutex<HashMap<[u8; 16], u64>>>,
    /// ...and this is the highest sequence whose entry and every lower one are in `inbox`.
    /// `pending_after` never reads past it, so a reader that moves its cursor past a sequence
    /// can never miss a lower one that was still being written (seen in benchmarks before).
    visible: Arc<AtomicU64>,
    /// `pending_index.len()`, readable without its lock (which a stuck sled call may hold).
    pending: Arc<AtomicUsize>,
    thread: StoreThread,
    path: PathBuf,
    /// Random, made once per store; mixed into incident ids so two stores never share one.
    instance: Arc<str>,
    due: sled::Tree,
    posting: sled::Tree,
    dead: sled::Tree,
    digests: sled::Tree,
    digest_lines: sled::Tree,
    outbox: sled::Tree,
    shown: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store and starts its group-commit task; needs a Tokio runtime.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_timeout(path, DEFAULT_TIMEOUT)
    }

    /// [`Store::open`] with the deadline of each storage call. Blocks while sled recovers its
    /// log: call it from a blocking thread.
    pub fn open_with_timeout(path: &Path, timeout: Duration) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // Durability comes from explicit group commits, not from sled's timer.
            .flush_every_ms(None)
            // sled's default page cache is 1 GiB, so a backlog of undelivered notifications
            // would stay in memory. 20 MiB keeps 100,000 pending under 80 MB (with jemalloc,
            // see main.rs) and still acknowledges 10,000/s; 16 MiB once cost 30% of intake
            // (evictions). BENCHMARKS.md has the figures.
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let inbox = db.open_tree("inbox")?;
        let visible = match inbox.last()? {
            Some((k, _)) => decode_seq(&k)?,
            None => 0,
        };
        let mut pending = HashMap::new();
        for item in inbox.iter() {
            let (k, v) = item?;
            let e = decode_entry(&k, &v)?;
            pending.insert(e.hash, e.seq);
        }
        // Stores written before the index moved to memory kept it in a tree of its own.
        db.drop_tree("seen")?;
        let instance = instance::instance_id(&db.open_tree("meta")?)?;
        let thread = StoreThread::start(timeout)?;
        Ok(Store {
            instance,
            due: db.open_tree("due")?,
            posting: db.open_tree("posting")?,
            dead: db.open_tree("dead")?,
            digests: db.open_tree("digests")?,
            digest_lines: db.open_tree("digest_lines")?,
            outbox: db.open_tree("outbox")?,
            shown: db.open_tree("shown")?,
            committer: Committer::start(db.clone(), path, thread.clone())?,
            incidents: db.open_tree("incidents")?,
            incident_ids: db.open_tree("incident_ids")?,
            requests: db.open_tree("requests")?,
            notes: db.open_tree("notes")?,
            inbox,
            db,
            pending: Arc::new(AtomicUsize::new(pending.len())),
            pending_index: Arc::new(Mutex::new(pending)),
            visible: Arc::new(AtomicU64::new(visible)),
            thread,
            path: path.to_path_buf(),
        })
    }

    pub fn incident<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let (incidents, k) = (self.incidents.clone(), key.as_bytes().to_vec());
        let value = self
            .thread
            .run_blocking("incident read", move || Ok(incidents.get(k)?))?;
        decode_incident(key, value.as_deref())
    }

    /// Writes a group's incident record when no delivery does (a refill's look at Flink;
    /// deliveries write theirs with [`Store::record_delivery`]). Durable after the next
    /// [`Store::durable`].
    pub fn put_incident<T: serde::Serialize>(
        &self,
        key: &str,
        incident: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(incident).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (incidents, k) = (self.incidents.clone(), key.as_bytes().to_vec());
        self.thread.run_blocking("incident write", move || {
            incidents.insert(k, bytes)?;
            Ok(())
        })
    }

    /// One JSON record of `tree` (`what` names it in a corruption error).
    pub(super) fn json_record<T: DeserializeOwned>(
        &self,
        what: &'static str,
        tree: sled::Tree,
        key: Vec<u8>,
    ) -> Result<Option<T>, StoreError> {
        let value = self.thread.run_blocking(what, move || Ok(tree.get(key)?))?;
        value
            .map(|v| {
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
            })
            .transpose()
    }

    /// Every JSON record of `tree` under `prefix`, in key order.
    pub(super) fn json_records<T: DeserializeOwned>(
        &self,
        what: &'static str,
        tree: sled::Tree,
        prefix: Vec<u8>,
    ) -> Result<Vec<T>, StoreError> {
        let raw: Vec<Vec<u8>> = self.thread.run_blocking(what, move || {
            tree.scan_prefix(prefix)
                .values()
                .map(|v| Ok(v?.to_vec()))
                .collect()
        })?;
        raw.iter()
            .map(|v| {
                serde_json::from_slice(v).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
            })
            .collect()
    }

    /// The incident with this id, if the store still has it.
    pub fn incident_by_id<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, StoreError> {
        let (ids, id) = (self.incident_ids.clone(), id.as_bytes().to_vec());
        let key = self
            .thread
            .run_blocking("incident index read", move || Ok(ids.get(id)?))?;
        match key {
            Some(key) => self.incident(&String::from_utf8_lossy(&key)),
            None => Ok(None),
        }
    }

    /// The incidents `keep` accepts, decoded (a scan of every incident record: for commands,
    /// not for the paging path).
    pub fn incidents_where<T, F>(&self, keep: F) -> Result<Vec<T>, StoreError>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(&T) -> bool + Send + 'static,
    {
        let tree = self.incidents.clone();
        self.thread.run_blocking("incident scan", move || {
            let mut out = Vec::new();
            for item in tree.iter() {
                let (_, v) = item?;
                if let Ok(inc) = serde_json::from_slice::<T>(&v) {
                    if keep(&inc) {
                        out.push(inc);
                    }
                }
            }
            Ok(out)
        })
    }

    /// The Alertmanager group key of the incident with this id, if the store knows it.
    pub fn incident_group(&self, id: &str) -> Result<Option<String>, StoreError> {
        let (ids, id) = (self.incident_ids.clone(), id.as_bytes().to_vec());
        let key = self
            .thread
            .run_blocking("incident index read", move || Ok(ids.get(id)?))?;
        Ok(key.map(|k| String::from_utf8_lossy(&k).into_owned()))
    }

    /// Waits until everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.committer.durable().await
    }

    /// Group commits so far; with concurrent writers, fewer than writes.
    pub fn commits(&self) -> u64 {
        self.committer.commits()
    }

    /// The group-commit histograms, for `/metrics`.
    pub fn commit_metrics(&self) -> &CommitMetrics {
        &self.committer.metrics
    }

    /// This store's random instance id (hex), the same on every open of the same store.
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// A cheap liveness probe of the storage engine for `/readyz`, under the deadline.
    pub async fn check(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        self.thread
            .run("readyz probe", move || {
                db.get(b"__readyz")?;
                Ok(())
            })
            .await
    }

    /// Why the store failed, once it has (it is not used again in this process).
    pub fn failure(&self) -> Option<String> {
        self.thread.health().failure()
    }

    /// Resolves once the store has failed and its disk takes writes again: the moment to exit
    /// and be restarted on the same store (see [`recover`]).
    pub async fn recoverable(&self) {
        recover::wait(self.thread.health().clone(), self.path.clone()).await
    }

    /// Last step of a shutdown, after the pipeline has recorded: one final commit, then the
    /// commit task stops.
    pub async fn close(&self) -> Result<(), StoreError> {
        let result = self.durable().await;
        self.committer.stop();
        result
    }
}

fn decode_seq(bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("sequence is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(arr))
}

#[cfg(test)]
mod tests;
