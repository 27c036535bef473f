//! Sealing entries into a hash chain and verifying it.
//!
//! Each entry's hash covers a canonical encoding of its sequence, time, the previous entry's hash
//! and the event's JSON exactly as stored (not a re-serialization, so a float or a key order can
//! never make an intact entry look changed):
//!
//! `"flink-chatops/audit/v1\0" | sealing (1 byte) | seq (u64 BE) | at_ms (i64 BE) | prev_hash (32) | event JSON`
//!
//! Fixed-width fields come first and the one variable field last, so no two entries encode alike.
//! With a key the hash is HMAC-SHA256, so whoever can write the store cannot rebuild a consistent
//! chain after editing it. A chain alone cannot show that its newest entries were cut off, so
//! [`Verifier::finish`] also requires every head published outside the store to be in the log.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::AuditEvent;

const DOMAIN: &[u8] = b"flink-chatops/audit/v1\0";

/// A SHA-256 or HMAC-SHA256 value, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The `prev_hash` of the first entry.
    pub const ZERO: ChainHash = ChainHash([0; 32]);

    /// The first 12 hex digits, for one-line listings.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

impl Serialize for ChainHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.as_bytes(), &mut out)
            .map_err(|_| serde::de::Error::custom("a hash is 64 hex digits"))?;
        Ok(ChainHash(out))
    }
}

/// How an entry was sealed. Part of the sealed bytes, so it cannot be flipped unnoticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sealing {
    #[serde(rename = "sha256")]
    Sha256,
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl Sealing {
    fn tag(self) -> u8 {
        match self {
            Sealing::Sha256 => 1,
            Sealing::HmacSha256 => 2,
        }
    }
}

/// One sealed audit entry. `event` is parsed from the stored JSON; the hash covers that JSON's
/// exact bytes, which travel with the entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub at_ms: i64,
    pub sealing: Sealing,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
    pub event: AuditEvent,
    event_json: Box<RawValue>,
}

/// What is published outside the store: "the log had `seq` entries, the last one hashing to
/// `hash`, at `at_ms`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: ChainHash,
    pub at_ms: i64,
}

#[derive(Serialize)]
struct RecordOut<'a> {
    seq: u64,
    at_ms: i64,
    sealing: Sealing,
    prev_hash: ChainHash,
    hash: ChainHash,
    event: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn {
    seq: u64,
    at_ms: i64,
    sealing: Sealing,
    prev_hash: ChainHash,
    hash: ChainHash,
    event: Box<RawValue>,
}

impl Entry {
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash,
            at_ms: self.at_ms,
        }
    }

    /// The stored form: one JSON object (also one line of `audit export --format jsonl`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&RecordOut {
            seq: self.seq,
            at_ms: self.at_ms,
            sealing: self.sealing,
            prev_hash: self.prev_hash,
            hash: self.hash,
            event: &self.event_json,
        })
        .expect("an entry is plain JSON")
    }

    /// Reads the stored form. Only parses: whether it is intact is [`Verifier::push`]'s question.
    pub fn from_json(bytes: &[u8]) -> Result<Entry, String> {
        let r: RecordIn = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let event = serde_json::from_str(r.event.get()).map_err(|e| format!("event: {e}"))?;
        Ok(Entry {
            seq: r.seq,
            at_ms: r.at_ms,
            sealing: r.sealing,
            prev_hash: r.prev_hash,
            hash: r.hash,
            event,
            event_json: r.event,
        })
    }

    /// The event's JSON exactly as sealed.
    pub fn event_json(&self) -> &str {
        self.event_json.get()
    }

    fn expected_hash(&self, key: Option<&[u8]>) -> ChainHash {
        digest(
            self.sealing,
            key,
            self.seq,
            self.at_ms,
            &self.prev_hash,
            self.event_json.get(),
        )
    }
}

fn digest(
    sealing: Sealing,
    key: Option<&[u8]>,
    seq: u64,
    at_ms: i64,
    prev: &ChainHash,
    event_json: &str,
) -> ChainHash {
    let parts: [&[u8]; 6] = [
        DOMAIN,
        &[sealing.tag()],
        &seq.to_be_bytes(),
        &at_ms.to_be_bytes(),
        &prev.0,
        event_json.as_bytes(),
    ];
    let out: [u8; 32] = match (sealing, key) {
        (Sealing::HmacSha256, Some(key)) => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
            parts.iter().for_each(|p| mac.update(p));
            mac.finalize().into_bytes().into()
        }
        // Without the key an HMAC-sealed entry cannot be checked; the caller refuses first.
        _ => {
            let mut h = Sha256::new();
            parts.iter().for_each(|p| h.update(p));
            h.finalize().into()
        }
    };
    ChainHash(out)
}

/// Seals `event` as the entry after `prev` (the first entry when `None`), with HMAC-SHA256 when
/// a key is given.
pub fn seal(prev: Option<&Entry>, at_ms: i64, event: &AuditEvent, key: Option<&[u8]>) -> Entry {
    let json = serde_json::to_string(event).expect("an audit event is plain JSON");
    let event_json = RawValue::from_string(json).expect("serde_json wrote valid JSON");
    let (seq, prev_hash) = prev.map_or((1, ChainHash::ZERO), |p| (p.seq + 1, p.hash));
    let sealing = if key.is_some() {
        Sealing::HmacSha256
    } else {
        Sealing::Sha256
    };
    let hash = digest(sealing, key, seq, at_ms, &prev_hash, event_json.get());
    Entry {
        seq,
        at_ms,
        sealing,
        prev_hash,
        hash,
        event: event.clone(),
        event_json,
    }
}

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
