//! Refills waiting for their time: a page that went out with facts missing is looked at again
//! later. Kept in sled like the inbox, so they survive a restart and a Flink outage costs disk,
//! not memory.
//!
//! Key: `due_ms (8, big-endian) | incident id`, so a range scan from the start yields what is due,
//! oldest first. Value: `attempt (4) | notifications (8) | key length (4) | group key | body`.

use super::{Store, StoreError};

/// One due refill, without its body (read when a worker takes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItem {
    pub key: Vec<u8>,
    pub due_ms: i64,
    pub incident_id: String,
    pub group_key: String,
    /// 1 for the first refill of a page, 2 for the second...
    pub attempt: u32,
    /// The incident's notification count when scheduled: a later notification makes it stale.
    pub notifications: u64,
}

impl Store {
    /// Schedules a refill. Durable after the next [`Store::durable`].
    pub fn schedule_due(&self, item: &DueItem, body: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (key, value) = due_record(item, body);
        let (tree, k) = (self.due.clone(), key.clone());
        self.thread.run_blocking("due write", move || {
            tree.insert(k, value)?;
            Ok(())
        })?;
        Ok(key)
    }

    /// Up to `limit` items due at or before `now_ms` with a key after `after`, oldest first.
    pub fn due_until(
        &self,
        after: Option<&[u8]>,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<DueItem>, StoreError> {
        let end = (now_ms.max(0) as u64 + 1).to_be_bytes();
        let (tree, after) = (self.due.clone(), after.map(<[u8]>::to_vec));
        self.thread.run_blocking("due scan", move || {
            let range = match &after {
                Some(a) => tree.range::<&[u8], _>((
                    std::ops::Bound::Excluded(&a[..]),
                    std::ops::Bound::Excluded(&end[..]),
                )),
                None => tree.range(..&end[..]),
            };
            range
                .take(limit)
                .map(|item| {
                    let (k, v) = item?;
                    decode(&k, &v).map(|(d, _)| d)
                })
                .collect()
        })
    }

    /// The body of a due item, if it is still scheduled.
    pub fn due_body(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (tree, k) = (self.due.clone(), key.to_vec());
        let value = self
            .thread
            .run_blocking("due read", move || Ok(tree.get(k)?))?;
        match value {
            Some(v) => decode(key, &v).map(|(_, body)| Some(body.to_vec())),
            None => Ok(None),
        }
    }

    /// Durable after the next [`Store::durable`].
    pub fn remove_due(&self, key: &[u8]) -> Result<(), StoreError> {
        let (tree, k) = (self.due.clone(), key.to_vec());
        self.thread.run_blocking("due remove", move || {
            tree.remove(k)?;
            Ok(())
        })
    }

    /// When the earliest scheduled item is due.
    pub fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        let tree = self.due.clone();
        self.thread.run_blocking("due read", move || {
            Ok(match tree.first()? {
                Some((k, _)) => Some(due_ms(&k)?),
                None => None,
            })
        })
    }

    /// Scheduled refills; 0 when the store cannot answer (it is then failed, see `guard`).
    pub fn due_count(&self) -> usize {
        let tree = self.due.clone();
        self.thread
            .run_blocking("due count", move || Ok(tree.len()))
            .unwrap_or(0)
    }
}

/// The key and value a due item is stored under.
pub(super) fn due_record(item: &DueItem, body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let key = due_key(item.due_ms, &item.incident_id);
    let mut value = Vec::with_capacity(16 + item.group_key.len() + body.len());
    value.extend_from_slice(&item.attempt.to_be_bytes());
    value.extend_from_slice(&item.notifications.to_be_bytes());
    value.extend_from_slice(&(item.group_key.len() as u32).to_be_bytes());
    value.extend_from_slice(item.group_key.as_bytes());
    value.extend_from_slice(body);
    (key, value)
}

fn due_key(due_ms: i64, incident_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + incident_id.len());
    key.extend_from_slice(&(due_ms.max(0) as u64).to_be_bytes());
    key.extend_from_slice(incident_id.as_bytes());
    key
}

fn due_ms(key: &[u8]) -> Result<i64, StoreError> {
    let head: [u8; 8] = key
        .get(..8)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt("due key shorter than 8 bytes".into()))?;
    Ok(u64::from_be_bytes(head) as i64)
}

fn decode<'v>(key: &[u8], value: &'v [u8]) -> Result<(DueItem, &'v [u8]), StoreError> {
    let corrupt = || StoreError::Corrupt("due entry shorter than its header".into());
    let header = value.get(..16).ok_or_else(corrupt)?;
    let key_len = u32::from_be_bytes(header[12..16].try_into().expect("4 bytes")) as usize;
    let group_key = value.get(16..16 + key_len).ok_or_else(corrupt)?;
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .map_err(|_| StoreError::Corrupt("due entry is not UTF-8".into()))
    };
    let item = DueItem {
        key: key.to_vec(),
        due_ms: due_ms(key)?,
        incident_id: text(&key[8..])?,
        group_key: text(group_key)?,
        attempt: u32::from_be_bytes(header[..4].try_into().expect("4 bytes")),
        notifications: u64::from_be_bytes(header[4..12].try_into().expect("8 bytes")),
    };
    Ok((item, &value[16 + key_len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn due_items_come_back_in_time_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let item = |due_ms, id: &str| DueItem {
            key: vec![],
            due_ms,
            incident_id: id.into(),
            group_key: format!("g-{id}"),
            attempt: 2,
            notifications: 5,
        };
        {
            let store = Store::open(dir.path()).unwrap();
            store.schedule_due(&item(3_000, "c"), b"body-c").unwrap();
            store.schedule_due(&item(1_000, "a"), b"body-a").unwrap();
            store.schedule_due(&item(2_000, "b"), b"body-b").unwrap();
            store.durable().await.unwrap();
        }
        // The commit task lets go of the database once it sees the last handle gone.
        let mut reopened = Store::open(dir.path());
        for _ in 0..100 {
            if reopened.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            reopened = Store::open(dir.path());
        }
        let store = reopened.unwrap();
        assert_eq!(store.next_due_ms().unwrap(), Some(1_000));
        let due = store.due_until(None, 2_000, 10).unwrap();
        let ids: Vec<_> = due.iter().map(|d| d.incident_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "only what is due, oldest first");
        assert_eq!(due[0].group_key, "g-a");
        assert_eq!((due[0].attempt, due[0].notifications), (2, 5));
        assert_eq!(store.due_body(&due[1].key).unwrap().unwrap(), b"body-b");
        let after_a = store.due_until(Some(&due[0].key), 5_000, 10).unwrap();
        assert_eq!(after_a.len(), 2, "the cursor skips what was already taken");
        store.remove_due(&due[0].key).unwrap();
        assert_eq!(store.due_body(&due[0].key).unwrap(), None);
        assert_eq!(store.due_count(), 2);
    }
}
