//! `GET /metrics`: parsed by the real Prometheus parser and linter (`promtool check metrics`),
//! and its counters moved by a real Alertmanager page on real Flink, by a 429 and by a Flink
//! outage. The dashboard built on it is checked in `dashboard.rs`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use crate::recorder::Fault;

/// promtool from `$PROMTOOL_BIN` (tests/run.sh exports it), else PATH; missing is a failure.
fn promtool() -> PathBuf {
    if let Some(bin) = std::env::var_os("PROMTOOL_BIN").filter(|v| !v.is_empty()) {
        return bin.into();
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("promtool"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("promtool not found: run tests/run.sh, which installs it (Debian package `prometheus`)")
        })
}

pub(crate) async fn scrape(app: &TestApp) -> String {
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    r.text().await.unwrap()
}

/// The value of the one sample named `name` that has all of `labels`; panics if there is none.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    try_sample(text, name, labels)
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in the scrape:\n{text}"))
}

pub(crate) fn try_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let bare = series.split('{').next().unwrap();
            bare == name
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v.parse().unwrap())
}

/// Scrapes until `ok` holds (generous: other builds share the CPU), panicking with the last scrape.
pub(crate) async fn wait_for_metrics(
    app: &TestApp,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape(app).await;
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last scrape:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every sample name in a scrape (histograms contribute `_bucket`, `_sum`, `_count`).
pub(crate) fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

pub(crate) const FAMILIES: [&str; 14] = [
    "flink_chatops_webhooks_total",
    "flink_chatops_inbox_pending",
    "flink_chatops_inbox_oldest_pending_age_seconds",
    "flink_chatops_store_up",
    "flink_chatops_store_commit_duration_seconds",
    "flink_chatops_store_commit_writers",
    "flink_chatops_delivery_attempts_total",
    "flink_chatops_delivery_gave_up_total",
    "flink_chatops_delivery_rate_limit_wait_seconds_total",
    "flink_chatops_page_latency_seconds",
    "flink_chatops_enrichments_total",
    "flink_chatops_flink_calls_total",
    "flink_chatops_flink_call_duration_seconds",
    "flink_chatops_build_info",
];

/// `promtool check metrics` on a scrape: what it said, empty when it parsed and found no lint
/// problem (it exits non-zero on either).
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success() && said.trim().is_empty(), said)
}

