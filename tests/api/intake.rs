//! Intake refuses what it cannot use, with the reason, and stores nothing for it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason_and_nothing_is_stored() {
    let app = spawn_app(AppOptions::default()).await;
    let good = fixture("am-FlinkJobUnstable-firing.json");

    let r = app
        .post_webhook("{\"version\": \"4\", \"alerts\": [", Some(WEBHOOK_TOKEN))
        .await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );

    let r = app.post_webhook(r#"{"version":"4","groupKey":"g","status":"firing","receiver":"r","alerts":[{"status":"firing"}]}"#, Some(WEBHOOK_TOKEN)).await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("alerts[0]"),
        "names the bad field: {body}"
    );

    let r = app.post_webhook(good.clone(), Some("wrong-token")).await;
    assert_eq!(r.status(), 401);
    let r = app.post_webhook(good.clone(), None).await;
    assert_eq!(r.status(), 401);

    let huge = vec![b' '; 300 * 1024];
    let r = app.post_webhook(huge, Some(WEBHOOK_TOKEN)).await;
    assert_eq!(r.status(), 413);

    assert_eq!(app.pending().await, 0, "nothing was stored");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.recorder.requests().is_empty(), "nothing was delivered");

    // The same good body with the right token is accepted: the refusals above were about input.
    let r = app.post_webhook(good, Some(WEBHOOK_TOKEN)).await;
    assert_eq!(r.status(), 200);
    app.recorder
        .wait_for("the one good notification", Duration::from_secs(10), |r| {
            r.len() == 1
        })
        .await;
}

#[tokio::test]
async fn a_byte_identical_repeat_never_produces_a_second_message() {
    let app = spawn_app(AppOptions::default()).await;
    let body = fixture("am-FlinkJobUnstable-firing.json");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.post_webhook(body.clone(), Some(WEBHOOK_TOKEN))
                .await
                .status(),
        );
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    app.recorder
        .wait_for("the message", Duration::from_secs(10), |r| !r.is_empty())
        .await;
    // Later repeats (as Alertmanager sends every repeat_interval) edit the same message.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.post_webhook(body.clone(), Some(WEBHOOK_TOKEN)).await;
    app.recorder
        .wait_for("an edit for the repeat", Duration::from_secs(10), |r| {
            r.iter().any(|x| x.method == "PATCH")
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.recorder.posts().len(), 1, "exactly one message");
    app.drained().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_accepted_in_any_case() {
    let app = spawn_app(AppOptions::default()).await;
    // Prometheus' `authorization.type` is sent as written; `bearer` is common.
    for (i, scheme) in ["bearer", "BEARER", "Bearer"].into_iter().enumerate() {
        let body = webhook(serde_json::json!({ "alertname": format!("Scheme{i}") }));
        let r = app
            .client
            .post(app.url("/alertmanager"))
            .header("authorization", format!("{scheme} {WEBHOOK_TOKEN}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "scheme {scheme:?}");
    }
    let r = app
        .client
        .post(app.url("/alertmanager"))
        .header("authorization", format!("bearer wrong-{WEBHOOK_TOKEN}"))
        .body(webhook(serde_json::json!({ "alertname": "Wrong" })))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the token itself is still checked");
}

/// Sends raw bytes (what no HTTP client will produce) and returns the status and the body.
async fn raw_exchange(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The bot may answer and close before reading all of it; the answer is what matters.
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    (status, text)
}

#[tokio::test]
async fn a_malformed_chunked_body_is_a_bad_request_and_only_a_real_overflow_is_too_large() {
    let app = spawn_app(AppOptions::default()).await;
    let head = format!(
        "POST /alertmanager HTTP/1.1\r\nHost: bot\r\nAuthorization: Bearer {WEBHOOK_TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );

    let (status, text) = raw_exchange(&app.addr, &head, b"zz\r\n{}\r\n0\r\n\r\n").await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("could not be read") && !text.contains("larger than"),
        "{text}"
    );

    // 300 KiB in 4 KiB chunks against the test's 256 KiB limit: a real overflow.
    let chunk = format!("1000\r\n{}\r\n", " ".repeat(4096));
    let body = format!("{}0\r\n\r\n", chunk.repeat(75));
    let (status, text) = raw_exchange(&app.addr, &head, body.as_bytes()).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("larger than"), "{text}");
    assert_eq!(app.pending().await, 0, "nothing was stored");
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_503_so_alertmanager_retries() {
    let app = spawn_app(AppOptions {
        extra: vec![(
            "FLINK_CHATOPS__SERVER__READ_TIMEOUT_MS".into(),
            "1000".into(),
        )],
        ..AppOptions::default()
    })
    .await;
    let head = format!(
        "POST /alertmanager HTTP/1.1\r\nHost: bot\r\nAuthorization: Bearer {WEBHOOK_TOKEN}\r\nContent-Length: 100\r\n\r\n"
    );
    // Ten of the hundred bytes, then nothing: a 4xx would make Alertmanager drop the page.
    let (status, text) = raw_exchange(&app.addr, &head, b"{\"version\"").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("server.read_timeout_ms"), "{text}");
}
