//! A local stand-in for Discord's HTTP API that records exactly what serenity sent.
//!
//! It answers like Discord (message objects with snowflake ids, nonce de-duplication that, like
//! Discord's, lasts only a window of time, 404 for unknown messages, the channel's recent
//! messages newest first, `/users/@me`). Faults a real server cannot be made to show on demand —
//! a 429 with `retry_after`, a 500, a post that is created but never answered, a channel the bot
//! may not post in — are injected explicitly by tests through [`Recorder::inject`] and
//! [`Recorder::deny`].
//!
//! Reads (`GET`) are kept apart from writes ([`Recorder::reads`]), so tests that count what was
//! posted and edited are not disturbed by the bot looking for its own messages.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

#[path = "recorder_checks.rs"]
pub mod checks;
#[path = "recorder_limits.rs"]
mod limits;
use limits::Limiter;
pub use limits::RateLimits;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub channel_id: u64,
    pub message_id: Option<u64>,
    pub authorization: String,
    pub body: Value,
    pub at: Instant,
    /// What the recorder answered.
    pub status: u16,
    /// Files of a multipart request: (file name, contents).
    pub files: Vec<(String, Vec<u8>)>,
}

impl Recorded {
    /// A guarded request's message: its footer names the request ("request <id> · audited").
    pub fn is_request_post(&self) -> bool {
        self.method == "POST"
            && self.body["embeds"][0]["footer"]["text"]
                .as_str()
                .is_some_and(|f| f.starts_with("request ") && f.ends_with("audited"))
    }

    /// The embed and content as one string, for `contains` checks.
    pub fn text(&self) -> String {
        let mut s = self.body["content"].as_str().unwrap_or("").to_string();
        for e in self.body["embeds"].as_array().into_iter().flatten() {
            for key in ["title", "description"] {
                s.push('\n');
                s.push_str(e[key].as_str().unwrap_or(""));
            }
            for f in e["fields"].as_array().into_iter().flatten() {
                s.push('\n');
                s.push_str(f["name"].as_str().unwrap_or(""));
                s.push('\n');
                s.push_str(f["value"].as_str().unwrap_or(""));
            }
            s.push('\n');
            s.push_str(e["footer"]["text"].as_str().unwrap_or(""));
        }
        s
    }

    pub fn embed(&self) -> &Value {
        &self.body["embeds"][0]
    }
}

/// A scripted answer for the next request instead of the normal one.
#[derive(Debug, Clone)]
pub enum Fault {
    RateLimited {
        retry_after: f64,
    },
    ServerError,
    /// The message is created (Discord has it) but the answer never comes: the bot cannot
    /// know whether its post landed.
    AcceptThenHang,
}

/// Which calls a targeted fault hits: method and a part of the path, and optionally a text the
/// body carries (an edit that shows "✅", a post of a request).
#[derive(Debug, Clone)]
pub struct On {
    pub method: &'static str,
    pub path: &'static str,
    pub text: Option<&'static str>,
}

/// The id the recorder gives the bot's own user (`/users/@me`, `author` of its messages).
pub const BOT_USER_ID: &str = "1";

/// How long Discord remembers a nonce (a few minutes; tests shorten it).
const DEFAULT_NONCE_WINDOW: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    faults: VecDeque<Fault>,
    reads: Vec<Recorded>,
    messages: HashMap<u64, Value>,
    nonces: HashMap<String, (u64, Instant)>,
    nonce_window: Duration,
    denied: Vec<u64>,
    next_id: u64,
    /// What `GET /gateway` answers: the local gateway peer's ws:// URL.
    gateway_url: Option<String>,
    /// `GET /gateway/bot` answers 401, as Discord does for a token it does not accept.
    token_refused: bool,
    /// Discord's rate limits, when a test turns them on ([`Recorder::rate_limit`]).
    limiter: Limiter,
    /// Faults for the first call that matches, each used once ([`Recorder::inject_on`]).
    targeted: Vec<(On, Fault)>,
    /// Every write answers 500 until then ([`Recorder::outage`]).
    outage_until: Option<Instant>,
}

