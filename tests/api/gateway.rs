//! The interaction path over the gateway: the bot's gateway client (src/interact/gateway/),
//! pointed by `GET /api/v10/gateway/bot` at the recorder to a local peer speaking Discord's
//! gateway protocol (tests/api/gateway_peer.rs), answering INTERACTION_CREATE through
//! serenity's HTTP client at the recorder, about the real Flink 2.3 harness jobs.

use std::time::Duration;

use serde_json::{json, Value};

use crate::gateway_peer::{Door, GatewayPeer};
use crate::helpers::*;
use crate::payloads::{self, APP_ID};
use crate::recorder::Recorder;

const WAIT: Duration = Duration::from_secs(40);

/// The bot with the gateway on, connected to a fresh peer: returns once READY has been sent.
pub async fn connected(heartbeat_interval_ms: u64) -> (GatewayPeer, TestApp) {
    let peer = GatewayPeer::start(heartbeat_interval_ms).await;
    let app = gateway_app(&peer, &[]).await;
    peer.wait_for("IDENTIFY", WAIT, |f| f.iter().any(|v| v["op"] == 2))
        .await;
    (peer, app)
}

/// The bot with the gateway on, pointed at `peer`, with `extra` settings.
pub async fn gateway_app(peer: &GatewayPeer, extra: &[(&str, &str)]) -> TestApp {
    let recorder = Recorder::start().await;
    recorder.set_gateway(&peer.url);
    let mut env = vec![
        (
            "FLINK_CHATOPS__DISCORD__APPLICATION_ID".to_string(),
            APP_ID.to_string(),
        ),
        ("FLINK_CHATOPS__DISCORD__GATEWAY".into(), "true".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    spawn_app(AppOptions {
        recorder: Some(recorder),
        clusters: vec![("flink23".into(), required_env("FLINK23_URL"))],
        extra: env,
        ..Default::default()
    })
    .await
}

/// Pushes `interaction` as INTERACTION_CREATE and returns the callback serenity posted for it
/// (`{"type": .., "data": ..}`), and, for a deferred one (type 5), the body of the edit of the
/// original response.
pub async fn ask(peer: &GatewayPeer, app: &TestApp, interaction: Value) -> (Value, Option<Value>) {
    let id = interaction["id"].as_str().unwrap().to_string();
    let token = interaction["token"].as_str().unwrap().to_string();
    peer.send_dispatch("INTERACTION_CREATE", interaction);
    let callback = format!("/api/v10/interactions/{id}/{token}/callback");
    let seen = app
        .recorder
        .wait_for("the interaction callback", WAIT, |r| {
            r.iter().any(|x| x.path == callback)
        })
        .await;
    let first = seen.iter().find(|x| x.path == callback).unwrap();
    assert_eq!(first.method, "POST");
    if first.body["type"] != 5 {
        return (first.body.clone(), None);
    }
    let original = format!("/api/v10/webhooks/{APP_ID}/{token}/messages/@original");
    let seen = app
        .recorder
        .wait_for("the deferred answer's edit", WAIT, |r| {
            r.iter().any(|x| x.path == original)
        })
        .await;
    let edit = seen.iter().find(|x| x.path == original).unwrap();
    assert_eq!(edit.method, "PATCH");
    (first.body.clone(), Some(edit.body.clone()))
}

/// The answer's data: an immediate one's `data`, or the deferred one's edit.
fn answer_data(answer: &(Value, Option<Value>)) -> Value {
    match answer {
        (_, Some(edit)) => edit.clone(),
        (first, None) => first["data"].clone(),
    }
}

#[tokio::test]
async fn gateway_identifies_with_the_bot_token_and_no_intents() {
    let (peer, _app) = connected(45_000).await;
    // The peer's address is only known through the recorder's `GET /api/v10/gateway/bot`
    // (which the recorder answers without recording), so a handshake here means the bot asked
    // there.
    assert_eq!(peer.handshakes(), vec!["/?v=10&encoding=json".to_string()]);

    let identify = peer.received(2);
    assert_eq!(identify.len(), 1, "{identify:?}");
    let d = &identify[0]["d"];
    // The token as serenity's HTTP client holds it, with the "Bot " prefix.
    assert_eq!(d["token"], format!("Bot {DISCORD_TOKEN}"));
    assert_eq!(d["intents"], 0, "no intents, so none privileged: {d}");
    assert_eq!(d["shard"], json!([0, 1]));
    assert_eq!(d["properties"]["browser"], "flink-chatops");
    assert_eq!(d["properties"]["os"], std::env::consts::OS);
}

#[tokio::test]
async fn gateway_help_is_answered_through_the_callback() {
    let (peer, app) = connected(45_000).await;
    let answer = ask(&peer, &app, payloads::command("help", &[])).await;
    assert_eq!(
        answer.0["type"], 4,
        "help is answered at once: {}",
        answer.0
    );
    let content = answer.0["data"]["content"].as_str().unwrap_or("");
    for part in ["**/flink jobs**", "**/flink status**", "autocompletes"] {
        assert!(content.contains(part), "help lacks {part}: {content}");
    }
    assert_eq!(answer.0["data"]["flags"], 64, "help is ephemeral");
    assert_eq!(app.recorder.calls("/callback").len(), 1, "answered once");
}

#[tokio::test]
async fn gateway_status_of_the_real_flink_job_matches_flink() {
    let job = required_env("FLINK23_JOB_HEALTHY");
    let (peer, app) = connected(45_000).await;
    let answer = ask(
        &peer,
        &app,
        payloads::command("status", &[("job", json!(job.clone()))]),
    )
    .await;
    assert!(
        matches!(answer.0["type"].as_u64(), Some(4 | 5)),
        "{}",
        answer.0
    );
    let data = answer_data(&answer);
    let embed = &data["embeds"][0];
    let title = embed["title"].as_str().unwrap_or("");
    let (name, state) = title
        .split_once(" — ")
        .unwrap_or_else(|| panic!("title is `name — STATE`: {data}"));
    assert_eq!(name, "harness-healthy");
    let flink: Value = reqwest::get(format!("{}/jobs/{job}", required_env("FLINK23_URL")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state, flink["state"], "the answer's state is Flink's");
    let footer = embed["footer"]["text"].as_str().unwrap_or("");
    assert!(footer.contains(&job), "footer names the job id: {footer}");
}

#[tokio::test]
async fn gateway_autocomplete_lists_harness_jobs() {
    let (peer, app) = connected(45_000).await;
    // The job index fills in the background after start; autocomplete answers from memory,
    // so ask again (each a new interaction, as Discord sends per keystroke) until it knows.
    let deadline = std::time::Instant::now() + WAIT;
    let choices = loop {
        let answer = ask(
            &peer,
            &app,
            payloads::autocomplete("status", "harness", &[]),
        )
        .await;
        assert_eq!(answer.0["type"], 8, "{}", answer.0);
        let choices = answer.0["data"]["choices"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !choices.is_empty() || std::time::Instant::now() > deadline {
            break choices;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let names: Vec<&str> = choices.iter().filter_map(|c| c["name"].as_str()).collect();
    let values: Vec<&str> = choices.iter().filter_map(|c| c["value"].as_str()).collect();
    assert!(
        names.iter().any(|n| n.contains("harness-healthy")),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| n.contains("harness")),
        "only jobs matching `harness`: {names:?}"
    );
    let healthy = required_env("FLINK23_JOB_HEALTHY");
    assert!(
        values.iter().any(|v| v.contains(&healthy)),
        "a choice's value names the job id: {values:?}"
    );
}

#[tokio::test]
async fn gateway_heartbeats_are_acknowledged_without_reconnecting() {
    let (peer, app) = connected(300).await;
    let seq = peer.send_dispatch("INTERACTION_CREATE", payloads::command("help", &[]));
    peer.wait_for("three heartbeats after the interaction", WAIT, |f| {
        f.iter().filter(|v| v["op"] == 1 && v["d"] == seq).count() >= 3
    })
    .await;
    // An unacknowledged heartbeat makes the bot drop the connection and resume.
    assert_eq!(peer.handshakes().len(), 1, "one connection");
    assert_eq!(peer.received(2).len(), 1, "one IDENTIFY");
    app.recorder
        .wait_for("the help callback", WAIT, |r| {
            r.iter().any(|x| x.path.ends_with("/callback"))
        })
        .await;
}

#[tokio::test]
async fn gateway_resumes_after_a_dropped_connection_and_answers_the_missed_interaction() {
    let (peer, app) = connected(45_000).await;
    let first = ask(&peer, &app, payloads::command("help", &[])).await;
    assert_eq!(first.0["type"], 4);
    let seen = peer.seq();

    peer.drop_connection();
    // Sent while no connection is live: only a RESUME can deliver it.
    let missed = payloads::command("help", &[]);
    let missed_id = missed["id"].as_str().unwrap().to_string();
    peer.send_dispatch("INTERACTION_CREATE", missed);

    peer.wait_for("RESUME", WAIT, |f| f.iter().any(|v| v["op"] == 6))
        .await;
    let resume = &peer.received(6)[0]["d"];
    assert_eq!(resume["session_id"], "peer-session-0001", "READY's session");
    assert_eq!(resume["seq"], seen, "the last sequence the bot saw");
    assert_eq!(resume["token"], format!("Bot {DISCORD_TOKEN}"));
    assert_eq!(
        peer.received_at(6)[0].0,
        Door::Resume,
        "RESUME goes to READY's resume_gateway_url, not the first gateway URL"
    );
    app.recorder
        .wait_for("the missed interaction's callback", WAIT, |r| {
            r.iter()
                .any(|x| x.path.contains(&missed_id) && x.path.ends_with("/callback"))
        })
        .await;
    assert_eq!(peer.handshakes().len(), 2, "one reconnect");
    assert_eq!(peer.received(2).len(), 1, "resumed, not identified again");
}

#[tokio::test]
async fn gateway_exceptions_with_a_long_trace_are_deferred_and_edited_with_the_file() {
    let job = required_env("FLINK23_JOB_NESTED");
    let (peer, app) = connected(45_000).await;
    let interaction = payloads::command("exceptions", &[("job", json!(job.clone()))]);
    let token = interaction["token"].as_str().unwrap().to_string();
    let answer = ask(&peer, &app, interaction).await;
    // A reply with a file cannot be the immediate callback, so it is deferred and edited in.
    assert_eq!(answer.0["type"], 5, "{}", answer.0);
    assert_eq!(answer.0["data"]["flags"], 64, "deferred as ephemeral");
    let edit = app
        .recorder
        .calls("@original")
        .into_iter()
        .find(|r| r.path.contains(&token))
        .unwrap();
    let flink: Value = reqwest::get(format!(
        "{}/jobs/{job}/exceptions",
        required_env("FLINK23_URL")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let newest = flink["exceptionHistory"]["entries"][0]["stacktrace"]
        .as_str()
        .unwrap();
    assert_eq!(edit.files.len(), 1, "{:?}", edit.body);
    assert_eq!(
        String::from_utf8_lossy(&edit.files[0].1),
        newest,
        "the attached trace is Flink's newest, whole"
    );
    assert!(
        edit.text().contains("harness-nested-failure"),
        "{}",
        edit.text()
    );
}
