//! Delivery to Discord (serenity's requests, recorded locally) under faults.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::recorder::{Fault, Recorder};

#[tokio::test]
async fn a_429_is_honoured_and_a_500_is_retried_and_nothing_is_lost() {
    let app = spawn_app(AppOptions::default()).await;
    // Fault injection: real Discord cannot be made to rate-limit on demand.
    app.recorder.inject(Fault::RateLimited { retry_after: 1.5 });
    app.recorder.inject(Fault::ServerError);
    let r = app
        .post_webhook(
            fixture("am-FlinkJobUnstable-firing.json"),
            Some(WEBHOOK_TOKEN),
        )
        .await;
    assert_eq!(r.status(), 200);
    let seen = app
        .recorder
        .wait_for("a successful post", Duration::from_secs(15), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    assert_eq!(seen.len(), 3, "429, 500, then success");
    assert_eq!(seen[0].status, 429);
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(1_450),
        "retried after {waited:?}, before retry_after"
    );
    assert_eq!(seen[2].authorization, format!("Bot {DISCORD_TOKEN}"));
    assert_eq!(seen[0].body, seen[2].body, "the same message is retried");
    app.drained().await;
}

#[tokio::test]
async fn flink_down_still_delivers_and_says_enrichment_is_unavailable() {
    // Nothing listens on the discard port: the cluster is down.
    let app = spawn_app(AppOptions::default()).await;
    app.post_webhook(
        fixture("am-FlinkJobUnstable-firing.json"),
        Some(WEBHOOK_TOKEN),
    )
    .await;
    let seen = app
        .recorder
        .wait_for("the message", Duration::from_secs(10), |r| !r.is_empty())
        .await;
    let text = seen[0].text();
    assert!(text.contains("Enrichment unavailable"), "{text}");
    assert!(text.contains("exceptions: unreachable"), "{text}");
    assert!(text.contains("FlinkJobUnstable"), "{text}");
}

#[tokio::test]
async fn a_hung_flink_delays_the_page_by_at_most_one_deadline() {
    // A fake stands in here: a real Flink cannot be made to accept and then never answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let app = spawn_app(AppOptions {
        clusters: vec![("default".into(), url)],
        call_timeout_ms: 800,
        ..Default::default()
    })
    .await;
    let start = Instant::now();
    app.post_webhook(
        fixture("am-FlinkJobUnstable-firing.json"),
        Some(WEBHOOK_TOKEN),
    )
    .await;
    let seen = app
        .recorder
        .wait_for("the message", Duration::from_secs(10), |r| !r.is_empty())
        .await;
    let took = seen[0].at - start;
    assert!(
        took < Duration::from_millis(800 + 700),
        "calls run in parallel under one deadline, took {took:?}"
    );
    assert!(
        seen[0].text().contains("no answer within 800 ms"),
        "{}",
        seen[0].text()
    );
}

#[tokio::test]
async fn on_call_mentions_notify_from_content_and_routes_pick_the_channel() {
    let app = spawn_app(AppOptions {
        extra: vec![
            (
                "FLINK_CHATOPS__DISCORD__MENTIONS__CRITICAL".into(),
                r#"["<@&4242>", "<@77>"]"#.into(),
            ),
            (
                "FLINK_CHATOPS__DISCORD__ROUTES".into(),
                r#"[{severity = "critical", channel = 999}]"#.into(),
            ),
        ],
        ..Default::default()
    })
    .await;
    // The fixture's alert is critical.
    app.post_webhook(
        fixture("am-FlinkJobUnstable-firing.json"),
        Some(WEBHOOK_TOKEN),
    )
    .await;
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(10), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    let post = &seen[0];
    assert_eq!(post.channel_id, 999, "routed by severity");
    assert_eq!(post.body["content"], "<@&4242> <@77>");
    let allowed = &post.body["allowed_mentions"];
    assert_eq!(allowed["roles"], serde_json::json!(["4242"]), "{allowed}");
    assert_eq!(allowed["users"], serde_json::json!(["77"]), "{allowed}");
    assert!(
        !allowed["parse"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "everyone")),
        "{allowed}"
    );
}

/// Posts a webhook and expects it stored.
async fn send(app: &TestApp, body: Vec<u8>) {
    assert_eq!(
        app.post_webhook(body, Some(WEBHOOK_TOKEN)).await.status(),
        200
    );
}