#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    pub base_url: String,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let inner = Arc::new(Mutex::new(Inner {
            next_id: 1_300_000_000_000_000_000,
            nonce_window: DEFAULT_NONCE_WINDOW,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/api/v10/users/@me", get(me))
            .route(
                "/api/v10/channels/{channel}/messages",
                get(list).post(create),
            )
            .route(
                "/api/v10/channels/{channel}/messages/{message}",
                patch(edit).get(get_message),
            )
            .route("/api/v10/interactions/{id}/{token}/callback", post(other))
            .route(
                "/api/v10/webhooks/{app}/{token}/messages/{message}",
                patch(other),
            )
            .route("/api/v10/gateway", get(gateway))
            .route("/api/v10/gateway/bot", get(gateway_bot))
            .route(
                "/api/v10/channels/{channel}/messages/{message}/threads",
                post(thread),
            )
            .route("/api/v10/applications/{app}/commands", put(commands))
            .route(
                "/api/v10/applications/{app}/guilds/{guild}/commands",
                put(commands),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder { inner, base_url }
    }

    /// Makes `GET /api/v10/gateway` point serenity's gateway client at `url`.
    #[allow(dead_code)] // used by the gateway tests
    pub fn set_gateway(&self, url: &str) {
        self.inner.lock().unwrap().gateway_url = Some(url.to_string());
    }

    /// Discord no longer accepts the bot's token: `GET /gateway/bot` answers 401.
    #[allow(dead_code)] // used by the gateway tests
    pub fn refuse_token(&self) {
        self.inner.lock().unwrap().token_refused = true;
    }

    /// A fault for the first call that matches `on` (the others are answered normally).
    #[allow(dead_code)] // used by the outbox tests
    pub fn inject_on(&self, on: On, fault: Fault) {
        self.inner.lock().unwrap().targeted.push((on, fault));
    }

    /// Discord fails: every write (post, edit, thread) answers 500 for `length` from now.
    #[allow(dead_code)] // used by the outbox tests
    pub fn outage(&self, length: Duration) {
        self.inner.lock().unwrap().outage_until = Some(Instant::now() + length);
    }

    pub fn inject(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    /// Discord forgets a nonce this long after the post that carried it.
    pub fn set_nonce_window(&self, window: Duration) {
        self.inner.lock().unwrap().nonce_window = window;
    }

    /// Every request to `channel` answers 403 Missing Permissions from now on.
    pub fn deny(&self, channel: u64) {
        self.inner.lock().unwrap().denied.push(channel);
    }

    /// Undoes [`Recorder::deny`]: the channel's permissions were fixed.
    #[allow(dead_code)] // used by the dead-letter test
    pub fn allow(&self, channel: u64) {
        self.inner.lock().unwrap().denied.retain(|c| *c != channel);
    }

    /// Emulates Discord's per-channel and global rate limits on message writes from now on
    /// (`None`: off again).
    #[allow(dead_code)] // used by the storm tests and the bench
    pub fn rate_limit(&self, limits: Option<RateLimits>) {
        self.inner.lock().unwrap().limiter.set(limits);
    }

    /// 429 answers the emulated rate limits gave: (per channel, global).
    #[allow(dead_code)]
    pub fn rate_limited(&self) -> (u64, u64) {
        let g = self.inner.lock().unwrap();
        (g.limiter.limited_channel, g.limiter.limited_global)
    }

    /// Messages that exist in `channel` (however many requests created or edited them).
    pub fn messages_in(&self, channel: u64) -> Vec<Value> {
        let g = self.inner.lock().unwrap();
        let mut out: Vec<Value> = g
            .messages
            .values()
            .filter(|m| in_channel(m, channel))
            .cloned()
            .collect();
        out.sort_by_key(|m| m["id"].as_str().unwrap_or("").to_string());
        out
    }

    /// `GET` requests (the bot looking for messages it may already have posted).
    pub fn reads(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().reads.clone()
    }

    pub fn clear_faults(&self) {
        let mut g = self.inner.lock().unwrap();
        g.faults.clear();
        g.targeted.clear();
        g.outage_until = None;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Successful creates (new messages).
    pub fn posts(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.status == 200)
            .collect()
    }

    pub fn edits(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.status == 200)
            .collect()
    }

    /// Requests whose path contains `part` (e.g. "/callback", "@original").
    pub fn calls(&self, part: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(part))
            .collect()
    }

    /// Waits until `pred` holds for the recorded requests, or panics with what was seen.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.requests();
            if pred(&seen) {
                return seen;
            }
            if Instant::now() > deadline {
                let summary: Vec<String> = seen
                    .iter()
                    .map(|r| format!("{} {} -> {}\n{}", r.method, r.path, r.status, r.text()))
                    .collect();
                panic!("timed out after {timeout:?} waiting for {what}; recorder saw {} request(s):\n{}", seen.len(), summary.join("\n---\n"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The parts of an incoming request that every recorded entry keeps.
struct Call<'a> {
    method: Method,
    path: String,
    channel_id: u64,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

fn record(inner: &mut Inner, call: &Call<'_>, message_id: Option<u64>, status: u16) {
    let (body, files) = decode_body(call.headers, call.body);
    let list = if call.method == Method::GET {
        &mut inner.reads
    } else {
        &mut inner.requests
    };
    list.push(Recorded {
        method: call.method.to_string(),
        path: call.path.clone(),
        channel_id: call.channel_id,
        message_id,
        authorization: call
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        body,
        at: Instant::now(),
        status,
        files,
    });
}

/// JSON, or serenity's multipart form (`payload_json` plus `files[n]` parts).
fn decode_body(headers: &HeaderMap, body: &Bytes) -> (Value, Vec<(String, Vec<u8>)>) {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .map(|b| format!("--{}", b.trim_matches('"')))
    else {
        return (serde_json::from_slice(body).unwrap_or(Value::Null), vec![]);
    };
    let mut json = Value::Null;
    let mut files = Vec::new();
    for part in split(body, boundary.as_bytes()).into_iter().skip(1) {
        let Some(head_end) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..head_end]).to_string();
        let mut content = &part[head_end + 4..];
        if content.ends_with(b"\r\n") {
            content = &content[..content.len() - 2];
        }
        if head.contains("name=\"payload_json\"") {
            json = serde_json::from_slice(content).unwrap_or(Value::Null);
        } else if let Some(name) = head
            .split("filename=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        {
            files.push((name.to_string(), content.to_vec()));
        }
    }
    (json, files)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, sep) {
        out.push(&hay[..i]);
        hay = &hay[i + sep.len()..];
    }
    out.push(hay);
    out
}