#[tokio::test]
async fn metrics_pass_promtool_and_export_every_family() {
    let app = spawn_app(AppOptions::default()).await;
    let text = scrape(&app).await;
    let (ok, said) = promtool_check(&text);
    assert!(ok, "promtool check metrics:\n{said}\n--- scrape\n{text}");
    // The check bites: a counter named without `_total` is a lint problem.
    let broken = text.replace("flink_chatops_webhooks_total", "flink_chatops_webhooks");
    let (ok, said) = promtool_check(&broken);
    assert!(!ok && said.contains("_total"), "{said}");

    for family in FAMILIES {
        let typed = text
            .lines()
            .any(|l| l.starts_with(&format!("# TYPE {family} ")));
        assert!(typed, "{family} missing from the scrape:\n{text}");
    }
    assert_eq!(
        sample(
            &text,
            "flink_chatops_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(sample(&text, "flink_chatops_store_up", &[]), 1.0);
    assert_eq!(sample(&text, "flink_chatops_inbox_pending", &[]), 0.0);
    assert!(sample(&text, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(sample(&text, "process_max_fds", &[]) > 0.0);
    // Series exist at zero before anything happens, so rate() sees the first event.
    for outcome in [
        "stored",
        "duplicate",
        "bad_request",
        "unauthorized",
        "too_large",
        "unavailable",
    ] {
        assert_eq!(
            sample(
                &text,
                "flink_chatops_webhooks_total",
                &[("outcome", outcome)]
            ),
            0.0
        );
    }
    assert_eq!(
        sample(
            &text,
            "flink_chatops_flink_calls_total",
            &[
                ("flink_cluster", "default"),
                ("endpoint", "/jobs/:id/exceptions"),
                ("outcome", "ok")
            ]
        ),
        0.0
    );
}

#[tokio::test]
async fn counters_follow_a_real_alertmanager_page_on_real_flink() {
    let url = required_env("FLINK23_URL");
    let job = required_env("FLINK23_JOB_HEALTHY");
    let app = spawn_app(AppOptions {
        clusters: vec![("flink23".into(), url)],
        ..Default::default()
    })
    .await;
    let am = Alertmanager::start(&app.addr, FAST).await;
    am.send(
        json!({"alertname": "FlinkJobUnstable", "severity": "critical", "flink_cluster": "flink23", "job_id": job, "job_name": "harness-healthy"}),
        json!({"summary": "metrics test"}),
        false,
    )
    .await;
    app.recorder
        .wait_for("the page", Duration::from_secs(30), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    // Recorded once the delivery is committed too: the acknowledgement and the record each
    // waited for a group commit.
    let text = wait_for_metrics(&app, "the page to be recorded", |t| {
        try_sample(t, "flink_chatops_page_latency_seconds_count", &[]) == Some(1.0)
            && try_sample(t, "flink_chatops_inbox_pending", &[]) == Some(0.0)
            && try_sample(t, "flink_chatops_store_commit_duration_seconds_count", &[])
                .is_some_and(|n| n >= 2.0)
    })
    .await;
    let stored = sample(
        &text,
        "flink_chatops_webhooks_total",
        &[("outcome", "stored")],
    );
    assert!(stored >= 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            "flink_chatops_delivery_attempts_total",
            &[("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "flink_chatops_enrichments_total",
            &[("result", "complete")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "flink_chatops_enrichments_total",
            &[("result", "incomplete")]
        ),
        0.0
    );
    let labels = [("flink_cluster", "flink23"), ("endpoint", "/jobs/:id")];
    assert_eq!(
        sample(
            &text,
            "flink_chatops_flink_calls_total",
            &[labels[0], labels[1], ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "flink_chatops_flink_call_duration_seconds_count",
            &labels
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "flink_chatops_flink_calls_total",
            &[
                labels[0],
                ("endpoint", "/jobs/:id/exceptions"),
                ("outcome", "ok")
            ]
        ),
        1.0
    );
    // The latency is real: at least as long as the slowest Flink call, well under a minute.
    let latency = sample(&text, "flink_chatops_page_latency_seconds_sum", &[]);
    assert!(latency > 0.0 && latency < 60.0, "{latency}");
    assert!(sample(&text, "flink_chatops_store_commit_writers_sum", &[]) >= 2.0);
    assert_eq!(sample(&text, "flink_chatops_inbox_pending", &[]), 0.0);
    assert_eq!(
        sample(&text, "flink_chatops_inbox_oldest_pending_age_seconds", &[]),
        0.0
    );

    // Refusals, each counted under its own outcome.
    let r = app
        .post_webhook(fixture("am-FlinkJobUnstable-firing.json"), None)
        .await;
    assert_eq!(r.status(), 401);
    let r = app.post_webhook("not json", Some(WEBHOOK_TOKEN)).await;
    assert_eq!(r.status(), 400);
    let r = app
        .post_webhook(vec![b' '; 300_000], Some(WEBHOOK_TOKEN))
        .await;
    assert_eq!(r.status(), 413);
    let text = scrape(&app).await;
    for outcome in ["unauthorized", "bad_request", "too_large"] {
        assert_eq!(
            sample(
                &text,
                "flink_chatops_webhooks_total",
                &[("outcome", outcome)]
            ),
            1.0,
            "{outcome}"
        );
    }
    assert_eq!(
        sample(
            &text,
            "flink_chatops_webhooks_total",
            &[("outcome", "stored")]
        ),
        stored
    );
}

#[tokio::test]
async fn a_429_and_a_flink_outage_move_their_counters() {
    // Fault injection: real Discord cannot be made to rate-limit on demand. Flink is "down":
    // nothing listens on the default cluster's address.
    let app = spawn_app(AppOptions::default()).await;
    app.recorder.inject(Fault::RateLimited { retry_after: 5.0 });
    let body = fixture("am-FlinkJobUnstable-firing.json");
    let r = app.post_webhook(body.clone(), Some(WEBHOOK_TOKEN)).await;
    assert_eq!(r.status(), 200);

    // While Discord makes the bot wait, the page is the backlog and it ages.
    let text = wait_for_metrics(&app, "a 429 with the page still pending", |t| {
        try_sample(
            t,
            "flink_chatops_delivery_attempts_total",
            &[("outcome", "rate_limited")],
        ) == Some(1.0)
            && try_sample(t, "flink_chatops_inbox_oldest_pending_age_seconds", &[]).unwrap_or(0.0)
                >= 1.0
    })
    .await;
    assert_eq!(sample(&text, "flink_chatops_inbox_pending", &[]), 1.0);
    assert_eq!(
        sample(
            &text,
            "flink_chatops_delivery_attempts_total",
            &[("outcome", "ok")]
        ),
        0.0
    );
    // A byte-identical resend of a pending body is a duplicate.
    let r = app.post_webhook(body, Some(WEBHOOK_TOKEN)).await;
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["status"], "duplicate");

    let text = wait_for_metrics(&app, "the delivery after the wait", |t| {
        try_sample(
            t,
            "flink_chatops_delivery_attempts_total",
            &[("outcome", "ok")],
        ) == Some(1.0)
            && try_sample(t, "flink_chatops_inbox_pending", &[]) == Some(0.0)
    })
    .await;
    let waited = sample(
        &text,
        "flink_chatops_delivery_rate_limit_wait_seconds_total",
        &[],
    );
    assert!(
        (waited - 5.0).abs() < 0.01,
        "waited {waited} s, Discord asked for 5"
    );
    assert_eq!(
        sample(
            &text,
            "flink_chatops_webhooks_total",
            &[("outcome", "stored")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "flink_chatops_webhooks_total",
            &[("outcome", "duplicate")]
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "flink_chatops_inbox_oldest_pending_age_seconds", &[]),
        0.0
    );
    let page = sample(&text, "flink_chatops_page_latency_seconds_sum", &[]);
    assert!(page >= 5.0, "the page waited out the 429: {page} s");

    // The outage: calls counted as unreachable, none as answered, the page incomplete. Which
    // endpoint meets the refusal first depends on timing (the roster's `/jobs/overview` at start
    // or the page's `/jobs/:id`; for a second after a refusal, reads are not tried or counted).
    let refused: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("flink_chatops_flink_calls_total{")
                && l.contains("flink_cluster=\"default\"")
                && l.contains("outcome=\"unreachable\"")
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert!(refused >= 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            "flink_chatops_cluster_up",
            &[("flink_cluster", "default")]
        ),
        0.0
    );
    let answered: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("flink_chatops_flink_calls_total{") && l.contains("outcome=\"ok\"")
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert_eq!(answered, 0.0);
    assert_eq!(
        sample(
            &text,
            "flink_chatops_enrichments_total",
            &[("result", "incomplete")]
        ),
        1.0
    );
}
