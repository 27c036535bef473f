//! Issue 21, item 4, on real Flink 2.3.0 and 1.20.5: an event-time job whose second source goes
//! quiet after one record (`harness.IdleSplitJob`) is paged as a watermark stall that names the
//! idle input, its watermark and how far behind it is.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::actions::own_job::{Cluster, OwnJob};
use crate::helpers::*;
use crate::interactions::{self, ask, options};
use crate::payloads;

/// Waits until Flink's own metrics show the picture: `returns-source` idle for over 10 s (the
/// bot's idle threshold) with a watermark, `orders-source`'s watermark ahead of it.
async fn wait_for_idle_source(c: &Cluster, job: &OwnJob) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let details = c.get_json(&format!("/jobs/{}", job.id)).await;
        let id = |name: &str| {
            details["vertices"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("no vertex {name}: {details}"))["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let metric = |v: serde_json::Value, id: &str| -> Option<f64> {
            v.as_array()?.iter().find(|m| m["id"] == id)?["value"]
                .as_str()?
                .parse()
                .ok()
        };
        let returns = c
            .get_json(&format!(
                "/jobs/{}/vertices/{}/metrics?get=0.Source__returns-source.sourceIdleTime,0.Source__returns-source.currentOutputWatermark",
                job.id,
                id("Source: returns-source")
            ))
            .await;
        let idle = metric(returns.clone(), "0.Source__returns-source.sourceIdleTime");
        let wm = metric(returns, "0.Source__returns-source.currentOutputWatermark");
        if idle.is_some_and(|i| i > 12_000.0) && wm.is_some_and(|w| w > 0.0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Flink {}: returns-source not idle with a watermark after 180 s: idle {idle:?}, watermark {wm:?}",
            c.version
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn the_page_names_the_idle_input(version: &'static str) {
    let c = Cluster::get(version);
    let name = format!("idle-split-{}", version.replace('.', ""));
    let job = OwnJob::start_class(&c, "harness.IdleSplitJob", &name, &[]).await;
    wait_for_idle_source(&c, &job).await;

    let cluster = c.config().name;
    let app = spawn_app(options(vec![(cluster.clone(), c.url.clone())])).await;
    let labels = json!({"alertname": "FlinkWatermarkStalled", "severity": "warning",
        "flink_cluster": cluster, "job_id": job.id});
    let page = app.first_page(labels).await;
    let text = page.text();
    assert!(text.contains("pattern watermark_stall"), "{text}");
    let field = page.embed()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Lowest watermark")
        .unwrap_or_else(|| panic!("Flink {version}: no Lowest watermark field:\n{text}"))["value"]
        .as_str()
        .unwrap()
        .to_string();
    let rest = field
        .strip_prefix("`Source: returns-source` subtask 0 (idle, no record for ")
        .unwrap_or_else(|| panic!("Flink {version}: the idle input is not named: {field}"));
    let (_, rest) = rest
        .split_once("): watermark 20")
        .unwrap_or_else(|| panic!("its watermark's time: {field}"));
    let behind = |what: &str| -> u64 {
        let before = rest
            .split_once(&format!(" behind {what}"))
            .unwrap_or_else(|| panic!("no lag to {what}: {field}"))
            .0;
        let lag = before.rsplit(", ").next().unwrap();
        // "15s" or "1m 3s"
        lag.split(' ')
            .map(|p| match p.strip_suffix('m') {
                Some(m) => m.parse::<u64>().unwrap() * 60,
                None => p.trim_end_matches('s').parse::<u64>().unwrap(),
            })
            .sum()
    };
    assert!(behind("the other inputs") >= 10, "{field}");
    assert!(behind("now") >= 10, "{field}");
    assert!(
        text.contains("**Held back by `Source: returns-source` subtask 0**, idle (no record for "),
        "Flink {version}: the runbook names it:\n{text}"
    );
    assert!(
        text.contains("lowest watermark `Source: returns-source` subtask 0"),
        "Flink {version}: the diagnosis' evidence:\n{text}"
    );
    assert!(!text.contains("Enrichment unavailable"), "{text}");

    // `/flink status` shows the same input.
    let (answer, _, _) = ask(
        &app,
        payloads::command(
            "status",
            &[("job", json!(job.id)), ("cluster", json!(cluster))],
        ),
    )
    .await;
    let status = interactions::text(&answer);
    assert!(
        status
            .contains("Lowest watermark\n`Source: returns-source` subtask 0 (idle, no record for "),
        "Flink {version}: /flink status:\n{status}"
    );
}

#[tokio::test]
async fn flink_2_3_watermark_stall_names_the_idle_input() {
    the_page_names_the_idle_input("2.3").await;
}

#[tokio::test]
async fn flink_1_20_watermark_stall_names_the_idle_input() {
    the_page_names_the_idle_input("1.20").await;
}
