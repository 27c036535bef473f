//! A Flink that answers, but slowly: one deadline bounds a page's whole lookup.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

/// A stand-in for a Flink that answers every call, correctly shaped, after `delay`. A fake:
/// a real Flink cannot be made to answer slowly on demand.
async fn slow_flink(delay: Duration) -> String {
    use axum::extract::Path;
    const JOB: &str = "0123456789abcdef0123456789abcdef";
    const VERTEX: &str = "fedcba9876543210fedcba9876543210";
    async fn answer(delay: Duration, body: Value) -> axum::Json<Value> {
        tokio::time::sleep(delay).await;
        axum::Json(body)
    }
    let details = json!({"jid": JOB, "name": "slow-job", "state": "RUNNING", "start-time": 1,
        "vertices": [{"id": VERTEX, "name": "numbers-source", "parallelism": 1, "status": "RUNNING"}]});
    let app = axum::Router::new()
        .route(
            "/jobs/overview",
            axum::routing::get(move || {
                answer(delay, json!({"jobs": [{"jid": JOB, "name": "slow-job", "state": "RUNNING", "start-time": 1}]}))
            }),
        )
        .route(
            "/jobs/{id}",
            axum::routing::get(move |_: Path<String>| answer(delay, details.clone())),
        )
        .route(
            "/jobs/{id}/exceptions",
            axum::routing::get(move |_: Path<String>| {
                answer(delay, json!({"exceptionHistory": {"entries": [], "truncated": false}}))
            }),
        )
        .route(
            "/jobs/{id}/checkpoints",
            axum::routing::get(move |_: Path<String>| {
                answer(delay, json!({"counts": {"completed": 3, "failed": 0, "in_progress": 0, "restored": 0, "total": 3}, "latest": {}, "history": []}))
            }),
        )
        .route(
            "/jobs/{id}/metrics",
            axum::routing::get(move |_: Path<String>| {
                answer(delay, json!([{"id": "numRestarts", "value": "0"}]))
            }),
        )
        .route(
            "/jobs/{id}/vertices/{v}/backpressure",
            axum::routing::get(move |_: Path<(String, String)>| {
                answer(delay, json!({"status": "ok", "backpressureLevel": "high", "subtasks": [{"subtask": 0, "ratio": 0.9}]}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_slow_flink_costs_one_deadline_for_the_whole_enrichment() {
    const DEADLINE_MS: u64 = 3_000;
    let flink = slow_flink(Duration::from_millis(DEADLINE_MS * 9 / 10)).await;
    let app = spawn_app(AppOptions {
        clusters: vec![("default".into(), flink)],
        call_timeout_ms: DEADLINE_MS,
        ..Default::default()
    })
    .await;
    // A job_name-only alert needs a lookup by name first; a lag alert needs back-pressure after
    // the job details. Each runs its calls in sequence, yet both must finish within about one
    // deadline.
    for (labels, missing) in [
        (
            json!({"alertname": "FlinkJobUnstable", "severity": "warning", "job_name": "slow-job"}),
            "job state: no answer within 3000 ms",
        ),
        (
            json!({"alertname": "FlinkKafkaLagGrowing", "severity": "warning", "job_id": "0123456789abcdef0123456789abcdef"}),
            "backpressure: no answer within 3000 ms",
        ),
    ] {
        let before = app.recorder.posts().len();
        let start = std::time::Instant::now();
        app.post_webhook(webhook(labels.clone()), Some(WEBHOOK_TOKEN))
            .await;
        let seen = app
            .recorder
            .wait_for("the page", Duration::from_secs(20), |r| {
                r.iter().filter(|x| x.status == 200).count() > before
            })
            .await;
        let page = seen.iter().filter(|x| x.status == 200).nth(before).unwrap();
        let took = page.at - start;
        assert!(
            took < Duration::from_millis(DEADLINE_MS * 12 / 10),
            "{}: the page took {took:?} with a {DEADLINE_MS} ms deadline",
            labels["alertname"]
        );
        assert!(page.text().contains(missing), "{}", page.text());
    }
}
