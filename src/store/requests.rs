//! Guarded requests (`requests` tree): id -> the request as JSON. Transitions are made by one
//! owner under its lock (`thread`), which reads, changes and writes back, then waits for the
//! group commit; the store only keeps them. Like every store call, each runs on the store
//! thread under `storage.timeout_ms` (see `store::thread`).

use serde::{de::DeserializeOwned, Serialize};

use super::{Store, StoreError};

impl Store {
    pub fn request<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, StoreError> {
        let (tree, key) = (self.requests.clone(), id.as_bytes().to_vec());
        let value = self
            .thread
            .run_blocking("request read", move || Ok(tree.get(key)?))?;
        match value {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("request {id:?}: {e}"))),
            None => Ok(None),
        }
    }

    /// Writes the request; durable after the next [`Store::durable`].
    pub fn put_request<T: Serialize>(&self, id: &str, request: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(request).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (tree, key) = (self.requests.clone(), id.as_bytes().to_vec());
        self.thread.run_blocking("request write", move || {
            tree.insert(key, bytes)?;
            Ok(())
        })
    }

    /// Every stored request (the worker filters the open ones; they are few).
    pub fn requests<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let tree = self.requests.clone();
        let raw = self.thread.run_blocking("request scan", move || {
            tree.iter()
                .map(|item| {
                    let (k, v) = item?;
                    Ok((k.to_vec(), v.to_vec()))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        raw.into_iter()
            .map(|(k, v)| {
                serde_json::from_slice(&v).map_err(|e| {
                    StoreError::Corrupt(format!("request {:?}: {e}", String::from_utf8_lossy(&k)))
                })
            })
            .collect()
    }

    /// The one-line state an incident's message shows (acknowledged by, silenced until, last
    /// action), kept apart from the incident record so the pipeline and the guard never write
    /// the same record.
    pub fn incident_note<T: DeserializeOwned + Default>(
        &self,
        incident_id: &str,
    ) -> Result<T, StoreError> {
        let (tree, key) = (self.notes.clone(), incident_id.as_bytes().to_vec());
        let value = self
            .thread
            .run_blocking("note read", move || Ok(tree.get(key)?))?;
        match value {
            Some(v) => serde_json::from_slice(&v)
                .map_err(|e| StoreError::Corrupt(format!("note {incident_id:?}: {e}"))),
            None => Ok(T::default()),
        }
    }

    pub fn put_incident_note<T: Serialize>(
        &self,
        incident_id: &str,
        note: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(note).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (tree, key) = (self.notes.clone(), incident_id.as_bytes().to_vec());
        self.thread.run_blocking("note write", move || {
            tree.insert(key, bytes)?;
            Ok(())
        })
    }

    /// A fresh, store-unique id (sled's monotonic id, never reused across restarts).
    pub fn next_id(&self) -> Result<u64, StoreError> {
        let db = self.db.clone();
        self.thread
            .run_blocking("id allocation", move || Ok(db.generate_id()?))
    }
}
