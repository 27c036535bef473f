//! What leaves for Discord besides pages, as work items the store keeps (see `store/outbox.rs`):
//! a guarded request's message, the files of its result, an incident's one-line state, and an
//! incident's story (its timeline and postmortem draft as a file in its thread).
//!
//! The guard writes an item in the same store job as the request or note it reports; the
//! pipeline's workers deliver it through the same client, rate-limit buckets, retry decision and
//! posting marks as a page, and remove it only once Discord has it. Items that write the same
//! message wait in one line (`line`), so every message has one writer at a time.

use serde::{Deserialize, Serialize};

use crate::message::limits;

/// One piece of work for the way out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "post", rename_all = "snake_case")]
pub enum Post {
    /// Make the request's message show the request as the store has it now: posted once (in
    /// its incident's thread when it has one), edited after that.
    Request { id: String },
    /// The files of a request's result, posted once under its message.
    Files {
        request_id: String,
        files: Vec<Attachment>,
    },
    /// Make the incident's message show its current one-line state.
    Note {
        incident_id: String,
        group_key: String,
    },
    /// The incident's story (timeline and postmortem draft) as a Markdown file, posted once
    /// into its thread; rendered from the store when it is delivered.
    Story { incident_id: String },
}

impl Post {
    /// The line it waits in. A request's message and its files share one (the files need the
    /// message's place); an incident's note waits with the incident's pages, so the pipeline
    /// stays the one writer of an incident message.
    pub fn line(&self) -> String {
        match self {
            Post::Request { id } | Post::Files { request_id: id, .. } => request_key(id),
            Post::Note { group_key, .. } => group_key.clone(),
            Post::Story { incident_id } => story_key(incident_id),
        }
    }
}

/// A file a result carries (a thread dump), with a note when it was cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    #[serde(with = "hex_bytes")]
    pub bytes: Vec<u8>,
    pub note: Option<String>,
}

/// Where a request's message is (`shown` record under [`request_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub channel: u64,
    pub message_id: u64,
}

/// The `shown` key of a request's message; also its line and the text its footer carries.
pub fn request_key(id: &str) -> String {
    format!("request {id}")
}

/// The `shown` key of the thread an incident's requests are discussed in.
pub fn thread_key(incident_id: &str) -> String {
    format!("thread {incident_id}")
}

/// The `shown` key of an incident's message as last sent.
pub fn page_key(incident_id: &str) -> String {
    format!("page {incident_id}")
}

/// The `shown` key of an incident's posted story (where it is), and its items' line: every
/// click queues one, the first posts it and the rest find it posted.
pub fn story_key(incident_id: &str) -> String {
    format!("story {incident_id}")
}

/// The text of the message that carries an incident's story (found again after a crash by it).
pub fn story_text(incident_id: &str) -> String {
    format!("Timeline and postmortem draft of incident {incident_id}")
}

/// The text a request's files message starts with (found again after a crash by it).
pub fn files_key(id: &str) -> String {
    format!("Files for request {id}")
}

/// A nonce Discord takes (at most 25 characters) that is the same for the same `kind` and id:
/// a re-sent post is dropped by Discord within its nonce window.
pub fn nonce(kind: char, id: &str) -> String {
    let mut n = String::with_capacity(limits::NONCE);
    n.push(kind);
    n.extend(id.chars().filter(char::is_ascii_alphanumeric));
    n.truncate(limits::NONCE);
    n
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_fit_discord() {
        // Request ids are 24 hex digits: the whole id fits after the kind.
        let id = "0000000000000041deadbeef";
        assert_eq!(nonce('r', id), format!("r{id}"));
        assert_eq!(nonce('r', &"x".repeat(60)).len(), limits::NONCE);
        assert_ne!(nonce('r', id), nonce('f', id));
    }

    #[test]
    fn files_round_trip() {
        let p = Post::Files {
            request_id: "r".into(),
            files: vec![Attachment {
                name: "dump.txt".into(),
                bytes: vec![0, 1, 255],
                note: None,
            }],
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"0001ff\""), "{json}");
        assert_eq!(serde_json::from_str::<Post>(&json).unwrap(), p);
    }

    #[test]
    fn a_request_and_its_files_share_a_line_and_a_note_waits_with_its_pages() {
        let files = Post::Files {
            request_id: "a".into(),
            files: vec![],
        };
        assert_eq!(Post::Request { id: "a".into() }.line(), files.line());
        let note = Post::Note {
            incident_id: "i".into(),
            group_key: "{}:{alertname=\"x\"}".into(),
        };
        assert_eq!(note.line(), "{}:{alertname=\"x\"}");
    }

    #[test]
    fn every_click_on_timeline_queues_into_one_line() {
        let story = Post::Story {
            incident_id: "i1".into(),
        };
        assert_eq!(story.line(), story_key("i1"));
        let json = serde_json::to_string(&story).unwrap();
        assert_eq!(json, r#"{"post":"story","incident_id":"i1"}"#);
        assert_eq!(serde_json::from_str::<Post>(&json).unwrap(), story);
        assert_ne!(nonce('s', "i1"), nonce('r', "i1"));
    }
}
