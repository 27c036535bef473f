//! What the store remembers about posts beyond the incident record.
//!
//! - `posting`: incident ids whose post was started but not yet recorded. The mark is on disk
//!   before the first attempt, so after a crash the bot knows the post may be out and looks for it
//!   in the channel before posting again (instead of trusting Discord's short nonce window).
//! - `dead`: pages Discord will never take (401/403, unknown channel), kept with the reason so an
//!   operator can see and replay them; they leave the inbox so they stop holding delivery.

use super::{encode_entry, InboxEntry, Store, StoreError};

impl Store {
    /// Marks a post as started; returns whether it was already marked (an earlier attempt may
    /// have reached Discord). Durable after the next [`Store::durable`].
    pub fn mark_posting(&self, incident_id: &str) -> Result<bool, StoreError> {
        let (tree, k) = (self.posting.clone(), incident_id.as_bytes().to_vec());
        self.thread.run_blocking("posting mark", move || {
            Ok(tree.insert(k, &[][..])?.is_some())
        })
    }

    /// Whether a post for this incident was started and not recorded.
    pub fn is_posting(&self, incident_id: &str) -> Result<bool, StoreError> {
        let (tree, k) = (self.posting.clone(), incident_id.as_bytes().to_vec());
        self.thread
            .run_blocking("posting read", move || Ok(tree.contains_key(k)?))
    }

    /// The post is recorded (or given up on). Durable after the next [`Store::durable`].
    pub fn clear_posting(&self, incident_id: &str) -> Result<(), StoreError> {
        let (tree, k) = (self.posting.clone(), incident_id.as_bytes().to_vec());
        self.thread.run_blocking("posting clear", move || {
            tree.remove(k)?;
            Ok(())
        })
    }

    /// Moves undeliverable entries from the inbox to `dead`, with the reason. Durable after the
    /// next [`Store::durable`].
    pub fn bury(&self, entries: &[InboxEntry], reason: &str) -> Result<(), StoreError> {
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries {
            let mut value = Vec::with_capacity(4 + reason.len() + 28 + e.body.len());
            value.extend_from_slice(&(reason.len() as u32).to_be_bytes());
            value.extend_from_slice(reason.as_bytes());
            value.extend_from_slice(&encode_entry(
                e.received_at_ms,
                &e.hash,
                &e.group_key,
                e.rank,
                &e.body,
            ));
            kept.push((e.seq.to_be_bytes(), value));
        }
        let tree = self.dead.clone();
        self.thread.run_blocking("dead write", move || {
            for (k, v) in kept {
                tree.insert(k, v)?;
            }
            Ok(())
        })?;
        self.complete(entries)
    }

    /// Pages kept aside because Discord will not take them.
    /// 0 when the store cannot answer (it is then failed, see `guard`).
    pub fn dead_count(&self) -> usize {
        let tree = self.dead.clone();
        self.thread
            .run_blocking("dead count", move || Ok(tree.len()))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[tokio::test]
    async fn marks_and_buried_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.mark_posting("inc1").unwrap(), "first mark");
        assert!(store.mark_posting("inc1").unwrap(), "already marked");
        assert!(store.is_posting("inc1").unwrap());
        store.clear_posting("inc1").unwrap();
        assert!(!store.is_posting("inc1").unwrap());

        store.accept(b"{\"n\":1}", "g", 1).await.unwrap();
        let seqs: Vec<u64> = store
            .pending_after(None, usize::MAX)
            .unwrap()
            .iter()
            .map(|p| p.seq)
            .collect();
        let entries = store.entries(&seqs).unwrap();
        store.bury(&entries, "HTTP 403").unwrap();
        assert_eq!(store.pending_count(), 0, "out of the inbox");
        assert_eq!(store.dead_count(), 1, "kept aside");
        // Kept aside, the same body again is a new notification, not a duplicate.
        assert!(matches!(
            store.accept(b"{\"n\":1}", "g", 2).await.unwrap(),
            crate::store::Accepted::Stored(_)
        ));
    }
}
