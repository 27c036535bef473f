//! Sealing audit entries into a hash chain, and their stored form.
//!
//! Each entry's hash covers a canonical encoding of its sequence, time, the previous entry's hash
//! and the event's JSON exactly as stored (not a re-serialization, so a float or a key order can
//! never make an intact entry look changed):
//!
//! `"flink-chatops/audit/v1\0" | sealing (1 byte) | seq (u64 BE) | at_ms (i64 BE) | prev_hash (32) | event JSON`
//!
//! Fixed-width fields come first and the one variable field last, so no two entries encode alike.
//! With a key the hash is HMAC-SHA256, so whoever can write the store cannot rebuild a consistent
//! chain after editing it. Checking a chain is `verify.rs`'s job.

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

    /// One line for `audit list` and `/flink audit`:
    /// `#12  2026-12-01 10:22:03Z  approved savepoint prod/abc by alice (42) [request r1]  3f2a9c01d2e4`.
    /// Names come from chat: escape them where markup matters.
    pub fn line(&self) -> String {
        let at = chrono::DateTime::from_timestamp_millis(self.at_ms).map_or_else(
            || self.at_ms.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        );
        format!(
            "#{}  {at}  {}  {}",
            self.seq,
            self.event.summary(),
            self.hash.short()
        )
    }

    /// The event's JSON exactly as sealed.
    pub fn event_json(&self) -> &str {
        self.event_json.get()
    }

    pub(super) fn expected_hash(&self, key: Option<&[u8]>) -> ChainHash {
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
