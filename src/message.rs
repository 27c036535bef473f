//! A chat-neutral message, and the rules that keep it inside Discord's limits.
//!
//! Rendering produces this; delivery turns it into serenity builders (or console text). Fitting
//! happens here, once, so no sink ever sends something Discord would answer with a 400.

use serde::{Deserialize, Serialize};

/// Discord's documented limits.
pub mod limits {
    pub const CONTENT: usize = 2_000;
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 4_096;
    pub const FIELDS: usize = 25;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1_024;
    pub const FOOTER: usize = 2_048;
    /// Sum of title, description, field names and values, footer text across all embeds.
    pub const EMBED_TOTAL: usize = 6_000;
    /// A message's nonce (Discord answers 400 `nonce: Must be 25 or fewer in length`).
    pub const NONCE: usize = 25;
    /// A thread's name.
    pub const THREAD_NAME: usize = 100;
    /// Action rows per message, buttons per row.
    pub const ROWS: usize = 5;
    pub const BUTTONS_PER_ROW: usize = 5;
    pub const BUTTON_LABEL: usize = 80;
    pub const CUSTOM_ID: usize = 100;
    /// Files a bot may attach without a boosted server: 10 files, 10 MiB in all.
    pub const FILES: usize = 10;
    pub const FILE_BYTES: usize = 10 * 1024 * 1024;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Plain text above the embed; mentions only notify from here.
    pub content: String,
    pub mention_roles: Vec<u64>,
    pub mention_users: Vec<u64>,
    pub embed: Embed,
    /// Buttons under the embed; text may only name a button that is here.
    pub buttons: Vec<crate::buttons::Button>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Embed {
    pub title: String,
    pub url: Option<String>,
    pub description: String,
    pub color: u32,
    pub fields: Vec<Field>,
    pub footer: String,
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

impl Field {
    pub fn new(name: impl Into<String>, value: impl Into<String>, inline: bool) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
            inline,
        }
    }
}

pub mod colors {
    pub const CRITICAL: u32 = 0xE0_3E_3E;
    pub const WARNING: u32 = 0xE6_7E_22;
    pub const INFO: u32 = 0x34_98_DB;
    pub const RESOLVED: u32 = 0x2E_CC_71;
}

impl Message {
    /// Cuts every part down to Discord's limits, dropping the least important fields (the last)
    /// first when the embed as a whole is too long.
    pub fn fit(mut self) -> Message {
        self.content = truncate(&self.content, limits::CONTENT);
        let e = &mut self.embed;
        e.title = truncate(&e.title, limits::TITLE);
        e.description = truncate(&e.description, limits::DESCRIPTION);
        e.footer = truncate(&e.footer, limits::FOOTER);
        e.fields
            .retain(|f| !f.name.trim().is_empty() && !f.value.trim().is_empty());
        if e.fields.len() > limits::FIELDS {
            e.fields.truncate(limits::FIELDS);
        }
        for f in &mut e.fields {
            f.name = truncate(&f.name, limits::FIELD_NAME);
            f.value = truncate(&f.value, limits::FIELD_VALUE);
        }
        while e.total_len() > limits::EMBED_TOTAL {
            let over = e.total_len() - limits::EMBED_TOTAL;
            let desc_len = e.description.chars().count();
            // Shorten the description first (keeping at least a useful head), then drop fields.
            if desc_len > 1_000 {
                let keep = desc_len.saturating_sub(over).max(1_000);
                e.description = truncate(&e.description, keep);
            } else if e.fields.pop().is_none() {
                e.description = truncate(
                    &e.description,
                    limits::EMBED_TOTAL - e.title.chars().count() - e.footer.chars().count(),
                );
                break;
            }
        }
        self
    }
}

impl Embed {
    pub fn total_len(&self) -> usize {
        self.title.chars().count()
            + self.description.chars().count()
            + self.footer.chars().count()
            + self
                .fields
                .iter()
                .map(|f| f.name.chars().count() + f.value.chars().count())
                .sum::<usize>()
    }
}

/// Truncates to at most `max` characters (not bytes), marking the cut with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_everything_within_discord_limits() {
        let big = "ü".repeat(10_000);
        let msg = Message {
            content: big.clone(),
            embed: Embed {
                title: big.clone(),
                description: big.clone(),
                footer: big.clone(),
                fields: (0..40)
                    .map(|i| Field::new(format!("f{i}{big}"), big.clone(), false))
                    .collect(),
                ..Default::default()
            },
            ..Default::default()
        }
        .fit();
        assert!(msg.content.chars().count() <= limits::CONTENT);
        assert!(msg.embed.title.chars().count() <= limits::TITLE);
        assert!(msg.embed.fields.len() <= limits::FIELDS);
        assert!(
            msg.embed.total_len() <= limits::EMBED_TOTAL,
            "{}",
            msg.embed.total_len()
        );
        assert!(msg
            .embed
            .fields
            .iter()
            .all(|f| f.value.chars().count() <= limits::FIELD_VALUE));
    }

    #[test]
    fn short_messages_are_untouched() {
        let msg = Message {
            content: "hi".into(),
            embed: Embed {
                title: "t".into(),
                fields: vec![Field::new("a", "b", true)],
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(msg.clone().fit(), msg);
    }
}
