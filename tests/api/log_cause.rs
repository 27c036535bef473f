//! Issue 21, item 1, on real Flink 2.3.0 and 1.20.5: checkpoints whose directory stops being
//! writable fail in REST with only "An Exception occurred while triggering the checkpoint.
//! IO-problem detected."; the page names the storage error and the directory from the
//! JobManager's log, and says which log it read. With the logs gone, it says the cause was not
//! found and why.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::actions::own_job::{Cluster, OwnJob};
use crate::helpers::*;
use crate::interactions::{ask, options};
use crate::payloads;
use crate::private_cluster::PrivateCluster;

/// Pages `FlinkCheckpointFailing` for `job` through a fresh bot; the message's text and footer,
/// and the bot (it answers slash commands too).
async fn page(name: &str, url: &str, job: &str) -> (String, String, TestApp) {
    let app = spawn_app(options(vec![(name.to_string(), url.to_string())])).await;
    let labels = json!({"alertname": "FlinkCheckpointFailing", "severity": "warning",
        "flink_cluster": name, "job_id": job});
    let page = app.first_page(labels).await;
    let footer = page.embed()["footer"]["text"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (page.text(), footer, app)
}

/// Starts `harness.CheckpointStorageJob` checkpointing into `dir`, waits for a completed
/// checkpoint, then replaces the job's checkpoint folder with a plain file (no directory can be
/// made under it, even by root) and waits until REST reports a failed checkpoint.
async fn break_checkpoints(c: &Cluster, name: &str, dir: &Path) -> OwnJob {
    let uri = format!("file://{}", dir.display());
    let job = OwnJob::start_class(
        c,
        "harness.CheckpointStorageJob",
        name,
        &["--checkpoint-dir", &uri],
    )
    .await;
    job.wait_until("a completed checkpoint", |_, cps| {
        cps["counts"]["completed"].as_i64().unwrap_or(0) >= 1
    })
    .await;
    let folder = dir.join(&job.id);
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::write(&folder, "not a directory\n").unwrap();
    job.wait_until("a failed checkpoint with a message", |_, cps| {
        cps["latest"]["failed"]["failure_message"].is_string()
    })
    .await;
    job
}

async fn the_page_names_the_storage_error_from_the_log(version: &'static str) {
    let c = Cluster::get(version);
    let dir = tempfile::Builder::new()
        .prefix("chatops-ckpt-")
        .tempdir()
        .unwrap();
    let name = format!("diag-checkpoint-storage-{}", version.replace('.', ""));
    let job = break_checkpoints(&c, &name, dir.path()).await;
    let cps = c.get_json(&format!("/jobs/{}/checkpoints", job.id)).await;
    assert_eq!(
        cps["latest"]["failed"]["failure_message"],
        "An Exception occurred while triggering the checkpoint. IO-problem detected.",
        "Flink {version}: REST says only this (else the log is not needed)"
    );

    let (text, footer, app) = page(&c.config().name, &c.url, &job.id).await;
    assert!(
        footer.contains("pattern checkpoint_declined"),
        "Flink {version}: {footer}\n{text}"
    );
    let folder = dir.path().join(&job.id).display().to_string();
    assert!(
        text.contains(&format!(
            "`java.nio.file.FileAlreadyExistsException`: {folder}"
        )),
        "Flink {version}: the storage error and the directory from the log:\n{text}"
    );
    assert!(
        text.contains(&format!("path `{folder}`")),
        "Flink {version}: the path on its own line:\n{text}"
    );
    assert!(
        text.contains("in the JobManager's log `flink-") && text.contains("-standalonesession-"),
        "Flink {version}: where it was read:\n{text}"
    );
    assert!(
        text.contains("**Found in the log:**"),
        "Flink {version}: the runbook quotes it:\n{text}"
    );
    assert!(
        text.contains("in the log: `java.nio.file.FileAlreadyExistsException`"),
        "Flink {version}: the diagnosis' evidence:\n{text}"
    );
    assert!(!text.contains("Enrichment unavailable"), "{text}");

    // `/flink logs`: the job's records of the JobManager's log, as an ephemeral file.
    let (answer, _, ephemeral) = ask(
        &app,
        payloads::command(
            "logs",
            &[("job", json!(job.id)), ("cluster", json!(c.config().name))],
        ),
    )
    .await;
    assert!(ephemeral, "{answer}");
    let files = answer["_files"].as_array().cloned().unwrap_or_default();
    let file = files
        .iter()
        .find(|f| f["name"] == format!("{name}-jobmanager.log"))
        .unwrap_or_else(|| panic!("Flink {version}: no log file attached: {answer}"));
    let log = file["text"].as_str().unwrap();
    assert!(
        log.contains(&format!(
            "Caused by: java.nio.file.FileAlreadyExistsException: {folder}"
        )),
        "Flink {version}: the storage error is in the file"
    );
    // Each record (a timestamped line and the lines under it) names the job.
    let mut records: Vec<String> = Vec::new();
    for line in log.lines() {
        match records.last_mut() {
            Some(r) if !line.starts_with("20") => r.push_str(line),
            _ => records.push(line.to_string()),
        }
    }
    let others: Vec<&String> = records.iter().filter(|r| !r.contains(&job.id)).collect();
    assert!(
        records.len() > 3 && others.is_empty(),
        "Flink {version}: only the job's records: {others:#?}"
    );
    assert!(
        answer["content"].as_str().unwrap().contains(&format!(
            "records about `{name}` from the JobManager's log (`flink-"
        )),
        "{answer}"
    );
}

#[tokio::test]
async fn flink_2_3_unwritable_checkpoint_directory_is_named_from_the_log() {
    the_page_names_the_storage_error_from_the_log("2.3").await;
}

#[tokio::test]
async fn flink_1_20_unwritable_checkpoint_directory_is_named_from_the_log() {
    the_page_names_the_storage_error_from_the_log("1.20").await;
}

/// A cluster of the test's own whose log files are gone (a clean-up job, or logging to the
/// console only): `/jobmanager/logs` lists none. The page says it looked and found nothing.
async fn without_logs_the_page_says_why(version: &'static str) {
    let private = PrivateCluster::start(version).await;
    let c = private.as_cluster();
    let dir = tempfile::Builder::new()
        .prefix("chatops-ckpt-")
        .tempdir()
        .unwrap();
    let job = break_checkpoints(&c, "diag-checkpoint-storage-no-logs", dir.path()).await;
    for f in std::fs::read_dir(private.log_dir()).unwrap().flatten() {
        std::fs::remove_file(f.path()).unwrap();
    }
    let listing: Value = private.get("/jobmanager/logs").await;
    assert_eq!(listing["logs"], json!([]), "{listing}");

    let (text, footer, _app) = page(&private.name(), &private.url, &job.id).await;
    assert!(
        footer.contains("pattern checkpoint_declined"),
        "Flink {version}: {footer}\n{text}"
    );
    assert!(
        text.contains(
            "**The cause was not found in the logs:** the JobManager's REST API serves no log file"
        ),
        "Flink {version}: {text}"
    );
    assert!(
        text.contains("Cause in the log") && text.contains("not found: "),
        "Flink {version}: the field says so too:\n{text}"
    );
    assert!(!text.contains("FileAlreadyExistsException"), "{text}");
    drop(job);
    // The job is cancelled before its cluster goes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let jobs: Value = private.get("/jobs/overview").await;
        let active = jobs["jobs"]
            .as_array()
            .is_some_and(|j| j.iter().any(|j| j["state"] == "RUNNING"));
        if !active {
            break;
        }
    }
}