fn fault_response(fault: Fault) -> (u16, Response) {
    match fault {
        Fault::RateLimited { retry_after } => (
            429,
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", format!("{}", retry_after.ceil() as u64))],
                Json(json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false})),
            )
                .into_response(),
        ),
        Fault::ServerError => (500, (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response()),
        Fault::AcceptThenHang => unreachable!("handled where messages are created"),
    }
}

fn in_channel(message: &Value, channel: u64) -> bool {
    message["channel_id"].as_str().and_then(|s| s.parse().ok()) == Some(channel)
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"message": "Missing Permissions", "code": 50013})),
    )
        .into_response()
}

/// Takes the next fault, or answers 403 for a denied channel; `None` means answer normally.
fn scripted(g: &mut Inner, call: &Call<'_>, message_id: Option<u64>) -> Option<Response> {
    if g.denied.contains(&call.channel_id) {
        record(g, call, message_id, 403);
        return Some(forbidden());
    }
    if g.outage_until.is_some_and(|until| Instant::now() < until) {
        let (status, resp) = fault_response(Fault::ServerError);
        record(g, call, message_id, status);
        return Some(resp);
    }
    let text = || {
        let (body, _) = decode_body(call.headers, call.body);
        let r = Recorded {
            method: String::new(),
            path: String::new(),
            channel_id: 0,
            message_id: None,
            authorization: String::new(),
            body,
            at: Instant::now(),
            status: 0,
            files: vec![],
        };
        r.text()
    };
    let hit = g.targeted.iter().position(|(on, _)| {
        call.method.as_str() == on.method
            && call.path.contains(on.path)
            && on.text.is_none_or(|t| text().contains(t))
    });
    if let Some(at) = hit {
        let (_, fault) = g.targeted.remove(at);
        let (status, resp) = fault_response(fault);
        record(g, call, message_id, status);
        return Some(resp);
    }
    match g.faults.front() {
        None | Some(Fault::AcceptThenHang) => None,
        Some(_) => {
            let (status, resp) = fault_response(g.faults.pop_front().expect("checked"));
            record(g, call, message_id, status);
            Some(resp)
        }
    }
}

/// A body past one of Discord's documented limits: 400 "Invalid Form Body", nothing stored.
fn refused(g: &mut Inner, call: &Call<'_>, message_id: Option<u64>) -> Option<Response> {
    let (body, files) = decode_body(call.headers, call.body);
    let err = checks::message_error(&body, &files)?;
    record(g, call, message_id, 400);
    Some(
        (
            StatusCode::BAD_REQUEST,
            Json(checks::invalid_form_body(&err)),
        )
            .into_response(),
    )
}

/// Counts a message write against the emulated rate limits; a 429 is recorded like any answer.
#[allow(clippy::result_large_err)] // the Err is the answer itself, once per request
fn admitted(
    g: &mut Inner,
    call: &Call<'_>,
    message_id: Option<u64>,
) -> Result<HeaderMap, Response> {
    g.limiter.admit(call.channel_id).inspect_err(|_| {
        record(g, call, message_id, 429);
    })
}

