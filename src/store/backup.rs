//! Backups: every tree of the store, copied while the bot runs, into one self-checking file; and
//! a restore of such a file into a fresh store.
//!
//! Format (`FCBACKUP1`): the magic line, the id counter, then per tree `T name`, its records
//! `R key value`, and at the end `Z count sha256(everything before Z)`. A file without its `Z`,
//! or with a wrong hash, is refused by [`restore`]: a cut or changed backup never restores.
//!
//! The copy is not one instant (sled has no snapshots, and holding the store thread for a whole
//! copy would stall intake); each batch of [`BATCH`] records is read in one store-thread job.
//! The trees are copied in an order that makes every mix of "before" and "after" safe:
//! - pending work first (`inbox`, then trees this file does not know, such as the Discord
//!   `outbox`, then `posting`, `due`, `dead`): a notification delivered while the copy ran is
//!   still in the copied inbox, and the incident copied later already names its message, so
//!   after a restore it is an edit of that message, never a second post;
//! - `audit` before `requests`: a request copied as running or finished has its audit entries
//!   either in the copy or in the export file, which [`restore`] appends from;
//! - the rest afterwards.
//!
//! sled's id counter (inbox sequences, request ids) is not in any tree: it is recorded at the
//! start and a restore advances the new store's counter past it, so no sequence is reused.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Store, StoreError};

const MAGIC: &[u8] = b"FCBACKUP1\n";

/// Records per store-thread job while copying.
const BATCH: usize = 512;

/// Pending work first, then the audit log, then the rest (see the module's comment). Trees not
/// named here are copied right after `inbox`.
const FIRST: &[&str] = &["inbox"];
const THEN: &[&str] = &[
    "posting",
    "due",
    "dead",
    "audit",
    "meta",
    "requests",
    "notes",
    "incidents",
    "incident_ids",
    "digests",
    "digest_lines",
    "exception_history",
];

/// What a backup or restore copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub trees: usize,
    pub records: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the backup: {0}")]
    Write(io::Error),
    #[error("reading the backup: {0}")]
    Read(io::Error),
    #[error("not a flink-chatops backup (or a damaged one): {0}")]
    Invalid(String),
}

/// The order trees are copied in, from the names the store has.
pub fn order(names: &[String]) -> Vec<String> {
    let known: HashSet<&str> = FIRST.iter().chain(THEN).copied().collect();
    let mut out: Vec<String> = FIRST
        .iter()
        .filter(|n| names.iter().any(|m| m == *n))
        .map(|n| n.to_string())
        .collect();
    let mut unknown: Vec<String> = names
        .iter()
        .filter(|n| !known.contains(n.as_str()))
        .cloned()
        .collect();
    unknown.sort();
    out.extend(unknown);
    out.extend(
        THEN.iter()
            .filter(|n| names.iter().any(|m| m == *n))
            .map(|n| n.to_string()),
    );
    out
}

/// Encodes the stream and keeps its running hash.
struct Encoder {
    hash: Sha256,
    records: u64,
    bytes: u64,
}

impl Encoder {
    fn new() -> Encoder {
        Encoder {
            hash: Sha256::new(),
            records: 0,
            bytes: 0,
        }
    }

    fn push(&mut self, out: &mut Vec<u8>, part: &[u8]) {
        self.hash.update(part);
        self.bytes += part.len() as u64;
        out.extend_from_slice(part);
    }

    fn field(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        self.push(out, &(bytes.len() as u32).to_be_bytes());
        self.push(out, bytes);
    }

    fn end(self) -> Vec<u8> {
        let mut out = vec![b'Z'];
        out.extend_from_slice(&self.records.to_be_bytes());
        out.extend_from_slice(&self.hash.finalize());
        out
    }
}

