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
use crate::audit::export::CatchUpError;
use crate::audit::{self, AuditEvent, Break, Entry, Exporter, Head, Publisher, Summary, Verifier};

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
            .thread
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
        self.thread
            .run_blocking("audit read", move || match db.open_tree(TREE)?.last()? {
                Some((k, v)) => Ok(Some(decode(&k, &v).map_err(corrupt)?)),
                None => Ok(None),
            })
    }

    pub fn audit_get(&self, seq: u64) -> Result<Option<Entry>, StoreError> {
        let db = self.db.clone();
        self.thread.run_blocking("audit read", move || {
            match db.open_tree(TREE)?.get(seq.to_be_bytes())? {
                Some(v) => Ok(Some(decode(&seq.to_be_bytes(), &v).map_err(corrupt)?)),
                None => Ok(None),
            }
        })
    }

    /// Entry `seq` as stored, or why it cannot be read as that entry (tampering).
    fn audit_checked(&self, seq: u64) -> Result<Option<Result<Entry, Break>>, StoreError> {
        let db = self.db.clone();
        self.thread.run_blocking("audit read", move || {
            Ok(db
                .open_tree(TREE)?
                .get(seq.to_be_bytes())?
                .map(|v| decode(&seq.to_be_bytes(), &v)))
        })
    }

    /// Up to `limit` entries from `from_seq` on, oldest first.
    pub fn audit_range(&self, from_seq: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let db = self.db.clone();
        self.thread.run_blocking("audit read", move || {
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
        self.thread.run_blocking("audit read", move || {
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
        self.thread.check()?;
        Ok(self.audit_tree()?.iter().values().map(|v| Ok(v?.to_vec())))
    }

    /// Walks the whole chain against the published heads. The outer error is the store failing;
    /// the inner one the first place the chain was tampered with.
    pub fn audit_verify(
        &self,
        published: &[Head],
        key: Option<&[u8]>,
    ) -> Result<Result<Summary, Break>, StoreError> {
        self.thread.check()?;
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
    #[error("copying the entry to the audit export: {0}")]
    Export(String),
    #[error("publishing the audit head to {path}: {source}")]
    Publish {
        path: String,
        source: std::io::Error,
    },
}

/// The audit log as the bot uses it: the store's chain, the HMAC key, the head file, and the
/// export file beside it (`audit::export`).
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    key: Option<SecretString>,
    publisher: Arc<Publisher>,
    exporter: Arc<Exporter>,
}

/// Entries read from the store per job while verifying or exporting.
const CHUNK: usize = 512;

impl AuditLog {
    /// Opens the head file at `head_file` and the export file beside it (both created if
    /// missing).
    pub fn open(
        store: Store,
        key: Option<SecretString>,
        head_file: PathBuf,
    ) -> std::io::Result<AuditLog> {
        let export = audit::export::path_beside(&head_file);
        AuditLog::open_with_export(store, key, head_file, &export)
    }

    /// [`AuditLog::open`] with the export file somewhere else than beside the head file.
    pub fn open_with_export(
        store: Store,
        key: Option<SecretString>,
        head_file: PathBuf,
        export: &std::path::Path,
    ) -> std::io::Result<AuditLog> {
        let exporter = Exporter::open(export).map_err(std::io::Error::other)?;
        Ok(AuditLog {
            store,
            key,
            publisher: Arc::new(Publisher::open(&head_file)?),
            exporter: Arc::new(exporter),
        })
    }

    /// Copies the store's entries up to `upto` to the export file (blocking).
    fn export_upto(&self, upto: u64) -> Result<(), AuditError> {
        // A new entry the export already has a number for: the store was replaced (or wiped)
        // without its audit log. Refuse rather than let the copy and the store part ways.
        if let Some(last) = self.exporter.last().filter(|l| l.seq >= upto) {
            if self.store.audit_get(last.seq)?.map(|e| e.hash) != Some(last.hash) {
                return Err(AuditError::Export(format!(
                    "the store's audit log does not hold entry {} of the export {}: the store was replaced without its audit log (restore it with `flink-chatops restore`, or move the export and head files aside to start new ones)",
                    last.seq,
                    self.exporter.path().display()
                )));
            }
        }
        let store = self.store.clone();
        self.exporter
            .catch_up(upto, |from, n| store.audit_range(from, n))
            .map_err(|e: CatchUpError<StoreError>| AuditError::Export(e.to_string()))
    }

    fn key(&self) -> Option<&[u8]> {
        self.key.as_ref().map(|k| k.expose_secret().as_bytes())
    }

    /// Appends `event` durably, then publishes the new head. An error means the step is not
    /// (provably) recorded: refuse the action.
    pub async fn record(&self, event: AuditEvent, now_ms: i64) -> Result<Entry, AuditError> {
        let entry = self.store.audit_append(&event, now_ms, self.key()).await?;
        // The copy first, then the head: every published head names an exported entry.
        let (log, seq) = (self.clone(), entry.seq);
        tokio::task::spawn_blocking(move || log.export_upto(seq))
            .await
            .map_err(|e| AuditError::Export(e.to_string()))??;
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

    /// Start-up's check: the store still holds the last exported entry unchanged, and what
    /// was appended after it chains on from it and matches the heads published since; then the
    /// export is brought up to date. Reads only the entries the export lacks (normally none),
    /// so start-up does not grow with the log; `audit verify` walks the whole chain.
    pub fn verify(&self) -> anyhow::Result<Result<Summary, Break>> {
        let heads = audit::read_heads(self.publisher.path())?.unwrap_or_default();
        let mut v = match self.exporter.last() {
            Some(last) => {
                match self.store.audit_checked(last.seq)? {
                    Some(Ok(e)) if e.hash == last.hash => {}
                    Some(Ok(_)) => return Ok(Err(Break::HeadMismatch { seq: last.seq })),
                    Some(Err(b)) => return Ok(Err(b)),
                    None => {
                        let have = self.store.audit_last()?.map_or(0, |e| e.seq);
                        return Ok(Err(Break::CutTail {
                            published: last.seq,
                            last: have,
                        }));
                    }
                }
                Verifier::resume(last, &heads, self.key())
            }
            None => Verifier::new(&heads, self.key()),
        };
        let mut next = self.exporter.last().map_or(1, |h| h.seq + 1);
        loop {
            let entries = self.store.audit_range(next, CHUNK)?;
            for e in &entries {
                if let Err(b) = v.push(e) {
                    return Ok(Err(b));
                }
            }
            match entries.last() {
                Some(e) if entries.len() == CHUNK => next = e.seq + 1,
                _ => break,
            }
        }
        let summary = match v.finish() {
            Ok(s) => s,
            Err(b) => return Ok(Err(b)),
        };
        if let Some(last) = summary.last {
            self.export_upto(last.seq)?;
        }
        Ok(Ok(summary))
    }

    /// The export file auditors read (`audit::export`).
    pub fn export_path(&self) -> &std::path::Path {
        self.exporter.path()
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
