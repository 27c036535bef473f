//! `cargo bench --bench gateway`
//!
//! What a flapping Discord gateway costs: the bot (the library, in this process, with the
//! default backoff: 1 s doubling to 30 s, jitter) against the local gateway peer
//! (tests/api/gateway_peer.rs) that closes every connection with 4000 right after HELLO, as a
//! gateway node in trouble does, for BENCH_FLAP_SECS (60) seconds. Counted at the peer:
//! WebSocket connections, IDENTIFYs and RESUMEs in that window; then the peer heals and the
//! time until `/readyz` reports the gateway up again is measured.
//!
//! Two cases: the gateway starts flapping while the bot has a live session (it resumes), and
//! the gateway flaps from the bot's start (no session: each try is an IDENTIFY). No Flink is
//! needed: the bot's cluster is a loopback port nobody listens on.
//!
//! Then, for the before/after comparison, the first case with serenity 0.12.5's own gateway
//! client (`ClientBuilder`, no intents, as `src/interact/gateway.rs` ran it up to `2d30817`),
//! pointed by `GET /gateway` at the same peer. It runs last: serenity's shard runner cannot be
//! stopped from outside and keeps its connection until the process ends.

#[allow(dead_code)]
#[path = "../api/gateway_peer.rs"]
mod gateway_peer;
#[allow(dead_code)]
#[path = "../api/payloads.rs"]
mod payloads;
#[allow(dead_code)]
#[path = "../api/recorder.rs"]
mod recorder;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use flink_chatops::config::Config;
use flink_chatops::startup::Application;
use gateway_peer::{Behaviour, GatewayPeer};
use recorder::Recorder;
use serde_json::Value;

struct Bot {
    addr: String,
    _dir: tempfile::TempDir,
}

async fn bot(peer: &GatewayPeer) -> Bot {
    let recorder = Recorder::start().await;
    recorder.set_gateway(&peer.url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\npath = \"{}\"\n\n[discord]\napi_base = \"{}\"\ndefault_channel = 111222333\napplication_id = {}\ngateway = true\n\n[[clusters]]\nname = \"none\"\nrest_url = \"http://127.0.0.1:9\"\n",
            dir.path().join("store").display(),
            recorder.base_url,
            payloads::APP_ID
        ),
    )
    .unwrap();
    let env = HashMap::from([
        (
            "FLINK_CHATOPS_WEBHOOK_TOKEN".to_string(),
            "bench-webhook-token-0123456789".to_string(),
        ),
        (
            "FLINK_CHATOPS_DISCORD_TOKEN".to_string(),
            "bench-discord-token".to_string(),
        ),
    ]);
    let config = Config::load(Some(&file), env.clone()).expect("bench config is valid");
    let app = Application::build(config, &env)
        .await
        .expect("the bot builds");
    let addr = format!("127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Bot { addr, _dir: dir }
}

async fn gateway_status(bot: &Bot) -> String {
    let v: Value = reqwest::get(format!("http://{}/readyz", bot.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["gateway"]["status"].as_str().unwrap_or("").to_string()
}

async fn until_up(bot: &Bot, limit: Duration) -> Duration {
    let start = Instant::now();
    while gateway_status(bot).await != "up" {
        assert!(
            start.elapsed() < limit,
            "the gateway is not up after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

struct Counts {
    connections: usize,
    identifies: usize,
    resumes: usize,
}

fn counts(peer: &GatewayPeer) -> Counts {
    Counts {
        connections: peer.connections().len(),
        identifies: peer.received(2).len(),
        resumes: peer.received(6).len(),
    }
}

async fn flap(peer: &GatewayPeer, bot: &Bot, secs: u64, case: &str) {
    let before = counts(peer);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = counts(peer);
    let times: Vec<f64> = peer
        .connections()
        .iter()
        .skip(before.connections)
        .map(|c| c.1.duration_since(start).as_secs_f64())
        .collect();
    peer.behave(Behaviour::Normal);
    let recovered = until_up(bot, Duration::from_secs(120)).await;
    println!(
        "{case}: {secs} s flapping: {} connections, {} IDENTIFYs, {} RESUMEs; attempts at {:?} s; up again {:.1} s after the gateway healed",
        after.connections - before.connections,
        after.identifies - before.identifies,
        after.resumes - before.resumes,
        times.iter().map(|t| (t * 10.0).round() / 10.0).collect::<Vec<_>>(),
        recovered.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("BENCH_FLAP_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);

    // 1. A live session, then the gateway flaps.
    let peer = GatewayPeer::start(41_250).await;
    let live = bot(&peer).await;
    until_up(&live, Duration::from_secs(30)).await;
    peer.behave(Behaviour::CloseAfterHello(4000));
    peer.drop_connection();
    flap(&peer, &live, secs, "live session, then flapping").await;

    // 2. Flapping from the start: no session to resume.
    let peer = GatewayPeer::start(41_250).await;
    peer.behave(Behaviour::CloseAfterHello(4000));
    let fresh = bot(&peer).await;
    flap(&peer, &fresh, secs, "flapping from the start").await;

    // 3. Before: serenity's own client, a live session, then the gateway flaps.
    let peer = GatewayPeer::start(41_250).await;
    serenity_client(&peer).await;
    peer.wait_for("serenity's IDENTIFY", Duration::from_secs(30), |f| {
        f.iter().any(|v| v["op"] == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    peer.behave(Behaviour::CloseAfterHello(4000));
    peer.drop_connection();
    let before = counts(&peer);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = counts(&peer);
    println!(
        "serenity 0.12.5 ClientBuilder (2d30817), live session, then flapping: {secs} s flapping: {} connections, {} IDENTIFYs, {} RESUMEs",
        after.connections - before.connections,
        after.identifies - before.identifies,
        after.resumes - before.resumes,
    );
}

/// serenity's gateway client as the bot ran it up to `2d30817`.
async fn serenity_client(peer: &GatewayPeer) {
    struct Quiet;
    impl serenity::all::EventHandler for Quiet {}
    let recorder = Recorder::start().await;
    recorder.set_gateway(&peer.url);
    let token = secrecy::SecretString::from("bench-discord-token");
    let http = flink_chatops::interact::register::http_client(
        Some(&token),
        &recorder.base_url,
        Some(payloads::APP_ID),
    );
    let mut client =
        serenity::all::ClientBuilder::new_with_http(http, serenity::all::GatewayIntents::empty())
            .event_handler(Quiet)
            .await
            .expect("serenity's client builds");
    tokio::spawn(async move {
        let _keep = recorder;
        let _ = client.start().await;
    });
}
