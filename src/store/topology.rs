//! Topology incidents (see `crate::topology`): each board and its job lines, in one tree of their
//! own (`topology`), opened on first use.
//!
//! - `b` 0x1f board key -> the board (which cause, channel, message).
//! - `l` 0x1f board key 0x1f incident id -> that incident's line.
//!
//! Retention removes a board with its lines once it is over and older than the window
//! (`retention/boards.rs`).
//!
//! A line is written before the delivery record that takes its notification out of the inbox:
//! after a crash in between, the notification is processed again and writes the same line.

use serde::{de::DeserializeOwned, Serialize};

use super::{Store, StoreError};

const SEP: char = '\u{1f}';

pub(super) fn board_key(key: &str) -> Vec<u8> {
    format!("b{SEP}{key}").into_bytes()
}

pub(super) fn line_prefix(key: &str) -> Vec<u8> {
    format!("l{SEP}{key}{SEP}").into_bytes()
}

impl Store {
    fn topology(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree("topology")?)
    }

    pub fn board<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.json_record("topology board", self.topology()?, board_key(key))
    }

    /// Durable after the next [`Store::durable`].
    pub fn put_board<T: Serialize>(&self, key: &str, board: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(board).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (tree, k) = (self.topology()?, board_key(key));
        self.thread.run_blocking("board write", move || {
            tree.insert(k, bytes)?;
            Ok(())
        })
    }

    /// Puts (`Some`) or removes (`None`) an incident's line. Durable after [`Store::durable`].
    pub fn put_board_line<T: Serialize>(
        &self,
        key: &str,
        incident_id: &str,
        line: Option<&T>,
    ) -> Result<(), StoreError> {
        let bytes = line
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tree = self.topology()?;
        let mut k = line_prefix(key);
        k.extend_from_slice(incident_id.as_bytes());
        self.thread.run_blocking("board line", move || {
            match bytes {
                Some(b) => tree.insert(k, b)?,
                None => tree.remove(k)?,
            };
            Ok(())
        })
    }

    pub fn board_lines<T: DeserializeOwned>(&self, key: &str) -> Result<Vec<T>, StoreError> {
        self.json_records("topology line", self.topology()?, line_prefix(key))
    }

    /// Every board's key (to bring their messages up to date after a restart).
    pub fn board_keys(&self) -> Result<Vec<String>, StoreError> {
        let tree = self.topology()?;
        let prefix = board_key("");
        self.thread.run_blocking("board list", move || {
            tree.scan_prefix(&prefix)
                .keys()
                .map(|k| Ok(String::from_utf8_lossy(&k?[prefix.len()..]).into_owned()))
                .collect()
        })
    }
}
