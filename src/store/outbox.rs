//! The outbox (`outbox` tree) and what the way out has shown (`shown` tree).
//!
//! `outbox`: work for Discord that is not a page (a request's message, its files, an incident's
//! one-line state), keyed by a monotonic sequence. An item is written in the same store-thread
//! job as the state it reports (the request, the incident's note), so after any crash either
//! both are on disk or neither is, and nothing a person waits for travels only in memory. The
//! delivery workers read it like the inbox and remove an item only after Discord took it.
//!
//! `shown`: records only the way out writes: where a request's message is, which thread an
//! incident's requests go to, and the incident message as last sent (so its one-line state can
//! be changed without reading Discord's copy back). Keys are the caller's; values are JSON.
//!
//! Generic over the item and record types, like the rest of the store: it knows no request,
//! note or message.

use serde::{de::DeserializeOwned, Serialize};

use super::{decode_seq, Store, StoreError};

/// A write that goes with outbox items in one store job.
pub enum With {
    Nothing,
    /// `requests[id] = value`.
    Request {
        id: String,
        value: Vec<u8>,
    },
    /// `requests[id] = value` and `notes[incident] = note`.
    RequestAndNote {
        id: String,
        value: Vec<u8>,
        incident: String,
        note: Vec<u8>,
    },
    /// `notes[incident] = note`.
    Note {
        incident: String,
        note: Vec<u8>,
    },
}

impl Store {
    /// Writes `with` and queues `items`, in that order, in one store-thread job; durable after
    /// the next [`Store::durable`]. Returns the items' sequences.
    pub fn post<T: Serialize>(&self, with: With, items: &[T]) -> Result<Vec<u64>, StoreError> {
        let encoded = items
            .iter()
            .map(|i| serde_json::to_vec(i).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let (db, outbox, requests, notes) = (
            self.db.clone(),
            self.outbox.clone(),
            self.requests.clone(),
            self.notes.clone(),
        );
        self.thread.run_blocking("outbox write", move || {
            match with {
                With::Nothing => {}
                With::Request { id, value } => {
                    requests.insert(id.as_bytes(), value)?;
                }
                With::RequestAndNote {
                    id,
                    value,
                    incident,
                    note,
                } => {
                    requests.insert(id.as_bytes(), value)?;
                    notes.insert(incident.as_bytes(), note)?;
                }
                With::Note { incident, note } => {
                    notes.insert(incident.as_bytes(), note)?;
                }
            }
            let mut seqs = Vec::with_capacity(encoded.len());
            for item in encoded {
                // sled's ids only grow, also across restarts: the outbox keeps its order.
                let seq = db.generate_id()?;
                outbox.insert(seq.to_be_bytes(), item)?;
                seqs.push(seq);
            }
            Ok(seqs)
        })
    }

    /// Up to `limit` queued items after `after` (all from the start with `None`), oldest first.
    pub fn outbox_after<T: DeserializeOwned>(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, T)>, StoreError> {
        let tree = self.outbox.clone();
        let raw = self.thread.run_blocking("outbox scan", move || {
            let start = after.map_or(0, |s| s.saturating_add(1));
            tree.range(start.to_be_bytes()..)
                .take(limit)
                .map(|item| {
                    let (k, v) = item?;
                    Ok((decode_seq(&k)?, v.to_vec()))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        raw.into_iter()
            .map(|(seq, v)| {
                serde_json::from_slice(&v)
                    .map(|item| (seq, item))
                    .map_err(|e| StoreError::Corrupt(format!("outbox item {seq}: {e}")))
            })
            .collect()
    }

    /// The queued item `seq`, if it is still queued.
    pub fn outbox_item<T: DeserializeOwned>(&self, seq: u64) -> Result<Option<T>, StoreError> {
        let tree = self.outbox.clone();
        let value = self
            .thread
            .run_blocking("outbox read", move || Ok(tree.get(seq.to_be_bytes())?))?;
        value
            .map(|v| {
                serde_json::from_slice(&v)
                    .map_err(|e| StoreError::Corrupt(format!("outbox item {seq}: {e}")))
            })
            .transpose()
    }

    /// Items still queued.
    pub fn outbox_len(&self) -> usize {
        let tree = self.outbox.clone();
        self.thread
            .run_blocking("outbox count", move || Ok(tree.len()))
            .unwrap_or(0)
    }

    /// Item `seq` is done: removes it, writes the `shown` records and clears the posting `mark`,
    /// in one store job; durable after the next [`Store::durable`].
    pub fn outbox_done(
        &self,
        seq: u64,
        shown: Vec<(String, Vec<u8>)>,
        mark: Option<String>,
    ) -> Result<(), StoreError> {
        let (outbox, shown_tree, posting) = (
            self.outbox.clone(),
            self.shown.clone(),
            self.posting.clone(),
        );
        self.thread.run_blocking("outbox done", move || {
            for (k, v) in shown {
                shown_tree.insert(k.as_bytes(), v)?;
            }
            if let Some(m) = mark {
                posting.remove(m.as_bytes())?;
            }
            outbox.remove(seq.to_be_bytes())?;
            Ok(())
        })
    }

    /// A record of the way out (see the module docs).
    pub fn shown<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let (tree, k) = (self.shown.clone(), key.as_bytes().to_vec());
        let value = self
            .thread
            .run_blocking("shown read", move || Ok(tree.get(k)?))?;
        value
            .map(|v| {
                serde_json::from_slice(&v)
                    .map_err(|e| StoreError::Corrupt(format!("shown {key:?}: {e}")))
            })
            .transpose()
    }

    /// Writes a record of the way out; durable after the next [`Store::durable`].
    pub fn put_shown<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.put_shown_raw(key, bytes)
    }

    /// [`Store::put_shown`] of a value already in JSON.
    pub fn put_shown_raw(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let (tree, k) = (self.shown.clone(), key.as_bytes().to_vec());
        self.thread.run_blocking("shown write", move || {
            tree.insert(k, bytes)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_keep_their_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let seqs = store
                .post(
                    With::Request {
                        id: "r1".into(),
                        value: b"{\"v\":1}".to_vec(),
                    },
                    &["first", "second"],
                )
                .unwrap();
            assert_eq!(seqs.len(), 2);
            assert!(seqs[0] < seqs[1]);
            store.durable().await.unwrap();
        }
        let store = crate::store::tests::reopen(dir.path()).await;
        let items: Vec<(u64, String)> = store.outbox_after(None, 10).unwrap();
        assert_eq!(
            items.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
            ["first", "second"]
        );
        let req: Option<serde_json::Value> = store.request("r1").unwrap();
        assert_eq!(req.unwrap()["v"], 1);
        let after_first: Vec<(u64, String)> = store.outbox_after(Some(items[0].0), 10).unwrap();
        assert_eq!(after_first.len(), 1);

        store
            .outbox_done(items[0].0, vec![("request r1".into(), b"7".to_vec())], None)
            .unwrap();
        let left: Vec<(u64, String)> = store.outbox_after(None, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(store.outbox_len(), 1);
        assert_eq!(store.shown::<u64>("request r1").unwrap(), Some(7));
        assert_eq!(store.outbox_item::<String>(items[0].0).unwrap(), None);
    }
}
