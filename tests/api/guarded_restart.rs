//! Guarded requests across a SIGKILL of the bot process: an in-flight savepoint completes after
//! the restart and is reported once; a request that expired while the bot was down is expired
//! and refused after it comes back.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::actions::own_job::{Cluster, OwnJob};
use crate::helpers::*;
use crate::interactions::{ask, key, text};
use crate::payloads::{self, as_user, APP_ID, ROLE_ONCALL, USER_ID};
use crate::recorder::Recorder;

/// A bot process with the endpoint, the 2.3 cluster and `policy` appended to its config.
struct Setup {
    recorder: Recorder,
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

impl Setup {
    async fn new(cluster: &Cluster, policy: &str) -> Setup {
        let recorder = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bot.toml");
        let opts = AppOptions {
            clusters: vec![(cluster.config().name, cluster.url.clone())],
            ..Default::default()
        };
        let public_key = hex::encode(key().verifying_key().to_bytes());
        let oncall = format!("[\"role:{ROLE_ONCALL}\"]");
        let toml = config_toml(&opts, &recorder.base_url, dir.path(), free_port()).replace(
            "[discord]\n",
            &format!("[discord]\napplication_id = {APP_ID}\npublic_key = \"{public_key}\"\ngateway = false\n"),
        ) + &format!("[policy]\nrequesters = {oncall}\napprovers = {oncall}\n{policy}\n");
        std::fs::write(&file, toml).unwrap();
        Setup {
            recorder,
            dir,
            file,
        }
    }

