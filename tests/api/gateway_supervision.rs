//! The gateway's supervision against a local gateway peer that misbehaves the ways Discord's
//! gateway does during an incident (tests/api/gateway_peer.rs `Behaviour`): a gateway that
//! closes every connection right after HELLO, one that refuses the token (4004), one that
//! never says HELLO, one that stops acknowledging heartbeats. Backoff is shortened by config
//! (initial 200 ms, cap 2 s); the spacing asserted is the backoff's lower bound (half the
//! doubled wait: the jitter takes off up to half), so the assertions hold on a slow machine.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::gateway::{ask, gateway_app};
use crate::gateway_peer::{Behaviour, Door, GatewayPeer};
use crate::helpers::*;
use crate::payloads;

const WAIT: Duration = Duration::from_secs(20);
const INITIAL_MS: u64 = 200;
const MAX_MS: u64 = 2_000;
const FAST: &[(&str, &str)] = &[
    ("FLINK_CHATOPS__DISCORD__GATEWAY_BACKOFF_INITIAL_MS", "200"),
    ("FLINK_CHATOPS__DISCORD__GATEWAY_BACKOFF_MAX_MS", "2000"),
    ("FLINK_CHATOPS__DISCORD__GATEWAY_HELLO_TIMEOUT_MS", "500"),
];

