//! Each cluster's jobs at its last answer (`crate::roster`), in a tree of their own (`rosters`):
//! cluster name -> roster. One record per configured cluster, so retention has nothing to do
//! here. Not flushed at each write: a roster lost in a crash is written again at the next poll.

use serde::{de::DeserializeOwned, Serialize};

use super::{Store, StoreError};

impl Store {
    fn rosters(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree("rosters")?)
    }

    pub fn roster<T: DeserializeOwned>(&self, cluster: &str) -> Result<Option<T>, StoreError> {
        self.json_record("roster", self.rosters()?, cluster.as_bytes().to_vec())
    }

    pub fn put_roster<T: Serialize>(&self, cluster: &str, roster: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(roster).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (tree, k) = (self.rosters()?, cluster.as_bytes().to_vec());
        self.thread.run_blocking("roster write", move || {
            tree.insert(k, bytes)?;
            Ok(())
        })
    }
}
