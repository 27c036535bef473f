//! A local peer that speaks Discord's gateway protocol (v10, JSON text frames) to the bot's gateway
//! client, and records what it sent.
//!
//! Per connection: HELLO first; IDENTIFY is answered with a READY dispatch, HEARTBEAT with
//! HEARTBEAT_ACK, RESUME (with the session id READY gave) with the dispatches the client missed
//! and then RESUMED — the order Discord documents. Dispatches the test pushes get increasing
//! sequence numbers and are kept, so a resumed session can be replayed. Text frames only.
//!
//! It listens twice, as Discord's gateways do: at `url` (what `GET /gateway/bot` names, for
//! IDENTIFY) and at `resume_url` (READY's `resume_gateway_url`, for RESUME), and it can
//! misbehave the ways a gateway does during an incident ([`Behaviour`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::payloads::APP_ID;

/// The bot user READY announces.
pub const BOT_USER_ID: u64 = 1_200_000_000_000_000_009;
const SESSION_ID: &str = "peer-session-0001";

/// How the peer treats new connections (set with [`GatewayPeer::behave`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Behaviour {
    #[default]
    Normal,
    /// HELLO, then this close code at once (a gateway node in trouble: 4000).
    CloseAfterHello(u16),
    /// Answers IDENTIFY with this close code (4004: the token is refused).
    RefuseIdentify(u16),
    /// Accepts the WebSocket and never says HELLO.
    NoHello,
    /// Never acknowledges a heartbeat (a zombie connection).
    NoAck,
    /// Answers every RESUME with INVALID_SESSION, not resumable (the session expired).
    ForgetSessions,
}

/// Which listener a connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Gateway,
    Resume,
}

#[derive(Default)]
struct State {
    /// Request URI of every WebSocket handshake (path and query, e.g. `/?v=10`).
    handshakes: Vec<String>,
    /// Every connection: which listener, and when.
    connections: Vec<(Door, Instant)>,
    /// The close code of every close frame the bot sent.
    closes: Vec<u16>,
    behaviour: Behaviour,
    /// Every frame the bot sent, parsed, in order, and the listener it came to.
    received: Vec<Value>,
    received_at: Vec<Door>,
    /// Every dispatch sent (READY, RESUMED, pushed events), for replay on RESUME.
    history: Vec<(u64, Value)>,
    seq: u64,
    /// Where `send_dispatch` writes: the connection that has identified or resumed, if any.
    live: Option<UnboundedSender<Message>>,
}

impl State {
    /// The next dispatch, numbered and kept for replay.
    fn push(&mut self, t: &str, d: Value) -> Value {
        self.seq += 1;
        let event = json!({"op": 0, "s": self.seq, "t": t, "d": d});
        self.history.push((self.seq, event.clone()));
        event
    }
}

#[derive(Clone)]
pub struct GatewayPeer {
    /// What `GET /gateway/bot` should answer (the bot appends `/?v=10&encoding=json`).
    pub url: String,
    /// What READY gives as `resume_gateway_url`.
    pub resume_url: String,
    state: Arc<Mutex<State>>,
}