async fn readyz(app: &TestApp) -> (u16, Value) {
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Waits until `/readyz` reports the gateway in `status`; returns the answer.
async fn gateway_status(app: &TestApp, status: &str, within: Duration) -> (u16, Value) {
    let deadline = Instant::now() + within;
    loop {
        let (code, body) = readyz(app).await;
        if body["gateway"]["status"] == status {
            return (code, body);
        }
        assert!(
            Instant::now() < deadline,
            "the gateway is not {status} after {within:?}: {code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// The smallest wait the backoff allows after the `failures`-th failure in a row.
fn least_backoff(failures: u32) -> Duration {
    let full = (INITIAL_MS << (failures - 1).min(10)).min(MAX_MS);
    Duration::from_millis(full / 2)
}

/// Connection times from index `from` on, and the gaps between them.
fn gaps(peer: &GatewayPeer, from: usize) -> Vec<Duration> {
    let times: Vec<Instant> = peer.connections()[from..].iter().map(|c| c.1).collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Connected, READY processed, and a heartbeat acknowledged (the session proved itself).
async fn live(heartbeat_ms: u64) -> (GatewayPeer, TestApp) {
    let peer = GatewayPeer::start(heartbeat_ms).await;
    let app = gateway_app(&peer, FAST).await;
    gateway_status(&app, "up", WAIT).await;
    peer.wait_for("a heartbeat", WAIT, |f| f.iter().any(|v| v["op"] == 1))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    (peer, app)
}

#[tokio::test]
async fn gateway_that_closes_every_connection_is_asked_a_handful_of_times_then_resumed() {
    let (peer, app) = live(300).await;
    peer.behave(Behaviour::CloseAfterHello(4000));
    peer.drop_connection();
    let flapping = Duration::from_secs(6);
    tokio::time::sleep(flapping).await;
    let during = peer.connections().len() - 1;
    // 0 (a proved session resumes at once), then at least 0.1, 0.2, 0.4, 0.8, 1, 1, ... s
    // apart and at most twice that: 5 to 9 attempts in 6 s.
    assert!(
        (3..=10).contains(&during),
        "{during} connections in {flapping:?} of a flapping gateway"
    );
    for (i, gap) in gaps(&peer, 1).iter().enumerate() {
        let least = least_backoff(i as u32 + 1);
        assert!(
            *gap + Duration::from_millis(20) >= least,
            "attempt {} came {gap:?} after the one before, under the backoff's {least:?}: {:?}",
            i + 2,
            gaps(&peer, 1)
        );
    }
    let (code, body) = readyz(&app).await;
    assert_eq!(code, 200, "reconnecting is still ready: {body}");
    assert_eq!(body["gateway"]["status"], "reconnecting", "{body}");
    assert!(
        body["gateway"]["last"].as_str().unwrap().contains("4000"),
        "{body}"
    );
    assert_eq!(metric(&app, "flink_chatops_gateway_up").await, 0.0);

    // Every attempt was a RESUME of the one session, at resume_gateway_url; no IDENTIFY spent.
    assert!(peer.connections()[1..].iter().all(|c| c.0 == Door::Resume));
    assert_eq!(peer.received(2).len(), 1, "one IDENTIFY in all");

    peer.behave(Behaviour::Normal);
    let healed = Instant::now();
    gateway_status(&app, "up", Duration::from_millis(MAX_MS + 2_000)).await;
    let recovered = healed.elapsed();
    assert!(
        recovered <= Duration::from_millis(MAX_MS + 1_000),
        "recovered {recovered:?} after the gateway healed"
    );
    let answer = ask(&peer, &app, payloads::command("help", &[])).await;
    assert_eq!(
        answer.0["type"], 4,
        "answered after the resume: {}",
        answer.0
    );
    let attempts = peer.connections().len() as f64;
    assert_eq!(
        metric(&app, "flink_chatops_gateway_reconnects_total").await,
        attempts - 1.0
    );
    assert_eq!(
        metric(&app, "flink_chatops_gateway_identifies_total").await,
        1.0
    );
    assert_eq!(metric(&app, "flink_chatops_gateway_up").await, 1.0);
}

#[tokio::test]
async fn gateway_refusing_the_token_stops_the_gateway_and_says_so() {
    let peer = GatewayPeer::start(45_000).await;
    peer.behave(Behaviour::RefuseIdentify(4004));
    let app = gateway_app(&peer, FAST).await;
    let (code, body) = gateway_status(&app, "down", WAIT).await;
    assert_eq!(code, 503, "the gateway was the only way in: {body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    let reason = body["gateway"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("4004") && reason.contains("token"),
        "{reason}"
    );
    assert!(body["error"].as_str().unwrap().contains("4004"), "{body}");
    assert_eq!(metric(&app, "flink_chatops_gateway_up").await, 0.0);
    // Longer than the whole backoff schedule would take to try again.
    tokio::time::sleep(Duration::from_millis(3 * MAX_MS)).await;
    assert_eq!(peer.connections().len(), 1, "no reconnect after 4004");
    assert_eq!(peer.received(2).len(), 1, "one IDENTIFY");
    assert_eq!(
        metric(&app, "flink_chatops_gateway_reconnects_total").await,
        0.0
    );
    // The rest of the bot keeps working: the webhook still stores.
    let stored = app
        .post_webhook(
            webhook(serde_json::json!({"alertname": "X"})),
            Some(WEBHOOK_TOKEN),
        )
        .await;
    assert_eq!(stored.status(), 200);
}

/// Discord refuses the token before any connection (401 on `GET /gateway/bot`, as for a reset
/// token): the gateway stops at once, says why, and never connects.
#[tokio::test]
async fn a_token_refused_by_get_gateway_bot_stops_the_gateway_and_says_so() {
    let peer = GatewayPeer::start(45_000).await;
    let recorder = crate::recorder::Recorder::start().await;
    recorder.set_gateway(&peer.url);
    recorder.refuse_token();
    let mut env = vec![
        (
            "FLINK_CHATOPS__DISCORD__APPLICATION_ID".to_string(),
            payloads::APP_ID.to_string(),
        ),
        ("FLINK_CHATOPS__DISCORD__GATEWAY".into(), "true".into()),
    ];
    env.extend(FAST.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let app = spawn_app(AppOptions {
        recorder: Some(recorder),
        extra: env,
        ..Default::default()
    })
    .await;
    let (code, body) = gateway_status(&app, "down", WAIT).await;
    assert_eq!(code, 503, "the gateway was the only way in: {body}");
    let reason = body["gateway"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("401") && reason.contains("token"),
        "{reason}"
    );
    assert_eq!(metric(&app, "flink_chatops_gateway_up").await, 0.0);
    tokio::time::sleep(Duration::from_millis(3 * MAX_MS)).await;
    assert!(peer.connections().is_empty(), "never connected");
    assert_eq!(
        app.recorder
            .reads()
            .iter()
            .filter(|r| r.path.ends_with("/gateway/bot"))
            .count(),
        1,
        "asked once, not again and again"
    );
}

#[tokio::test]
async fn gateway_without_hello_is_dropped_and_tried_again_with_backoff() {
    let peer = GatewayPeer::start(45_000).await;
    peer.behave(Behaviour::NoHello);
    let app = gateway_app(&peer, FAST).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let attempts = peer.connections().len();
    // Each attempt waits 0.5 s for HELLO, then 0.1-0.2, 0.2-0.4, 0.4-0.8, 0.8-1.6, 1-2 s.
    assert!(
        (3..=7).contains(&attempts),
        "{attempts} connections in 5 s to a gateway that never says HELLO"
    );
    for (i, gap) in gaps(&peer, 0).iter().enumerate() {
        let least = Duration::from_millis(500) + least_backoff(i as u32 + 1);
        assert!(
            *gap + Duration::from_millis(20) >= least,
            "attempt {} came {gap:?} after the one before: {:?}",
            i + 2,
            gaps(&peer, 0)
        );
    }
    assert!(
        peer.received(2).is_empty(),
        "nothing identified without HELLO"
    );
    assert_eq!(readyz(&app).await.1["gateway"]["status"], "reconnecting");
    peer.behave(Behaviour::Normal);
    gateway_status(&app, "up", WAIT).await;
    assert_eq!(peer.received(2).len(), 1, "identified once HELLO came");
}

#[tokio::test]
async fn gateway_that_stops_acknowledging_heartbeats_is_a_zombie_and_is_resumed() {
    let (peer, app) = live(200).await;
    let before = peer.connections().len();
    peer.behave(Behaviour::NoAck);
    // The next heartbeat goes unanswered; the one after finds it so: the bot drops the link.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let attempts = peer.connections().len() - before;
    assert!(
        (2..=8).contains(&attempts),
        "{attempts} reconnects in 4 s to a gateway that acknowledges nothing"
    );
    // A zombie resumes (keeps the session) at resume_gateway_url.
    assert!(peer.connections()[before..]
        .iter()
        .all(|c| c.0 == Door::Resume));
    assert_eq!(peer.received(2).len(), 1, "no new IDENTIFY for a zombie");
    for (i, gap) in gaps(&peer, before).iter().enumerate() {
        let least = least_backoff(i as u32 + 1);
        assert!(
            *gap + Duration::from_millis(20) >= least,
            "attempt {} came {gap:?} after the one before: {:?}",
            i + 2,
            gaps(&peer, before)
        );
    }
    peer.behave(Behaviour::Normal);
    gateway_status(&app, "up", WAIT).await;
    let answer = ask(&peer, &app, payloads::command("help", &[])).await;
    assert_eq!(answer.0["type"], 4, "{}", answer.0);
}

#[tokio::test]
async fn gateway_session_gone_is_closed_cleanly_and_identified_again_at_the_gateway_url() {
    let (peer, app) = live(300).await;
    peer.behave(Behaviour::ForgetSessions);
    peer.drop_connection();
    peer.wait_for("a second IDENTIFY", WAIT, |f| {
        f.iter().filter(|v| v["op"] == 2).count() == 2
    })
    .await;
    let connections = peer.connections();
    assert_eq!(
        connections.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![Door::Gateway, Door::Resume, Door::Gateway],
        "identify, resume (refused), identify again at the gateway URL"
    );
    // (The first close is the bot's echo of the peer's 4000, as WebSocket closes go.)
    assert!(
        peer.closes().ends_with(&[1000]),
        "the refused session's socket is closed with 1000 before identifying again: {:?}",
        peer.closes()
    );
    // Discord asks for 1-5 s between INVALID_SESSION and the new IDENTIFY.
    let gap = connections[2].1 - connections[1].1;
    assert!(
        gap >= Duration::from_secs(1),
        "identified again after {gap:?}"
    );
    gateway_status(&app, "up", WAIT).await;
    assert_eq!(
        metric(&app, "flink_chatops_gateway_identifies_total").await,
        2.0
    );
}

#[tokio::test]
async fn gateway_refused_with_the_endpoint_on_leaves_the_bot_ready_and_the_endpoint_answering() {
    let peer = GatewayPeer::start(45_000).await;
    peer.behave(Behaviour::RefuseIdentify(4004));
    let key = hex::encode(crate::interactions::key().verifying_key().to_bytes());
    let app = gateway_app(&peer, &[("FLINK_CHATOPS__DISCORD__PUBLIC_KEY", &key)]).await;
    let (code, body) = gateway_status(&app, "down", WAIT).await;
    assert_eq!(code, 200, "interactions still arrive: {body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(
        body["gateway"]["reason"].as_str().unwrap().contains("4004"),
        "{body}"
    );
    assert!(
        body["gateway"]["interactions"]
            .as_str()
            .unwrap()
            .contains("POST /discord/interactions"),
        "{body}"
    );
    // And it does: a signed /flink help over HTTP is answered.
    let (answer, _, _) = crate::interactions::ask(&app, payloads::command("help", &[])).await;
    let help = answer["content"].as_str().unwrap_or("");
    assert!(help.contains("**/flink status**"), "{answer}");
}

/// SIGTERM: the bot closes its gateway connection with 1000 before it exits, so Discord ends the
/// session at once instead of keeping it until heartbeats are missed (the real binary, as
/// systemd or Kubernetes stops it).
#[tokio::test]
async fn a_stopping_bot_closes_its_gateway_connection_with_1000() {
    let peer = GatewayPeer::start(300).await;
    let recorder = crate::recorder::Recorder::start().await;
    recorder.set_gateway(&peer.url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    let config = config_toml(
        &AppOptions::default(),
        &recorder.base_url,
        dir.path(),
        free_port(),
    );
    std::fs::write(&file, config).unwrap();
    let app_id = payloads::APP_ID.to_string();
    let mut env = vec![
        ("FLINK_CHATOPS__DISCORD__APPLICATION_ID", app_id.as_str()),
        ("FLINK_CHATOPS__DISCORD__GATEWAY", "true"),
    ];
    env.extend_from_slice(FAST);
    let mut bot = crate::process::Bot::start(&file, &env, None).await;
    peer.wait_for("a heartbeat", WAIT, |f| f.iter().any(|v| v["op"] == 1))
        .await;
    assert!(peer.closes().is_empty(), "{:?}", peer.closes());

    bot.sigterm();
    let status = bot.exited(WAIT).await;

    assert!(status.success(), "{status}:\n{}", bot.log());
    assert_eq!(peer.closes(), [1000], "{}", bot.log());
    assert_eq!(peer.connections().len(), 1, "no reconnect while stopping");
    assert!(
        bot.log()
            .contains("gateway closed (1000): the bot is stopping"),
        "{}",
        bot.log()
    );
}
