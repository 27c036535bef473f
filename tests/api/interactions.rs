//! The interaction path over the signed HTTP endpoint, against the real Flink clusters: real
//! Ed25519 signatures made here, answers checked against Flink's own REST answers, deferred
//! answers followed to serenity's edit of the original response at the recorder.

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::payloads::{self, APP_ID};

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

/// Config for the endpoint (no gateway), plus `clusters`.
pub fn options(clusters: Vec<(String, String)>) -> AppOptions {
    AppOptions {
        clusters,
        extra: vec![
            (
                "FLINK_CHATOPS__DISCORD__APPLICATION_ID".into(),
                APP_ID.to_string(),
            ),
            (
                "FLINK_CHATOPS__DISCORD__PUBLIC_KEY".into(),
                hex::encode(key().verifying_key().to_bytes()),
            ),
            ("FLINK_CHATOPS__DISCORD__GATEWAY".into(), "false".into()),
        ],
        ..Default::default()
    }
}

fn both_clusters() -> Vec<(String, String)> {
    vec![
        ("flink23".into(), required_env("FLINK23_URL")),
        ("flink120".into(), required_env("FLINK120_URL")),
    ]
}

pub async fn send_signed(
    app: &TestApp,
    body: &[u8],
    ts: i64,
    sig: Option<String>,
) -> reqwest::Response {
    let ts = ts.to_string();
    let sig =
        sig.unwrap_or_else(|| hex::encode(key().sign(&[ts.as_bytes(), body].concat()).to_bytes()));
    app.client
        .post(app.url("/discord/interactions"))
        .header("content-type", "application/json")
        .header("x-signature-ed25519", sig)
        .header("x-signature-timestamp", ts)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The answer to `payload`: the immediate type-4 data, or the edit of a deferred (type 5) one.
/// Also returns how long the first response took and whether it was ephemeral.
pub async fn ask(app: &TestApp, payload: Value) -> (Value, Duration, bool) {
    let body = serde_json::to_vec(&payload).unwrap();
    let started = Instant::now();
    let r = send_signed(app, &body, now(), None).await;
    let first = started.elapsed();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let answer: Value = r.json().await.unwrap();
    let ephemeral = answer["data"]["flags"].as_u64().unwrap_or(0) & 64 == 64;
    match answer["type"].as_u64() {
        Some(4) | Some(8) => (answer["data"].clone(), first, ephemeral),
        Some(5) => {
            let token = payload["token"].as_str().unwrap().to_string();
            let seen = app
                .recorder
                .wait_for("the deferred answer's edit", Duration::from_secs(40), |r| {
                    r.iter()
                        .any(|x| x.path.contains(&token) && x.path.ends_with("@original"))
                })
                .await;
            let edit = seen
                .iter()
                .find(|x| x.path.contains(&token) && x.path.ends_with("@original"))
                .unwrap();
            let mut body = edit.body.clone();
            body["_files"] = json!(edit
                .files
                .iter()
                .map(
                    |(n, b)| json!({"name": n, "len": b.len(), "text": String::from_utf8_lossy(b)})
                )
                .collect::<Vec<_>>());
            (body, first, ephemeral)
        }
        other => panic!("unexpected interaction response type {other:?}: {answer}"),
    }
}

/// All text of an answer (content, embed titles, descriptions, fields, footers).
pub fn text(data: &Value) -> String {
    let mut s = data["content"].as_str().unwrap_or("").to_string();
    for e in data["embeds"].as_array().into_iter().flatten() {
        for k in ["title", "description"] {
            s.push('\n');
            s.push_str(e[k].as_str().unwrap_or(""));
        }
        for f in e["fields"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "\n{}\n{}",
                f["name"].as_str().unwrap_or(""),
                f["value"].as_str().unwrap_or("")
            ));
        }
        s.push('\n');
        s.push_str(e["footer"]["text"].as_str().unwrap_or(""));
    }
    s
}

