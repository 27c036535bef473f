//! End to end on real Flink 2.3.0 and 1.20.5: Alertmanager -> bot -> Flink REST -> Discord recorder.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

struct Cluster {
    name: &'static str,
    url: String,
    prefix: &'static str,
}

fn cluster(version: &str) -> Cluster {
    match version {
        "2.3" => Cluster {
            name: "flink23",
            url: required_env("FLINK23_URL"),
            prefix: "FLINK23",
        },
        _ => Cluster {
            name: "flink120",
            url: required_env("FLINK120_URL"),
            prefix: "FLINK120",
        },
    }
}

fn job_id(c: &Cluster, job: &str) -> String {
    required_env(&format!("{}_JOB_{job}", c.prefix))
}

async fn flink_get(c: &Cluster, path: &str) -> Value {
    reqwest::get(format!("{}{path}", c.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn app_for(c: &Cluster) -> TestApp {
    spawn_app(AppOptions {
        clusters: vec![(c.name.into(), c.url.clone())],
        ..Default::default()
    })
    .await
}

/// Sends one alert through a real Alertmanager and returns the message the recorder got.
pub async fn page(app: &TestApp, labels: Value) -> crate::recorder::Recorded {
    let am = Alertmanager::start(&app.addr, FAST).await;
    am.send(
        labels,
        json!({"summary": "test page", "runbook_url": "https://runbooks.example.internal/flink"}),
        false,
    )
    .await;
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(30), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    seen.into_iter().find(|x| x.status == 200).unwrap()
}

async fn nested_failure_reaches_discord_with_root_cause_and_checkpoint(version: &str) {
    let c = cluster(version);
    let id = job_id(&c, "NESTED");
    let checkpoints = flink_get(&c, &format!("/jobs/{id}/checkpoints")).await;
    let last_cp = checkpoints["latest"]["completed"]["id"]
        .as_i64()
        .expect("the nested job completed a checkpoint");
    let app = app_for(&c).await;
    let msg = page(
        &app,
        json!({"alertname": "FlinkJobNotRunning", "severity": "critical", "flink_cluster": c.name, "job_id": id, "job_name": "harness-nested-failure"}),
    )
    .await;
    let text = msg.text();
    assert!(
        text.contains("java.io.FileNotFoundException"),
        "root class missing:\n{text}"
    );
    assert!(
        text.contains("harness root cause: /data/ledger-7 is missing"),
        "root message missing:\n{text}"
    );
    assert!(
        text.contains(&format!("#{last_cp} ")),
        "last checkpoint #{last_cp} missing:\n{text}"
    );
    assert!(text.contains("FAILED"), "job state missing:\n{text}");
    assert_eq!(msg.channel_id, CHANNEL);
    assert_eq!(msg.authorization, format!("Bot {DISCORD_TOKEN}"));
    assert!(!text.contains("Enrichment unavailable"), "{text}");
}

#[tokio::test]
async fn flink_2_3_nested_failure_end_to_end() {
    nested_failure_reaches_discord_with_root_cause_and_checkpoint("2.3").await;
}

#[tokio::test]
async fn flink_1_20_nested_failure_end_to_end() {
    nested_failure_reaches_discord_with_root_cause_and_checkpoint("1.20").await;
}

#[tokio::test]
async fn job_name_alone_finds_the_job_and_restarts_are_reported() {
    let c = cluster("2.3");
    let app = app_for(&c).await;
    let msg = page(
        &app,
        json!({"alertname": "FlinkJobUnstable", "severity": "warning", "flink_cluster": c.name, "job_name": "harness-restart-loop"}),
    )
    .await;
    let text = msg.text();
    let id = job_id(&c, "RESTART_LOOP");
    assert!(text.contains(&id), "resolved the job id by name:\n{text}");
    assert!(
        text.contains("harness restart loop: poison record"),
        "{text}"
    );
    let restarts = msg.embed()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Restarts")
        .expect("restarts field");
    assert!(
        restarts["value"].as_str().unwrap().parse::<i64>().unwrap() >= 1,
        "{restarts}"
    );
}

#[tokio::test]
async fn an_unknown_cluster_label_is_never_used_as_an_address() {
    let c = cluster("2.3");
    let app = app_for(&c).await;
    let msg = page(
        &app,
        json!({"alertname": "FlinkJobUnstable", "severity": "warning", "flink_cluster": "http://evil.example:8081", "job_name": "harness-restart-loop"}),
    )
    .await;
    let text = msg.text();
    assert!(text.contains("not configured"), "{text}");
    assert!(
        !text.contains(&job_id(&c, "RESTART_LOOP")),
        "no lookup happened:\n{text}"
    );
}

/// Failure patterns produced for real by jobs on the real cluster reach Discord with their runbook.
#[tokio::test]
async fn real_failures_get_the_matching_runbook() {
    let c = cluster("2.3");
    for (alert, job, name, pattern) in [
        (
            "FlinkJobUnstable",
            "SERIALIZATION",
            "harness-serialization",
            "serialization",
        ),
        (
            "FlinkCheckpointFailing",
            "CHECKPOINT_EXPIRY",
            "harness-checkpoint-expiry",
            "checkpoint_timeout",
        ),
        // Its IllegalStateException is thrown from the job's own frames (issue 11): a code bug.
        (
            "FlinkJobUnstable",
            "RESTART_LOOP",
            "harness-restart-loop",
            "user_code_bug",
        ),
    ] {
        let app = app_for(&c).await;
        let msg = page(
            &app,
            json!({"alertname": alert, "severity": "warning", "flink_cluster": c.name, "job_id": job_id(&c, job), "job_name": name}),
        )
        .await;
        let footer = msg.embed()["footer"]["text"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            footer.contains(&format!("pattern {pattern}")),
            "{name}: expected pattern {pattern}, footer {footer:?}\n{}",
            msg.text()
        );
    }
}

#[tokio::test]
async fn a_page_sent_while_flink_was_down_is_filled_in_when_it_is_back() {
    let c = cluster("2.3");
    let port = free_port();
    let app = spawn_app(AppOptions {
        clusters: vec![(c.name.into(), format!("http://127.0.0.1:{port}"))],
        extra: vec![(
            "FLINK_CHATOPS__FLINK__REFILL_AFTER_MS".into(),
            "1000".into(),
        )],
        ..Default::default()
    })
    .await;
    let labels = json!({"alertname": "FlinkJobNotRunning", "severity": "critical", "flink_cluster": c.name, "job_id": job_id(&c, "NESTED")});
    assert_eq!(
        app.post_webhook(webhook(labels), Some(WEBHOOK_TOKEN))
            .await
            .status(),
        200
    );
    let seen = app
        .recorder
        .wait_for("the first page", Duration::from_secs(10), |r| !r.is_empty())
        .await;
    assert!(
        seen[0].text().contains("Enrichment unavailable"),
        "{}",
        seen[0].text()
    );

    // Flink comes back (a plain TCP relay to the real cluster on the address that refused before).
    start_relay(port, c.url.trim_start_matches("http://").to_string()).await;
    let seen = app
        .recorder
        .wait_for("the filled-in edit", Duration::from_secs(15), |r| {
            r.iter().any(|x| x.method == "PATCH")
        })
        .await;
    let edit = seen.iter().find(|x| x.method == "PATCH").unwrap();
    assert_eq!(edit.message_id, seen[0].message_id, "edited in place");
    assert!(
        edit.text()
            .contains("harness root cause: /data/ledger-7 is missing"),
        "{}",
        edit.text()
    );
    assert!(
        !edit.text().contains("Enrichment unavailable"),
        "{}",
        edit.text()
    );
    assert!(
        edit.text().contains("1 notification(s)"),
        "a refill is not a notification: {}",
        edit.text()
    );
    assert_eq!(app.recorder.posts().len(), 1);
}

#[test]
fn render_with_enrich_previews_live_facts_on_the_console() {
    let c = cluster("2.3");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.json");
    let labels = json!({"alertname": "FlinkJobNotRunning", "severity": "critical", "job_id": job_id(&c, "NESTED")});
    std::fs::write(&file, webhook(labels)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args(["render", "--enrich", "--alert"])
        .arg(&file)
        .env("FLINK_CHATOPS__CLUSTERS__0__REST_URL", &c.url)
        .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("java.io.FileNotFoundException"), "{text}");
    assert!(text.contains("pattern "), "{text}");
}

/// A copy of the harness restart-loop job, cancelled when the test ends (even by a panic).
struct OwnJob {
    url: String,
    id: String,
}

impl OwnJob {
    async fn restart_loop(c: &Cluster) -> OwnJob {
        let jars = flink_get(c, "/jars").await;
        let jar = jars["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "harness-jobs.jar")
            .expect("tests/env/setup.sh uploaded the harness jar")["id"]
            .as_str()
            .unwrap()
            .to_string();
        let name = format!("restarts-probe-{}", std::process::id());
        let run: Value = reqwest::Client::new()
            .post(format!("{}/jars/{jar}/run", c.url))
            .json(&json!({"entryClass": "harness.RestartLoopJob", "programArgsList": ["--name", name], "parallelism": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        OwnJob {
            url: c.url.clone(),
            id: run["jobid"]
                .as_str()
                .unwrap_or_else(|| panic!("job did not start: {run}"))
                .to_string(),
        }
    }
}

impl Drop for OwnJob {
    fn drop(&mut self) {
        let _ = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "--max-time", "10", "-X", "PATCH"])
            .arg(format!("{}/jobs/{}?mode=cancel", self.url, self.id))
            .status();
    }
}

/// Right after a job's first failures, Flink's cached `numRestarts` is absent or still 0; the
/// page counts them from the exception history instead of leaving them out.
async fn restarts_are_reported_before_the_metric_catches_up(version: &str) {
    let c = cluster(version);
    let job = OwnJob::restart_loop(&c).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let ex = flink_get(&c, &format!("/jobs/{}/exceptions?maxExceptions=10", job.id)).await;
        let failures = ex["exceptionHistory"]["entries"]
            .as_array()
            .map_or(0, |e| e.len());
        if failures >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the restart-loop copy did not fail twice: {ex}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let app = app_for(&c).await;
    app.post_webhook(
        webhook(json!({"alertname": "FlinkJobUnstable", "severity": "warning", "flink_cluster": c.name, "job_id": job.id})),
        Some(WEBHOOK_TOKEN),
    )
    .await;
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(30), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    let msg = seen.iter().find(|x| x.status == 200).unwrap();
    let restarts = msg.embed()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Restarts")
        .unwrap_or_else(|| panic!("no Restarts field:\n{}", msg.text()))["value"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    assert!(restarts >= 2, "{restarts} restarts:\n{}", msg.text());
}

#[tokio::test]
async fn flink_2_3_restarts_are_reported_before_the_metric_catches_up() {
    restarts_are_reported_before_the_metric_catches_up("2.3").await;
}

#[tokio::test]
async fn flink_1_20_restarts_are_reported_before_the_metric_catches_up() {
    restarts_are_reported_before_the_metric_catches_up("1.20").await;
}
