//! The `audit` tree: sealed entries keyed by their sequence (8 bytes, big-endian), each value the
//! entry's stored JSON. Append-only: nothing in the bot removes or rewrites an entry.
//!
//! [`AuditLog`] is what the rest of the bot calls: append (durably), then publish the new head
//! outside the store. Either failing is an error, and the caller must then refuse the action
//! (fail closed): nothing that changes a job runs unless its audit record is written first.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{decode_seq, Store, StoreError};
use crate::audit::{self, AuditEvent, Break, Entry, Head, Publisher, Summary, Verifier};

const TREE: &str = "audit";

impl Store {
    fn audit_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(TREE)?)
    }

    /// Seals `event` after the last entry, stores it and waits until it is on disk.
    ///
    /// Concurrent appends never share a sequence or fork the chain: the insert is a
    /// compare-and-swap on a key that must not exist yet, so a loser re-reads the new last entry
    /// and seals again.
    pub async fn audit_append(
        &self,
        event: &AuditEvent,
        now_ms: i64,
        key: Option<&[u8]>,
    ) -> Result<Entry, StoreError> {
        let (db, event, key) = (self.db.clone(), event.clone(), key.map(<[u8]>::to_vec));
        let entry = self
            .guard
            .run("audit append", move || {
                append(&db, &event, now_ms, key.as_deref())
            })
            .await?;
        self.durable().await?;
        Ok(entry)
    }

    /// The newest entry.
    pub fn audit_last(&self) -> Result<Option<Entry>, StoreError> {
        let db = self.db.clone();
        self.guard
            .run_blocking("audit read", move || match db.open_tree(TREE)?.last()? {
                Some((k, v)) => Ok(Some(decode(&k, &v).map_err(corrupt)?)),
                None => Ok(None),
            })
    }

    pub fn audit_get(&self, seq: u64) -> Result<Option<Entry>, StoreError> {
        let db = self.db.clone();
        self.guard.run_blocking("audit read", move || {
            match db.open_tree(TREE)?.get(seq.to_be_bytes())? {
                Some(v) => Ok(Some(decode(&seq.to_be_bytes(), &v).map_err(corrupt)?)),
                None => Ok(None),
            }
        })
    }

    /// Up to `limit` entries from `from_seq` on, oldest first.
    pub fn audit_range(&self, from_seq: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let db = self.db.clone();
        self.guard.run_blocking("audit read", move || {
            db.open_tree(TREE)?
                .range(from_seq.to_be_bytes()..)
                .take(limit)
                .map(|item| {
                    let (k, v) = item?;
                    decode(&k, &v).map_err(corrupt)
                })
                .collect()
        })
    }

    /// The newest `limit` entries (about `job_id` only, when given), oldest first: what
    /// `audit list [--job]` and `/flink audit [job]` show.
    pub fn audit_recent(
        &self,
        limit: usize,
        job_id: Option<&str>,
    ) -> Result<Vec<Entry>, StoreError> {
        let (db, job_id) = (self.db.clone(), job_id.map(str::to_string));
        self.guard.run_blocking("audit read", move || {
            let mut out = Vec::new();
            for item in db.open_tree(TREE)?.iter().rev() {
                if out.len() >= limit {
                    break;
                }
                let (k, v) = item?;
                let e = decode(&k, &v).map_err(corrupt)?;
                if job_id
                    .as_deref()
                    .is_none_or(|j| e.event.job_id.as_deref() == Some(j))
                {
                    out.push(e);
                }
            }
            out.reverse();
            Ok(out)
        })
    }

    /// Every stored entry's raw JSON, oldest first, exactly as stored (for `audit export`).
    ///
    /// This and [`Store::audit_verify`] walk the whole chain for the `audit` command, on the
    /// caller's thread and without `storage.timeout_ms`, which a long chain could outlast.
    pub fn audit_raw(
        &self,
    ) -> Result<impl Iterator<Item = Result<Vec<u8>, StoreError>>, StoreError> {
        self.guard.check()?;
        Ok(self.audit_tree()?.iter().values().map(|v| Ok(v?.to_vec())))
    }

    /// Walks the whole chain against the published heads. The outer error is the store failing;
    /// the inner one the first place the chain was tampered with.
    pub fn audit_verify(
        &self,
        published: &[Head],
        key: Option<&[u8]>,
    ) -> Result<Result<Summary, Break>, StoreError> {
        self.guard.check()?;
        let mut v = Verifier::new(published, key);
        for item in self.audit_tree()?.iter() {
            let (k, value) = item?;
            let pushed = decode(&k, &value).and_then(|e| v.push(&e));
            if let Err(b) = pushed {
                return Ok(Err(b));
            }
        }
        Ok(v.finish())
    }
}

