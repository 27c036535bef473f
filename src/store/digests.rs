//! Storm digests (see `crate::digest`): per channel, the current digest's header and its lines.
//!
//! - `digests`: channel id (8, big-endian) -> the header (which message, since when).
//! - `digest_lines`: channel id (8) | incident id -> that incident's line.
//!
//! Lines are written with the delivery record of the notification they stand for
//! ([`super::Delivered::digest`]), so a notification leaves the inbox only once its line is
//! stored; the digest message is rebuilt from the lines whenever it is edited.

use serde::{de::DeserializeOwned, Serialize};

use super::{Store, StoreError};

/// How a delivery changes its incident's digest line.
#[derive(Debug, Clone, Copy, Default)]
pub enum LineChange<'a> {
    #[default]
    Keep,
    /// The incident is (still) a line of `channel`'s digest; `line` is its serialized form.
    Put { channel: u64, line: &'a [u8] },
    /// The incident left `channel`'s digest for a message of its own.
    Remove { channel: u64 },
}

pub(super) fn line_key(channel: u64, incident_id: &str) -> Vec<u8> {
    let mut k = channel.to_be_bytes().to_vec();
    k.extend_from_slice(incident_id.as_bytes());
    k
}

impl Store {
    pub fn digest_header<T: DeserializeOwned>(
        &self,
        channel: u64,
    ) -> Result<Option<T>, StoreError> {
        let tree = self.digests.clone();
        let value = self
            .thread
            .run_blocking("digest read", move || Ok(tree.get(channel.to_be_bytes())?))?;
        value
            .map(|v| {
                serde_json::from_slice(&v)
                    .map_err(|e| StoreError::Corrupt(format!("digest of channel {channel}: {e}")))
            })
            .transpose()
    }

    /// Durable after the next [`Store::durable`].
    pub fn put_digest_header<T: Serialize>(
        &self,
        channel: u64,
        header: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(header).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tree = self.digests.clone();
        self.thread.run_blocking("digest write", move || {
            tree.insert(channel.to_be_bytes(), bytes)?;
            Ok(())
        })
    }

    /// Starts a new digest in `channel`: the old one's lines go (its message stays as it was).
    pub fn start_digest<T: Serialize>(&self, channel: u64, header: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(header).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (digests, lines) = (self.digests.clone(), self.digest_lines.clone());
        self.thread.run_blocking("digest start", move || {
            for item in lines.scan_prefix(channel.to_be_bytes()).keys() {
                lines.remove(item?)?;
            }
            digests.insert(channel.to_be_bytes(), bytes)?;
            Ok(())
        })
    }

    /// The lines of `channel`'s digest (unordered: the digest sorts them).
    pub fn digest_lines<T: DeserializeOwned>(&self, channel: u64) -> Result<Vec<T>, StoreError> {
        self.json_records(
            "digest line",
            self.digest_lines.clone(),
            channel.to_be_bytes().to_vec(),
        )
    }

    /// Channels that have a digest (to bring their messages up to date after a restart).
    pub fn digest_channels(&self) -> Result<Vec<u64>, StoreError> {
        let tree = self.digests.clone();
        self.thread.run_blocking("digest list", move || {
            tree.iter()
                .keys()
                .map(|k| {
                    let k = k?;
                    Ok(u64::from_be_bytes(k.as_ref().try_into().map_err(|_| {
                        StoreError::Corrupt("digest key is not a channel id".into())
                    })?))
                })
                .collect()
        })
    }
}
