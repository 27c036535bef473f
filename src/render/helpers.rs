//! Handlebars helpers for numbers humans read at 3 a.m.

use handlebars::{handlebars_helper, Handlebars};
use serde_json::Value;

handlebars_helper!(duration: |secs: Value| human_duration(secs.as_f64().unwrap_or(0.0) as i64));
handlebars_helper!(duration_ms: |ms: Value| human_duration_ms(ms.as_f64().unwrap_or(0.0) as i64));
handlebars_helper!(bytes: |n: Value| human_bytes(n.as_f64().unwrap_or(0.0)));
handlebars_helper!(time: |ms: Value| human_time(ms.as_i64().unwrap_or(0)));

pub fn register(hb: &mut Handlebars<'_>) {
    hb.register_helper("duration", Box::new(duration));
    hb.register_helper("duration_ms", Box::new(duration_ms));
    hb.register_helper("bytes", Box::new(bytes));
    hb.register_helper("time", Box::new(time));
    hb.register_helper("press", Box::new(press));
}

/// `{{press "savepoint" "take a savepoint"}}`: "press **Savepoint**" when the message carries that
/// button, else the fallback text, so a template can never name a button the message lacks.
/// A fallback that starts a sentence (upper case) makes it "Press **Savepoint**".
fn press(
    h: &handlebars::Helper<'_>,
    _: &Handlebars<'_>,
    ctx: &handlebars::Context,
    _: &mut handlebars::RenderContext<'_, '_>,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    let param = |i: usize| h.param(i).and_then(|p| p.value().as_str()).unwrap_or("");
    let (slug, fallback) = (param(0), param(1));
    let text = match ctx.data()["buttons"][slug].as_str() {
        Some(label) => {
            let verb = if fallback.starts_with(char::is_uppercase) {
                "Press"
            } else {
                "press"
            };
            format!("{verb} **{label}**")
        }
        None => fallback.to_string(),
    };
    out.write(&text)?;
    Ok(())
}

/// `3725` -> `1h 2m 5s`; `42` -> `42s`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
        .iter()
        .skip_while(|(v, _)| *v == 0)
        .take(3)
        .map(|(v, u)| format!("{v}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Sub-second durations in milliseconds (`3 ms`), longer ones like [`human_duration`].
pub fn human_duration_ms(ms: i64) -> String {
    if ms < 1_000 {
        format!("{} ms", ms.max(0))
    } else {
        human_duration(ms / 1_000)
    }
}

pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

pub fn human_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humane_numbers() {
        assert_eq!(human_duration(3725), "1h 2m 5s");
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration_ms(3), "3 ms");
        assert_eq!(human_duration_ms(61_500), "1m 1s");
        assert_eq!(human_duration(90_061), "1d 1h 1m");
        assert_eq!(human_bytes(265.0), "265 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_time(0), "1970-01-01 00:00:00 UTC");
    }
}
