//! Intake refuses what it cannot use, with the reason, and stores nothing for it.

use std::time::Duration;

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
    assert_eq!(app.pending().await, 0);
}
