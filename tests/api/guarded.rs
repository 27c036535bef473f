//! Guarded actions end to end on the real Flink 2.3 cluster, over the signed endpoint: a page's
//! button or a slash command makes a request, other people approve it with real clicks, the bot
//! runs it once, follows it to the end, and every step is in the audit log.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::actions::own_job::{Cluster, OwnJob};
use crate::helpers::*;
use crate::interactions::{ask, options, text};
use crate::payloads::{self, as_user, ROLE_ONCALL, USER_ID};

const BOB: u64 = USER_ID + 1;
const CAROL: u64 = USER_ID + 2;
const MALLORY: u64 = USER_ID + 3;

/// The bot with a policy: the on-call role may request and approve everything.
async fn bot(cluster: &Cluster, extra: &[(&str, &str)]) -> TestApp {
    let mut opts = options(vec![(cluster.config().name, cluster.url.clone())]);
    let oncall = format!("[\"role:{ROLE_ONCALL}\"]");
    opts.extra
        .push(("FLINK_CHATOPS__POLICY__REQUESTERS".into(), oncall.clone()));
    opts.extra
        .push(("FLINK_CHATOPS__POLICY__APPROVERS".into(), oncall));
    for (k, v) in extra {
        opts.extra.push((k.to_string(), v.to_string()));
    }
    spawn_app(opts).await
}

/// Posts a page about `job` and returns it once delivered and recorded (its buttons answer).
async fn page(app: &TestApp, cluster: &str, job: &str) -> crate::recorder::Recorded {
    let body = webhook(
        json!({"alertname": "FlinkCheckpointTooOld", "flink_cluster": cluster, "job_id": job, "severity": "warning"}),
    );
    assert_eq!(
        app.post_webhook(body, Some(WEBHOOK_TOKEN)).await.status(),
        200
    );
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(30), |r| {
            r.iter().any(|x| {
                x.method == "POST"
                    && x.status == 200
                    && x.path.ends_with("/messages")
                    && x.text().contains("FlinkCheckpointTooOld")
            })
        })
        .await;
    let page = seen
        .into_iter()
        .find(|x| x.method == "POST" && x.text().contains("FlinkCheckpointTooOld"))
        .unwrap();
    // The incident (with its job) is recorded right after the post.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.pending().await > 0 {
        assert!(Instant::now() < deadline, "page not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page
}

fn button<'a>(page: &'a crate::recorder::Recorded, label: &str) -> &'a str {
    page.body["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().unwrap())
        .find(|b| b["label"] == label)
        .unwrap_or_else(|| panic!("no {label} button on {}", page.body["components"]))["custom_id"]
        .as_str()
        .unwrap()
}

/// The request message the bot posted (the newest one carrying `marker`), and its buttons.
async fn request_message(app: &TestApp, marker: &str) -> crate::recorder::Recorded {
    let seen = app
        .recorder
        .wait_for("the request message", Duration::from_secs(30), |r| {
            r.iter().any(|x| {
                x.method == "POST" && x.text().contains(marker) && x.body["components"].is_array()
            })
        })
        .await;
    seen.into_iter()
        .rev()
        .find(|x| {
            x.method == "POST" && x.text().contains(marker) && x.body["components"].is_array()
        })
        .unwrap()
}

/// Waits for an edit of the request message whose text contains `what`.
async fn request_edit(app: &TestApp, message_id: u64, what: &str, within: Duration) -> String {
    let seen = app
        .recorder
        .wait_for(what, within, |r| {
            r.iter().any(|x| {
                x.method == "PATCH" && x.message_id == Some(message_id) && x.text().contains(what)
            })
        })
        .await;
    seen.into_iter()
        .rev()
        .find(|x| {
            x.method == "PATCH" && x.message_id == Some(message_id) && x.text().contains(what)
        })
        .unwrap()
        .text()
}

fn vote(request: &crate::recorder::Recorded, label: &str) -> String {
    button(request, label).to_string()
}

async fn press(app: &TestApp, custom_id: &str, message_id: u64, user: u64) -> String {
    let (answer, _, ephemeral) = ask(
        app,
        as_user(
            payloads::button(custom_id, &message_id.to_string()),
            user,
            &[ROLE_ONCALL],
        ),
    )
    .await;
    assert!(ephemeral, "answers to clicks are ephemeral: {answer}");
    text(&answer)
}

async fn audit_text(app: &TestApp, job: &str) -> String {
    let (answer, _, _) = ask(app, payloads::command("audit", &[("job", json!(job))])).await;
    text(&answer)
}

