//! The bot's only persistent state, behind the project's own interface so that sled (0.34, beta)
//! is used in exactly one place.
//!
//! Trees:
//! - `inbox`: acknowledged webhook bodies not yet fully delivered, keyed by a monotonic sequence;
//!   each entry carries its body's hash, so the index of pending hashes that lets a byte-identical
//!   resend be acknowledged without storing it twice lives in memory, rebuilt on open.
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
//!
//! No sled call runs on the caller's thread: [`guard`] runs them on the store thread under
//! `storage.timeout_ms` and latches the first failure (sled keeps it forever); [`recover`] then
//! waits for the disk to take writes again, when the bot exits to be restarted on the same store.

mod audit;
mod commit;
mod delivery;
mod digests;
mod due;
mod guard;
mod history;
mod instance;
mod posts;
mod recover;
mod requests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub use audit::{AuditError, AuditLog};
pub use commit::Committer;
pub use delivery::Delivered;
pub use digests::LineChange;
pub use due::DueItem;
use guard::Guard;
pub use history::ExceptionArchive;

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

/// One acknowledged notification, exactly as Alertmanager sent it.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub seq: u64,
    pub received_at_ms: i64,
    pub group_key: String,
    /// The notification's severity rank (`severity::Level::rank`): which group goes first.
    pub rank: u8,
    pub body: Vec<u8>,
    hash: [u8; 16],
}

/// One group's share of a delivery worker's read (see [`Store::group_work`]).
pub struct GroupBatch {
    pub group_key: String,
    /// Oldest first.
    pub entries: Vec<InboxEntry>,
    /// The group's incident record as stored; [`decode_incident`] reads it.
    pub incident: Option<sled::IVec>,
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

/// A pending entry's address: enough to queue it without holding its body in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: u64,
    pub group: GroupId,
    pub rank: u8,
}

/// A group key in 8 bytes, for the delivery queue (a storm keeps one per waiting group).
///
/// Two keys may share an id (a 64-bit hash): their groups then wait in one line, which costs
/// order between them and nothing else, because workers take each entry's group from the
/// entry itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(u64);

impl GroupId {
    pub fn of(group_key: &str) -> GroupId {
        use std::hash::{Hash, Hasher};
        // Fixed keys: the same id for the same key in the scan and in a refill.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        group_key.hash(&mut h);
        GroupId(h.finish())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored as a new entry.
    Stored(u64),
    /// An identical body is already pending; nothing new was stored.
    Duplicate(u64),
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
    guard: Guard,
    path: PathBuf,
    /// Random, made once per store; mixed into incident ids so two stores never share one.
    instance: Arc<str>,
    due: sled::Tree,
    posting: sled::Tree,
    dead: sled::Tree,
    digests: sled::Tree,
    digest_lines: sled::Tree,
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
        let guard = Guard::start(timeout)?;
        Ok(Store {
            instance,
            due: db.open_tree("due")?,
            posting: db.open_tree("posting")?,
            dead: db.open_tree("dead")?,
            digests: db.open_tree("digests")?,
            digest_lines: db.open_tree("digest_lines")?,
            committer: Committer::start(db.clone(), path, guard.clone())?,
            incidents: db.open_tree("incidents")?,
            incident_ids: db.open_tree("incident_ids")?,
            requests: db.open_tree("requests")?,
            notes: db.open_tree("notes")?,
            inbox,
            db,
            pending: Arc::new(AtomicUsize::new(pending.len())),
            pending_index: Arc::new(Mutex::new(pending)),
            visible: Arc::new(AtomicU64::new(visible)),
            guard,
            path: path.to_path_buf(),
        })
    }

    /// Stores a webhook body and returns once it is on disk (shared fsync with concurrent callers).
    pub async fn accept(
        &self,
        body: &[u8],
        group_key: &str,
        received_at_ms: i64,
    ) -> Result<Accepted, StoreError> {
        self.accept_ranked(body, group_key, 0, received_at_ms).await
    }

    /// [`Store::accept`] for a notification of severity `rank`, kept with it so the pipeline
    /// can take the most severe groups first without reading bodies.
    pub async fn accept_ranked(
        &self,
        body: &[u8],
        group_key: &str,
        rank: u8,
        received_at_ms: i64,
    ) -> Result<Accepted, StoreError> {
        let accepted = self
            .insert_ranked(body, group_key, rank, received_at_ms)
            .await?;
        // A duplicate's first copy may not be flushed yet either: answer only once it is.
        self.committer.durable().await?;
        Ok(accepted)
    }

