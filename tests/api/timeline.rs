//! The incident's story end to end on the real Flink 2.3 cluster, over the signed endpoint: a
//! page, an acknowledge, a savepoint requested and approved by other people and run, the
//! resolve; then `/flink timeline` lists every step in order with who did it, and the Timeline
//! button on the resolved message posts the Markdown file into the incident's thread once,
//! however many clicks. A second test pages about the shared restart loop, waits until the loop
//! has outgrown Flink's 16 kept failures (Flink no longer has any the page saw), and still finds
//! the first one on the timeline at Flink's own timestamp, before the alert.

use std::time::Duration;

use serde_json::{json, Value};

use crate::actions::own_job::{Cluster, OwnJob};
use crate::guarded::{
    bot, button, page, press, request_edit, request_message, vote, CAROL, MALLORY,
};
use crate::helpers::*;
use crate::interactions::{ask, text};
use crate::payloads::{self, USER_ID};

/// `webhook(labels)` resolved: same group, `endsAt` now.
fn resolved(labels: Value) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&webhook(labels)).unwrap();
    let now = chrono::Utc::now();
    body["status"] = json!("resolved");
    body["alerts"][0]["status"] = json!("resolved");
    body["alerts"][0]["startsAt"] = json!((now - chrono::Duration::seconds(1)).to_rfc3339());
    body["alerts"][0]["endsAt"] = json!(now.to_rfc3339());
    serde_json::to_vec(&body).unwrap()
}

/// The incident id a page's buttons carry (`fc1:<id>:<verb>`).
fn incident_id(page: &crate::recorder::Recorded) -> String {
    button(page, "Status")
        .split(':')
        .nth(1)
        .unwrap()
        .to_string()
}

/// Resolves the alert and returns the edit of the page that shows it resolved.
async fn resolve(app: &TestApp, labels: Value, page_id: u64) -> crate::recorder::Recorded {
    assert_eq!(
        app.post_webhook(resolved(labels), Some(WEBHOOK_TOKEN))
            .await
            .status(),
        200
    );
    let has_timeline = |x: &crate::recorder::Recorded| {
        x.method == "PATCH"
            && x.status == 200
            && x.message_id == Some(page_id)
            && x.body["components"].to_string().contains("\"Timeline\"")
    };
    let seen = app
        .recorder
        .wait_for("the resolved page", Duration::from_secs(30), |r| {
            r.iter().any(has_timeline)
        })
        .await;
    seen.into_iter().rev().find(has_timeline).unwrap()
}

/// Where each of `steps` first appears in `text`; they must appear in this order.
fn in_order(text: &str, steps: &[&str]) {
    let mut last = 0;
    for step in steps {
        let at = text[last..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} missing after byte {last} of:\n{text}"));
        last += at + step.len();
    }
}

