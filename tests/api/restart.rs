//! Acknowledged means delivered, even across a SIGKILL: posted exactly once, and filled in later
//! when it went out with facts missing.

use std::time::Duration;

use crate::helpers::*;
use crate::recorder::{Fault, Recorder};

#[tokio::test]
async fn sigkill_after_ack_before_delivery_delivers_exactly_once_after_restart() {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    let port = free_port();
    std::fs::write(
        &file,
        config_toml(&AppOptions::default(), &recorder.base_url, dir.path(), port),
    )
    .unwrap();

    // Discord fails every attempt, so the notification is acknowledged but not delivered.
    for _ in 0..1000 {
        recorder.inject(Fault::ServerError);
    }
    let bot = BotProcess::start(&file).await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/alertmanager", bot.addr))
        .bearer_auth(WEBHOOK_TOKEN)
        .body(fixture("am-FlinkJobUnstable-firing.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    recorder
        .wait_for("a failed delivery attempt", Duration::from_secs(10), |r| {
            r.iter().any(|x| x.status == 500)
        })
        .await;
    bot.kill();
    assert!(
        recorder.posts().is_empty(),
        "nothing was delivered before the kill"
    );

    recorder.clear_faults();
    let bot = BotProcess::start(&file).await;
    recorder
        .wait_for("delivery after restart", Duration::from_secs(15), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(recorder.posts().len(), 1, "delivered exactly once");
    assert!(recorder.posts()[0].text().contains("FlinkJobUnstable"));
    let ready: serde_json::Value = reqwest::get(format!("http://{}/readyz", bot.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["pending"], 0, "{ready}");
    drop(bot);
}

/// Discord had the post, the bot was killed before it heard back, and it came back after
/// Discord forgot the nonce: it finds its message in the channel and edits it.
#[tokio::test]
async fn a_post_that_reached_discord_before_a_sigkill_is_adopted_after_the_nonce_window() {
    let recorder = Recorder::start().await;
    recorder.set_nonce_window(Duration::from_millis(500));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    let port = free_port();
    std::fs::write(
        &file,
        config_toml(&AppOptions::default(), &recorder.base_url, dir.path(), port),
    )
    .unwrap();

    // Fault injection: the message is created, the answer never comes.
    recorder.inject(Fault::AcceptThenHang);
    let bot = BotProcess::start(&file).await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/alertmanager", bot.addr))
        .bearer_auth(WEBHOOK_TOKEN)
        .body(fixture("am-FlinkJobUnstable-firing.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    recorder
        .wait_for("the post Discord accepted", Duration::from_secs(15), |r| {
            r.iter().any(|x| x.method == "POST" && x.status == 200)
        })
        .await;
    bot.kill();
    // Well past the nonce window: Discord would post the same nonce again.
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    let bot = BotProcess::start(&file).await;
    let seen = recorder
        .wait_for("the delivery after restart", Duration::from_secs(20), |r| {
            r.iter().filter(|x| x.status == 200).count() >= 2
        })
        .await;
    // Give a second post, if one were coming, time to arrive.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let messages = recorder.messages_in(CHANNEL);
    assert_eq!(
        messages.len(),
        1,
        "exactly one message in the channel; requests: {:?}",
        seen.iter()
            .map(|x| format!("{} {} {}", x.method, x.path, x.status))
            .collect::<Vec<_>>()
    );
    let edit = recorder.edits();
    assert_eq!(edit.len(), 1, "the earlier post was adopted and edited");
    assert_eq!(edit[0].message_id, recorder.posts()[0].message_id);
    assert!(
        !recorder.reads().is_empty(),
        "the bot looked in the channel"
    );
    let ready: serde_json::Value = reqwest::get(format!("http://{}/readyz", bot.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["pending"], 0, "{ready}");
}

/// A page sent while Flink was down, the bot restarted before its refill was due, Flink back:
/// the refill, kept on disk, still edits the page with the facts (real Flink 2.3).
#[tokio::test]
async fn a_refill_due_when_the_bot_was_restarted_still_fills_in_the_page() {
    let flink_url = required_env("FLINK23_URL");
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    let flink_port = free_port();
    let opts = AppOptions {
        clusters: vec![("flink23".into(), format!("http://127.0.0.1:{flink_port}"))],
        ..Default::default()
    };
    let toml = config_toml(&opts, &recorder.base_url, dir.path(), free_port())
        .replace("[flink]\n", "[flink]\nrefill_after_ms = 4000\n");
    std::fs::write(&file, toml).unwrap();

    let bot = BotProcess::start(&file).await;
    // The restart-loop job keeps running (a FAILED job leaves Flink's job store after an hour).
    let labels = serde_json::json!({"alertname": "FlinkJobUnstable", "severity": "critical", "flink_cluster": "flink23", "job_id": required_env("FLINK23_JOB_RESTART_LOOP")});
    let r = reqwest::Client::new()
        .post(format!("http://{}/alertmanager", bot.addr))
        .bearer_auth(WEBHOOK_TOKEN)
        .body(webhook(labels))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = recorder
        .wait_for("the first page", Duration::from_secs(15), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    assert!(
        seen[0].text().contains("Enrichment unavailable"),
        "{}",
        seen[0].text()
    );
    // Wait until the delivery is recorded, so what survives the kill is the refill itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ready: serde_json::Value = reqwest::get(format!("http://{}/readyz", bot.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["pending"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bot.kill();

    let _bot = BotProcess::start(&file).await;
    // Flink comes back (a plain TCP relay to the real cluster on the address that refused before).
    start_relay(
        flink_port,
        flink_url.trim_start_matches("http://").to_string(),
    )
    .await;
    let seen = recorder
        .wait_for("the filled-in edit", Duration::from_secs(30), |r| {
            r.iter().any(|x| x.method == "PATCH" && x.status == 200)
        })
        .await;
    let edit = seen.iter().find(|x| x.method == "PATCH").unwrap();
    let all: Vec<String> = seen
        .iter()
        .map(|x| format!("{} {} -> {} {:?}", x.method, x.path, x.status, x.message_id))
        .collect();
    assert_eq!(
        edit.message_id, seen[0].message_id,
        "edited in place: {all:#?}"
    );
    assert!(
        edit.text().contains("harness restart loop: poison record"),
        "{}",
        edit.text()
    );
    assert_eq!(recorder.posts().len(), 1);
}