async fn me() -> Response {
    Json(json!({"id": BOT_USER_ID, "username": "flink-chatops", "discriminator": "0000", "bot": true, "avatar": null, "global_name": null})).into_response()
}

#[derive(serde::Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

/// The channel's most recent messages, newest first, like Discord's `GET .../messages`.
async fn list(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(channel): Path<u64>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let mut g = inner.lock().unwrap();
    let empty = Bytes::new();
    let call = Call {
        method: Method::GET,
        path: format!("/api/v10/channels/{channel}/messages"),
        channel_id: channel,
        headers: &headers,
        body: &empty,
    };
    if let Some(resp) = scripted(&mut g, &call, None) {
        return resp;
    }
    let mut ids: Vec<u64> = g
        .messages
        .iter()
        .filter(|(_, m)| in_channel(m, channel))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.truncate(q.limit.unwrap_or(50).min(100));
    let list: Vec<Value> = ids.iter().map(|id| g.messages[id].clone()).collect();
    record(&mut g, &call, None, 200);
    Json(list).into_response()
}

fn message_json(id: u64, channel: u64, body: &Value) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "type": 0,
        "content": body["content"].as_str().unwrap_or(""),
        "embeds": body["embeds"].clone(),
        "author": {"id": BOT_USER_ID, "username": "flink-chatops", "discriminator": "0000", "bot": true, "avatar": null},
        "timestamp": "2026-11-21T03:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "pinned": false,
    })
}

async fn create(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(channel): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (resp, hang) = {
        let mut g = inner.lock().unwrap();
        let call = Call {
            method: Method::POST,
            path: format!("/api/v10/channels/{channel}/messages"),
            channel_id: channel,
            headers: &headers,
            body: &body,
        };
        if let Some(resp) = scripted(&mut g, &call, None) {
            return resp;
        }
        let extra = match admitted(&mut g, &call, None) {
            Ok(h) => h,
            Err(resp) => return resp,
        };
        if let Some(resp) = refused(&mut g, &call, None) {
            return resp;
        }
        let hang = matches!(g.faults.front(), Some(Fault::AcceptThenHang));
        if hang {
            g.faults.pop_front();
        }
        let mut resp = create_message(&mut g, &call, channel, &body);
        resp.headers_mut().extend(extra);
        (resp, hang)
    };
    if hang {
        std::future::pending::<()>().await;
    }
    resp
}

fn create_message(g: &mut Inner, call: &Call<'_>, channel: u64, _body: &Bytes) -> Response {
    // JSON, or the payload_json of a multipart post with files.
    let (parsed, _) = decode_body(call.headers, call.body);
    // Discord de-duplicates creates that carry the same nonce with enforce_nonce, but only
    // for a few minutes.
    let nonce = parsed["nonce"]
        .as_str()
        .map(String::from)
        .filter(|_| parsed["enforce_nonce"] == true);
    let window = g.nonce_window;
    let remembered = nonce
        .as_ref()
        .and_then(|n| g.nonces.get(n))
        .filter(|(_, at)| at.elapsed() < window)
        .map(|(id, _)| *id);
    if let Some(id) = remembered.filter(|id| g.messages.contains_key(id)) {
        record(g, call, Some(id), 200);
        let existing = g.messages[&id].clone();
        return Json(existing).into_response();
    }
    g.next_id += 1;
    let id = g.next_id;
    let msg = message_json(id, channel, &parsed);
    g.messages.insert(id, msg.clone());
    if let Some(n) = nonce {
        g.nonces.insert(n, (id, Instant::now()));
    }
    record(g, call, Some(id), 200);
    Json(msg).into_response()
}

