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
