//! Verifying a chain: the first place where the stored entries stop being the ones that were
//! sealed. A chain alone cannot show that its newest entries were cut off, so
//! [`Verifier::finish`] also requires every head published outside the store to be in the log.

use std::collections::BTreeMap;

use super::chain::{ChainHash, Entry, Head, Sealing};

/// Where a chain stops being the one that was written. The text is for the operator running
/// `audit verify` and names the first entry concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("entry {seq} cannot be read ({reason}): its stored bytes were changed")]
    Unreadable { seq: u64, reason: String },
    #[error("the record stored as entry {stored_as} says it is entry {seq}: entries were moved")]
    Misplaced { stored_as: u64, seq: u64 },
    #[error("entry {seq} does not match its seal: a byte of it was changed (or the HMAC key is not the one that sealed it)")]
    Altered { seq: u64 },
    #[error("entry {seq} is not sealed with the HMAC key: written before the key was configured, or rewritten by someone without it")]
    Unkeyed { seq: u64 },
    #[error("entry {seq} is sealed with an HMAC key: configure the key (audit.hmac_key_env or audit.hmac_key_file) to verify it")]
    KeyNeeded { seq: u64 },
    #[error("entries {from} to {to} are not where they belong: removed from the log, or moved")]
    Missing { from: u64, to: u64 },
    #[error(
        "entry {seq} comes where entry {expected} should: entries were reordered or duplicated"
    )]
    OutOfOrder { seq: u64, expected: u64 },
    #[error("entry {seq} does not follow the entry before it: an entry was inserted, replaced or reordered")]
    BrokenLink { seq: u64 },
    #[error("entry {seq} differs from the head published for it: the log was rewritten after that head was published")]
    HeadMismatch { seq: u64 },
    #[error("the log ends at entry {last} but head {published} was published: entries {} to {published} were cut off", last + 1)]
    CutTail { published: u64, last: u64 },
}

impl Break {
    /// The first entry concerned, for reports.
    pub fn seq(&self) -> u64 {
        match self {
            Break::Unreadable { seq, .. }
            | Break::Misplaced { stored_as: seq, .. }
            | Break::Altered { seq }
            | Break::Unkeyed { seq }
            | Break::KeyNeeded { seq }
            | Break::OutOfOrder { seq, .. }
            | Break::BrokenLink { seq }
            | Break::HeadMismatch { seq } => *seq,
            Break::Missing { from, .. } => *from,
            Break::CutTail { last, .. } => last + 1,
        }
    }
}

/// An intact chain, as far as it and the published heads can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub last: Option<Head>,
    /// Published heads found in the log.
    pub heads_checked: usize,
    pub keyed: bool,
}

/// Verifies a chain entry by entry, oldest first, so a store can stream it without loading it.
pub struct Verifier<'k> {
    key: Option<&'k [u8]>,
    last: Option<Head>,
    entries: u64,
    /// Published hashes per sequence (a head may be published more than once).
    heads: BTreeMap<u64, Vec<ChainHash>>,
    heads_checked: usize,
}

impl<'k> Verifier<'k> {
    pub fn new(published: &[Head], key: Option<&'k [u8]>) -> Verifier<'k> {
        let mut heads: BTreeMap<u64, Vec<ChainHash>> = BTreeMap::new();
        for h in published {
            heads.entry(h.seq).or_default().push(h.hash);
        }
        Verifier {
            key,
            last: None,
            entries: 0,
            heads,
            heads_checked: 0,
        }
    }

    /// Goes on from `from`, an entry already verified (the last one exported): only what
    /// follows it is checked, against the heads published after it. Start-up uses this so that
    /// its cost does not grow with the log; `audit verify` walks the whole chain.
    pub fn resume(from: Head, published: &[Head], key: Option<&'k [u8]>) -> Verifier<'k> {
        let later: Vec<Head> = published
            .iter()
            .filter(|h| h.seq > from.seq)
            .copied()
            .collect();
        let mut v = Verifier::new(&later, key);
        v.last = Some(from);
        v
    }

    pub fn push(&mut self, e: &Entry) -> Result<(), Break> {
        let seq = e.seq;
        match (e.sealing, self.key) {
            (Sealing::Sha256, Some(_)) => return Err(Break::Unkeyed { seq }),
            (Sealing::HmacSha256, None) => return Err(Break::KeyNeeded { seq }),
            _ => {}
        }
        if e.expected_hash(self.key) != e.hash {
            return Err(Break::Altered { seq });
        }
        let (expected, prev_hash) = self
            .last
            .map_or((1, ChainHash::ZERO), |h| (h.seq + 1, h.hash));
        if seq > expected {
            return Err(Break::Missing {
                from: expected,
                to: seq - 1,
            });
        }
        if seq < expected {
            return Err(Break::OutOfOrder { seq, expected });
        }
        if e.prev_hash != prev_hash {
            return Err(Break::BrokenLink { seq });
        }
        if let Some(published) = self.heads.remove(&seq) {
            if published.iter().any(|h| *h != e.hash) {
                return Err(Break::HeadMismatch { seq });
            }
            self.heads_checked += published.len();
        }
        self.last = Some(e.head());
        self.entries += 1;
        Ok(())
    }

    /// Every published head must have been seen: one beyond the last entry means a cut tail.
    pub fn finish(self) -> Result<Summary, Break> {
        if let Some((&published, _)) = self.heads.last_key_value() {
            return Err(Break::CutTail {
                published,
                last: self.last.map_or(0, |h| h.seq),
            });
        }
        Ok(Summary {
            entries: self.entries,
            last: self.last,
            heads_checked: self.heads_checked,
            keyed: self.key.is_some(),
        })
    }
}

/// Verifies a whole chain (oldest first) against the heads published for it.
pub fn verify(
    entries: &[Entry],
    published_heads: &[Head],
    key: Option<&[u8]>,
) -> Result<Summary, Break> {
    let mut v = Verifier::new(published_heads, key);
    for e in entries {
        v.push(e)?;
    }
    v.finish()
}