impl Store {
    /// Writes a backup of every tree to `w`, in batches (see the module's comment).
    pub async fn backup<W: AsyncWrite + Unpin>(&self, w: &mut W) -> Result<Copied, BackupError> {
        let db = self.db.clone();
        let (ids_from, names) = self
            .thread
            .run("backup start", move || {
                let names = db
                    .tree_names()
                    .into_iter()
                    .map(|n| String::from_utf8_lossy(&n).into_owned())
                    .filter(|n| n != "__sled__default")
                    .collect::<Vec<_>>();
                Ok((db.generate_id()?, names))
            })
            .await?;
        let mut enc = Encoder::new();
        let mut buf = Vec::new();
        enc.push(&mut buf, MAGIC);
        enc.push(&mut buf, &ids_from.to_be_bytes());
        let mut copied = Copied::default();
        for name in order(&names) {
            enc.push(&mut buf, b"T");
            enc.field(&mut buf, name.as_bytes());
            copied.trees += 1;
            let mut after: Option<Vec<u8>> = None;
            loop {
                let (db, name, from) = (self.db.clone(), name.clone(), after.clone());
                let batch = self
                    .thread
                    .run("backup read", move || {
                        let tree = db.open_tree(name)?;
                        let range = match &from {
                            Some(a) => tree.range::<&[u8], _>((
                                std::ops::Bound::Excluded(&a[..]),
                                std::ops::Bound::Unbounded,
                            )),
                            None => tree.range::<&[u8], _>(..),
                        };
                        Ok(range.take(BATCH).collect::<Result<Vec<_>, _>>()?)
                    })
                    .await?;
                for (k, v) in &batch {
                    enc.push(&mut buf, b"R");
                    enc.field(&mut buf, k);
                    enc.field(&mut buf, v);
                    enc.records += 1;
                }
                w.write_all(&buf).await.map_err(BackupError::Write)?;
                buf.clear();
                if batch.len() < BATCH {
                    break;
                }
                after = batch.last().map(|(k, _)| k.to_vec());
            }
        }
        copied.records = enc.records;
        copied.bytes = enc.bytes;
        w.write_all(&enc.end()).await.map_err(BackupError::Write)?;
        w.flush().await.map_err(BackupError::Write)?;
        Ok(copied)
    }
}

/// One decoded item of a backup stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    Tree(String),
    Record(Vec<u8>, Vec<u8>),
}

/// The hashed reading side of the format.
struct Decoder<R> {
    r: io::BufReader<R>,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Decoder<R> {
    fn take(&mut self, n: usize) -> Result<Vec<u8>, BackupError> {
        let mut buf = vec![0; n];
        self.r.read_exact(&mut buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                BackupError::Invalid("it ends early: the copy was cut off".into())
            }
            _ => BackupError::Read(e),
        })?;
        self.hash.update(&buf);
        self.bytes += n as u64;
        Ok(buf)
    }

    fn field(&mut self) -> Result<Vec<u8>, BackupError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        self.take(len as usize)
    }
}

/// Reads a backup stream, checking its end mark and hash; calls `each` for every item.
/// Returns the id counter it recorded and what it held. Nothing is trusted until the end
/// checks out, so callers write into a scratch store and keep it only on success.
pub fn read(
    r: impl Read,
    mut each: impl FnMut(Item) -> Result<(), BackupError>,
) -> Result<(u64, Copied), BackupError> {
    let mut d = Decoder {
        r: io::BufReader::new(r),
        hash: Sha256::new(),
        bytes: 0,
    };
    if d.take(MAGIC.len())? != MAGIC {
        return Err(BackupError::Invalid(
            "it does not start with FCBACKUP1".into(),
        ));
    }
    let ids_from = u64::from_be_bytes(d.take(8)?.try_into().expect("8 bytes"));
    let mut copied = Copied::default();
    loop {
        let mut tag = [0u8; 1];
        d.r.read_exact(&mut tag)
            .map_err(|_| BackupError::Invalid("it ends early: the copy was cut off".into()))?;
        match tag[0] {
            b'T' => {
                d.hash.update(tag);
                let name = d.field()?;
                copied.trees += 1;
                each(Item::Tree(String::from_utf8_lossy(&name).into_owned()))?;
            }
            b'R' => {
                d.hash.update(tag);
                let k = d.field()?;
                let v = d.field()?;
                copied.records += 1;
                each(Item::Record(k, v))?;
            }
            b'Z' => {
                let mut end = [0u8; 40];
                d.r.read_exact(&mut end)
                    .map_err(|_| BackupError::Invalid("its end mark is cut off".into()))?;
                let count = u64::from_be_bytes(end[..8].try_into().expect("8 bytes"));
                let hash = std::mem::take(&mut d.hash).finalize();
                if count != copied.records || end[8..] != hash[..] {
                    return Err(BackupError::Invalid(
                        "its checksum does not match: it was changed or damaged".into(),
                    ));
                }
                let mut extra = [0u8; 1];
                if d.r.read(&mut extra).map_err(BackupError::Read)? != 0 {
                    return Err(BackupError::Invalid("bytes follow its end mark".into()));
                }
                copied.bytes = d.bytes;
                return Ok((ids_from, copied));
            }
            other => {
                return Err(BackupError::Invalid(format!(
                    "unexpected byte {other:#04x} after {} records",
                    copied.records
                )))
            }
        }
    }
}