/// The append itself, on the store thread.
fn append(
    db: &sled::Db,
    event: &AuditEvent,
    now_ms: i64,
    key: Option<&[u8]>,
) -> Result<Entry, StoreError> {
    let tree = db.open_tree(TREE)?;
    loop {
        let last = match tree.last()? {
            Some((k, v)) => Some(decode(&k, &v).map_err(|b| {
                StoreError::Corrupt(format!(
                    "the last audit entry cannot be read, so nothing can be appended to it ({b}): run `flink-chatops audit verify`"
                ))
            })?),
            None => None,
        };
        let entry = audit::seal(last.as_ref(), now_ms, event, key);
        let swapped = tree.compare_and_swap(
            entry.seq.to_be_bytes(),
            None as Option<&[u8]>,
            Some(entry.to_json().into_bytes()),
        )?;
        if swapped.is_ok() {
            return Ok(entry);
        }
    }
}

/// An entry read back from its key and value; a mismatch between them is tampering.
fn decode(key: &[u8], value: &[u8]) -> Result<Entry, Break> {
    let stored_as = decode_seq(key).map_err(|e| Break::Unreadable {
        seq: 0,
        reason: e.to_string(),
    })?;
    let e = Entry::from_json(value).map_err(|reason| Break::Unreadable {
        seq: stored_as,
        reason,
    })?;
    if e.seq != stored_as {
        return Err(Break::Misplaced {
            stored_as,
            seq: e.seq,
        });
    }
    Ok(e)
}

fn corrupt(b: Break) -> StoreError {
    StoreError::Corrupt(format!("audit log: {b}"))
}

/// Why an audit record could not be written. Internal: log it and answer the chat with a plain
/// "refused: the audit log cannot be written".
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("appending to the audit log: {0}")]
    Store(#[from] StoreError),
    #[error("publishing the audit head to {path}: {source}")]
    Publish {
        path: String,
        source: std::io::Error,
    },
}

/// The audit log as the bot uses it: the store's chain, the HMAC key, the head file.
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    key: Option<SecretString>,
    publisher: Arc<Publisher>,
}

impl AuditLog {
    /// Opens the head file at `head_file` (created if missing).
    pub fn open(
        store: Store,
        key: Option<SecretString>,
        head_file: PathBuf,
    ) -> std::io::Result<AuditLog> {
        Ok(AuditLog {
            store,
            key,
            publisher: Arc::new(Publisher::open(&head_file)?),
        })
    }

    fn key(&self) -> Option<&[u8]> {
        self.key.as_ref().map(|k| k.expose_secret().as_bytes())
    }

    /// Appends `event` durably, then publishes the new head. An error means the step is not
    /// (provably) recorded: refuse the action.
    pub async fn record(&self, event: AuditEvent, now_ms: i64) -> Result<Entry, AuditError> {
        let entry = self.store.audit_append(&event, now_ms, self.key()).await?;
        let publisher = self.publisher.clone();
        let head = entry.head();
        let published = tokio::task::spawn_blocking(move || publisher.publish(&head))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        published.map_err(|source| AuditError::Publish {
            path: self.publisher.path().display().to_string(),
            source,
        })?;
        Ok(entry)
    }

    /// Verifies the whole chain against the head file (as `audit verify` does).
    pub fn verify(&self) -> anyhow::Result<Result<Summary, Break>> {
        let heads = audit::read_heads(self.publisher.path())?.unwrap_or_default();
        Ok(self.store.audit_verify(&heads, self.key())?)
    }

    /// Writes a heartbeat entry (and head) every `every`, the first one now, until the task is
    /// aborted; a failure is logged and tried again on the next beat.
    pub fn spawn_heartbeat(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let log = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let now = chrono::Utc::now().timestamp_millis();
                if let Err(e) = log.record(AuditEvent::heartbeat(), now).await {
                    tracing::error!(error = %e, "audit heartbeat failed");
                }
            }
        })
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
