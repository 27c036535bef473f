//! A TaskManager SIGKILLed under a running job, on a cluster of the test's own: the
//! `FlinkTaskManagerLost` page names that TaskManager (id and host), when it was lost, the job
//! that had tasks on it and what the job did since, and the TaskManagers and slots left.

use serde_json::{json, Value};

use crate::actions::own_job::OwnJob;
use crate::enrichment::page;
use crate::helpers::*;
use crate::private_cluster::PrivateCluster;

async fn a_killed_task_manager_is_named_in_its_page(version: &'static str) {
    let flink = PrivateCluster::start(version).await;
    let job = OwnJob::start(&flink.as_cluster(), "tm-lost-victim").await;
    let tms = flink.get("/taskmanagers").await;
    let lost_id = tms["taskmanagers"][0]["id"].as_str().unwrap().to_string();

    flink.kill_task_manager();
    flink
        .wait_until("TaskManager gone", |o| o["taskmanagers"] == 0)
        .await;
    flink.start_task_manager();
    // Recovered: the job's tasks run on the fresh TaskManager.
    job.wait_until("RUNNING again on the new TaskManager", |j, _| {
        j["state"] == "RUNNING"
            && j["vertices"]
                .as_array()
                .is_some_and(|v| v.iter().all(|v| v["status"] == "RUNNING"))
    })
    .await;
    let overview = flink
        .wait_until("the slots of the new TaskManager", |o| {
            o["taskmanagers"] == 1 && o["slots-total"] == 2
        })
        .await;
    let exceptions = flink.get(&format!("/jobs/{}/exceptions", job.id)).await;
    let loss: &Value = exceptions["exceptionHistory"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["taskManagerId"] == lost_id.as_str())
        .unwrap_or_else(|| panic!("Flink reports the loss of {lost_id}: {exceptions}"));
    let lost_at = chrono::DateTime::from_timestamp_millis(loss["timestamp"].as_i64().unwrap())
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string();

    let app = spawn_app(AppOptions {
        clusters: vec![(flink.name(), flink.url.clone())],
        // The sweep of the cluster's jobs shares the one deadline; CPU is shared too.
        call_timeout_ms: 10_000,
        ..Default::default()
    })
    .await;
    let msg = page(
        &app,
        json!({"alertname": "FlinkTaskManagerLost", "severity": "critical", "flink_cluster": flink.name(), "host": "jobmanager-0"}),
    )
    .await;
    let text = msg.text();
    eprintln!("the page (shown with --nocapture):\n{text}");
    assert!(
        text.contains(&format!("TaskManager `{lost_id}` on host `127.0.0.1`")),
        "names the lost TaskManager and its host:\n{text}"
    );
    assert!(
        text.contains(&format!("no longer reachable at {lost_at}")),
        "says how and when it was lost:\n{text}"
    );
    assert!(
        text.contains("Job `tm-lost-victim` had tasks on it: now **RUNNING** (recovered"),
        "names the job and what it did since:\n{text}"
    );
    let free = overview["slots-available"].as_i64().unwrap();
    assert!(
        text.contains(&format!(
            "**Cluster now:** 1 TaskManager(s), {free} of 2 slots free"
        )),
        "the cluster's capacity now:\n{text}"
    );
    assert!(!text.contains("Enrichment unavailable"), "{text}");

    // The job's own alert: its newest failure is the loss, so it becomes a line of the lost
    // TaskManager's one incident (see tests/api/fleet.rs) instead of a page of its own.
    let app = spawn_app(AppOptions {
        clusters: vec![(flink.name(), flink.url.clone())],
        call_timeout_ms: 10_000,
        ..Default::default()
    })
    .await;
    let msg = page(
        &app,
        json!({"alertname": "FlinkJobUnstable", "severity": "warning", "flink_cluster": flink.name(), "job_id": job.id}),
    )
    .await;
    let text = msg.text();
    assert!(
        text.contains("topology incident"),
        "a job failing from a lost TaskManager:\n{text}"
    );
    assert!(
        text.contains(&format!("TaskManager `{lost_id}` on `127.0.0.1`"))
            && text.contains("`tm-lost-victim` · **RUNNING**"),
        "the incident names the lost TaskManager and the job:\n{text}"
    );
    drop(job);
}

#[tokio::test]
async fn flink_2_3_killed_task_manager_is_named() {
    a_killed_task_manager_is_named_in_its_page("2.3").await;
}

#[tokio::test]
async fn flink_1_20_killed_task_manager_is_named() {
    a_killed_task_manager_is_named_in_its_page("1.20").await;
}