#[tokio::test]
async fn flink_2_3_without_logs_the_page_says_the_cause_was_not_found() {
    without_logs_the_page_says_why("2.3").await;
}

#[tokio::test]
async fn flink_1_20_without_logs_the_page_says_the_cause_was_not_found() {
    without_logs_the_page_says_why("1.20").await;
}

/// A task failure without a cause (`harness.RestartLoopJob --bare true` throws a bare
/// `RuntimeException("task failed")`): the bot reads the JobManager's log, then the failing
/// task's TaskManager's. Neither says more than Flink's exception history (the TaskManager logs
/// the same bare trace), and the page says so, naming both logs.
async fn a_bare_task_failure_reads_both_logs(version: &'static str) {
    let c = Cluster::get(version);
    let name = format!("diag-bare-failure-{}", version.replace('.', ""));
    let job = OwnJob::submit(
        &c,
        "harness.RestartLoopJob",
        &name,
        &["--bare", "true", "--fail-after-ms", "1000"],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let ex = c.get_json(&format!("/jobs/{}/exceptions", job.id)).await;
        let bare = ex["exceptionHistory"]["entries"]
            .as_array()
            .is_some_and(|e| {
                e.iter()
                    .any(|e| e["exceptionName"] == "java.lang.RuntimeException")
            });
        if bare {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Flink {version}: no task failure: {ex}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let app = spawn_app(AppOptions {
        clusters: vec![(c.config().name, c.url.clone())],
        ..Default::default()
    })
    .await;
    let labels = json!({"alertname": "FlinkJobUnstable", "severity": "warning",
        "flink_cluster": c.config().name, "job_id": job.id});
    let page = app.first_page(labels).await;
    let text = page.text();
    let field = page.embed()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Cause in the log")
        .unwrap_or_else(|| panic!("Flink {version}: no log field:\n{text}"))["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        field.starts_with("not found: the JobManager's log `flink-")
            && field
                .contains("names no error of this job beyond what Flink's REST API says around"),
        "Flink {version}: {field}"
    );
    assert!(
        field.contains("; TaskManager ") && field.contains("-taskexecutor-"),
        "Flink {version}: the failing task's TaskManager's log was read too: {field}"
    );
}

#[tokio::test]
async fn flink_2_3_a_bare_task_failure_reads_both_logs() {
    a_bare_task_failure_reads_both_logs("2.3").await;
}

#[tokio::test]
async fn flink_1_20_a_bare_task_failure_reads_both_logs() {
    a_bare_task_failure_reads_both_logs("1.20").await;
}
