//! Delivery to Discord (serenity's requests, recorded locally) under faults.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::recorder::Fault;

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
    assert_eq!(app.pending().await, 0);
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
