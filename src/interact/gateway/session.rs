//! One gateway connection, start to end: connect, HELLO, IDENTIFY or RESUME, heartbeats, events.
//! Returns how it ended ([`Ended`]) and leaves every decision about the next one to `step`.
//!
//! The frames are read here rather than through serenity's `Shard`: serenity 0.12 offers no
//! public way to receive from a shard's socket (`WsClient::recv_json` is crate-private), and its
//! `ShardRunner` resumes inline, at once and again, which is the reconnect storm this module
//! exists to prevent. serenity's model still parses what matters (interactions) and its HTTP
//! client answers them; the socket is tokio-tungstenite, the one serenity itself uses.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use serenity::all::Interaction;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::step::Ended;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Gateway API version, as serenity 0.12 speaks it.
const VERSION: u8 = 10;
/// A WebSocket that does not open within this is a failed connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A session to resume.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub seq: u64,
    /// READY's `resume_gateway_url`: where Discord wants the RESUME.
    pub resume_url: String,
}

/// What this connection opens with.
pub enum Open<'a> {
    Identify { url: &'a str },
    Resume(&'a Session),
}

/// What the connection reports while it runs.
pub trait Events: Send + Sync {
    /// An IDENTIFY went out (it counts against Discord's budget).
    fn identified(&self);
    /// READY or RESUMED arrived: the session is live.
    fn live(&self);
    /// An INTERACTION_CREATE.
    fn interaction(&self, interaction: Interaction);
}

/// How a connection ended, with the session as it stands (sequence advanced) and whether the
/// connection proved itself (live and a heartbeat acknowledged).
pub struct Outcome {
    pub ended: Ended,
    /// When an IDENTIFY was sent on this connection.
    pub identified_at: Option<Instant>,
    pub proved: bool,
    pub session: Option<Session>,
    /// The socket, if still open: the caller closes it with the code the next step needs.
    pub socket: Option<Socket>,
}

#[derive(Deserialize)]
struct Frame<'a> {
    op: u8,
    #[serde(default)]
    s: Option<u64>,
    #[serde(default)]
    t: Option<&'a str>,
    #[serde(borrow)]
    d: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Hello {
    heartbeat_interval: u64,
}

#[derive(Deserialize)]
struct Ready {
    session_id: String,
    resume_gateway_url: String,
}

/// Runs one connection until it ends. `session` is the known session (for RESUME, and kept
/// across a connection that fails); `jitter` delays the first heartbeat as Discord asks.
pub async fn run(
    open: Open<'_>,
    token: &str,
    hello_timeout: Duration,
    jitter: f64,
    events: &dyn Events,
    stopping: &mut tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    let (url, mut session) = match &open {
        Open::Identify { url } => (url.to_string(), None),
        Open::Resume(s) => (s.resume_url.clone(), Some((*s).clone())),
    };
    let failed = |ended, session| Outcome {
        ended,
        identified_at: None,
        proved: false,
        session,
        socket: None,
    };
    let address = format!("{}/?v={VERSION}&encoding=json", url.trim_end_matches('/'));
    let mut ws = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async(address.as_str()),
    )
    .await
    {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return failed(Ended::ConnectFailed(e.to_string()), session),
        Err(_) => return failed(Ended::ConnectFailed("timed out".into()), session),
    };
    let interval = match tokio::time::timeout(hello_timeout, hello(&mut ws)).await {
        Ok(Ok(interval)) => interval,
        Ok(Err(ended)) => return failed(ended, session),
        Err(_) => {
            return Outcome {
                socket: Some(ws),
                ..failed(Ended::NoHello, session)
            }
        }
    };
    let first = match &session {
        Some(s) => json!({"op": 6, "d": {"token": token, "session_id": s.id, "seq": s.seq}}),
        None => identify(token),
    };
    if let Err(e) = ws.send(Message::Text(first.to_string())).await {
        return failed(Ended::ConnectFailed(e.to_string()), session);
    }
    let identified_at = session.is_none().then(Instant::now);
    if identified_at.is_some() {
        events.identified();
    }
    let mut seq = session.as_ref().map(|s| s.seq);
    let mut live = false;
    let mut proved = false;
    let mut acked = true;
    let mut next_beat = tokio::time::Instant::now() + interval.mul_f64(jitter.clamp(0.0, 1.0));
    let ended = loop {
        let frame = tokio::select! {
            _ = tokio::time::sleep_until(next_beat) => {
                if !acked {
                    break Ended::Zombie;
                }
                if beat(&mut ws, seq).await.is_err() {
                    break Ended::Closed(None);
                }
                acked = false;
                next_beat += interval;
                continue;
            }
            frame = ws.next() => frame,
            _ = stop_asked(stopping) => break Ended::Stopping,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => break Ended::Closed(close.map(|c| c.code.into())),
            // Not asked for (no compression), so not read.
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break Ended::Closed(None),
        };
        let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
            tracing::warn!(
                bytes = text.len(),
                "gateway: a frame that is not JSON, ignored"
            );
            continue;
        };
        match frame.op {
            // Dispatch.
            0 => {
                if let Some(n) = frame.s {
                    seq = Some(n);
                    if let Some(s) = session.as_mut() {
                        s.seq = n;
                    }
                }
                let d = frame.d.map_or("null", RawValue::get);
                match frame.t {
                    Some("READY") => match serde_json::from_str::<Ready>(d) {
                        Ok(ready) => {
                            session = Some(Session {
                                id: ready.session_id,
                                seq: frame.s.unwrap_or(0),
                                resume_url: ready.resume_gateway_url,
                            });
                            live = true;
                            events.live();
                        }
                        Err(e) => tracing::error!(error = %e, "gateway: READY without a session"),
                    },
                    Some("RESUMED") => {
                        live = true;
                        events.live();
                    }
                    Some("INTERACTION_CREATE") => match serde_json::from_str::<Interaction>(d) {
                        Ok(interaction) => events.interaction(interaction),
                        Err(e) => {
                            tracing::warn!(error = %e, "gateway: an interaction serenity cannot read")
                        }
                    },
                    _ => {}
                }
            }
            // The gateway asks for a heartbeat now.
            1 if beat(&mut ws, seq).await.is_err() => break Ended::Closed(None),
            7 => break Ended::ReconnectAsked,
            9 => {
                let resumable = frame.d.is_some_and(|d| d.get() == "true");
                break Ended::InvalidSession { resumable };
            }
            11 => {
                acked = true;
                proved |= live;
            }
            _ => {}
        }
    };
    let open = !matches!(ended, Ended::Closed(_));
    Outcome {
        ended,
        identified_at,
        proved,
        session,
        socket: open.then_some(ws),
    }
}

