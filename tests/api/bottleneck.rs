//! Issue 12 end to end on real Flink 2.3.0 and 1.20.5: a job whose middle operator is slow
//! (harness.SlowOperatorJob) back-pressures its source; the backpressure page names the slow
//! operator as the bottleneck, with its busy %, not only the back-pressured source.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::actions::own_job::{Cluster, OwnJob};
use crate::helpers::*;

const SLOW: &str = "slow-operator";

/// The highest back-pressure ratio and each subtask's busy ratio of the vertex named `vertex`.
async fn pressure(
    c: &Cluster,
    job: &str,
    details: &Value,
    vertex: &str,
) -> Result<(f64, Vec<f64>), String> {
    let id = details["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vertex)
        .unwrap_or_else(|| panic!("no vertex {vertex} in {details}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Right after a start Flink may answer 500 (`NoSuchElementException` in
    // `JobVertexBackPressureHandler.getMaxBackPressureRatio`, seen on 1.20.5) or
    // `{"status": "deprecated"}` until its metric store has the subtasks: both mean "not yet".
    let r = reqwest::get(format!("{}/jobs/{job}/vertices/{id}/backpressure", c.url))
        .await
        .unwrap();
    if !r.status().is_success() {
        return Err(format!("{vertex}: {}", r.status()));
    }
    let bp: Value = r.json().await.unwrap();
    let subtasks = bp["subtasks"].as_array().cloned().unwrap_or_default();
    let ratio = subtasks
        .iter()
        .filter_map(|s| s["ratio"].as_f64())
        .fold(0.0, f64::max);
    let busy = subtasks
        .iter()
        .filter_map(|s| s["busyRatio"].as_f64())
        .collect();
    Ok((ratio, busy))
}

/// Polls until Flink's own metrics show the textbook picture: the source back-pressured, the
/// slow operator not, and its subtasks' busy ratios as `busy` wants (Flink refreshes them
/// every few seconds; CPU is shared: generous).
async fn wait_for_bottleneck(job: &OwnJob, busy: impl Fn(&[f64]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let details = job.cluster.get_json(&format!("/jobs/{}", job.id)).await;
        let source = pressure(&job.cluster, &job.id, &details, "Source: numbers-source").await;
        let slow = pressure(&job.cluster, &job.id, &details, SLOW).await;
        let last = match (source, slow) {
            (Ok((source, _)), Ok((slow_ratio, slow_busy))) => {
                if source > 0.5 && slow_ratio < 0.1 && busy(&slow_busy) {
                    return;
                }
                format!(
                    "the source back-pressured {source:.2}, {SLOW} busy {slow_busy:?} / back-pressured {slow_ratio:.2}"
                )
            }
            (Err(e), _) | (_, Err(e)) => e,
        };
        assert!(
            Instant::now() < deadline,
            "Flink {}: not the bottleneck picture after 180 s: {last}",
            job.cluster.version
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Starts a SlowOperatorJob (5000 records/s against two subtasks that take ~100 each: the
/// buffers fill in seconds), waits for `busy`, pages FlinkBackpressureHigh for it, and returns
/// the page's text and its Backpressure field.
async fn page_for_slow_job(
    version: &'static str,
    name: &str,
    args: &[&str],
    busy: impl Fn(&[f64]) -> bool,
) -> (String, String) {
    let (text, fields) = page_slow_job("FlinkBackpressureHigh", version, name, args, busy).await;
    let field = fields
        .iter()
        .find(|(n, _)| n == "Backpressure")
        .unwrap_or_else(|| panic!("no Backpressure field:\n{text}"))
        .1
        .clone();
    (text, field)
}

/// Starts a SlowOperatorJob with `args`, waits for `busy`, pages `alert` for it; the page's
/// text and its fields (name, value).
async fn page_slow_job(
    alert: &str,
    version: &'static str,
    name: &str,
    args: &[&str],
    busy: impl Fn(&[f64]) -> bool,
) -> (String, Vec<(String, String)>) {
    let c = Cluster::get(version);
    let mut program = vec!["--rate", "5000", "--sleep-ms", "10", "--parallelism", "2"];
    program.extend_from_slice(args);
    let job = OwnJob::start_class(&c, "harness.SlowOperatorJob", name, &program).await;
    wait_for_bottleneck(&job, busy).await;

    let cluster = c.config().name;
    let app = spawn_app(AppOptions {
        clusters: vec![(cluster.clone(), c.url.clone())],
        ..Default::default()
    })
    .await;
    let labels = json!({"alertname": alert, "severity": "warning", "flink_cluster": cluster, "job_id": job.id});
    let page = app.first_page(labels).await;
    let text = page.text();
    let fields = page.embed()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or("").to_string(),
                f["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(!text.contains("Enrichment unavailable"), "{text}");
    (text, fields)
}

/// The busy % the field gives the slow operator, which it must name as the bottleneck.
fn bottleneck_busy(version: &str, field: &str, text: &str) -> u32 {
    assert!(
        field.contains("at Source: numbers-source"),
        "the victim: {field}"
    );
    field
        .split_once(&format!("bottleneck `{SLOW}`, "))
        .and_then(|(_, rest)| rest.split_once("% busy, parallelism 2"))
        .and_then(|(pct, _)| pct.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("Flink {version}: the bottleneck is not named:\n{text}"))
}

async fn the_page_names_the_slow_operator(version: &'static str) {
    let name = format!("bottleneck-{}", version.replace('.', ""));
    let (text, field) = page_for_slow_job(version, &name, &[], |busy| {
        busy.len() == 2 && busy.iter().all(|b| *b > 0.9)
    })
    .await;
    let busy = bottleneck_busy(version, &field, &text);
    assert!((90..=100).contains(&busy), "busy {busy}%: {field}");
    assert!(!field.contains("hottest"), "no skew: {field}");
    assert!(
        text.contains(&format!("bottleneck `{SLOW}` ({busy}% busy)")),
        "the diagnosis names it:\n{text}"
    );
    assert!(
        text.contains(&format!("The bottleneck is `{SLOW}`, {busy}% busy")),
        "the runbook names it:\n{text}"
    );
}

#[tokio::test]
async fn flink_2_3_backpressure_page_names_the_slow_operator() {
    the_page_names_the_slow_operator("2.3").await;
}

#[tokio::test]
async fn flink_1_20_backpressure_page_names_the_slow_operator() {
    the_page_names_the_slow_operator("1.20").await;
}

/// One version is enough for skew (the decision is table-tested on both); it spares the CPU.
#[tokio::test]
async fn flink_2_3_backpressure_page_shows_a_hot_subtask() {
    // 99% of the records go to subtask 0: it saturates, subtask 1 idles.
    let (text, field) = page_for_slow_job(
        "2.3",
        "bottleneck-skew-23",
        &["--hot-share", "0.99"],
        |busy| busy.len() == 2 && busy[0] > 0.9 && busy[1] < 0.5,
    )
    .await;
    let busy = bottleneck_busy("2.3", &field, &text);
    assert!((90..=100).contains(&busy), "busy {busy}%: {field}");
    let (hot, median) = field
        .split_once(", subtask 0 hottest at ")
        .and_then(|(_, rest)| rest.split_once("% median"))
        .and_then(|(nums, _)| nums.split_once("% busy vs "))
        .unwrap_or_else(|| panic!("no skew named: {field}"));
    assert_eq!(hot.parse::<u32>().unwrap(), busy, "{field}");
    assert!(median.parse::<u32>().unwrap() < 50, "{field}");
    assert!(
        text.contains("Subtask 0 is the hottest"),
        "the runbook says so:\n{text}"
    );
}

/// Issue 21: a keyed job with one hot key (90% of the records on key 0), paged as data skew. The
/// page names the hot subtask (whichever Flink's key-group hash gave key 0) with its busy % and
/// the median of the other, and its records in/out; the busy % is the one the backpressure
/// field's bottleneck gives (one computation). One version spares the CPU; `hottest` is
/// table-tested on captures of both.
#[tokio::test]
async fn flink_2_3_data_skew_page_names_the_hot_subtask() {
    let hot_one =
        |b: &[f64]| b.len() == 2 && b.iter().any(|r| *r > 0.9) && b.iter().any(|r| *r < 0.5);
    let (text, fields) = page_slow_job(
        "FlinkDataSkew",
        "2.3",
        "data-skew-hot-key-23",
        &["--keyed", "true", "--hot-share", "0.9"],
        hot_one,
    )
    .await;
    assert!(text.contains("pattern data_skew"), "{text}");
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} field:\n{text}"))
            .1
            .clone()
    };
    let hot = field("Hot subtask");
    let (subtask, rest) = hot
        .strip_prefix(&format!("`{SLOW}` subtask "))
        .and_then(|r| r.split_once(" hottest at "))
        .unwrap_or_else(|| panic!("the hot subtask is not named: {hot}"));
    let subtask: u32 = subtask.parse().unwrap();
    let (busy, median) = rest
        .split_once("% median")
        .and_then(|(nums, _)| nums.split_once("% busy vs "))
        .unwrap_or_else(|| panic!("{hot}"));
    let (busy, median): (u32, u32) = (busy.parse().unwrap(), median.parse().unwrap());
    assert!(busy >= 90 && median < 50, "{hot}");
    assert!(
        hot.contains("; records in/out #0 ") && hot.contains(" · #1 "),
        "records per subtask: {hot}"
    );
    // The hot subtask read more records than the other (not 9:1: the rate limiter lets the
    // other subtask's records through while the hot one's buffers are full).
    let records: Vec<i64> = hot
        .split("records in/out ")
        .nth(1)
        .unwrap()
        .split(" · ")
        .map(|r| {
            r.split_once(' ')
                .unwrap()
                .1
                .split_once('/')
                .unwrap()
                .0
                .parse()
                .unwrap()
        })
        .collect();
    let other = 1 - subtask as usize;
    assert!(
        records[subtask as usize] > records[other],
        "the hot subtask's records in: {hot}"
    );
    assert!(
        text.contains(&format!("Subtask {subtask} of `{SLOW}` is the hot one")),
        "the runbook names it:\n{text}"
    );
    // The same subtask and busy % as the bottleneck the backpressure field names.
    let bp = field("Backpressure");
    assert!(
        bp.contains(&format!(
            "subtask {subtask} hottest at {busy}% busy vs {median}% median"
        )),
        "the two agree: {bp} / {hot}"
    );
}
