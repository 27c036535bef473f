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
    pub async fn find_posted(&self, channel: u64, mark: &str) -> Result<Option<u64>, SendError> {
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
        Ok(find_marked(&messages, me, mark))
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
/// The newest of the bot's own messages whose embed footer or content carries `mark` as a
/// whole ("incident abc1" does not find "incident abc12").
pub fn find_marked(messages: &[Value], me: u64, mark: &str) -> Option<u64> {
    messages
        .iter()
        .filter(|m| snowflake(&m["author"]["id"]) == Some(me))
        .find(|m| {
            m["embeds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["footer"]["text"].as_str())
                .chain(m["content"].as_str())
                .any(|text| carries(text, mark))
        })
        .and_then(|m| snowflake(&m["id"]))
}

fn carries(text: &str, mark: &str) -> bool {
    text.match_indices(mark).any(|(at, _)| {
        text[at + mark.len()..]
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
            find_marked(&list, 1, "incident abc123"),
            Some(8),
            "newest of the bot's own"
        );
        assert_eq!(
            find_marked(&list, 1, "incident abc12"),
            None,
            "whole id only"
        );
        assert_eq!(
            find_marked(&list, 2, "incident abc123"),
            None,
            "another author's"
        );
        assert_eq!(
            find_marked(&[json!({"id": "1"})], 1, "incident abc123"),
            None
        );
        let files = json!({"id": "5", "author": {"id": "1"}, "content": "Files for request r1:"});
        assert_eq!(
            find_marked(&[files], 1, "Files for request r1"),
            Some(5),
            "a files post is found by its text"
        );
    }
}
