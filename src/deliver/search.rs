//! Finding a message the bot may already have posted: among the channel's 50 most recent
//! messages, the bot's own whose embed footer names the incident ("… · incident <id>").
//!
//! Discord de-duplicates a nonce only for a few minutes, so after a late restart this lookup,
//! not the nonce, is what keeps a post from appearing twice. A post buried under more than 50
//! newer messages is not found; the page is then posted again.

use serde_json::Value;
use serenity::all::ChannelId;
use serenity::http::{LightMethod, Request, Route};

use super::discord::DiscordSink;
use super::SendError;

/// How far back the lookup reads (Discord's maximum page).
const RECENT: u32 = 50;

impl DiscordSink {
    pub async fn find_posted(
        &self,
        channel: u64,
        incident: &str,
    ) -> Result<Option<u64>, SendError> {
        let me = self.me().await?;
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let request =
            Request::new(route, LightMethod::Get).params(Some(vec![("limit", RECENT.to_string())]));
        let body = self.execute(request).await?;
        let messages: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
            SendError::Transient(format!("Discord's message list is unreadable: {e}"))
        })?;
        Ok(find_incident(&messages, me, incident))
    }

    async fn me(&self) -> Result<u64, SendError> {
        self.me
            .get_or_try_init(|| async {
                let body = self
                    .execute(Request::new(Route::UserMe, LightMethod::Get))
                    .await?;
                let user: Value = serde_json::from_slice(&body).map_err(|e| {
                    SendError::Transient(format!("Discord's user is unreadable: {e}"))
                })?;
                snowflake(&user["id"])
                    .ok_or_else(|| SendError::Transient("Discord's user has no id".into()))
            })
            .await
            .copied()
    }
}

/// The id of the bot's message (author `me`) whose footer names `incident`, newest first.
pub fn find_incident(messages: &[Value], me: u64, incident: &str) -> Option<u64> {
    messages
        .iter()
        .filter(|m| snowflake(&m["author"]["id"]) == Some(me))
        .find(|m| {
            m["embeds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["footer"]["text"].as_str())
                .any(|footer| names_incident(footer, incident))
        })
        .and_then(|m| snowflake(&m["id"]))
}

/// `incident <id>` as a whole word: another incident whose id merely starts the same way does not count.
fn names_incident(footer: &str, incident: &str) -> bool {
    let needle = format!("incident {incident}");
    footer.match_indices(&needle).any(|(at, _)| {
        footer[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

fn snowflake(v: &Value) -> Option<u64> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(id: &str, author: &str, footer: &str) -> Value {
        json!({"id": id, "author": {"id": author}, "embeds": [{"footer": {"text": footer}}]})
    }

    #[test]
    fn finds_only_the_bots_message_for_this_incident() {
        let list = vec![
            msg("10", "7", "Firing since x · incident abc123"),
            msg("9", "1", "Firing since x · incident abc1234"),
            msg("8", "1", "Firing since x · pattern p · incident abc123"),
            msg("7", "1", "Firing since x · incident abc123"),
        ];
        assert_eq!(
            find_incident(&list, 1, "abc123"),
            Some(8),
            "newest of the bot's own"
        );
        assert_eq!(find_incident(&list, 1, "abc12"), None, "whole id only");
        assert_eq!(find_incident(&list, 2, "abc123"), None, "another author's");
        assert_eq!(find_incident(&[json!({"id": "1"})], 1, "abc123"), None);
    }
}
