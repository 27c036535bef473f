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
pub(crate) const CAROL: u64 = USER_ID + 2;
pub(crate) const MALLORY: u64 = USER_ID + 3;

/// The bot with a policy: the on-call role may request and approve everything.
pub(crate) async fn bot(cluster: &Cluster, extra: &[(&str, &str)]) -> TestApp {
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
pub(crate) async fn page(app: &TestApp, cluster: &str, job: &str) -> crate::recorder::Recorded {
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

pub(crate) fn button<'a>(page: &'a crate::recorder::Recorded, label: &str) -> &'a str {
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
pub(crate) async fn request_message(app: &TestApp, marker: &str) -> crate::recorder::Recorded {
    let seen = app
        .recorder
        .wait_for("the request message", Duration::from_secs(30), |r| {
            r.iter()
                .any(|x| x.is_request_post() && x.status == 200 && x.text().contains(marker))
        })
        .await;
    seen.into_iter()
        .rev()
        .find(|x| x.is_request_post() && x.status == 200 && x.text().contains(marker))
        .unwrap()
}

/// `/flink <sub> <job>` from the on-call requester: the reply says how many approvals it needs,
/// and the request's message (carrying `marker`) is returned.
async fn command_request(
    app: &TestApp,
    sub: &str,
    job: &str,
    marker: &str,
    needed: u8,
) -> crate::recorder::Recorded {
    let (answer, _, _) = ask(app, payloads::command(sub, &[("job", json!(job))])).await;
    assert!(
        text(&answer).contains(&format!("needs {needed} approval")),
        "{answer}"
    );
    request_message(app, marker).await
}

/// Waits for an edit of the request message whose text contains `what`.
pub(crate) async fn request_edit(
    app: &TestApp,
    message_id: u64,
    what: &str,
    within: Duration,
) -> String {
    let seen = app
        .recorder
        .wait_for(what, within, |r| {
            r.iter().any(|x| {
                x.method == "PATCH"
                    && x.status == 200
                    && x.message_id == Some(message_id)
                    && x.text().contains(what)
            })
        })
        .await;
    seen.into_iter()
        .rev()
        .find(|x| {
            x.method == "PATCH"
                && x.status == 200
                && x.message_id == Some(message_id)
                && x.text().contains(what)
        })
        .unwrap()
        .text()
}

pub(crate) fn vote(request: &crate::recorder::Recorded, label: &str) -> String {
    button(request, label).to_string()
}

pub(crate) async fn press(app: &TestApp, custom_id: &str, message_id: u64, user: u64) -> String {
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

/// A job of its own on Flink 2.3, the bot on that cluster, and the job's page delivered.
struct Paged {
    job: OwnJob,
    app: TestApp,
    page: crate::recorder::Recorded,
    page_id: u64,
}

async fn paged(job_name: &str) -> Paged {
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, job_name).await;
    let app = bot(&cluster, &[]).await;
    let name = cluster.config().name;
    let page = page(&app, &name, &job.id).await;
    let page_id = page.message_id.unwrap();
    Paged {
        job,
        app,
        page,
        page_id,
    }
}

async fn audit_text(app: &TestApp, job: &str) -> String {
    let (answer, _, _) = ask(app, payloads::command("audit", &[("job", json!(job))])).await;
    text(&answer)
}

#[tokio::test]
async fn a_savepoint_from_a_page_runs_once_a_second_person_approves() {
    let Paged {
        job,
        app,
        page,
        page_id,
    } = paged("chatops-guarded-savepoint").await;

    let reply = press(&app, button(&page, "Savepoint"), page_id, USER_ID).await;
    assert!(reply.contains("needs 1 approval"), "{reply}");
    let request = request_message(&app, "Savepoint").await;
    let threads = app.recorder.calls("/threads");
    assert_eq!(threads.len(), 1, "one thread on the incident message");
    assert!(threads[0].path.contains(&page_id.to_string()));
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

    // The incident's own message tells the story at a glance.
    let ack = press(&app, button(&page, "Acknowledge"), page_id, CAROL).await;
    assert!(
        ack.contains("starting now"),
        "acknowledge needs no approval: {ack}"
    );
    let seen = app
        .recorder
        .wait_for("the incident's note", Duration::from_secs(30), |r| {
            r.iter().any(|x| {
                x.method == "PATCH"
                    && x.message_id == Some(page_id)
                    && x.text().contains("acknowledged by")
            })
        })
        .await;
    let note = seen
        .iter()
        .rev()
        .find(|x| {
            x.method == "PATCH"
                && x.message_id == Some(page_id)
                && x.text().contains("acknowledged by")
        })
        .unwrap()
        .text();
    assert!(note.contains("Savepoint: done"), "{note}");
    assert!(
        note.contains("FlinkCheckpointTooOld"),
        "the rest of the page is kept: {note}"
    );
}

#[tokio::test]
async fn cancel_needs_two_other_people_and_leaves_the_job_canceled() {
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-guarded-cancel").await;
    let app = bot(&cluster, &[]).await;
    let request = command_request(&app, "cancel", &job.id, "Cancel", 2).await;
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
    let request = command_request(&app, "savepoint", &job.id, "Savepoint", 1).await;
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

#[tokio::test]
async fn a_silence_from_a_page_is_in_alertmanager_until_unsilenced() {
    let cluster = Cluster::get("2.3");
    let am = Alertmanager::start("127.0.0.1:9", FAST).await;
    let app = bot(
        &cluster,
        &[("FLINK_CHATOPS__ALERTMANAGER__URL", am.url.as_str())],
    )
    .await;
    let name = cluster.config().name;
    // An alert the diagnosis does not know offers Silence.
    let body = webhook(
        json!({"alertname": "OrdersTeamCustomAlert", "flink_cluster": name, "job_id": cluster.harness_job("HEALTHY"), "team": "orders"}),
    );
    assert_eq!(
        app.post_webhook(body, Some(WEBHOOK_TOKEN)).await.status(),
        200
    );
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(30), |r| {
            r.iter()
                .any(|x| x.method == "POST" && x.text().contains("OrdersTeamCustomAlert"))
        })
        .await;
    let page = seen
        .into_iter()
        .find(|x| x.method == "POST" && x.text().contains("OrdersTeamCustomAlert"))
        .unwrap();
    let page_id = page.message_id.unwrap();
    while app.pending().await > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = press(&app, button(&page, "Silence 1 h"), page_id, BOB).await;
    assert!(reply.contains("starting now"), "{reply}");
    let request = request_message(&app, "Silence").await;
    let done = request_edit(
        &app,
        request.message_id.unwrap(),
        "✅",
        Duration::from_secs(30),
    )
    .await;
    assert!(done.contains("silenced until"), "{done}");

    let silences: serde_json::Value = reqwest::get(format!("{}/api/v2/silences", am.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ours = silences
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["status"]["state"] == "active"
                && s["comment"]
                    .as_str()
                    .unwrap_or("")
                    .contains("flink-chatops request")
        })
        .unwrap_or_else(|| panic!("no active silence from the bot: {silences}"));
    assert_eq!(ours["createdBy"], format!("User {}", BOB % 1000), "{ours}");
    assert!(
        ours["comment"].as_str().unwrap().contains(&format!(
            "/channels/{}/111222333/{page_id}",
            payloads::GUILD_ID
        )),
        "links the message: {ours}"
    );
    let matchers = ours["matchers"].as_array().unwrap();
    assert!(
        matchers.iter().any(|m| m["name"] == "alertname"
            && m["value"] == "OrdersTeamCustomAlert"
            && m["isEqual"] == true),
        "{ours}"
    );
    assert!(
        matchers
            .iter()
            .any(|m| m["name"] == "team" && m["value"] == "orders"),
        "{ours}"
    );
    let ends = chrono::DateTime::parse_from_rfc3339(ours["endsAt"].as_str().unwrap()).unwrap();
    let left = ends.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(55) && left <= chrono::Duration::minutes(60),
        "1 h: {left}"
    );

    // Unsilence, from the request's result.
    let finished = app
        .recorder
        .requests()
        .into_iter()
        .rev()
        .find(|x| {
            x.method == "PATCH" && x.message_id == request.message_id && x.text().contains("✅")
        })
        .unwrap();
    let unsilence = button(&finished, "Unsilence").to_string();
    let reply = press(&app, &unsilence, request.message_id.unwrap(), BOB).await;
    assert!(reply.contains("starting now"), "{reply}");
    let id = ours["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s: serde_json::Value = reqwest::get(format!("{}/api/v2/silence/{id}", am.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if s["status"]["state"] == "expired" {
            break;
        }
        assert!(Instant::now() < deadline, "still {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_thread_dump_from_a_page_attaches_the_real_threads() {
    let cluster = Cluster::get("2.3");
    let app = bot(&cluster, &[]).await;
    let healthy = cluster.harness_job("HEALTHY");
    let page = page(&app, &cluster.config().name, &healthy).await;
    let reply = press(
        &app,
        button(&page, "Thread dump"),
        page.message_id.unwrap(),
        USER_ID,
    )
    .await;
    assert!(
        reply.contains("starting now"),
        "a dump needs no approval: {reply}"
    );
    let seen = app
        .recorder
        .wait_for("the dump files", Duration::from_secs(60), |r| {
            r.iter().any(|x| x.method == "POST" && !x.files.is_empty())
        })
        .await;
    let files = &seen
        .iter()
        .find(|x| x.method == "POST" && !x.files.is_empty())
        .unwrap()
        .files;
    let jm = files
        .iter()
        .find(|(n, _)| n.starts_with("jobmanager"))
        .expect("the JobManager's dump");
    assert!(
        String::from_utf8_lossy(&jm.1).contains("flink-pekko"),
        "real JobManager threads"
    );
    let tm = files
        .iter()
        .find(|(n, _)| n.starts_with("taskmanager"))
        .expect("a TaskManager's dump");
    assert!(
        String::from_utf8_lossy(&tm.1).contains("count-per-key"),
        "the job's own task thread"
    );
}

#[tokio::test]
async fn stop_with_savepoint_leaves_the_job_finished_with_a_savepoint() {
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-guarded-stop").await;
    let app = bot(&cluster, &[]).await;
    let request = command_request(&app, "stop", &job.id, "Stop with savepoint", 2).await;
    assert!(
        request
            .text()
            .contains(&format!("POST /jobs/{}/stop", job.id)),
        "{}",
        request.text()
    );
    let id = request.message_id.unwrap();
    let approve = vote(&request, "Approve");
    press(&app, &approve, id, BOB).await;
    assert!(press(&app, &approve, id, CAROL).await.contains("runs now"));
    let done = request_edit(&app, id, "✅", Duration::from_secs(120)).await;
    assert!(
        done.contains("savepoint at `file:") && done.contains("the job is now FINISHED"),
        "{done}"
    );
    job.wait_for_state("FINISHED").await;
    assert_eq!(job.savepoints_on_disk().len(), 1);
}

#[tokio::test]
async fn dry_run_approves_and_audits_but_changes_nothing() {
    let cluster = Cluster::get("2.3");
    let app = bot(&cluster, &[("FLINK_CHATOPS__POLICY__DRY_RUN", "true")]).await;
    let healthy = cluster.harness_job("HEALTHY");
    let request = command_request(&app, "cancel", &healthy, "Cancel", 2).await;
    assert!(
        request.text().contains("dry run"),
        "the request says so: {}",
        request.text()
    );
    let id = request.message_id.unwrap();
    let approve = vote(&request, "Approve");
    press(&app, &approve, id, BOB).await;
    press(&app, &approve, id, CAROL).await;
    let done = request_edit(&app, id, "✅", Duration::from_secs(60)).await;
    assert!(done.contains("dry run: nothing was changed"), "{done}");
    let state = crate::interactions::flink(&cluster.url, &format!("/jobs/{healthy}")).await;
    assert_eq!(state["state"], "RUNNING", "the shared job is untouched");
    assert!(
        audit_text(&app, &healthy)
            .await
            .contains("executing cancel"),
        "audited as run"
    );
}

#[tokio::test]
async fn when_the_audit_log_cannot_be_written_nothing_is_requested_or_run() {
    let cluster = Cluster::get("2.3");
    // The published head lives on a full disk: a real 64 KiB tmpfs, filled up, so every audit
    // write fails with ENOSPC.
    let full = FullDisk::new();
    let head = full.dir.join("audit-head.jsonl");
    let head = head.to_str().unwrap();
    let app = bot(&cluster, &[("FLINK_CHATOPS__AUDIT__HEAD_FILE", head)]).await;
    let healthy = cluster.harness_job("HEALTHY");
    for sub in ["cancel", "threaddump"] {
        let (answer, _, ephemeral) =
            ask(&app, payloads::command(sub, &[("job", json!(healthy))])).await;
        let t = text(&answer);
        assert!(
            ephemeral && t.contains("audit log cannot be written"),
            "{sub}: {t}"
        );
        assert!(!t.contains(head), "no paths in chat: {t}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !app.recorder.requests().iter().any(|x| x.is_request_post()),
        "no request message was posted"
    );
    let state = crate::interactions::flink(&cluster.url, &format!("/jobs/{healthy}")).await;
    assert_eq!(state["state"], "RUNNING");
}

/// A tiny tmpfs filled to the last byte; unmounted on drop. Fails (never skips) when it cannot
/// be mounted: the test needs root, as the test command runs.
struct FullDisk {
    dir: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

impl FullDisk {
    fn new() -> FullDisk {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("full");
        std::fs::create_dir(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "cannot mount a tmpfs at {} (needs root, as tests/run.sh runs in CI)",
            dir.display()
        );
        std::fs::write(dir.join("audit-head.jsonl"), b"").unwrap();
        let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
        use std::io::Write;
        while filler.write_all(&[0u8; 4096]).is_ok() {}
        let _ = filler.write_all(&[0u8; 1]);
        FullDisk { dir, _tmp: tmp }
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// Writes that succeeded (Discord answered 2xx), of calls matching `pred`.
fn landed(app: &TestApp, pred: impl Fn(&crate::recorder::Recorded) -> bool) -> usize {
    app.recorder
        .requests()
        .iter()
        .filter(|x| (200..300).contains(&x.status) && pred(x))
        .count()
}

#[tokio::test]
async fn a_discord_outage_while_an_approved_savepoint_runs_loses_nothing_and_doubles_nothing() {
    let Paged {
        job,
        app,
        page,
        page_id,
    } = paged("chatops-outbox-outage").await;
    let reply = press(&app, button(&page, "Savepoint"), page_id, USER_ID).await;
    assert!(reply.contains("needs 1 approval"), "{reply}");
    let request = request_message(&app, "Savepoint").await;
    let request_id = request.message_id.unwrap();

    // Discord answers 500 to every write for 30 s, starting right before the approval.
    let outage = Duration::from_secs(30);
    app.recorder.outage(outage);
    let started = Instant::now();
    let approved = press(&app, &vote(&request, "Approve"), request_id, MALLORY).await;
    assert!(approved.contains("Approved"), "{approved}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while job.savepoints_on_disk().is_empty() {
        assert!(Instant::now() < deadline, "no savepoint");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        started.elapsed() < outage,
        "the savepoint is written while Discord fails"
    );

    let done = request_edit(&app, request_id, "✅", Duration::from_secs(120)).await;
    assert!(done.contains("savepoint at `file:"), "{done}");
    assert!(
        started.elapsed() >= outage,
        "shown only after Discord recovered"
    );
    app.recorder
        .wait_for("the incident's state line", Duration::from_secs(60), |r| {
            r.iter().any(|x| {
                x.method == "PATCH"
                    && x.status == 200
                    && x.message_id == Some(page_id)
                    && x.text().contains("Savepoint: done")
            })
        })
        .await;
    let failed = app
        .recorder
        .requests()
        .iter()
        .filter(|x| x.status == 500)
        .count();
    assert!(failed > 0, "the outage was seen");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        landed(&app, |x| x.is_request_post()),
        1,
        "one request message"
    );
    assert_eq!(
        landed(&app, |x| x.method == "POST"
            && x.path.ends_with("/messages")),
        2,
        "the page and the request, nothing else posted"
    );
    assert_eq!(job.savepoints_on_disk().len(), 1, "one savepoint");
    let audit = audit_text(&app, &job.id).await;
    assert_eq!(audit.matches("executing").count(), 1, "one run: {audit}");
}

#[tokio::test]
async fn rate_limits_on_the_thread_the_request_and_the_result_are_waited_out_once_each() {
    use crate::recorder::{Fault, On};
    let Paged {
        job,
        app,
        page,
        page_id,
    } = paged("chatops-outbox-429").await;
    let limited = Fault::RateLimited { retry_after: 2.0 };
    let on = |method, path, text| On { method, path, text };
    app.recorder
        .inject_on(on("POST", "/threads", None), limited.clone());
    app.recorder.inject_on(
        on("POST", "/messages", Some("Requested by")),
        limited.clone(),
    );
    app.recorder
        .inject_on(on("PATCH", "/messages/", Some("✅")), limited.clone());
    app.recorder
        .inject_on(on("PATCH", "/messages/", Some("Savepoint: done")), limited);
    // After its 429, the thread also meets a 500 once: retried, still one thread.
    app.recorder
        .inject_on(on("POST", "/threads", None), Fault::ServerError);

    press(&app, button(&page, "Savepoint"), page_id, USER_ID).await;
    let request = request_message(&app, "Savepoint").await;
    let request_id = request.message_id.unwrap();
    press(&app, &vote(&request, "Approve"), request_id, MALLORY).await;
    let done = request_edit(&app, request_id, "✅", Duration::from_secs(90)).await;
    assert!(done.contains("savepoint at `file:"), "{done}");
    app.recorder
        .wait_for("the state line", Duration::from_secs(30), |r| {
            r.iter().any(|x| {
                x.status == 200
                    && x.message_id == Some(page_id)
                    && x.text().contains("Savepoint: done")
            })
        })
        .await;

    let all = app.recorder.requests();
    // Each 429 was followed by the same call, no sooner than Discord asked.
    for (what, is) in [
        (
            "thread",
            Box::new(|x: &crate::recorder::Recorded| x.path.ends_with("/threads"))
                as Box<dyn Fn(&crate::recorder::Recorded) -> bool>,
        ),
        ("request post", Box::new(|x| x.is_request_post())),
        (
            "state line",
            Box::new(move |x| {
                x.method == "PATCH"
                    && x.message_id == Some(page_id)
                    && x.text().contains("Savepoint: done")
            }),
        ),
        (
            "result edit",
            Box::new(|x| x.method == "PATCH" && x.text().contains("✅")),
        ),
    ] {
        let calls: Vec<_> = all.iter().filter(|x| is(x)).collect();
        assert_eq!(calls[0].status, 429, "{what}: first answered 429");
        let ok: Vec<_> = calls.iter().filter(|x| x.status < 300).collect();
        assert_eq!(ok.len(), 1, "{what}: done once: {calls:?}");
        let waited = ok[0].at - calls[0].at;
        assert!(
            waited >= Duration::from_millis(1_900),
            "{what}: waited {waited:?}"
        );
    }
    assert_eq!(job.savepoints_on_disk().len(), 1);
}

#[tokio::test]
async fn a_command_for_a_job_with_an_open_incident_puts_the_request_in_its_thread() {
    let Paged {
        job,
        app,
        page: _,
        page_id,
    } = paged("chatops-command-thread").await;
    let request = command_request(&app, "savepoint", &job.id, "Savepoint", 1).await;
    // A thread started from a message has the message's id.
    assert_eq!(
        request.channel_id, page_id,
        "the request is in the incident's thread, not the channel"
    );
    let threads = app.recorder.calls("/threads");
    assert_eq!(threads.len(), 1, "{threads:?}");
    // A second request finds the same thread (Discord's 160004 is not needed to find it).
    let again = command_request(&app, "cancel", &job.id, "Cancel", 2).await;
    assert_eq!(again.channel_id, page_id);
    assert_eq!(app.recorder.calls("/threads").len(), 1);
}

#[tokio::test]
async fn thread_dump_files_reach_the_thread_once_through_a_429_and_a_500() {
    use crate::recorder::{Fault, On};
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-outbox-files").await;
    let app = bot(&cluster, &[]).await;
    let on = On {
        method: "POST",
        path: "/messages",
        text: Some("Files for request"),
    };
    app.recorder
        .inject_on(on.clone(), Fault::RateLimited { retry_after: 1.0 });
    app.recorder.inject_on(on, Fault::ServerError);

    let (answer, _, _) = ask(
        &app,
        payloads::command("threaddump", &[("job", json!(job.id))]),
    )
    .await;
    assert!(text(&answer).contains("starting now"), "{answer}");
    let request = request_message(&app, "Thread dump").await;
    let done = request_edit(
        &app,
        request.message_id.unwrap(),
        "✅",
        Duration::from_secs(60),
    )
    .await;
    assert!(done.contains("thread dump(s) attached"), "{done}");
    let seen = app
        .recorder
        .wait_for("the files", Duration::from_secs(30), |r| {
            r.iter().any(|x| {
                x.status == 200 && x.method == "POST" && x.text().contains("Files for request")
            })
        })
        .await;
    let tries: Vec<_> = seen
        .iter()
        .filter(|x| x.method == "POST" && x.text().contains("Files for request"))
        .collect();
    let statuses: Vec<u16> = tries.iter().map(|x| x.status).collect();
    assert_eq!(statuses, [429, 500, 200], "waited, retried, posted once");
    let posted = tries[2];
    assert_eq!(
        posted.channel_id, request.channel_id,
        "under the request's message"
    );
    assert!(!posted.files.is_empty());
    assert!(posted
        .files
        .iter()
        .all(|(name, bytes)| name.ends_with("-threads.txt") && !bytes.is_empty()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        landed(&app, |x| x.method == "POST"
            && x.text().contains("Files for request")),
        1
    );
}

#[tokio::test]
async fn a_storm_digest_and_an_action_in_one_channel_each_keep_their_own_message() {
    use crate::recorder::{RateLimits, Recorder};
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-outbox-storm").await;
    // Discord's real per-channel limits: the digest's edits and the request's wait in one bucket.
    let recorder = Recorder::start().await;
    recorder.rate_limit(Some(RateLimits::DISCORD));
    let mut opts = options(vec![(cluster.config().name, cluster.url.clone())]);
    opts.recorder = Some(recorder);
    opts.digest_after = Some(3);
    let oncall = format!("[\"role:{ROLE_ONCALL}\"]");
    opts.extra
        .push(("FLINK_CHATOPS__POLICY__REQUESTERS".into(), oncall.clone()));
    opts.extra
        .push(("FLINK_CHATOPS__POLICY__APPROVERS".into(), oncall));
    opts.extra.push((
        "FLINK_CHATOPS__POLICY__ACTIONS__SAVEPOINT__APPROVALS".into(),
        "0".into(),
    ));
    let app = spawn_app(opts).await;

    const STORM: usize = 20;
    for i in 0..STORM {
        let body = webhook(
            json!({"alertname": format!("StormLag{i:02}"), "severity": "warning", "job_name": format!("storm-{i:02}")}),
        );
        assert_eq!(
            app.post_webhook(body, Some(WEBHOOK_TOKEN)).await.status(),
            200
        );
    }
    // A command in the same channel, about a job with no incident: its request goes there too.
    let (answer, _, _) = ask(
        &app,
        payloads::command("savepoint", &[("job", json!(job.id))]),
    )
    .await;
    assert!(text(&answer).contains("starting now"), "{answer}");
    let request = request_message(&app, "Savepoint").await;
    let request_id = request.message_id.unwrap();
    let done = request_edit(&app, request_id, "✅", Duration::from_secs(120)).await;
    assert!(done.contains("savepoint at `file:"), "{done}");
    let seen = app
        .recorder
        .wait_for("the whole storm", Duration::from_secs(120), |r| {
            r.iter().any(|x| {
                x.status == 200
                    && x.embed()["title"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("Storm digest: 17 incidents"))
            })
        })
        .await;
    let digest_id = seen
        .iter()
        .find(|x| x.status == 200 && x.text().contains("Storm digest"))
        .and_then(|x| x.message_id)
        .unwrap();
    assert_ne!(digest_id, request_id);
    // One writer per message: the digest's writes only ever show the digest, the request's
    // only the request.
    for x in app.recorder.requests().iter().filter(|x| x.status == 200) {
        if x.message_id == Some(digest_id) {
            assert!(x.text().contains("Storm digest"), "{}", x.text());
        }
        if x.message_id == Some(request_id) {
            assert!(x.is_request_post() || x.text().contains("Savepoint"));
            assert!(!x.text().contains("Storm digest"));
        }
    }
    assert_eq!(landed(&app, |x| x.is_request_post()), 1);
    let (limited, _) = app.recorder.rate_limited();
    assert_eq!(
        limited, 0,
        "the bot waits for the bucket instead of hitting 429s"
    );
}