pub async fn flink(url: &str, path: &str) -> Value {
    reqwest::get(format!("{url}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn signatures_timestamps_and_bodies_are_checked() {
    let app = spawn_app(options(both_clusters())).await;
    let ping = serde_json::to_vec(&payloads::ping()).unwrap();
    let r = send_signed(&app, &ping, now(), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["type"],
        1,
        "PING gets PONG"
    );

    let other = SigningKey::from_bytes(&[1u8; 32]);
    let ts = now().to_string();
    let forged = hex::encode(other.sign(&[ts.as_bytes(), &ping[..]].concat()).to_bytes());
    assert_eq!(
        send_signed(&app, &ping, now(), Some(forged)).await.status(),
        401,
        "signed by another key"
    );
    assert_eq!(
        send_signed(&app, &ping, now(), Some("00".repeat(64)))
            .await
            .status(),
        401,
        "bad signature"
    );
    assert_eq!(
        send_signed(&app, &ping, now() - 3_600, None).await.status(),
        401,
        "an hour old: a replay"
    );
    let r = app
        .client
        .post(app.url("/discord/interactions"))
        .body(ping.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no signature headers");
    let r = send_signed(&app, b"{not json", now(), None).await;
    assert_eq!(r.status(), 400, "signed but malformed");
    let big = vec![b' '; 70 * 1024];
    assert_eq!(send_signed(&app, &big, now(), None).await.status(), 413);
}

#[tokio::test]
async fn status_matches_flinks_own_answers_on_both_versions() {
    let app = spawn_app(options(both_clusters())).await;
    for (cluster, url, tag) in [
        ("flink23", required_env("FLINK23_URL"), "23"),
        ("flink120", required_env("FLINK120_URL"), "120"),
    ] {
        // A failed job: the root cause is the innermost Caused by, not the wrapper.
        let nested = required_env(&format!("FLINK{tag}_JOB_NESTED"));
        let job = flink(&url, &format!("/jobs/{nested}")).await;
        let (answer, first, ephemeral) = ask(
            &app,
            payloads::command(
                "status",
                &[("job", json!(nested)), ("cluster", json!(cluster))],
            ),
        )
        .await;
        let t = text(&answer);
        assert!(
            first < Duration::from_secs(3),
            "{cluster}: first response took {first:?}"
        );
        assert!(ephemeral, "{cluster}: answers are ephemeral by default");
        assert!(t.contains(job["name"].as_str().unwrap()), "{cluster}: {t}");
        assert!(
            t.contains(&format!("**{}**", job["state"].as_str().unwrap())),
            "{cluster}: state: {t}"
        );
        assert!(
            t.contains("java.io.FileNotFoundException"),
            "{cluster}: root cause: {t}"
        );

        // A healthy job: its last completed checkpoint is at least the one Flink showed before.
        let healthy = required_env(&format!("FLINK{tag}_JOB_HEALTHY"));
        let before = flink(&url, &format!("/jobs/{healthy}/checkpoints")).await["latest"]
            ["completed"]["id"]
            .as_i64()
            .expect("the healthy job has completed a checkpoint");
        let (answer, _, _) = ask(
            &app,
            payloads::command("status", &[("job", json!(format!("{cluster}/{healthy}")))]),
        )
        .await;
        let t = text(&answer);
        let shown: i64 = t
            .split("Last checkpoint\n#")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{cluster}: no checkpoint id in {t}"));
        assert!(
            shown >= before,
            "{cluster}: checkpoint #{shown} older than Flink's #{before}"
        );
        assert!(t.contains("**RUNNING**"), "{cluster}: {t}");

        // A restart loop: the restart count is Flink's, or said to be missing.
        let looping = required_env(&format!("FLINK{tag}_JOB_RESTART_LOOP"));
        let (answer, _, _) = ask(
            &app,
            payloads::command(
                "status",
                &[("job", json!(looping)), ("public", json!(true))],
            ),
        )
        .await;
        let t = text(&answer);
        assert!(t.contains("IllegalStateException"), "{cluster}: {t}");
        match t.split("Restarts\n").nth(1).and_then(|r| r.lines().next()) {
            Some(n) => assert!(n.trim().parse::<i64>().unwrap() > 0, "{cluster}: {t}"),
            None => assert!(
                t.contains("restarts"),
                "{cluster}: restarts neither shown nor listed missing: {t}"
            ),
        }
    }
}

#[tokio::test]
async fn jobs_exceptions_and_checkpoints_answer_from_flink() {
    let app = spawn_app(options(both_clusters())).await;
    let (answer, _, _) = ask(
        &app,
        payloads::command("jobs", &[("cluster", json!("flink23"))]),
    )
    .await;
    let t = text(&answer);
    for name in [
        "harness-healthy",
        "harness-restart-loop",
        "harness-serialization",
    ] {
        assert!(t.contains(name), "{name} missing from {t}");
    }
    let desc = answer["embeds"][0]["description"].as_str().unwrap();
    assert!(
        desc.lines().next().unwrap().starts_with("🔴"),
        "troubled jobs first: {desc}"
    );
    assert!(!t.contains("flink120"), "only the cluster asked for: {t}");

    for (url, tag) in [
        (required_env("FLINK23_URL"), "23"),
        (required_env("FLINK120_URL"), "120"),
    ] {
        let looping = required_env(&format!("FLINK{tag}_JOB_RESTART_LOOP"));
        let (answer, _, _) = ask(
            &app,
            payloads::command("exceptions", &[("job", json!(looping))]),
        )
        .await;
        let t = text(&answer);
        assert!(t.contains("java.lang.IllegalStateException"), "{t}");
        assert!(t.contains("harness restart loop: poison record"), "{t}");
        assert!(
            t.contains("· restart_loop")
                || t.contains("· user_code_bug")
                || t.contains("· unknown"),
            "each entry names a pattern: {t}"
        );

        // A long trace does not fit in the embed: it comes as a file on the edited answer.
        let nested = required_env(&format!("FLINK{tag}_JOB_NESTED"));
        let (answer, _, _) = ask(
            &app,
            payloads::command("exceptions", &[("job", json!(nested))]),
        )
        .await;
        let files = answer["_files"].as_array().cloned().unwrap_or_default();
        assert!(
            files
                .iter()
                .any(|f| f["name"].as_str().unwrap().starts_with("exceptions-")
                    && f["len"].as_u64().unwrap() > 900),
            "the newest trace is attached: {answer}"
        );
        assert!(
            text(&answer).contains("java.io.FileNotFoundException"),
            "{answer}"
        );

        let healthy = required_env(&format!("FLINK{tag}_JOB_HEALTHY"));
        let counts = flink(&url, &format!("/jobs/{healthy}/checkpoints")).await;
        let (answer, _, _) = ask(
            &app,
            payloads::command("checkpoints", &[("job", json!(healthy))]),
        )
        .await;
        let t = text(&answer);
        let completed = counts["counts"]["completed"].as_i64().unwrap();
        let shown: i64 = t
            .split(" completed ·")
            .next()
            .and_then(|r| r.rsplit('\n').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no count in {t}"));
        assert!(shown >= completed, "{shown} < {completed}: {t}");
        assert!(t.contains("Recent history"), "{t}");
    }
}

#[tokio::test]
async fn bad_input_is_answered_ephemerally_with_the_closest_matches() {
    let app = spawn_app(options(both_clusters())).await;
    let (answer, _, ephemeral) = ask(
        &app,
        payloads::command(
            "status",
            &[
                ("job", json!("harnes-healthy")),
                ("cluster", json!("flink23")),
            ],
        ),
    )
    .await;
    let t = text(&answer);
    assert!(ephemeral);
    assert!(
        t.contains("no job matches `harnes-healthy`") && t.contains("closest: `harness-healthy`"),
        "{t}"
    );
    let (answer, _, _) = ask(
        &app,
        payloads::command(
            "checkpoints",
            &[("job", json!("x")), ("cluster", json!("nope"))],
        ),
    )
    .await;
    assert!(
        text(&answer).contains("no cluster is named `nope`"),
        "{answer}"
    );
    let (answer, _, _) = ask(
        &app,
        payloads::command("status", &[("job", json!("harness-healthy"))]),
    )
    .await;
    assert!(
        text(&answer).contains("several clusters"),
        "the same name on both clusters: {answer}"
    );
    let t = text(&answer);
    assert!(
        !t.contains("http://") && !t.contains("127.0.0.1"),
        "no internal detail: {t}"
    );
}

#[tokio::test]
async fn a_hung_flink_still_gets_an_answer_in_time() {
    let hung = black_hole().await;
    let mut opts = options(vec![("hung".into(), hung)]);
    opts.call_timeout_ms = 1_000;
    let app = spawn_app(opts).await;
    let (answer, first, _) = ask(
        &app,
        payloads::command("status", &[("job", json!("orders"))]),
    )
    .await;
    assert!(
        first < Duration::from_secs(3),
        "first response after {first:?}"
    );
    let t = text(&answer);
    assert!(t.contains("did not answer"), "{t}");
    assert!(!t.contains("127.0.0.1"), "no addresses in chat: {t}");
    let started = Instant::now();
    let (answer, _, _) = ask(&app, payloads::autocomplete("status", "ord", &[])).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "autocomplete answers from memory"
    );
    assert!(answer["choices"].is_array(), "{answer}");
}

#[tokio::test]
async fn autocomplete_offers_running_and_failed_jobs_at_most_25() {
    let app = spawn_app(options(both_clusters())).await;
    // The index warms in the background at start; the first answer may predate it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let choices = loop {
        let (answer, _, _) = ask(&app, payloads::autocomplete("status", "harness", &[])).await;
        let choices = answer["choices"].as_array().cloned().unwrap_or_default();
        if choices.len() >= 8 || Instant::now() > deadline {
            break choices;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let values: Vec<&str> = choices
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    let healthy23 = format!("flink23/{}", required_env("FLINK23_JOB_HEALTHY"));
    let nested120 = format!("flink120/{}", required_env("FLINK120_JOB_NESTED"));
    assert!(values.contains(&healthy23.as_str()), "{values:?}");
    assert!(
        values.contains(&nested120.as_str()),
        "recently failed jobs are offered: {values:?}"
    );
    assert!(choices.len() <= 25);
    let first = choices[0]["name"].as_str().unwrap();
    assert!(
        first.contains("FAILED") || first.contains("RESTARTING"),
        "troubled first: {first}"
    );

    // More jobs than Discord shows: a Flink stand-in listing 40 jobs (the real clusters have
    // 12 slots; this is a scale case, not a fault).
    let many = stand_in_with_jobs(40).await;
    let app = spawn_app(options(vec![("big".into(), many)])).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (answer, _, _) = ask(&app, payloads::autocomplete("status", "", &[])).await;
        let n = answer["choices"].as_array().map_or(0, Vec::len);
        if n > 0 {
            assert_eq!(n, 25, "at most 25 choices: {answer}");
            break;
        }
        assert!(Instant::now() < deadline, "no choices: {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_button_on_a_real_page_answers_about_that_pages_job() {
    let app = spawn_app(options(both_clusters())).await;
    let healthy = required_env("FLINK23_JOB_HEALTHY");
    let body = webhook(
        json!({"alertname": "FlinkCheckpointTooOld", "flink_cluster": "flink23", "job_id": healthy, "severity": "warning"}),
    );
    assert_eq!(
        app.post_webhook(body, Some(WEBHOOK_TOKEN)).await.status(),
        200
    );
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(20), |r| {
            r.iter()
                .any(|x| x.method == "POST" && x.status == 200 && x.path.ends_with("/messages"))
        })
        .await;
    let page = seen
        .iter()
        .find(|x| x.method == "POST" && x.path.ends_with("/messages"))
        .unwrap();
    let buttons: Vec<&Value> = page.body["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let labels: Vec<&str> = buttons
        .iter()
        .map(|b| b["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels[..3], ["Status", "Exceptions", "Checkpoints"]);
    assert!(
        labels.contains(&"Acknowledge"),
        "a firing page offers the guarded actions too: {labels:?}"
    );
    let status_id = buttons[0]["custom_id"].as_str().unwrap();
    assert!(
        !status_id.contains(&healthy),
        "custom_id carries no parameters: {status_id}"
    );
    let message_id = page.message_id.unwrap().to_string();

    // The job is remembered once the delivery is recorded.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (answer, _, ephemeral) = ask(&app, payloads::button(status_id, &message_id)).await;
        let t = text(&answer);
        if t.contains("harness-healthy") {
            assert!(ephemeral, "a button answers only whoever pressed it");
            assert!(t.contains("**RUNNING**"), "{t}");
            break;
        }
        assert!(Instant::now() < deadline, "{t}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let checkpoints_id = buttons[2]["custom_id"].as_str().unwrap();
    let (answer, _, _) = ask(&app, payloads::button(checkpoints_id, &message_id)).await;
    assert!(
        text(&answer).contains("Checkpoints of harness-healthy"),
        "{answer}"
    );

    let (answer, _, _) = ask(
        &app,
        payloads::button("fc1:000000000000000000000000:status", &message_id),
    )
    .await;
    assert!(text(&answer).contains("no longer valid"), "{answer}");
    let (answer, _, _) = ask(&app, payloads::button("something-else", &message_id)).await;
    assert!(text(&answer).contains("no longer valid"), "{answer}");
}

#[tokio::test]
async fn register_commands_overwrites_them_through_serenity() {
    let recorder = crate::recorder::Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    let mut toml = config_toml(
        &AppOptions::default(),
        &recorder.base_url,
        dir.path(),
        free_port(),
    );
    toml = toml.replace(
        "[discord]\n",
        &format!("[discord]\napplication_id = {APP_ID}\n"),
    );
    std::fs::write(&file, toml).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args(["register-commands", "--guild", "5", "--config"])
        .arg(&file)
        .envs(secrets_env())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("registered 1 command(s) in guild 5"));
    let puts = recorder.calls("/commands");
    assert_eq!(puts.len(), 1);
    assert_eq!(
        puts[0].path,
        format!("/api/v10/applications/{APP_ID}/guilds/5/commands")
    );
    assert_eq!(puts[0].authorization, format!("Bot {DISCORD_TOKEN}"));
    let subs: Vec<&str> = puts[0].body[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        subs,
        [
            "jobs",
            "status",
            "exceptions",
            "checkpoints",
            "logs",
            "savepoint",
            "stop",
            "cancel",
            "threaddump",
            "silence",
            "audit",
            "timeline",
            "help"
        ]
    );
}

/// Accepts connections and never answers: a hung Flink.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    url
}

/// A Flink stand-in whose `/jobs/overview` lists `n` running jobs.
async fn stand_in_with_jobs(n: usize) -> String {
    let jobs: Vec<Value> = (0..n)
        .map(|i| json!({"jid": format!("{i:032x}"), "name": format!("job-{i:02}"), "state": "RUNNING", "start-time": 1, "end-time": -1}))
        .collect();
    let app = axum::Router::new().route(
        "/jobs/overview",
        axum::routing::get(move || {
            let jobs = jobs.clone();
            async move { axum::Json(json!({ "jobs": jobs })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
