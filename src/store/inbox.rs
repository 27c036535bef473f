//! The inbox: acknowledged notifications until they are delivered. Intake writes them in
//! sequence order, the pipeline scans their headers into its queue and reads them back by
//! group; the index of pending body hashes (in memory, rebuilt on open) makes a byte-identical
//! resend an acknowledged duplicate instead of a second entry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::{decode_seq, Store, StoreError};

/// One acknowledged notification, exactly as Alertmanager sent it.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub seq: u64,
    pub received_at_ms: i64,
    pub group_key: String,
    /// The notification's severity rank (`severity::Level::rank`): which group goes first.
    pub rank: u8,
    pub body: Vec<u8>,
    pub(super) hash: [u8; 16],
}

/// One group's share of a delivery worker's read (see [`Store::group_work`]).
pub struct GroupBatch {
    pub group_key: String,
    /// Oldest first.
    pub entries: Vec<InboxEntry>,
    /// The group's incident record as stored; [`decode_incident`] reads it.
    pub incident: Option<sled::IVec>,
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

impl Store {
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
        self.thread
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
        self.thread.run_blocking("inbox scan", move || {
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

    /// The full entries for these sequences (those still pending), in the order given (tests;
    /// the pipeline reads with [`Store::group_work`]).
    #[cfg(test)]
    pub fn entries(&self, seqs: &[u64]) -> Result<Vec<InboxEntry>, StoreError> {
        let (inbox, seqs) = (self.inbox.clone(), seqs.to_vec());
        self.thread.run_blocking("inbox read", move || {
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
        self.thread
            .run_blocking("inbox and incident read", move || {
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
        self.thread
            .run_blocking("inbox remove", move || done.apply(&inbox, &index, &count))
    }

    /// When the oldest pending entry was received (ms since the epoch); `None` if none is pending.
    pub fn oldest_pending_ms(&self) -> Result<Option<i64>, StoreError> {
        let inbox = self.inbox.clone();
        self.thread
            .run_blocking("inbox read", move || match inbox.first()? {
                Some((_, v)) => Ok(Some(decode_header(&v).map(|_| received_at(&v))?)),
                None => Ok(None),
            })
    }
}

/// Dedup key: the first 16 bytes of the body's SHA-256.
fn body_hash(body: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(body);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Inbox entries to remove once delivered: their sequences and body hashes.
pub(super) struct Completed(Vec<(u64, [u8; 16])>);

impl Completed {
    pub(super) fn of(entries: &[InboxEntry]) -> Completed {
        Completed(entries.iter().map(|e| (e.seq, e.hash)).collect())
    }

    /// On the store thread.
    pub(super) fn apply(
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
/// (3) | group key | body`; the group key and hash ride along so queueing and completion never
/// re-parse or re-hash the body. The rank byte was the top byte of a 4-byte length before ranks
/// existed (always 0 then, as group keys are far below 16 MiB), so older entries read as rank 0.
pub(super) fn encode_entry(
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
pub(super) fn decode_header(value: &[u8]) -> Result<(u8, &str), StoreError> {
    let corrupt = || StoreError::Corrupt("inbox entry shorter than its header".into());
    let header = value.get(..28).ok_or_else(corrupt)?;
    let word = u32::from_be_bytes(header[24..28].try_into().expect("4 bytes"));
    let key_len = (word & MAX_KEY_LEN) as usize;
    let group_key = value[28..].get(..key_len).ok_or_else(corrupt)?;
    let group_key = std::str::from_utf8(group_key)
        .map_err(|_| StoreError::Corrupt("group key is not UTF-8".into()))?;
    Ok(((word >> 24) as u8, group_key))
}

pub(super) fn decode_entry(key: &[u8], value: &[u8]) -> Result<InboxEntry, StoreError> {
    let (rank, group_key) = decode_header(value)?;
    Ok(InboxEntry {
        seq: decode_seq(key)?,
        received_at_ms: received_at(value),
        hash: value[8..24].try_into().expect("16 bytes"),
        body: value[28 + group_key.len()..].to_vec(),
        group_key: group_key.to_string(),
        rank,
    })
}

/// Of a value that [`decode_header`] has read (or at least 8 bytes long).
fn received_at(value: &[u8]) -> i64 {
    i64::from_be_bytes(value[..8].try_into().expect("8 bytes"))
}
