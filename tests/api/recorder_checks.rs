//! Discord's documented limits on what a message, an edit or a thread may carry, checked the
//! way Discord checks them: a request past one is answered 400 "Invalid Form Body" (code 50035)
//! naming the field, and nothing is created. A lenient stand-in hides defects (a 34-character
//! nonce once kept every storm digest out of chat while the tests passed).
//!
//! Figures from Discord's API reference (Message, Embed limits, Components, Threads, Uploading
//! files); file sizes at the limit of a server without boosts.

use serde_json::{json, Value};

pub const NONCE: usize = 25;
pub const CONTENT: usize = 2_000;
pub const TITLE: usize = 256;
pub const DESCRIPTION: usize = 4_096;
pub const FIELDS: usize = 25;
pub const FIELD_NAME: usize = 256;
pub const FIELD_VALUE: usize = 1_024;
pub const FOOTER: usize = 2_048;
pub const EMBED_TOTAL: usize = 6_000;
pub const ROWS: usize = 5;
pub const BUTTONS: usize = 5;
pub const LABEL: usize = 80;
pub const CUSTOM_ID: usize = 100;
pub const THREAD_NAME: usize = 100;
pub const FILES: usize = 10;
pub const FILE_BYTES: usize = 10 * 1024 * 1024;

/// The first limit a message body (create or edit) breaks: `(field path, message)`.
pub fn message_error(body: &Value, files: &[(String, Vec<u8>)]) -> Option<(String, String)> {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let over = |field: &str, v: &Value, max: usize| {
        (len(v) > max).then(|| {
            (
                field.to_string(),
                format!("Must be {max} or fewer in length."),
            )
        })
    };
    if let Some(e) = over("nonce", &body["nonce"], NONCE) {
        return Some(e);
    }
    if let Some(e) = over("content", &body["content"], CONTENT) {
        return Some(e);
    }
    let mut total = 0;
    for (i, e) in body["embeds"].as_array().into_iter().flatten().enumerate() {
        let at = |f: &str| format!("embeds.{i}.{f}");
        for (f, max) in [("title", TITLE), ("description", DESCRIPTION)] {
            if let Some(err) = over(&at(f), &e[f], max) {
                return Some(err);
            }
        }
        if let Some(err) = over(&at("footer.text"), &e["footer"]["text"], FOOTER) {
            return Some(err);
        }
        let fields = e["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if fields.len() > FIELDS {
            return Some((
                at("fields"),
                format!("Must be {FIELDS} or fewer in length."),
            ));
        }
        for (j, f) in fields.iter().enumerate() {
            if let Some(err) = over(&at(&format!("fields.{j}.name")), &f["name"], FIELD_NAME) {
                return Some(err);
            }
            if let Some(err) = over(&at(&format!("fields.{j}.value")), &f["value"], FIELD_VALUE) {
                return Some(err);
            }
            total += len(&f["name"]) + len(&f["value"]);
        }
        total += len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
    }
    if total > EMBED_TOTAL {
        return Some((
            "embeds".into(),
            format!("Embed size exceeds maximum size of {EMBED_TOTAL}"),
        ));
    }
    let rows = body["components"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if rows.len() > ROWS {
        return Some((
            "components".into(),
            format!("Must be {ROWS} or fewer in length."),
        ));
    }
    for (i, row) in rows.iter().enumerate() {
        let buttons = row["components"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if buttons.len() > BUTTONS {
            return Some((
                format!("components.{i}.components"),
                format!("Must be {BUTTONS} or fewer in length."),
            ));
        }
        for (j, b) in buttons.iter().enumerate() {
            let at = |f: &str| format!("components.{i}.components.{j}.{f}");
            if let Some(err) = over(&at("label"), &b["label"], LABEL) {
                return Some(err);
            }
            if let Some(err) = over(&at("custom_id"), &b["custom_id"], CUSTOM_ID) {
                return Some(err);
            }
        }
    }
    if files.len() > FILES {
        return Some((
            "files".into(),
            format!("Must be {FILES} or fewer in length."),
        ));
    }
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    if bytes > FILE_BYTES {
        return Some(("files".into(), "Request entity too large".into()));
    }
    None
}

/// The first limit a thread creation breaks.
pub fn thread_error(body: &Value) -> Option<(String, String)> {
    let name = body["name"].as_str().unwrap_or("");
    if name.is_empty() || name.chars().count() > THREAD_NAME {
        return Some((
            "name".into(),
            format!("Must be between 1 and {THREAD_NAME} in length."),
        ));
    }
    None
}

/// Discord's answer to a body past a limit.
pub fn invalid_form_body((field, message): &(String, String)) -> Value {
    // Discord nests the errors by path: {"nonce": {"_errors": [...]}} or {"embeds": {"0": ...}}.
    let mut errors = json!({"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": message}]});
    for part in field.rsplit('.') {
        errors = json!({ part: errors });
    }
    json!({"message": "Invalid Form Body", "code": 50035, "errors": errors})
}
