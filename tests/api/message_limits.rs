//! Discord's documented limits, checked on what serenity actually sent.

use serde_json::Value;

pub fn assert_within_discord_limits(body: &Value) {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    assert!(len(&body["content"]) <= 2000);
    let mut total = 0;
    for e in body["embeds"].as_array().unwrap() {
        assert!(len(&e["title"]) <= 256);
        assert!(len(&e["description"]) <= 4096);
        let fields = e["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        assert!(fields.len() <= 25);
        for f in fields {
            assert!(len(&f["name"]) <= 256 && len(&f["value"]) <= 1024);
            total += len(&f["name"]) + len(&f["value"]);
        }
        total += len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
    }
    assert!(total <= 6000, "embed total {total}");
}

// The stand-in's own checks: it refuses what Discord refuses.
use crate::recorder::checks::{invalid_form_body, message_error, thread_error};
use serde_json::json;

#[test]
fn a_long_nonce_is_refused_like_discord_does() {
    let body = json!({"nonce": "digest-1a2b3c4d5e6f7a8b-18c0ffee000", "content": "x"});
    let err = message_error(&body, &[]).unwrap();
    assert_eq!(err.0, "nonce");
    let answer = invalid_form_body(&err).to_string();
    assert!(
        answer.contains("50035") && answer.contains("\"nonce\""),
        "{answer}"
    );
    assert!(message_error(&json!({"nonce": "d".repeat(25)}), &[]).is_none());
}

#[test]
fn embed_and_component_limits() {
    let fields: Vec<Value> = (0..26)
        .map(|_| json!({"name": "a", "value": "b"}))
        .collect();
    assert_eq!(
        message_error(&json!({"embeds": [{"fields": fields}]}), &[])
            .unwrap()
            .0,
        "embeds.0.fields"
    );
    let big = json!({"embeds": [{"description": "x".repeat(4_000), "fields": [
        {"name": "a", "value": "y".repeat(1_024)}, {"name": "b", "value": "y".repeat(1_024)}]}]});
    assert_eq!(message_error(&big, &[]).unwrap().0, "embeds");
    let row = json!({"type": 1, "components": [{"label": "l".repeat(81), "custom_id": "c"}]});
    assert_eq!(
        message_error(&json!({"components": [row]}), &[]).unwrap().0,
        "components.0.components.0.label"
    );
    assert!(thread_error(&json!({"name": "n".repeat(101)})).is_some());
    assert!(thread_error(&json!({"name": "ok"})).is_none());
}