/// Writes a backup read from `r` into a new sled store at `dir` (which must not exist), then
/// advances its id counter past the one recorded. The store is flushed before returning.
pub fn restore_into(r: impl Read, dir: &Path) -> Result<Copied, BackupError> {
    if dir.exists() {
        return Err(BackupError::Invalid(format!(
            "{} already exists; restore writes a new store only",
            dir.display()
        )));
    }
    let db = sled::Config::new()
        .path(dir)
        .flush_every_ms(None)
        .open()
        .map_err(StoreError::from)?;
    let mut tree: Option<sled::Tree> = None;
    let (ids_from, copied) = read(r, |item| {
        match item {
            Item::Tree(name) => tree = Some(db.open_tree(name).map_err(StoreError::from)?),
            Item::Record(k, v) => {
                let t = tree
                    .as_ref()
                    .ok_or_else(|| BackupError::Invalid("a record before any tree".into()))?;
                t.insert(k, v).map_err(StoreError::from)?;
            }
        }
        Ok(())
    })?;
    // sled hands out ids from a counter of its own: move it past every id the copy may hold.
    while db.generate_id().map_err(StoreError::from)? <= ids_from {}
    db.flush().map_err(StoreError::from)?;
    Ok(copied)
}

impl Store {
    /// After a restore: appends the audit entries the backup lacks, from the export file
    /// (`entries`, oldest first, already read), when they continue the restored chain; then
    /// settles the requests those entries show as run, so the restored bot never runs an action
    /// a second time. Returns (entries appended, requests settled). Durable when it returns.
    pub async fn after_restore(
        &self,
        entries: Vec<crate::audit::Entry>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(usize, usize), BackupError> {
        let (db, requests) = (self.db.clone(), self.requests.clone());
        let counts = self
            .thread
            .run("restore audit", move || {
                let tree = db.open_tree("audit")?;
                let mut last = match tree.last()? {
                    Some((_, v)) => Some(crate::audit::Entry::from_json(&v).map_err(|e| {
                        StoreError::Corrupt(format!("the restored audit log's last entry: {e}"))
                    })?.head()),
                    None => None,
                };
                let mut appended = 0;
                let mut ran: Vec<(String, u64)> = Vec::new();
                for e in entries {
                    let (expected, prev) = last.map_or((1, crate::audit::ChainHash::ZERO), |h| (h.seq + 1, h.hash));
                    if e.seq < expected {
                        continue;
                    }
                    if e.seq != expected || e.prev_hash != prev {
                        return Err(StoreError::Corrupt(format!(
                            "the audit export does not continue the restored log at entry {expected}: it belongs to another store or was changed"
                        )));
                    }
                    tree.insert(e.seq.to_be_bytes(), e.to_json().into_bytes())?;
                    use crate::audit::EventKind::{Executing, Failed, Succeeded};
                    if matches!(e.event.kind, Executing | Succeeded | Failed) {
                        if let Some(r) = &e.event.request_id {
                            ran.push((r.clone(), e.seq));
                        }
                    }
                    last = Some(e.head());
                    appended += 1;
                }
                let mut settled = 0;
                for (id, seq) in ran {
                    let Some(v) = requests.get(id.as_bytes())? else {
                        continue;
                    };
                    let Ok(mut r) = serde_json::from_slice::<serde_json::Value>(&v) else {
                        continue;
                    };
                    let open = r["run"]["run"]
                        .as_str()
                        .is_some_and(|k| !matches!(k, "succeeded" | "failed" | "denied" | "expired"));
                    if !open {
                        continue;
                    }
                    // The shape of `guard::request::Run::Failed`.
                    r["run"] = serde_json::json!({
                        "run": "failed",
                        "reason": format!("not run again after a restore: audit entry #{seq} shows it ran after the backup was taken; check the job"),
                        "at": now,
                    });
                    requests.insert(id.as_bytes(), serde_json::to_vec(&r).map_err(|e| StoreError::Corrupt(e.to_string()))?)?;
                    settled += 1;
                }
                Ok((appended, settled))
            })
            .await?;
        self.durable().await?;
        Ok(counts)
    }
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