async fn edit(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((channel, message)): Path<(u64, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut g = inner.lock().unwrap();
    let call = Call {
        method: Method::PATCH,
        path: format!("/api/v10/channels/{channel}/messages/{message}"),
        channel_id: channel,
        headers: &headers,
        body: &body,
    };
    if let Some(resp) = scripted(&mut g, &call, Some(message)) {
        return resp;
    }
    let extra = match admitted(&mut g, &call, Some(message)) {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    if let Some(resp) = refused(&mut g, &call, Some(message)) {
        return resp;
    }
    if !g.messages.contains_key(&message) {
        record(&mut g, &call, Some(message), 404);
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Unknown Message", "code": 10008})),
        )
            .into_response();
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let msg = message_json(message, channel, &parsed);
    g.messages.insert(message, msg.clone());
    record(&mut g, &call, Some(message), 200);
    (extra, Json(msg)).into_response()
}

/// Interaction callbacks and edits of original responses: recorded and acknowledged like Discord.
async fn other(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut g = inner.lock().unwrap();
    let call = Call {
        method: method.clone(),
        path: uri.path().to_string(),
        channel_id: 0,
        headers: &headers,
        body: &body,
    };
    if let Some(fault) = g.faults.pop_front() {
        let (status, resp) = fault_response(fault);
        record(&mut g, &call, None, status);
        return resp;
    }
    if method == Method::POST {
        record(&mut g, &call, None, 204);
        return StatusCode::NO_CONTENT.into_response();
    }
    g.next_id += 1;
    let id = g.next_id;
    record(&mut g, &call, Some(id), 200);
    let (parsed, _) = decode_body(&headers, &body);
    Json(message_json(id, 0, &parsed)).into_response()
}

/// Bulk overwrite of application commands: answers the commands with ids, as Discord does.
async fn commands(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut g = inner.lock().unwrap();
    let call = Call {
        method: Method::PUT,
        path: uri.path().to_string(),
        channel_id: 0,
        headers: &headers,
        body: &body,
    };
    record(&mut g, &call, None, 200);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for c in parsed.as_array().into_iter().flatten() {
        g.next_id += 1;
        let mut c = c.clone();
        c["id"] = json!(g.next_id.to_string());
        c["application_id"] = json!("1");
        c["version"] = json!("1");
        c["type"] = json!(1);
        c["default_member_permissions"] = Value::Null;
        out.push(c);
    }
    Json(Value::Array(out)).into_response()
}

/// `GET /gateway/bot`: the URL and a fresh daily IDENTIFY budget, as Discord answers a bot.
async fn gateway_bot(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    let mut g = inner.lock().unwrap();
    let call = Call {
        method: Method::GET,
        path: "/api/v10/gateway/bot".into(),
        channel_id: 0,
        headers: &headers,
        body: &Bytes::new(),
    };
    let status = match (g.token_refused, &g.gateway_url) {
        (true, _) => 401,
        (false, None) => 503,
        (false, Some(_)) => 200,
    };
    record(&mut g, &call, None, status);
    if g.token_refused {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "401: Unauthorized", "code": 0})),
        )
            .into_response();
    }
    match g.gateway_url.clone() {
        Some(url) => Json(json!({ "url": url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 86_400_000, "max_concurrency": 1 } }))
        .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no gateway in this test").into_response(),
    }
}

async fn gateway(State(inner): State<Arc<Mutex<Inner>>>) -> Response {
    match inner.lock().unwrap().gateway_url.clone() {
        Some(url) => Json(json!({ "url": url })).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no gateway in this test").into_response(),
    }
}

/// Starting a thread from a message: Discord gives the thread the message's id; a second
/// thread on the same message is refused (400, code 160004), as Discord does.
async fn thread(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((channel, message)): Path<(u64, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut g = inner.lock().unwrap();
    let call = Call {
        method: Method::POST,
        path: format!("/api/v10/channels/{channel}/messages/{message}/threads"),
        channel_id: channel,
        headers: &headers,
        body: &body,
    };
    if let Some(resp) = scripted(&mut g, &call, Some(message)) {
        return resp;
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(err) = checks::thread_error(&parsed) {
        record(&mut g, &call, Some(message), 400);
        return (
            StatusCode::BAD_REQUEST,
            Json(checks::invalid_form_body(&err)),
        )
            .into_response();
    }
    let exists = g
        .requests
        .iter()
        .any(|r| r.path == call.path && r.status == 201);
    if exists {
        record(&mut g, &call, Some(message), 400);
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "A thread has already been created for this message", "code": 160004})),
        )
            .into_response();
    }
    record(&mut g, &call, Some(message), 201);
    (
        StatusCode::CREATED,
        Json(json!({
            "id": message.to_string(), "type": 11, "guild_id": "1200000000000000002",
            "name": parsed["name"], "parent_id": channel.to_string(), "owner_id": "1",
            "last_message_id": null, "rate_limit_per_user": 0, "message_count": 0, "member_count": 1,
            "thread_metadata": {"archived": false, "auto_archive_duration": 1440,
                "archive_timestamp": "2026-11-21T03:00:00.000000+00:00", "locked": false},
            "total_message_sent": 0, "flags": 0, "nsfw": false, "permission_overwrites": [], "position": 0
        })),
    )
        .into_response()
}

/// `GET` of one message, as Discord keeps it.
async fn get_message(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((_channel, message)): Path<(u64, u64)>,
) -> Response {
    match inner.lock().unwrap().messages.get(&message) {
        Some(m) => Json(m.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Unknown Message", "code": 10008})),
        )
            .into_response(),
    }
}