/// Resolves once `stopping` is true (at once if it already is). The value's guard is dropped
/// here: it must not be held across the caller's awaits.
pub async fn stop_asked(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

/// Closes a socket the bot ends itself (1000 ends the session, 4000 keeps it resumable). A
/// gateway that still answers (it asked for the reconnect) gets a second for its close frame;
/// a silent one (no HELLO, no ACK) is not waited for.
pub async fn close(mut ws: Socket, code: u16, responsive: bool) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: "".into(),
    };
    let wait = if responsive {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(100)
    };
    let _ = tokio::time::timeout(wait, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(m)) = ws.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        }
    })
    .await;
}

/// Reads until HELLO; its heartbeat interval.
async fn hello(ws: &mut Socket) -> Result<Duration, Ended> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                    continue;
                };
                if frame.op != 10 {
                    continue;
                }
                let d = frame.d.map_or("null", RawValue::get);
                return match serde_json::from_str::<Hello>(d) {
                    Ok(h) if h.heartbeat_interval > 0 => {
                        Ok(Duration::from_millis(h.heartbeat_interval))
                    }
                    _ => Err(Ended::NoHello),
                };
            }
            Some(Ok(Message::Close(close))) => {
                return Err(Ended::Closed(close.map(|c| c.code.into())))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(Ended::Closed(None)),
        }
    }
}

/// A heartbeat with the last sequence number seen (null before the first dispatch).
async fn beat(
    ws: &mut Socket,
    seq: Option<u64>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    ws.send(Message::Text(json!({"op": 1, "d": seq}).to_string()))
        .await
}

/// IDENTIFY with no intents (none are needed for interactions, so none are privileged) as
/// shard 0 of 1, without compression.
fn identify(token: &str) -> Value {
    json!({"op": 2, "d": {
        "token": token,
        "intents": 0,
        "properties": {"os": std::env::consts::OS, "browser": "flink-chatops", "device": "flink-chatops"},
        "shard": [0, 1],
        "compress": false,
        "large_threshold": 50,
    }})
}

/// A number in [0, 1) that differs between calls and processes, for jitter (not for secrets).
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}
