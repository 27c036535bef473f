//! History beyond Flink's limit: a restart loop of the test's own fails more than Flink's 16
//! kept entries while an on-call asks `/flink exceptions` now and then (at least once per 16
//! failures); at the end Flink no longer has the first failure, and both `/flink exceptions` and
//! the page still show it, at the timestamp Flink first reported.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::actions::own_job::OwnJob;
use crate::helpers::*;
use crate::interactions::{ask, options, text};
use crate::payloads;
use crate::private_cluster::PrivateCluster;

/// Failures the loop must reach: well past Flink's 16.
const FAILURES: usize = 24;
/// The bot is asked again after at most this many new failures.
const ASK_EVERY: usize = 8;

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

fn timestamps(exceptions: &Value) -> Vec<i64> {
    exceptions["exceptionHistory"]["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["timestamp"].as_i64()).collect())
        .unwrap_or_default()
}

async fn the_first_failure_outlives_flinks_history(version: &'static str) {
    let flink = PrivateCluster::start(version).await;
    let job = OwnJob::submit(
        &flink.as_cluster(),
        "harness.RestartLoopJob",
        "history-loop",
        &["--name", "history-loop", "--fail-after-ms", "300"],
    )
    .await;
    let mut opts = options(vec![(flink.name(), flink.url.clone())]);
    opts.call_timeout_ms = 10_000;
    let app = spawn_app(opts).await;
    let exceptions_of = || payloads::command("exceptions", &[("job", json!(job.id))]);

    let path = format!("/jobs/{}/exceptions?maxExceptions=100", job.id);
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let mut first_from_flink: Option<i64> = None;
    let mut at_last_ask = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.len() < FAILURES {
        let now = timestamps(&flink.get(&path).await);
        assert!(now.len() <= 16, "Flink keeps 16 entries: {}", now.len());
        if first_from_flink.is_none() {
            first_from_flink = now.iter().min().copied();
        }
        seen.extend(now);
        if seen.len() >= at_last_ask + ASK_EVERY || (at_last_ask == 0 && !seen.is_empty()) {
            ask(&app, exceptions_of()).await;
            at_last_ask = seen.len();
        }
        assert!(
            Instant::now() < deadline,
            "the loop failed only {} times in 300 s",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let first = first_from_flink.unwrap();
    let flink_now = timestamps(&flink.get(&path).await);
    assert!(
        !flink_now.contains(&first),
        "Flink has dropped the first failure by now"
    );
    let first_at = utc(first);

    let (answer, _, _) = ask(&app, exceptions_of()).await;
    let t = text(&answer);
    assert!(
        t.contains(&format!("first failure · {first_at}")),
        "/flink exceptions shows the first failure ({first_at}):\n{t}"
    );
    assert!(
        t.contains("harness restart loop: poison record"),
        "with its root cause:\n{t}"
    );
    assert!(
        t.contains("kept by the bot beyond Flink's own history"),
        "and says how many the bot kept beyond Flink's:\n{t}"
    );

    let am = Alertmanager::start(&app.addr, FAST).await;
    am.send(
        json!({"alertname": "FlinkJobUnstable", "severity": "warning", "flink_cluster": flink.name(), "job_id": job.id}),
        json!({"summary": "restart loop"}),
        false,
    )
    .await;
    let posted = |r: &crate::recorder::Recorded| {
        r.status == 200 && r.method == "POST" && r.path.contains("/channels/")
    };
    let seen_posts = app
        .recorder
        .wait_for("the page", Duration::from_secs(60), |r| {
            r.iter().any(posted)
        })
        .await;
    let msg = seen_posts.into_iter().find(|r| posted(r)).unwrap();
    let page = msg.text();
    eprintln!("/flink exceptions (shown with --nocapture):\n{t}\nthe page:\n{page}");
    assert!(
        page.contains(&format!("first failure {first_at}: `IllegalStateException`: harness restart loop: poison record")),
        "the page shows the first failure of the loop ({first_at}):\n{page}"
    );
    // "...; 37 failures seen since"
    let since: u64 = page
        .split(" failures seen since")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of failures since:\n{page}"));
    let restarts: usize = msg.embed()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Restarts")
        .and_then(|f| f["value"].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("a Restarts field:\n{page}"));
    assert!(
        restarts >= FAILURES,
        "{restarts} restarts shown, more than Flink's 16 kept entries prove:\n{page}"
    );
    assert!(
        since as usize >= FAILURES - 1,
        "{since} failures since the first, {} seen by the test:\n{page}",
        seen.len()
    );
}

#[tokio::test]
async fn flink_2_3_history_beyond_flinks_limit() {
    the_first_failure_outlives_flinks_history("2.3").await;
}

#[tokio::test]
async fn flink_1_20_history_beyond_flinks_limit() {
    the_first_failure_outlives_flinks_history("1.20").await;
}
