//! The bot's only persistent state, behind the project's own interface so that sled (0.34, beta)
//! is used in exactly one place.
//!
//! Trees:
//! - `inbox`: acknowledged webhook bodies not yet fully delivered, keyed by a monotonic sequence.
//! - `seen`: hash of a pending body -> its sequence, so a byte-identical resend while the first
//!   copy is still pending is acknowledged without storing it twice.
//! - `incidents`: one record per Alertmanager group: which Discord message shows it.

mod commit;

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};

pub use commit::Committer;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("storage flush failed: {0}")]
    Flush(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

/// One acknowledged notification, exactly as Alertmanager sent it.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub seq: u64,
    pub received_at_ms: i64,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored as a new entry.
    Stored(u64),
    /// An identical body is already pending; nothing new was stored.
    Duplicate(u64),
}

/// Page cache of the storage engine; what does not fit is read back from the file (OS cache).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    inbox: sled::Tree,
    seen: sled::Tree,
    incidents: sled::Tree,
    committer: Committer,
}

impl Store {
    /// Opens (or creates) the store and starts its group-commit task; needs a Tokio runtime.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // Durability comes from explicit group commits, not from sled's timer.
            .flush_every_ms(None)
            // sled's default page cache is 1 GiB, so a backlog of undelivered notifications
            // stays in memory; 64 MiB cost no intake throughput and took a 66k-entry backlog from
            // 816 to 646-680 MiB RSS (BENCHMARKS.md).
            .cache_capacity(CACHE_BYTES)
            .open()?;
        Ok(Store {
            inbox: db.open_tree("inbox")?,
            seen: db.open_tree("seen")?,
            incidents: db.open_tree("incidents")?,
            committer: Committer::start(db.clone()),
            db,
        })
    }

    /// Stores a webhook body and returns once it is on disk (shared fsync with concurrent callers).
    pub async fn accept(&self, body: &[u8], received_at_ms: i64) -> Result<Accepted, StoreError> {
        let hash = Sha256::digest(body);
        let key = &hash[..16];
        if let Some(seq) = self.seen.get(key)? {
            let seq = decode_seq(&seq)?;
            // The entry may have been delivered since; then this is a genuine repeat to process.
            if self.inbox.contains_key(seq.to_be_bytes())? {
                // The first copy may not be flushed yet: only answer once it is.
                self.committer.durable().await?;
                return Ok(Accepted::Duplicate(seq));
            }
        }
        let seq = self.db.generate_id()?;
        let mut value = Vec::with_capacity(8 + body.len());
        value.extend_from_slice(&received_at_ms.to_be_bytes());
        value.extend_from_slice(body);
        self.inbox.insert(seq.to_be_bytes(), value)?;
        self.seen.insert(key, &seq.to_be_bytes())?;
        self.committer.durable().await?;
        Ok(Accepted::Stored(seq))
    }

    /// Pending entries with a sequence greater than `after`, oldest first.
    pub fn pending_after(&self, after: Option<u64>) -> Result<Vec<InboxEntry>, StoreError> {
        let start = after.map_or(0, |s| s + 1);
        self.inbox
            .range(start.to_be_bytes()..)
            .map(|item| {
                let (k, v) = item?;
                decode_entry(&k, &v)
            })
            .collect()
    }

    pub fn pending_count(&self) -> usize {
        self.inbox.len()
    }

    /// Marks entries delivered. Durable after the next [`Store::durable`].
    pub fn complete(&self, entries: &[InboxEntry]) -> Result<(), StoreError> {
        for e in entries {
            let hash = Sha256::digest(&e.body);
            // Remove from `inbox` first: a stale `seen` key is harmless (checked against inbox).
            self.inbox.remove(e.seq.to_be_bytes())?;
            self.seen.remove(&hash[..16])?;
        }
        Ok(())
    }

    pub fn incident<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.incidents.get(key.as_bytes())? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("incident {key:?}: {e}"))),
            None => Ok(None),
        }
    }

    pub fn put_incident<T: Serialize>(&self, key: &str, incident: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(incident).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.incidents.insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    /// Waits until everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.committer.durable().await
    }

    /// A cheap liveness probe of the storage engine for `/readyz`.
    pub fn check(&self) -> Result<(), StoreError> {
        self.db.get(b"__readyz")?;
        Ok(())
    }
}

fn decode_seq(bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("sequence is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(arr))
}

fn decode_entry(key: &[u8], value: &[u8]) -> Result<InboxEntry, StoreError> {
    if value.len() < 8 {
        return Err(StoreError::Corrupt(
            "inbox entry shorter than its header".into(),
        ));
    }
    let (ts, body) = value.split_at(8);
    Ok(InboxEntry {
        seq: decode_seq(key)?,
        received_at_ms: i64::from_be_bytes(ts.try_into().expect("split at 8")),
        body: body.to_vec(),
    })
}