    /// The first half of [`Store::accept_ranked`]: the entry is in the inbox, and visible to
    /// the pipeline, but not durable until the next [`Store::durable`]. Acknowledge only after
    /// that.
    pub async fn insert_ranked(
        &self,
        body: &[u8],
        group_key: &str,
        rank: u8,
        received_at_ms: i64,
    ) -> Result<Accepted, StoreError> {
        let hash = body_hash(body);
        let value = encode_entry(received_at_ms, &hash, group_key, rank, body);
        let (db, inbox) = (self.db.clone(), self.inbox.clone());
        let (index, visible, count) = (
            self.pending_index.clone(),
            self.visible.clone(),
            self.pending.clone(),
        );
        self.guard
            .run("insert", move || {
                let mut pending = index.lock().expect("store order lock");
                Ok(match pending.get(&hash) {
                    Some(&seq) => Accepted::Duplicate(seq),
                    None => {
                        let seq = db.generate_id()?;
                        inbox.insert(seq.to_be_bytes(), value)?;
                        pending.insert(hash, seq);
                        count.store(pending.len(), Ordering::Release);
                        visible.store(seq, Ordering::Release);
                        Accepted::Stored(seq)
                    }
                })
            })
            .await
    }

    /// At most `limit` pending entries with a sequence greater than `after`, oldest first,
    /// without bodies (only the header is decoded).
    ///
    /// Synchronous callers (the pipeline's thread) wait at most `storage.timeout_ms`.
    pub fn pending_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Pending>, StoreError> {
        let start = after.map_or(0, |s| s + 1);
        let end = self.visible.load(Ordering::Acquire);
        if start > end {
            return Ok(Vec::new());
        }
        let inbox = self.inbox.clone();
        self.guard.run_blocking("inbox scan", move || {
            inbox
                .range(start.to_be_bytes()..=end.to_be_bytes())
                .take(limit)
                .map(|item| {
                    let (k, v) = item?;
                    let (rank, group_key) = decode_header(&v)?;
                    Ok(Pending {
                        seq: decode_seq(&k)?,
                        group: GroupId::of(group_key),
                        rank,
                    })
                })
                .collect()
        })
    }

    /// The full entries for these sequences (those still pending), in the order given.
    pub fn entries(&self, seqs: &[u64]) -> Result<Vec<InboxEntry>, StoreError> {
        let (inbox, seqs) = (self.inbox.clone(), seqs.to_vec());
        self.guard.run_blocking("inbox read", move || {
            let mut out = Vec::with_capacity(seqs.len());
            for seq in seqs {
                if let Some(v) = inbox.get(seq.to_be_bytes())? {
                    out.push(decode_entry(&seq.to_be_bytes(), &v)?);
                }
            }
            Ok(out)
        })
    }

    /// What a delivery worker needs for these sequences, in one call to the store thread: the
    /// entries still pending, by their group (each group's in the order given; two groups only
    /// when their keys share a [`GroupId`]), each with its group's stored incident record.
    pub fn group_work(&self, seqs: &[u64]) -> Result<Vec<GroupBatch>, StoreError> {
        let (inbox, incidents, seqs) = (self.inbox.clone(), self.incidents.clone(), seqs.to_vec());
        self.guard.run_blocking("inbox and incident read", move || {
            let mut out: Vec<GroupBatch> = Vec::with_capacity(1);
            for seq in seqs {
                let Some(v) = inbox.get(seq.to_be_bytes())? else {
                    continue;
                };
                let entry = decode_entry(&seq.to_be_bytes(), &v)?;
                match out.iter_mut().find(|b| b.group_key == entry.group_key) {
                    Some(batch) => batch.entries.push(entry),
                    None => out.push(GroupBatch {
                        group_key: entry.group_key.clone(),
                        incident: incidents.get(entry.group_key.as_bytes())?,
                        entries: vec![entry],
                    }),
                }
            }
            Ok(out)
        })
    }

    /// Entries not yet delivered; from memory, so it answers even when sled does not.
    pub fn pending_count(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Marks entries delivered. Durable after the next [`Store::durable`].
    pub fn complete(&self, entries: &[InboxEntry]) -> Result<(), StoreError> {
        let done = Completed::of(entries);
        let (inbox, index, count) = (
            self.inbox.clone(),
            self.pending_index.clone(),
            self.pending.clone(),
        );
        self.guard
            .run_blocking("inbox remove", move || done.apply(&inbox, &index, &count))
    }

    pub fn incident<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let (incidents, k) = (self.incidents.clone(), key.as_bytes().to_vec());
        let value = self
            .guard
            .run_blocking("incident read", move || Ok(incidents.get(k)?))?;
        decode_incident(key, value.as_deref())
    }

    /// The incident with this id, if the store still has it.
    pub fn incident_by_id<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, StoreError> {
        let (ids, id) = (self.incident_ids.clone(), id.as_bytes().to_vec());
        let key = self
            .guard
            .run_blocking("incident index read", move || Ok(ids.get(id)?))?;
        match key {
            Some(key) => self.incident(&String::from_utf8_lossy(&key)),
            None => Ok(None),
        }
    }

