//! The recorder's emulation of Discord's rate limits (a fault a real Discord shows only when
//! abused, so it is emulated here and says so).
//!
//! Like Discord: every message write in a channel (create or edit) counts against that channel's
//! bucket (`per_channel` requests per `window`), and every request against the bot's global
//! limit (`global_per_sec`). Answers carry the `X-RateLimit-*` headers Discord sends; a request
//! past a limit gets 429 with `retry_after` (body and `Retry-After`), `X-RateLimit-Scope` and,
//! for the global limit, `X-RateLimit-Global`. Every 429 is counted: Discord bans a bot that
//! collects 10,000 invalid (401/403/429) answers in 10 minutes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub per_channel: u32,
    pub window: Duration,
    pub global_per_sec: u32,
}

impl RateLimits {
    /// Discord's documented figures for message writes: 5 per 5 s per channel, 50/s global.
    #[allow(dead_code)] // used by the storm tests
    pub const DISCORD: RateLimits = RateLimits {
        per_channel: 5,
        window: Duration::from_secs(5),
        global_per_sec: 50,
    };
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
}

impl Window {
    /// Counts a request in the window that holds `now`; `Err(wait)` when it is full.
    fn take(&mut self, now: Instant, limit: u32, length: Duration) -> Result<u32, Duration> {
        if now.duration_since(self.start) >= length {
            *self = Window {
                start: now,
                used: 0,
            };
        }
        if self.used >= limit {
            return Err(length.saturating_sub(now.duration_since(self.start)));
        }
        self.used += 1;
        Ok(limit - self.used)
    }

    fn reset_after(&self, now: Instant, length: Duration) -> Duration {
        length.saturating_sub(now.duration_since(self.start))
    }
}

#[derive(Debug, Default)]
pub struct Limiter {
    limits: Option<RateLimits>,
    channels: HashMap<u64, Window>,
    global: Option<Window>,
    /// 429 answers given, per scope.
    pub limited_channel: u64,
    pub limited_global: u64,
}

impl Limiter {
    pub fn set(&mut self, limits: Option<RateLimits>) {
        self.limits = limits;
        self.channels.clear();
        self.global = None;
    }

    /// Counts one message write to `channel`: the headers to add to its normal answer (none
    /// while limits are off), or the 429 to give instead.
    #[allow(clippy::result_large_err)] // the Err is the answer itself, once per request
    pub fn admit(&mut self, channel: u64) -> Result<HeaderMap, Response> {
        let Some(limits) = self.limits else {
            return Ok(HeaderMap::new());
        };
        let now = Instant::now();
        let global = self.global.get_or_insert(Window {
            start: now,
            used: 0,
        });
        if let Err(wait) = global.take(now, limits.global_per_sec, Duration::from_secs(1)) {
            self.limited_global += 1;
            return Err(too_many(wait, true));
        }
        let bucket = self.channels.entry(channel).or_insert(Window {
            start: now,
            used: 0,
        });
        match bucket.take(now, limits.per_channel, limits.window) {
            Err(wait) => {
                self.limited_channel += 1;
                let mut resp = too_many(wait, false);
                resp.headers_mut()
                    .extend(headers(limits.per_channel, 0, wait, channel));
                Err(resp)
            }
            Ok(remaining) => Ok(headers(
                limits.per_channel,
                remaining,
                bucket.reset_after(now, limits.window),
                channel,
            )),
        }
    }
}

fn headers(limit: u32, remaining: u32, reset_after: Duration, channel: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    let reset_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + reset_after;
    let mut put = |name: &'static str, value: String| {
        h.insert(name, HeaderValue::from_str(&value).expect("ascii header"));
    };
    put("x-ratelimit-limit", limit.to_string());
    put("x-ratelimit-remaining", remaining.to_string());
    put(
        "x-ratelimit-reset",
        format!("{:.3}", reset_at.as_secs_f64()),
    );
    put(
        "x-ratelimit-reset-after",
        format!("{:.3}", reset_after.as_secs_f64()),
    );
    put(
        "x-ratelimit-bucket",
        format!("channel-messages-{channel:x}"),
    );
    h
}

fn too_many(wait: Duration, global: bool) -> Response {
    let secs = wait.as_secs_f64().max(0.001);
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"message": "You are being rate limited.", "retry_after": secs, "global": global})),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        "retry-after",
        HeaderValue::from_str(&format!("{}", secs.ceil() as u64)).expect("ascii"),
    );
    h.insert(
        "x-ratelimit-scope",
        HeaderValue::from_static(if global { "global" } else { "user" }),
    );
    if global {
        h.insert("x-ratelimit-global", HeaderValue::from_static("true"));
    }
    resp
}