#[tokio::test]
async fn two_fresh_stores_posting_the_same_group_make_two_messages() {
    let recorder = Recorder::start().await;
    // Two bots with their own stores, one Discord.
    let on_it = || AppOptions {
        recorder: Some(recorder.clone()),
        ..Default::default()
    };
    let a = spawn_app(on_it()).await;
    let b = spawn_app(on_it()).await;
    send(&a, fixture("am-FlinkJobUnstable-firing.json")).await;
    recorder
        .wait_for("the first store's post", Duration::from_secs(10), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    send(&b, fixture("am-FlinkJobUnstable-firing.json")).await;
    let seen = recorder
        .wait_for("the second store's post", Duration::from_secs(10), |r| {
            r.iter().filter(|x| x.status == 200).count() >= 2
        })
        .await;
    let nonces: Vec<&str> = seen
        .iter()
        .filter(|x| x.method == "POST")
        .map(|x| x.body["nonce"].as_str().unwrap())
        .collect();
    assert_eq!(nonces.len(), 2);
    assert_ne!(
        nonces[0], nonces[1],
        "each store makes its own incident ids"
    );
    assert_eq!(
        recorder.messages_in(CHANNEL).len(),
        2,
        "Discord did not mistake the second for a retry of the first"
    );
}

#[tokio::test]
async fn a_channel_that_refuses_the_bot_does_not_block_another_channels_pages() {
    let app = spawn_app(AppOptions {
        extra: vec![
            // One worker: a page that held it forever would block everything behind it.
            ("FLINK_CHATOPS__DELIVERY__CONCURRENCY".into(), "1".into()),
            (
                "FLINK_CHATOPS__DISCORD__ROUTES".into(),
                r#"[{severity = "critical", channel = 999}]"#.into(),
            ),
        ],
        ..Default::default()
    })
    .await;
    // Fault injection: real Discord cannot be made to refuse a test bot on demand.
    app.recorder.deny(999);
    // The fixture is critical: routed to the channel that refuses the bot.
    app.post_webhook(
        fixture("am-FlinkJobUnstable-firing.json"),
        Some(WEBHOOK_TOKEN),
    )
    .await;
    app.recorder
        .wait_for("the refused post", Duration::from_secs(10), |r| {
            r.iter().any(|x| x.status == 403)
        })
        .await;
    let other =
        webhook(serde_json::json!({"alertname": "FlinkCheckpointFailing", "severity": "warning"}));
    app.post_webhook(other, Some(WEBHOOK_TOKEN)).await;
    let seen = app
        .recorder
        .wait_for("the other channel's page", Duration::from_secs(10), |r| {
            r.iter().any(|x| x.status == 200 && x.channel_id == CHANNEL)
        })
        .await;
    assert!(seen
        .iter()
        .any(|x| x.text().contains("FlinkCheckpointFailing")));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let refused = app
        .recorder
        .requests()
        .into_iter()
        .filter(|x| x.channel_id == 999)
        .count();
    assert_eq!(refused, 1, "a 403 is not retried");
    assert_eq!(
        app.pending().await,
        0,
        "the refused page left the inbox (kept aside)"
    );
}

#[tokio::test]
async fn after_a_discord_outage_pending_pages_go_out_within_seconds() {
    let app = spawn_app(AppOptions {
        extra: vec![(
            "FLINK_CHATOPS__DELIVERY__RETRY_MAX_MS".into(),
            "60000".into(),
        )],
        ..Default::default()
    })
    .await;
    // Fault injection: a long run of 500s, as in a Discord outage.
    for _ in 0..100_000 {
        app.recorder.inject(Fault::ServerError);
    }
    let start = Instant::now();
    for name in ["OutageA", "OutageB", "OutageC"] {
        let body = webhook(serde_json::json!({"alertname": name, "severity": "warning"}));
        app.post_webhook(body, Some(WEBHOOK_TOKEN)).await;
    }
    // Long enough for exponential backoff (100 ms doubling) to reach many seconds.
    tokio::time::sleep(Duration::from_secs(14).saturating_sub(start.elapsed())).await;
    assert!(app.recorder.requests().iter().any(|x| x.status == 500));
    assert!(app.recorder.posts().is_empty());
    app.recorder.clear_faults();
    let recovered = Instant::now();
    let seen = app
        .recorder
        .wait_for("all three pages", Duration::from_secs(30), |r| {
            r.iter().filter(|x| x.status == 200).count() >= 3
        })
        .await;
    let last = seen
        .iter()
        .filter(|x| x.status == 200)
        .map(|x| x.at)
        .max()
        .unwrap();
    let took = last - recovered;
    assert!(
        took < Duration::from_secs(3),
        "pages went out {took:?} after Discord recovered"
    );
}

#[tokio::test]
async fn a_post_left_unanswered_is_looked_up_before_it_is_sent_again() {
    let app = spawn_app(AppOptions::default()).await;
    app.recorder.set_nonce_window(Duration::from_millis(500));
    // Fault injection: Discord creates the message but its answer never arrives, so the bot's
    // request times out (15 s) long after Discord forgot the nonce.
    app.recorder.inject(Fault::AcceptThenHang);
    app.post_webhook(
        fixture("am-FlinkJobUnstable-firing.json"),
        Some(WEBHOOK_TOKEN),
    )
    .await;
    app.recorder
        .wait_for("the adopted message's edit", Duration::from_secs(40), |r| {
            r.iter().any(|x| x.method == "PATCH" && x.status == 200)
        })
        .await;
    assert_eq!(app.recorder.messages_in(CHANNEL).len(), 1, "one message");
    assert_eq!(app.recorder.posts().len(), 1, "not posted again");
    app.drained().await;
    assert_eq!(app.recorder.posts().len(), 1, "still not posted again");
}
