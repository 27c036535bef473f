//! Interaction payloads shaped like the ones Discord sends (API v10), for both ways in: the body
//! of a signed `POST /discord/interactions` and the `d` of a gateway INTERACTION_CREATE.

use serde_json::{json, Value};

pub const APP_ID: u64 = 1_200_000_000_000_000_001;
pub const GUILD_ID: u64 = 1_200_000_000_000_000_002;
pub const USER_ID: u64 = 1_200_000_000_000_000_003;
pub const ROLE_ONCALL: u64 = 1_200_000_000_000_000_004;

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A fresh interaction id (snowflake-sized) and its token.
pub fn ids() -> (String, String) {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = 1_300_000_000_000_000_000u64 + n * 1_000 + u64::from(std::process::id() % 1_000);
    (id.to_string(), format!("interaction-token-{id}"))
}

fn member() -> Value {
    json!({
        "user": {"id": USER_ID.to_string(), "username": "oncall", "discriminator": "0", "global_name": "On Call", "avatar": null},
        "roles": [ROLE_ONCALL.to_string()],
        "joined_at": "2026-01-01T00:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0, "pending": false,
        "permissions": "2147483647", "nick": null, "avatar": null
    })
}

fn envelope(kind: u8, data: Value) -> Value {
    let (id, token) = ids();
    json!({
        "id": id, "application_id": APP_ID.to_string(), "type": kind, "data": data,
        "guild_id": GUILD_ID.to_string(), "channel_id": "111222333",
        "channel": {"id": "111222333", "type": 0},
        "member": member(), "token": token, "version": 1,
        "app_permissions": "2147483647", "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
        "context": 0, "attachment_size_limit": 10485760
    })
}

pub fn ping() -> Value {
    let (id, token) = ids();
    json!({"id": id, "application_id": APP_ID.to_string(), "type": 1, "token": token, "version": 1})
}

/// `/flink <sub>` with options as (name, value) pairs: strings are type 3, booleans type 5.
pub fn command(sub: &str, options: &[(&str, Value)]) -> Value {
    envelope(
        2,
        json!({
            "id": "1250000000000000001", "name": "flink", "type": 1,
            "options": [{"name": sub, "type": 1, "options": opts(options, None)}]
        }),
    )
}

/// An autocomplete request with `job` focused and holding `partial`.
pub fn autocomplete(sub: &str, partial: &str, others: &[(&str, Value)]) -> Value {
    let mut options = opts(others, None);
    options.push(json!({"name": "job", "type": 3, "value": partial, "focused": true}));
    envelope(
        4,
        json!({
            "id": "1250000000000000001", "name": "flink", "type": 1,
            "options": [{"name": sub, "type": 1, "options": options}]
        }),
    )
}

/// A press of the button `custom_id` on the bot's message `message_id`.
pub fn button(custom_id: &str, message_id: &str) -> Value {
    let mut v = envelope(3, json!({"custom_id": custom_id, "component_type": 2}));
    v["message"] = json!({
        "id": message_id, "channel_id": "111222333", "type": 0, "content": "", "embeds": [],
        "author": {"id": APP_ID.to_string(), "username": "flink-chatops", "discriminator": "0", "bot": true, "avatar": null},
        "timestamp": "2026-11-21T03:00:00.000000+00:00", "edited_timestamp": null, "tts": false,
        "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
        "pinned": false, "components": []
    });
    v
}

fn opts(options: &[(&str, Value)], _: Option<()>) -> Vec<Value> {
    options
        .iter()
        .map(|(name, value)| {
            let kind = if value.is_boolean() { 5 } else { 3 };
            json!({"name": name, "type": kind, "value": value})
        })
        .collect()
}

#[test]
fn serenity_reads_every_payload() {
    use serenity::all::Interaction;
    for v in [
        ping(),
        command("status", &[("job", json!("x")), ("public", json!(true))]),
        autocomplete("status", "ha", &[]),
        button("fc1:abc:status", "1300000000000000999"),
    ] {
        serde_json::from_value::<Interaction>(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
    }
}

/// The same interaction from another person with these roles.
pub fn as_user(mut v: Value, user: u64, roles: &[u64]) -> Value {
    v["member"]["user"]["id"] = json!(user.to_string());
    v["member"]["user"]["username"] = json!(format!("user{user}"));
    v["member"]["user"]["global_name"] = json!(format!("User {}", user % 1000));
    v["member"]["roles"] = json!(roles.iter().map(|r| r.to_string()).collect::<Vec<_>>());
    v
}
