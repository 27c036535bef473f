//! Dead letters (`dead` tree, written by [`Store::bury`]): pages Discord would not take
//! (401/403, an unknown channel). Kept until an operator replays or drops them
//! (`flink-chatops dead list|replay|drop`); retention never removes them.
//!
//! Value: `reason length (4) | reason | the inbox entry's value`, keyed by the entry's old
//! sequence. A replay puts the entry back into the inbox under a new sequence, so the pipeline's
//! scan, which only moves forward, finds it; it is delivered like any acknowledged page.

use std::sync::atomic::Ordering;

use super::inbox::decode_header;
use super::{decode_seq, Store, StoreError};

/// One dead letter, as `dead list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub seq: u64,
    pub reason: String,
    pub group_key: String,
    pub received_at_ms: i64,
    pub bytes: usize,
}

/// Which dead letters a replay or drop is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    All,
    Seqs(Vec<u64>),
}

fn split(value: &[u8]) -> Result<(&str, &[u8]), StoreError> {
    let corrupt = || StoreError::Corrupt("dead letter shorter than its header".into());
    let len =
        u32::from_be_bytes(value.get(..4).ok_or_else(corrupt)?.try_into().expect("4")) as usize;
    let reason = value.get(4..4 + len).ok_or_else(corrupt)?;
    let reason = std::str::from_utf8(reason).map_err(|_| corrupt())?;
    Ok((reason, &value[4 + len..]))
}

fn keys(tree: &sled::Tree, which: &Which) -> Result<Vec<u64>, StoreError> {
    match which {
        Which::All => tree.iter().keys().map(|k| decode_seq(&k?)).collect(),
        Which::Seqs(s) => Ok(s.clone()),
    }
}

impl Store {
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let tree = self.dead.clone();
        self.thread.run_blocking("dead list", move || {
            tree.iter()
                .map(|item| {
                    let (k, v) = item?;
                    let (reason, entry) = split(&v)?;
                    let (_, group_key) = decode_header(entry)?;
                    Ok(DeadLetter {
                        seq: decode_seq(&k)?,
                        reason: reason.to_string(),
                        group_key: group_key.to_string(),
                        received_at_ms: i64::from_be_bytes(entry[..8].try_into().expect("8")),
                        bytes: entry.len() - 28 - group_key.len(),
                    })
                })
                .collect()
        })
    }

    /// Puts dead letters back into the inbox (new sequences, oldest first); returns the old
    /// sequences replayed. One already pending with the same body is dropped, not doubled.
    /// Durable when it returns.
    pub async fn dead_replay(&self, which: Which) -> Result<Vec<u64>, StoreError> {
        let (db, dead, inbox) = (self.db.clone(), self.dead.clone(), self.inbox.clone());
        let (index, visible, count) = (
            self.pending_index.clone(),
            self.visible.clone(),
            self.pending.clone(),
        );
        let replayed = self
            .thread
            .run("dead replay", move || {
                let mut done = Vec::new();
                for old in keys(&dead, &which)? {
                    let Some(v) = dead.get(old.to_be_bytes())? else {
                        continue;
                    };
                    let (_, entry) = split(&v)?;
                    decode_header(entry)?;
                    let hash: [u8; 16] = entry[8..24].try_into().expect("16 bytes");
                    let mut pending = index.lock().expect("store order lock");
                    if let std::collections::hash_map::Entry::Vacant(slot) = pending.entry(hash) {
                        let seq = db.generate_id()?;
                        inbox.insert(seq.to_be_bytes(), entry)?;
                        slot.insert(seq);
                        count.store(pending.len(), Ordering::Release);
                        visible.store(seq, Ordering::Release);
                    }
                    drop(pending);
                    dead.remove(old.to_be_bytes())?;
                    done.push(old);
                }
                Ok(done)
            })
            .await?;
        self.durable().await?;
        Ok(replayed)
    }

    /// Removes dead letters for good; returns the sequences dropped. Durable when it returns.
    pub async fn dead_drop(&self, which: Which) -> Result<Vec<u64>, StoreError> {
        let dead = self.dead.clone();
        let dropped = self
            .thread
            .run("dead drop", move || {
                let mut done = Vec::new();
                for seq in keys(&dead, &which)? {
                    if dead.remove(seq.to_be_bytes())?.is_some() {
                        done.push(seq);
                    }
                }
                Ok(done)
            })
            .await?;
        self.durable().await?;
        Ok(dropped)
    }
}