#[tokio::test]
async fn a_savepoint_from_a_page_runs_once_a_second_person_approves() {
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-guarded-savepoint").await;
    let app = bot(&cluster, &[]).await;
    let name = cluster.config().name;
    let page = page(&app, &name, &job.id).await;
    let page_id = page.message_id.unwrap();

    let reply = press(&app, button(&page, "Savepoint"), page_id, USER_ID).await;
    assert!(reply.contains("needs 1 approval"), "{reply}");
    let threads = app.recorder.calls("/threads");
    assert_eq!(threads.len(), 1, "one thread on the incident message");
    assert!(threads[0].path.contains(&page_id.to_string()));
    let request = request_message(&app, "Savepoint").await;
    let shown = request.text();
    assert!(
        shown.contains(&format!("POST /jobs/{}/savepoints", job.id)),
        "approvers see the exact call: {shown}"
    );
    assert!(shown.contains("triggerId"), "{shown}");
    let request_id = request.message_id.unwrap();
    let approve = vote(&request, "Approve");

    let own = press(&app, &approve, request_id, USER_ID).await;
    assert!(own.contains("cannot approve your own"), "{own}");
    let stranger = press(&app, &approve, request_id, MALLORY).await;
    assert!(
        stranger.contains("Approval counted") || stranger.contains("Approved"),
        "the on-call role may approve: {stranger}"
    );

    let done = request_edit(&app, request_id, "✅", Duration::from_secs(90)).await;
    assert!(done.contains("savepoint at `file:"), "{done}");
    let on_disk = job.savepoints_on_disk();
    assert_eq!(on_disk.len(), 1, "exactly one savepoint: {on_disk:?}");
    let dir = on_disk[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(done.contains(&dir), "the message names {dir}: {done}");
    // Locked: the final message carries no buttons.
    let last = app
        .recorder
        .requests()
        .into_iter()
        .rev()
        .find(|x| x.method == "PATCH" && x.message_id == Some(request_id))
        .unwrap();
    assert!(
        last.body["components"]
            .as_array()
            .is_none_or(|c| c.is_empty()),
        "{}",
        last.body
    );
    let again = press(&app, &approve, request_id, CAROL).await;
    assert!(
        again.contains("already"),
        "a late click does nothing: {again}"
    );

    let audit = audit_text(&app, &job.id).await;
    for step in ["requested", "approved", "executing", "succeeded"] {
        assert!(audit.contains(step), "audit has {step}: {audit}");
    }
}

#[tokio::test]
async fn cancel_needs_two_other_people_and_leaves_the_job_canceled() {
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-guarded-cancel").await;
    let app = bot(&cluster, &[]).await;
    let (answer, _, _) = ask(&app, payloads::command("cancel", &[("job", json!(job.id))])).await;
    assert!(text(&answer).contains("needs 2 approval(s)"), "{answer}");
    let request = request_message(&app, "Cancel").await;
    let shown = request.text();
    assert!(
        shown.contains(&format!("PATCH /jobs/{}?mode=cancel", job.id)),
        "{shown}"
    );
    assert!(
        shown.contains("RUNNING"),
        "the job's state is shown before a destructive action: {shown}"
    );
    let id = request.message_id.unwrap();
    let approve = vote(&request, "Approve");

    assert!(press(&app, &approve, id, BOB).await.contains("(1 of 2)"));
    assert!(
        press(&app, &approve, id, BOB)
            .await
            .contains("already approved"),
        "one person counts once"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let state = crate::interactions::flink(&cluster.url, &format!("/jobs/{}", job.id)).await;
    assert_eq!(
        state["state"], "RUNNING",
        "one approval of two does not run it"
    );
    assert!(press(&app, &approve, id, CAROL).await.contains("runs now"));
    let done = request_edit(&app, id, "✅", Duration::from_secs(90)).await;
    assert!(done.contains("the job is now CANCELED"), "{done}");
    job.wait_for_state("CANCELED").await;
}

#[tokio::test]
async fn twenty_simultaneous_approvals_run_it_exactly_once() {
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-guarded-twenty").await;
    let app = bot(&cluster, &[]).await;
    let (answer, _, _) = ask(
        &app,
        payloads::command("savepoint", &[("job", json!(job.id))]),
    )
    .await;
    assert!(text(&answer).contains("needs 1 approval"), "{answer}");
    let request = request_message(&app, "Savepoint").await;
    let id = request.message_id.unwrap();
    let approve = vote(&request, "Approve");
    let clicks = (0..20).map(|i| {
        let approve = approve.clone();
        let app = &app;
        async move { press(app, &approve, id, USER_ID + 100 + i).await }
    });
    let answers = futures::future::join_all(clicks).await;
    let ran = answers.iter().filter(|a| a.contains("runs now")).count();
    assert_eq!(
        ran, 1,
        "exactly one click completes the approval: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|a| a.contains("runs now") || a.contains("already")),
        "{answers:?}"
    );
    request_edit(&app, id, "✅", Duration::from_secs(90)).await;
    assert_eq!(job.savepoints_on_disk().len(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let results = app
        .recorder
        .requests()
        .into_iter()
        .filter(|x| x.method == "PATCH" && x.message_id == Some(id) && x.text().contains("✅"))
        .count();
    assert_eq!(results, 1, "one run, one result");
    let audit = audit_text(&app, &job.id).await;
    assert!(
        audit.contains("refused savepoint"),
        "the late clicks are audited too: {audit}"
    );
}

#[tokio::test]
async fn the_policy_decides_who_may_ask() {
    let cluster = Cluster::get("2.3");
    let app = bot(&cluster, &[]).await;
    let healthy = cluster.harness_job("HEALTHY");
    let outsider = as_user(
        payloads::command("cancel", &[("job", json!(healthy))]),
        MALLORY,
        &[],
    );
    let (answer, _, ephemeral) = ask(&app, outsider).await;
    assert!(ephemeral);
    let t = text(&answer);
    assert!(t.contains("not allowed to request cancel"), "{t}");
    assert!(!t.contains("http"), "{t}");
    assert!(app.recorder.calls("/threads").is_empty());
    let state = crate::interactions::flink(&cluster.url, &format!("/jobs/{healthy}")).await;
    assert_eq!(state["state"], "RUNNING");
}
