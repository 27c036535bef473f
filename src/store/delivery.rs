//! A delivered page's record, written by one store-thread job.
//!
//! After a page is out, the incident record, its id index, the inbox entries it answers, the
//! post mark and the refill it may need all change together. Five separate store calls cost
//! five hand-overs to the store thread (two context switches each), which profiling showed as
//! the largest share of a delivered page's CPU; one job costs one. Durable after the next
//! [`Store::durable`], like its parts.

use serde::Serialize;

use super::digests::{line_key, LineChange};
use super::due::due_record;
use super::{Completed, DueItem, InboxEntry, Store, StoreError};

/// What one delivery changes in the store.
pub struct Delivered<'a, T> {
    pub group_key: &'a str,
    pub incident_id: &'a str,
    pub incident: &'a T,
    /// The incident id is new to the index (a first post): write the id -> group entry.
    pub new_id: bool,
    pub batch: &'a [InboxEntry],
    pub refill: Option<(&'a DueItem, &'a [u8])>,
    /// The incident's line in a storm digest, when that changes.
    pub digest: LineChange<'a>,
    /// A record of the way out to write with it (the message as sent), see `outbox.rs`.
    pub shown: Option<(String, Vec<u8>)>,
}

impl Store {
    pub fn record_delivery<T: Serialize>(&self, d: &Delivered<'_, T>) -> Result<(), StoreError> {
        let incident =
            serde_json::to_vec(d.incident).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = d.group_key.as_bytes().to_vec();
        let id = d.incident_id.as_bytes().to_vec();
        let index = d.new_id.then(|| (id.clone(), key.clone()));
        let done = Completed::of(d.batch);
        let due = d.refill.map(|(item, body)| due_record(item, body));
        let line = match d.digest {
            LineChange::Keep => None,
            LineChange::Put { channel, line } => {
                Some((line_key(channel, d.incident_id), Some(line.to_vec())))
            }
            LineChange::Remove { channel } => Some((line_key(channel, d.incident_id), None)),
        };
        let shown = d.shown.clone();
        let trees = (
            self.shown.clone(),
            self.incidents.clone(),
            self.incident_ids.clone(),
            self.inbox.clone(),
            self.posting.clone(),
            self.due.clone(),
            self.digest_lines.clone(),
        );
        let (pending, count) = (self.pending_index.clone(), self.pending.clone());
        self.thread.run_blocking("delivery record", move || {
            let (shown_tree, incidents, ids, inbox, posting, due_tree, lines) = trees;
            if let Some((k, v)) = shown {
                shown_tree.insert(k.as_bytes(), v)?;
            }
            incidents.insert(key, incident)?;
            if let Some((id, key)) = index {
                ids.insert(id, key)?;
            }
            done.apply(&inbox, &pending, &count)?;
            posting.remove(&id)?;
            if let Some((k, v)) = due {
                due_tree.insert(k, v)?;
            }
            match line {
                Some((k, Some(v))) => {
                    lines.insert(k, v)?;
                }
                Some((k, None)) => {
                    lines.remove(k)?;
                }
                None => {}
            }
            Ok(())
        })
    }
}