    /// The running process, and a TestApp view of it for `ask`.
    async fn start(&self) -> (BotProcess, TestApp) {
        let bot = BotProcess::start(&self.file).await;
        let app = TestApp {
            addr: bot.addr.clone(),
            recorder: self.recorder.clone(),
            _data_dir: tempfile::tempdir().unwrap(),
            client: reqwest::Client::new(),
        };
        let _ = &self.dir;
        (bot, app)
    }
}

fn request_posts(r: &Recorder, marker: &str) -> Vec<crate::recorder::Recorded> {
    r.requests()
        .into_iter()
        .filter(|x| x.is_request_post() && x.text().contains(marker))
        .collect()
}

fn edits_with(r: &Recorder, message: u64, what: &str) -> usize {
    r.requests()
        .iter()
        .filter(|x| x.method == "PATCH" && x.message_id == Some(message) && x.text().contains(what))
        .count()
}

#[tokio::test]
async fn a_savepoint_in_flight_during_a_sigkill_completes_after_restart_and_is_reported_once() {
    let cluster = Cluster::get("2.3");
    // Each snapshot takes 8 s, so the savepoint is still running when the bot is killed.
    let job = OwnJob::start_with(
        &cluster,
        "chatops-guarded-sigkill",
        &["--snapshot-sleep-ms", "8000"],
    )
    .await;
    let setup = Setup::new(&cluster, "[policy.actions.savepoint]\napprovals = 0\n").await;
    let (bot, app) = setup.start().await;
    let (answer, _, _) = ask(
        &app,
        payloads::command("savepoint", &[("job", json!(job.id))]),
    )
    .await;
    assert!(text(&answer).contains("starting now"), "{answer}");
    let seen = setup
        .recorder
        .wait_for("the request running", Duration::from_secs(60), |r| {
            r.iter()
                .any(|x| x.method == "PATCH" && x.text().contains("running…"))
        })
        .await;
    let message = seen
        .iter()
        .find(|x| x.method == "PATCH" && x.text().contains("running…"))
        .unwrap()
        .message_id
        .unwrap();
    bot.kill();
    assert_eq!(
        edits_with(&setup.recorder, message, "✅"),
        0,
        "killed before the savepoint finished"
    );

    let (_bot, _app) = setup.start().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while edits_with(&setup.recorder, message, "✅") == 0 {
        assert!(Instant::now() < deadline, "no result after the restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        edits_with(&setup.recorder, message, "✅"),
        1,
        "reported once"
    );
    assert_eq!(
        request_posts(&setup.recorder, "Savepoint").len(),
        1,
        "one request message"
    );
    assert_eq!(job.savepoints_on_disk().len(), 1, "one savepoint");

    // The audit log, read with the bot stopped, holds every step once, and verifies.
    drop(_bot);
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
            .arg("audit")
            .arg("--config")
            .arg(&setup.file)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, list) = cli(&["list"]);
    assert!(ok, "{list}");
    for step in ["requested", "approved", "executing", "succeeded"] {
        assert_eq!(
            list.matches(&format!("{step} savepoint")).count(),
            1,
            "{step} once: {list}"
        );
    }
    let (ok, verified) = cli(&["verify"]);
    assert!(ok, "{verified}");
}

#[tokio::test]
async fn a_request_that_expired_while_the_bot_was_down_is_expired_and_refused() {
    let cluster = Cluster::get("2.3");
    let healthy = cluster.harness_job("HEALTHY");
    let setup = Setup::new(
        &cluster,
        "[policy.actions.savepoint]\napprovals = 1\nexpiry_minutes = 1\n",
    )
    .await;
    let (bot, app) = setup.start().await;
    let (answer, _, _) = ask(
        &app,
        payloads::command("savepoint", &[("job", json!(healthy))]),
    )
    .await;
    assert!(text(&answer).contains("needs 1 approval"), "{answer}");
    let seen = setup
        .recorder
        .wait_for("the request message", Duration::from_secs(30), |r| {
            !request_posts_in(r).is_empty()
        })
        .await;
    let request = request_posts_in(&seen).remove(0);
    let message = request.message_id.unwrap();
    let approve = request.body["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    bot.kill();
    tokio::time::sleep(Duration::from_secs(62)).await;

    let (_bot, app) = setup.start().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while edits_with(&setup.recorder, message, "expired") == 0 {
        assert!(
            Instant::now() < deadline,
            "the restart did not expire the request"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let click = as_user(
        payloads::button(&approve, &message.to_string()),
        USER_ID + 1,
        &[ROLE_ONCALL],
    );
    let (answer, _, _) = ask(&app, click).await;
    let t = text(&answer);
    assert!(t.contains("expired") || t.contains("already"), "{t}");
    assert_eq!(edits_with(&setup.recorder, message, "✅"), 0, "never ran");
}

#[tokio::test]
async fn a_result_that_was_audited_but_not_yet_in_chat_at_a_sigkill_appears_once_after_restart() {
    use crate::recorder::{Fault, On};
    let cluster = Cluster::get("2.3");
    let job = OwnJob::start(&cluster, "chatops-outbox-sigkill").await;
    let setup = Setup::new(&cluster, "[policy.actions.savepoint]\napprovals = 0\n").await;
    // Discord refuses the result edit (500) every time: it is stored and audited, not shown.
    for _ in 0..1_000 {
        setup.recorder.inject_on(
            On {
                method: "PATCH",
                path: "/messages/",
                text: Some("✅"),
            },
            Fault::ServerError,
        );
    }
    let (bot, app) = setup.start().await;
    let (answer, _, _) = ask(
        &app,
        payloads::command("savepoint", &[("job", json!(job.id))]),
    )
    .await;
    assert!(text(&answer).contains("starting now"), "{answer}");
    let seen = setup
        .recorder
        .wait_for("a refused result edit", Duration::from_secs(90), |r| {
            r.iter()
                .any(|x| x.method == "PATCH" && x.status == 500 && x.text().contains("✅"))
        })
        .await;
    let message = seen
        .iter()
        .find(|x| x.method == "PATCH" && x.text().contains("✅"))
        .unwrap()
        .message_id
        .unwrap();
    bot.kill();
    let landed = |r: &Recorder| {
        r.requests()
            .iter()
            .filter(|x| {
                x.method == "PATCH"
                    && x.status == 200
                    && x.message_id == Some(message)
                    && x.text().contains("✅")
            })
            .count()
    };
    assert_eq!(landed(&setup.recorder), 0, "not in chat before the kill");

    setup.recorder.clear_faults();
    let (_bot, _app) = setup.start().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while landed(&setup.recorder) == 0 {
        assert!(Instant::now() < deadline, "no result after the restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(landed(&setup.recorder), 1, "the result appears once");
    assert_eq!(
        request_posts(&setup.recorder, "Savepoint")
            .iter()
            .filter(|x| x.status == 200)
            .count(),
        1,
        "one request message"
    );
    assert_eq!(
        job.savepoints_on_disk().len(),
        1,
        "one savepoint: not run again"
    );
}

fn request_posts_in(r: &[crate::recorder::Recorded]) -> Vec<crate::recorder::Recorded> {
    r.iter()
        .filter(|x| x.is_request_post() && x.text().contains("Savepoint"))
        .cloned()
        .collect()
}
