//! Issue 12 end to end on real Flink 2.3.0 and 1.20.5: a job whose middle operator is slow
//! (harness.SlowOperatorJob) back-pressures its source; the backpressure page names the slow
//! operator as the bottleneck, with its busy %, not only the back-pressured source.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::actions::own_job::{Cluster, OwnJob};
use crate::helpers::*;

const SLOW: &str = "slow-operator";

/// The highest `(ratio, busyRatio)` over the subtasks of the vertex named `vertex`.
async fn pressure(c: &Cluster, job: &str, details: &Value, vertex: &str) -> (f64, f64) {
    let id = details["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vertex)
        .unwrap_or_else(|| panic!("no vertex {vertex} in {details}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bp = c
        .get_json(&format!("/jobs/{job}/vertices/{id}/backpressure"))
        .await;
    let max = |key: &str| {
        bp["subtasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s[key].as_f64())
            .fold(0.0, f64::max)
    };
    (max("ratio"), max("busyRatio"))
}

/// Polls until Flink's own metrics show the textbook picture: the source back-pressured, the
/// slow operator saturated (Flink refreshes them every few seconds; CPU is shared: generous).
async fn wait_for_bottleneck(job: &OwnJob) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let details = job.cluster.get_json(&format!("/jobs/{}", job.id)).await;
        let (source, _) = pressure(&job.cluster, &job.id, &details, "Source: numbers-source").await;
        let (slow_ratio, slow_busy) = pressure(&job.cluster, &job.id, &details, SLOW).await;
        if source > 0.5 && slow_busy > 0.9 && slow_ratio < 0.1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Flink {}: after 180 s the source is back-pressured {source:.2}, {SLOW} busy {slow_busy:.2} / back-pressured {slow_ratio:.2}",
            job.cluster.version
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn the_page_names_the_slow_operator(version: &'static str) {
    let c = Cluster::get(version);
    let name = format!("bottleneck-{}", version.replace('.', ""));
    let job = OwnJob::start_class(
        &c,
        "harness.SlowOperatorJob",
        &name,
        // 5000 records/s against two subtasks that take ~100 each: the buffers fill in seconds.
        &["--rate", "5000", "--sleep-ms", "10", "--parallelism", "2"],
    )
    .await;
    wait_for_bottleneck(&job).await;

    let cluster = c.config().name;
    let app = spawn_app(AppOptions {
        clusters: vec![(cluster.clone(), c.url.clone())],
        ..Default::default()
    })
    .await;
    let labels = json!({"alertname": "FlinkBackpressureHigh", "severity": "warning", "flink_cluster": cluster, "job_id": job.id});
    assert_eq!(
        app.post_webhook(webhook(labels), Some(WEBHOOK_TOKEN))
            .await
            .status(),
        200
    );
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(60), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    let page = seen.into_iter().find(|x| x.status == 200).unwrap();
    let text = page.text();
    let field = page.embed()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Backpressure")
        .unwrap_or_else(|| panic!("no Backpressure field:\n{text}"))["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        field.contains("at Source: numbers-source"),
        "the victim: {field}"
    );
    let busy = field
        .split_once(&format!("bottleneck `{SLOW}`, "))
        .and_then(|(_, rest)| rest.split_once("% busy, parallelism 2"))
        .and_then(|(pct, _)| pct.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("Flink {version}: the bottleneck is not named:\n{text}"));
    assert!((90..=100).contains(&busy), "busy {busy}%: {field}");
    assert!(
        text.contains(&format!("The bottleneck is `{SLOW}`, {busy}% busy")),
        "the runbook names it:\n{text}"
    );
    assert!(!text.contains("Enrichment unavailable"), "{text}");
}

#[tokio::test]
async fn flink_2_3_backpressure_page_names_the_slow_operator() {
    the_page_names_the_slow_operator("2.3").await;
}

#[tokio::test]
async fn flink_1_20_backpressure_page_names_the_slow_operator() {
    the_page_names_the_slow_operator("1.20").await;
}
