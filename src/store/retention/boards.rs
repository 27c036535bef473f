//! Retention's step over the `topology` tree (`store/topology.rs`): a topology incident goes with
//! its job lines once `decide::board` lets it go.

use serde::Deserialize;

use super::decide;
use crate::store::topology::{board_key, line_prefix};
use crate::store::StoreError;

/// The fields of a board retention reads (`crate::topology::Board`).
#[derive(Deserialize)]
struct BoardView {
    id: String,
    opened_ms: i64,
}

/// The fields of a job line retention reads (`crate::topology::JobLine`).
#[derive(Deserialize)]
struct LineView {
    #[serde(default)]
    state: String,
    #[serde(default)]
    resolved: bool,
}

impl LineView {
    /// As `JobLine::recovered`: running again, or no longer alerting.
    fn recovered(&self) -> bool {
        self.resolved || self.state == "RUNNING"
    }
}

/// Retention's step over a batch of the `topology` tree (run on the store thread): removes each
/// board `decide::board` lets go, with its lines, in the same job that read them, so a line
/// written meanwhile is either seen (and keeps the board) or written after (to a new board).
/// An unreadable board or line keeps its board. Returns how many boards went.
pub(super) fn prune(
    tree: &sled::Tree,
    posting: &sled::Tree,
    batch: Vec<(sled::IVec, sled::IVec)>,
    cutoff_ms: i64,
) -> Result<usize, StoreError> {
    let boards = board_key("");
    let mut removed = 0;
    for (k, v) in batch {
        let Some(key) = k.strip_prefix(boards.as_slice()) else {
            continue; // a line: it goes with its board
        };
        let Ok(board) = serde_json::from_slice::<BoardView>(&v) else {
            continue;
        };
        let prefix = line_prefix(&String::from_utf8_lossy(key));
        let mut line_keys = Vec::new();
        let mut recovered = Vec::new();
        for item in tree.scan_prefix(&prefix) {
            let (lk, lv) = item?;
            match serde_json::from_slice::<LineView>(&lv) {
                Ok(line) => recovered.push(line.recovered()),
                Err(_) => recovered.push(false),
            }
            line_keys.push(lk);
        }
        let posting = posting.contains_key(board.id.as_bytes())?;
        if !decide::board(board.opened_ms, &recovered, posting, cutoff_ms) {
            continue;
        }
        if tree
            .compare_and_swap(&k, Some(&v), None as Option<&[u8]>)?
            .is_err()
        {
            continue;
        }
        for lk in line_keys {
            tree.remove(lk)?;
        }
        removed += 1;
    }
    Ok(removed)
}