    /// Waits until everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.committer.durable().await
    }

    /// Group commits so far; with concurrent writers, fewer than writes.
    pub fn commits(&self) -> u64 {
        self.committer.commits()
    }

    /// When the oldest pending entry was received (ms since the epoch); `None` if none is pending.
    pub fn oldest_pending_ms(&self) -> Result<Option<i64>, StoreError> {
        let inbox = self.inbox.clone();
        self.guard
            .run_blocking("inbox read", move || match inbox.first()? {
                Some((k, v)) => Ok(Some(decode_entry(&k, &v)?.received_at_ms)),
                None => Ok(None),
            })
    }

    /// The group-commit histograms, for `/metrics`.
    pub fn commit_metrics(&self) -> &crate::metrics::CommitMetrics {
        &self.committer.metrics
    }

    /// This store's random instance id (hex), the same on every open of the same store.
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// A cheap liveness probe of the storage engine for `/readyz`, under the deadline.
    pub async fn check(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        self.guard
            .run("readyz probe", move || {
                db.get(b"__readyz")?;
                Ok(())
            })
            .await
    }

    /// Why the store failed, once it has (it is not used again in this process).
    pub fn failure(&self) -> Option<String> {
        self.guard.health().failure()
    }

    /// Resolves once the store has failed and its disk takes writes again: the moment to exit
    /// and be restarted on the same store (see [`recover`]).
    pub async fn recoverable(&self) {
        recover::wait(self.guard.health().clone(), self.path.clone()).await
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

/// Dedup key: the first 16 bytes of the body's SHA-256.
fn body_hash(body: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(body);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// `received_at (8) | hash (16) | key length (4) | group key | body`: the group key and hash ride
/// along so queueing and completion never re-parse or re-hash the body.
/// Inbox entries to remove once delivered: their sequences and body hashes.
struct Completed(Vec<(u64, [u8; 16])>);

impl Completed {
    fn of(entries: &[InboxEntry]) -> Completed {
        Completed(entries.iter().map(|e| (e.seq, e.hash)).collect())
    }

    /// On the store thread.
    fn apply(
        self,
        inbox: &sled::Tree,
        index: &Mutex<HashMap<[u8; 16], u64>>,
        count: &AtomicUsize,
    ) -> Result<(), StoreError> {
        let mut pending = index.lock().expect("store order lock");
        for (seq, hash) in self.0 {
            inbox.remove(seq.to_be_bytes())?;
            // Once delivered, the same body again is a genuine repeat (Alertmanager's
            // repeat_interval) and must be stored and processed.
            if pending.get(&hash) == Some(&seq) {
                pending.remove(&hash);
            }
            count.store(pending.len(), Ordering::Release);
        }
        Ok(())
    }
}

/// Value of an inbox entry: `received_at_ms (8) | body hash (16) | rank (1) | group key length
/// (3) | group key | body`. The rank byte was the top byte of a 4-byte length before ranks
/// existed (always 0 then, as group keys are far below 16 MiB), so older entries read as rank 0.
fn encode_entry(
    received_at_ms: i64,
    hash: &[u8; 16],
    group_key: &str,
    rank: u8,
    body: &[u8],
) -> Vec<u8> {
    let mut value = Vec::with_capacity(28 + group_key.len() + body.len());
    value.extend_from_slice(&received_at_ms.to_be_bytes());
    value.extend_from_slice(hash);
    let len = (group_key.len() as u32).min(MAX_KEY_LEN);
    value.extend_from_slice(&((u32::from(rank) << 24) | len).to_be_bytes());
    value.extend_from_slice(&group_key.as_bytes()[..len as usize]);
    value.extend_from_slice(body);
    value
}

/// Group keys are cut here (intake bounds bodies far below it anyway).
const MAX_KEY_LEN: u32 = 0x00FF_FFFF;

/// An entry's rank and group key, borrowed from the stored value.
fn decode_header(value: &[u8]) -> Result<(u8, &str), StoreError> {
    let corrupt = || StoreError::Corrupt("inbox entry shorter than its header".into());
    let header = value.get(..28).ok_or_else(corrupt)?;
    let word = u32::from_be_bytes(header[24..28].try_into().expect("4 bytes"));
    let key_len = (word & MAX_KEY_LEN) as usize;
    let group_key = value[28..].get(..key_len).ok_or_else(corrupt)?;
    let group_key = std::str::from_utf8(group_key)
        .map_err(|_| StoreError::Corrupt("group key is not UTF-8".into()))?;
    Ok(((word >> 24) as u8, group_key))
}

fn decode_entry(key: &[u8], value: &[u8]) -> Result<InboxEntry, StoreError> {
    let corrupt = || StoreError::Corrupt("inbox entry shorter than its header".into());
    let header = value.get(..28).ok_or_else(corrupt)?;
    let word = u32::from_be_bytes(header[24..28].try_into().expect("4 bytes"));
    let key_len = (word & MAX_KEY_LEN) as usize;
    let rest = &value[28..];
    let group_key = rest.get(..key_len).ok_or_else(corrupt)?;
    Ok(InboxEntry {
        seq: decode_seq(key)?,
        received_at_ms: i64::from_be_bytes(header[..8].try_into().expect("8 bytes")),
        hash: header[8..24].try_into().expect("16 bytes"),
        group_key: String::from_utf8(group_key.to_vec())
            .map_err(|_| StoreError::Corrupt("group key is not UTF-8".into()))?,
        rank: (word >> 24) as u8,
        body: rest[key_len..].to_vec(),
    })
}

#[cfg(test)]
mod tests;