impl GatewayPeer {
    /// Listens on 127.0.0.1:0; every connection is told `heartbeat_interval_ms` in HELLO.
    pub async fn start(heartbeat_interval_ms: u64) -> GatewayPeer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let resume = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = GatewayPeer {
            url: format!("ws://{}", listener.local_addr().unwrap()),
            resume_url: format!("ws://{}", resume.local_addr().unwrap()),
            state: Arc::default(),
        };
        for (listener, door) in [(listener, Door::Gateway), (resume, Door::Resume)] {
            let me = peer.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let me = me.clone();
                    tokio::spawn(async move { me.serve(tcp, door, heartbeat_interval_ms).await });
                }
            });
        }
        peer
    }

    /// How new connections (and, for `NoAck`, heartbeats) are treated from now on.
    pub fn behave(&self, behaviour: Behaviour) {
        self.state.lock().unwrap().behaviour = behaviour;
    }

    /// The close codes the bot sent, in order.
    pub fn closes(&self) -> Vec<u16> {
        self.state.lock().unwrap().closes.clone()
    }

    /// Every connection so far: which listener, and when.
    pub fn connections(&self) -> Vec<(Door, Instant)> {
        self.state.lock().unwrap().connections.clone()
    }

    // The handshake callback's error type is tungstenite's (`Response<Option<String>>`).
    #[allow(clippy::result_large_err)]
    async fn serve(&self, tcp: tokio::net::TcpStream, door: Door, interval: u64) {
        let uri = Arc::new(Mutex::new(String::new()));
        let seen = uri.clone();
        let callback = move |req: &Request, resp: Response| {
            *seen.lock().unwrap() = req.uri().to_string();
            Ok(resp)
        };
        let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
            return;
        };
        let handshake = uri.lock().unwrap().clone();
        let behaviour = {
            let mut s = self.state.lock().unwrap();
            s.handshakes.push(handshake);
            s.connections.push((door, Instant::now()));
            s.behaviour
        };
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || close {
                    break;
                }
            }
        });
        if behaviour != Behaviour::NoHello {
            send(
                &tx,
                &json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": interval}}),
            );
        }
        if let Behaviour::CloseAfterHello(code) = behaviour {
            let _ = tx.send(close_frame(code, "closed after HELLO"));
        }
        while let Some(Ok(frame)) = stream.next().await {
            let text = match frame {
                Message::Text(t) => t,
                Message::Close(close) => {
                    let code = close.map_or(1005, |c| c.code.into());
                    self.state.lock().unwrap().closes.push(code);
                    break;
                }
                _ => continue,
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                let _ = tx.send(close_frame(4002, "decode error"));
                break;
            };
            let mut s = self.state.lock().unwrap();
            s.received.push(v.clone());
            s.received_at.push(door);
            if matches!(behaviour, Behaviour::CloseAfterHello(_)) {
                // Closed already: what still arrives is recorded, never answered.
                continue;
            }
            match v["op"].as_u64() {
                Some(1) if s.behaviour == Behaviour::NoAck => {}
                Some(1) => send(&tx, &json!({"op": 11, "s": null, "t": null, "d": null})),
                Some(2) if matches!(behaviour, Behaviour::RefuseIdentify(_)) => {
                    if let Behaviour::RefuseIdentify(code) = behaviour {
                        let _ = tx.send(close_frame(code, "refused"));
                    }
                }
                Some(2) => {
                    let ready = s.push("READY", ready(&self.resume_url));
                    send(&tx, &ready);
                    s.live = Some(tx.clone());
                }
                Some(6) if behaviour == Behaviour::ForgetSessions => {
                    send(&tx, &json!({"op": 9, "s": null, "t": null, "d": false}))
                }
                Some(6) if v["d"]["session_id"] == SESSION_ID => {
                    let from = v["d"]["seq"].as_u64().unwrap_or(0);
                    let missed = s
                        .history
                        .iter()
                        .filter(|(n, e)| *n > from && e["t"] != "READY" && e["t"] != "RESUMED");
                    for (_, missed) in missed {
                        send(&tx, missed);
                    }
                    let resumed = s.push("RESUMED", json!({}));
                    send(&tx, &resumed);
                    s.live = Some(tx.clone());
                }
                // An unknown session: not resumable, identify again.
                Some(6) => send(&tx, &json!({"op": 9, "s": null, "t": null, "d": false})),
                _ => {}
            }
        }
    }

    /// Pushes a dispatch (e.g. INTERACTION_CREATE) to the live connection; kept for replay
    /// either way. Returns its sequence number.
    pub fn send_dispatch(&self, t: &str, d: Value) -> u64 {
        let mut s = self.state.lock().unwrap();
        let event = s.push(t, d);
        if let Some(tx) = &s.live {
            send(tx, &event);
        }
        s.seq
    }

    /// Closes the live connection the way Discord does when it restarts a gateway node (close
    /// code 4000, resumable). Later dispatches wait for a RESUME.
    pub fn drop_connection(&self) {
        if let Some(tx) = self.state.lock().unwrap().live.take() {
            let _ = tx.send(close_frame(4000, "unknown error"));
        }
    }

    /// The last sequence number sent.
    pub fn seq(&self) -> u64 {
        self.state.lock().unwrap().seq
    }

    /// Frames with opcode `op` and the listener each came to.
    pub fn received_at(&self, op: u64) -> Vec<(Door, Value)> {
        let s = self.state.lock().unwrap();
        s.received_at
            .iter()
            .zip(&s.received)
            .filter(|(_, v)| v["op"] == op)
            .map(|(d, v)| (*d, v.clone()))
            .collect()
    }

    pub fn handshakes(&self) -> Vec<String> {
        self.state.lock().unwrap().handshakes.clone()
    }

    /// Frames the bot sent with opcode `op` (1 heartbeat, 2 identify, 6 resume).
    pub fn received(&self, op: u64) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.received
            .iter()
            .filter(|v| v["op"] == op)
            .cloned()
            .collect()
    }

    /// Waits until `pred` holds for everything the bot sent, or panics with what it sent.
    pub async fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.state.lock().unwrap().received.clone();
            if pred(&seen) {
                return;
            }
            if Instant::now() > deadline {
                let ops: Vec<String> = seen.iter().map(|v| v["op"].to_string()).collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; the gateway peer got {} frame(s), opcodes [{}], over {} connection(s)",
                    seen.len(),
                    ops.join(", "),
                    self.handshakes().len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn send(tx: &UnboundedSender<Message>, v: &Value) {
    let _ = tx.send(Message::Text(v.to_string()));
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// READY as Discord sends it to a bot with no guilds yet (API v10).
fn ready(url: &str) -> Value {
    json!({
        "v": 10,
        "user": {
            "id": BOT_USER_ID.to_string(), "username": "flink-chatops", "discriminator": "0",
            "global_name": null, "avatar": null, "bot": true, "verified": true,
            "mfa_enabled": false, "flags": 0, "email": null
        },
        "guilds": [],
        "session_id": SESSION_ID,
        "resume_gateway_url": url,
        "session_type": "normal",
        "shard": [0, 1],
        "application": {"id": APP_ID.to_string(), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "user_settings": {},
        "_trace": ["[\"gateway-peer\",{\"micros\":0}]"]
    })
}
