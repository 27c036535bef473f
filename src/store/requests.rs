//! Guarded requests (`requests` tree): id -> the request as JSON. Transitions are made by one
//! owner under its lock (`guard`), which reads, changes and writes back, then waits for the
//! group commit; the store only keeps them. Like every store call, each runs on the store
//! thread under `storage.timeout_ms` (see `store::guard`).

use serde::{de::DeserializeOwned, Serialize};

use super::{Store, StoreError};

impl Store {
    pub fn request<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, StoreError> {
        let (tree, key) = (self.requests.clone(), id.as_bytes().to_vec());
        let value = self
            .guard
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
        self.guard.run_blocking("request write", move || {
            tree.insert(key, bytes)?;
            Ok(())
        })
    }

    /// Every stored request (the worker filters the open ones; they are few).
    pub fn requests<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let tree = self.requests.clone();
        let raw = self.guard.run_blocking("request scan", move || {
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

    /// A fresh, store-unique id (sled's monotonic id, never reused across restarts).
    pub fn next_id(&self) -> Result<u64, StoreError> {
        let db = self.db.clone();
        self.guard
            .run_blocking("id allocation", move || Ok(db.generate_id()?))
    }
}
