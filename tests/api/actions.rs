//! The effect layer of actions against the real Flink 2.3.0 and 1.20.5 clusters: savepoint,
//! stop-with-savepoint, cancel and thread dumps, each planned with `action::plan` and run with
//! `flink::actions`. Jobs that get stopped or cancelled are the test's own (see `own_job`).

pub mod own_job;
mod silences;

use std::time::{Duration, Instant};

use flink_chatops::action::{
    plan, render_thread_dump, trigger_id, ActionKind, Effect, SavepointFormat,
};
use flink_chatops::flink::actions::{CancelOutcome, SavepointStatus};
use flink_chatops::flink::FlinkClient;

use own_job::{local_path, Cluster, OwnJob};

const SAVEPOINT: ActionKind = ActionKind::Savepoint {
    format: SavepointFormat::Canonical,
};
const STOP: ActionKind = ActionKind::StopWithSavepoint {
    drain: false,
    format: SavepointFormat::Canonical,
};

async fn completed(client: &FlinkClient, job: &str, trigger: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match client.savepoint_status(job, trigger).await.unwrap() {
            SavepointStatus::Completed { location } => return location,
            SavepointStatus::InProgress => {}
            other => panic!("savepoint {trigger} of {job}: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "savepoint {trigger} not done in 180 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn assert_savepoint_on_disk(location: &str) {
    let dir = local_path(location);
    assert!(
        dir.join("_metadata").is_file(),
        "{location}: no _metadata in {}",
        dir.display()
    );
}

/// Savepoint (triggered twice with one id: one savepoint), a stop that reuses the savepoint's id
/// (answered with the savepoint: the shared trigger cache), then the real stop with its own id.
async fn savepoint_then_stop(version: &'static str) {
    let cluster = Cluster::get(version);
    let client = cluster.client();
    let job = OwnJob::start(&cluster, &format!("chatops-actions-stop-{version}")).await;
    let request = format!("req-{}", job.id);

    let snapshot = client.job_snapshot(&job.id, false).await.unwrap();
    assert_eq!(snapshot.state, "RUNNING");
    assert_eq!(
        snapshot.flink_savepoint_dir.as_deref(),
        Some(cluster.savepoint_dir.as_str()),
        "Flink's default savepoint directory is read from /jobmanager/config"
    );
    let sp = plan(&SAVEPOINT, &cluster.config(), &snapshot, &request).unwrap();
    let Effect::TriggerSavepoint {
        target_dir,
        format,
        trigger_id: sp_id,
    } = sp.effect.clone()
    else {
        panic!("{sp:?}")
    };
    assert_eq!(target_dir, cluster.savepoint_dir);
    assert_eq!(sp_id, trigger_id(&request, &SAVEPOINT));

    // Flink does not know an id it never got.
    assert_eq!(
        client
            .savepoint_status(&job.id, &trigger_id("never-sent", &SAVEPOINT))
            .await
            .unwrap(),
        SavepointStatus::Unknown
    );
    // A savepoint Flink cannot write fails with Flink's reason, and the job keeps running.
    let bad = trigger_id("unwritable", &SAVEPOINT);
    client
        .trigger_savepoint(&job.id, "file:///proc/flink-chatops-test", format, &bad)
        .await
        .unwrap();
    let cause = loop {
        match client.savepoint_status(&job.id, &bad).await.unwrap() {
            SavepointStatus::Failed { cause } => break cause,
            SavepointStatus::InProgress => tokio::time::sleep(Duration::from_millis(250)).await,
            other => panic!("a savepoint into /proc: {other:?}"),
        }
    };
    // The innermost cause, not the CompletionException wrapper.
    assert!(
        cause.starts_with("java.io.IOException: Failed to create savepoint directory"),
        "{cause}"
    );
    job.wait_for_state("RUNNING").await;

    let before_ms = chrono::Utc::now().timestamp_millis() - 1_000;
    // A retry (lost answer, second click) with the same id is the same operation.
    for _ in 0..2 {
        let acked = client
            .trigger_savepoint(&job.id, &target_dir, format, &sp_id)
            .await
            .unwrap();
        assert_eq!(acked, sp_id);
    }
    let location = completed(&client, &job.id, &sp_id).await;
    assert_savepoint_on_disk(&location);
    client
        .trigger_savepoint(&job.id, &target_dir, format, &sp_id)
        .await
        .unwrap();
    assert_eq!(completed(&client, &job.id, &sp_id).await, location);
    assert_eq!(
        job.savepoints_on_disk().len(),
        1,
        "one savepoint for three triggers"
    );
    // Once Flink has forgotten the trigger, the checkpoint statistics still name it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .savepoint_since(&job.id, before_ms)
        .await
        .unwrap()
        .as_deref()
        != Some(&location)
    {
        assert!(
            Instant::now() < deadline,
            "savepoint not in the checkpoint statistics"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Why stop needs its own id: Flink answers a reused id with the earlier savepoint.
    client
        .stop_with_savepoint(&job.id, &target_dir, false, format, &sp_id)
        .await
        .unwrap();
    assert_eq!(completed(&client, &job.id, &sp_id).await, location);

    let stop = plan(&STOP, &cluster.config(), &snapshot, &request).unwrap();
    let Effect::StopWithSavepoint {
        trigger_id: stop_id,
        drain,
        ..
    } = stop.effect.clone()
    else {
        panic!("{stop:?}")
    };
    assert_ne!(stop_id, sp_id);
    assert!(stop.shown().contains(&format!("/jobs/{}/stop", job.id)));
    client
        .stop_with_savepoint(&job.id, &target_dir, drain, format, &stop_id)
        .await
        .unwrap();
    let stop_location = completed(&client, &job.id, &stop_id).await;
    assert_ne!(stop_location, location);
    assert_savepoint_on_disk(&stop_location);
    job.wait_for_state("FINISHED").await;
    assert_eq!(job.savepoints_on_disk().len(), 2);

    // Nothing left to cancel: plan refuses, and Flink says why if asked anyway.
    let after = client.job_snapshot(&job.id, false).await.unwrap();
    let refusal = plan(&ActionKind::Cancel, &cluster.config(), &after, &request).unwrap_err();
    assert_eq!(refusal.reason, "job_finished");
    assert_eq!(
        client.cancel(&job.id).await.unwrap(),
        CancelOutcome::AlreadyTerminal {
            state: Some("FINISHED".into())
        }
    );
}

#[tokio::test]
async fn flink_2_3_savepoint_is_on_disk_once_and_stop_finishes_the_job() {
    savepoint_then_stop("2.3").await;
}

#[tokio::test]
async fn flink_1_20_savepoint_is_on_disk_once_and_stop_finishes_the_job() {
    savepoint_then_stop("1.20").await;
}

async fn cancel_leaves_the_job_canceled(version: &'static str) {
    let cluster = Cluster::get(version);
    let client = cluster.client();
    let job = OwnJob::start(&cluster, &format!("chatops-actions-cancel-{version}")).await;

    let snapshot = client.job_snapshot(&job.id, false).await.unwrap();
    let p = plan(
        &ActionKind::Cancel,
        &cluster.config(),
        &snapshot,
        "req-cancel",
    )
    .unwrap();
    assert_eq!(p.effect, Effect::Cancel);
    assert!(
        p.facts
            .as_deref()
            .unwrap()
            .contains("is RUNNING; last completed checkpoint"),
        "{p:?}"
    );
    assert!(p.warning.as_deref().unwrap().contains("cancelling loses"));

    assert_eq!(
        client.cancel(&job.id).await.unwrap(),
        CancelOutcome::Accepted
    );
    job.wait_for_state("CANCELED").await;
    // A repeated cancel of a cancelled job is harmless.
    assert_eq!(
        client.cancel(&job.id).await.unwrap(),
        CancelOutcome::Accepted
    );
    let after = client.job_snapshot(&job.id, false).await.unwrap();
    assert_eq!(
        plan(&ActionKind::Cancel, &cluster.config(), &after, "req-cancel")
            .unwrap_err()
            .reason,
        "job_finished"
    );
    assert_eq!(
        client
            .cancel("00000000000000000000000000000000")
            .await
            .unwrap(),
        CancelOutcome::NotFound
    );
}

#[tokio::test]
async fn flink_2_3_cancel_leaves_the_job_canceled() {
    cancel_leaves_the_job_canceled("2.3").await;
}

#[tokio::test]
async fn flink_1_20_cancel_leaves_the_job_canceled() {
    cancel_leaves_the_job_canceled("1.20").await;
}

/// Read-only, on the shared harness jobs: the failing task's TaskManager, its health, and real
/// thread names in both dumps.
async fn thread_dumps_hold_real_threads(version: &'static str) {
    let cluster = Cluster::get(version);
    let client = cluster.client();

    let jm = client.jobmanager_thread_dump().await.unwrap();
    let file = render_thread_dump(
        "JobManager",
        jm.thread_infos
            .iter()
            .map(|t| (t.thread_name.as_str(), t.stringified.as_str())),
        flink_chatops::action::DUMP_FILE_CAP_BYTES,
    );
    assert!(!file.truncated());
    assert_eq!(file.file_name, "threaddump-jobmanager.txt");
    assert!(file.text.contains("--- flink-pekko."), "JobManager dump");
    assert!(file.text.contains("Checkpoint Timer"), "JobManager dump");

    // The restart loop fails on a TaskManager named in its exceptions history.
    let looping = cluster.harness_job("RESTART_LOOP");
    let newest = client.exceptions(&looping).await.unwrap().history.entries;
    let failing_tm = newest
        .iter()
        .find_map(|e| e.task_manager_id.clone())
        .expect("the restart loop has failed on a TaskManager");
    let tms = client.task_managers_of_job(&looping).await.unwrap();
    assert_eq!(tms[0].id, failing_tm);
    assert!(tms[0].endpoint.is_some());
    assert!(tms[0].heap_max_bytes.unwrap() > 0, "{:?}", tms[0]);
    assert!(tms[0].threads.unwrap() > 10, "{:?}", tms[0]);
    assert!(tms[0].heartbeat_age_ms.unwrap() < 120_000, "{:?}", tms[0]);

    // The healthy job never failed: its TaskManager comes from the subtasks.
    let healthy = cluster.harness_job("HEALTHY");
    let snapshot = client.job_snapshot(&healthy, true).await.unwrap();
    assert!(!snapshot.task_managers.is_empty());
    let p = plan(
        &ActionKind::ThreadDump,
        &cluster.config(),
        &snapshot,
        "req-dump",
    )
    .unwrap();
    let Effect::ThreadDumps { task_managers, .. } = &p.effect else {
        panic!("{p:?}")
    };
    let tm = &task_managers[0];
    assert!(p
        .shown()
        .contains(&format!("GET /taskmanagers/{tm}/thread-dump")));
    let dump = client.taskmanager_thread_dump(tm).await.unwrap();
    let source = format!("TaskManager {tm}");
    let threads = || {
        dump.thread_infos
            .iter()
            .map(|t| (t.thread_name.as_str(), t.stringified.as_str()))
    };
    let file = render_thread_dump(&source, threads(), 7 * 1024 * 1024);
    assert!(file.text.contains("--- Flink Netty"), "TaskManager dump");
    let task = file
        .text
        .find("--- count-per-key")
        .expect("the job's task thread");
    let netty = file.text.find("--- Flink Netty").unwrap();
    assert!(task < netty, "task threads first");

    // Capped: under the cap, says so at the top.
    let small = render_thread_dump(&source, threads(), 16 * 1024);
    assert!(small.truncated() && small.text.len() <= 16 * 1024);
    assert!(small
        .text
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("NOTE: cut to"));

    let err = client
        .taskmanager_thread_dump("no-such-tm")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            flink_chatops::flink::FlinkError::Status { status: 500, .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn flink_2_3_thread_dumps_hold_real_thread_names() {
    thread_dumps_hold_real_threads("2.3").await;
}

#[tokio::test]
async fn flink_1_20_thread_dumps_hold_real_thread_names() {
    thread_dumps_hold_real_threads("1.20").await;
}