#[tokio::test]
async fn the_timeline_tells_who_did_what_and_the_button_posts_it_once() {
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-timeline").await;
    let app = bot(&cluster, &[]).await;
    let name = cluster.config().name;
    let labels = json!({"alertname": "FlinkCheckpointTooOld", "flink_cluster": name, "job_id": job.id, "severity": "warning"});
    let page = page(&app, &name, &job.id).await;
    let page_id = page.message_id.unwrap();
    let incident = incident_id(&page);

    let ack = press(&app, button(&page, "Acknowledge"), page_id, CAROL).await;
    assert!(ack.contains("starting now"), "{ack}");
    let reply = press(&app, button(&page, "Savepoint"), page_id, USER_ID).await;
    assert!(reply.contains("needs 1 approval"), "{reply}");
    let request = request_message(&app, "Savepoint").await;
    let request_id = request.message_id.unwrap();
    let approved = press(&app, &vote(&request, "Approve"), request_id, MALLORY).await;
    assert!(approved.contains("runs now"), "{approved}");
    request_edit(&app, request_id, "✅", Duration::from_secs(90)).await;
    let on_disk = job.savepoints_on_disk();
    assert_eq!(on_disk.len(), 1, "{on_disk:?}");
    let savepoint = on_disk[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();

    let resolved_page = resolve(&app, labels, page_id).await;

    // `/flink timeline <incident>`: every step, in order, with the people who did them.
    let (answer, _, ephemeral) = ask(
        &app,
        payloads::command("timeline", &[("job", json!(incident))]),
    )
    .await;
    assert!(ephemeral, "{answer}");
    let shown = text(&answer);
    eprintln!("/flink timeline (shown with --nocapture):\n{shown}");
    in_order(
        &shown,
        &[
            "alert FlinkCheckpointTooOld started firing",
            "first page posted to Discord",
            // What the real cluster said at the page, kept with the incident.
            "Flink said: job RUNNING;",
            "last checkpoint #",
            "**User 5** requested acknowledge",
            "**User 3** requested savepoint",
            "**User 6** approved savepoint (1 of 1)",
            "savepoint started",
            "savepoint done: savepoint at `file:",
            "alert resolved (endsAt)",
        ],
    );
    // The acknowledge runs on its own: done after it was asked, whenever the savepoint was.
    in_order(
        &shown,
        &[
            "**User 5** requested acknowledge",
            "acknowledge done: acknowledged by User 5",
            "alert resolved (endsAt)",
        ],
    );
    assert!(shown.contains(&savepoint), "{shown}");
    assert!(shown.contains(&format!("incident {incident}")), "{shown}");
    // Each line carries its time (UTC clock) and its source.
    let requested = shown
        .lines()
        .find(|l| l.contains("requested savepoint"))
        .unwrap();
    assert!(
        requested.starts_with('`') && requested.contains("_audit #"),
        "{requested}"
    );

    // The Timeline button: three clicks, one file in the incident's thread.
    let timeline = button(&resolved_page, "Timeline").to_string();
    for who in [CAROL, MALLORY, USER_ID] {
        let answer = press(&app, &timeline, page_id, who).await;
        assert!(answer.contains("incident's thread"), "{answer}");
    }
    let file_name = format!("incident-{incident}.md");
    let posted_file = |r: &crate::recorder::Recorded| {
        r.method == "POST" && r.status == 200 && r.files.iter().any(|(n, _)| *n == file_name)
    };
    let seen = app
        .recorder
        .wait_for("the story file", Duration::from_secs(30), |r| {
            r.iter().any(posted_file)
        })
        .await;
    let post = seen.into_iter().find(posted_file).unwrap();
    let threads = app.recorder.calls("/threads");
    assert_eq!(threads.len(), 1, "the requests' thread, reused");
    assert_eq!(
        post.channel_id, page_id,
        "a thread started on a message has the message's id"
    );
    let doc = String::from_utf8(post.files[0].1.clone()).unwrap();
    eprintln!("the story file (shown with --nocapture):\n{doc}");
    for want in [
        "# Postmortem draft: chatops-timeline",
        "- Alert: FlinkCheckpointTooOld (#1)",
        "- Pattern as last shown: `",
        "## Response",
        "User 6: approved savepoint",
        "## Restore point",
        "## Follow-ups",
        &format!("## Timeline of incident {incident}"),
    ] {
        assert!(doc.contains(want), "missing {want:?} in\n{doc}");
    }
    let restore = doc
        .lines()
        .find(|l| l.starts_with("- Savepoint taken from chat: `file:"))
        .unwrap_or_else(|| panic!("no restore point in\n{doc}"));
    assert!(restore.contains(&savepoint), "{restore}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posts = app
        .recorder
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.files.iter().any(|(n, _)| *n == file_name))
        .count();
    assert_eq!(posts, 1, "posted once, however many clicks");
    // A click after it is posted is told so, and queues nothing.
    let late = press(&app, &timeline, page_id, CAROL).await;
    assert!(late.contains("already in the incident's thread"), "{late}");
}

fn flink_failures(exceptions: &Value) -> Vec<i64> {
    exceptions["exceptionHistory"]["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["timestamp"].as_i64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_restart_loops_failures_are_on_the_timeline_at_flinks_times() {
    let cluster = Cluster::get("2.3");
    // The shared restart loop: read only.
    let job = cluster.harness_job("RESTART_LOOP");
    let app = bot(&cluster, &[]).await;
    let name = cluster.config().name;
    let path = format!("/jobs/{job}/exceptions?maxExceptions=100");
    let before = flink_failures(&cluster.get_json(&path).await);
    assert!(!before.is_empty(), "the loop has failed by now");
    let labels = json!({"alertname": "FlinkJobUnstable", "flink_cluster": name, "job_id": job, "severity": "critical"});
    assert_eq!(
        app.post_webhook(webhook(labels.clone()), Some(WEBHOOK_TOKEN))
            .await
            .status(),
        200
    );
    let is_page = |x: &crate::recorder::Recorded| {
        x.method == "POST"
            && x.status == 200
            && x.path.ends_with("/messages")
            && x.text().contains("FlinkJobUnstable")
    };
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(30), |r| {
            r.iter().any(is_page)
        })
        .await;
    let page = seen.into_iter().find(is_page).unwrap();
    let after = flink_failures(&cluster.get_json(&path).await);
    let seen: Vec<i64> = before.iter().chain(&after).copied().collect();
    // Let the loop outgrow Flink's 16 kept entries until Flink no longer has any failure the
    // page saw: the timeline must still start with it.
    let newest_seen = *seen.iter().max().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    let flink_now = loop {
        let now = flink_failures(&cluster.get_json(&path).await);
        if now.iter().min().is_some_and(|m| *m > newest_seen) {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Flink still has a failure the page saw: {now:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    resolve(&app, labels, page.message_id.unwrap()).await;

    // Asked by job: the newest incident about it.
    let (answer, _, _) = ask(&app, payloads::command("timeline", &[("job", json!(job))])).await;
    let shown = text(&answer);
    let first = shown
        .lines()
        .find(|l| l.contains("job failed: java.lang.IllegalStateException: harness restart loop"))
        .unwrap_or_else(|| panic!("no failure on\n{shown}"));
    assert!(first.contains("_flink exception history_"), "{first}");
    // At a time Flink reported (its own timestamp, to the second).
    let clocks: Vec<String> = seen
        .iter()
        .map(|ms| {
            chrono::DateTime::from_timestamp_millis(*ms)
                .unwrap()
                .format("`%H:%M:%S`")
                .to_string()
        })
        .collect();
    assert!(
        clocks.iter().any(|c| first.starts_with(c.as_str())),
        "{first} is not at one of Flink's times {clocks:?}"
    );
    // ...which Flink itself has dropped by now.
    let oldest_flink_has =
        chrono::DateTime::from_timestamp_millis(*flink_now.iter().min().unwrap())
            .unwrap()
            .format("`%H:%M:%S`")
            .to_string();
    assert!(
        !first.starts_with(&oldest_flink_has),
        "the first failure on the timeline is older than Flink's oldest: {first}"
    );
    in_order(
        &shown,
        &[
            "job failed: java.lang.IllegalStateException",
            "alert FlinkJobUnstable started firing",
            "first page posted to Discord",
            "alert resolved (endsAt)",
        ],
    );
    if before.len().max(after.len()) > 1 {
        assert!(
            shown.contains("java.lang.IllegalStateException again:"),
            "a loop's failures are folded: {shown}"
        );
    }
}
