//! What an operator sees of the running bot: log lines (JSON for shippers, text without escape
//! codes when stderr is not a terminal), each line about an incident carrying its id, and no
//! secret in any of them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;
use crate::recorder::{Fault, Recorder};

/// Runs the bot as a process with stderr in a file, sends one page through a 429 and a 500
/// (injected: real Discord cannot be made to fail on demand), and returns the bot's log.
async fn log_of_one_page(format: Option<&str>) -> String {
    let recorder = Recorder::start().await;
    recorder.inject(Fault::RateLimited { retry_after: 0.3 });
    recorder.inject(Fault::ServerError);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("bot.toml");
    std::fs::write(
        &config,
        config_toml(&AppOptions::default(), &recorder.base_url, dir.path(), port),
    )
    .unwrap();
    let log_file = dir.path().join("bot.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flink-chatops"));
    cmd.args(["serve", "--config"])
        .arg(&config)
        .envs(secrets_env())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("FLINK_CHATOPS_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_file).unwrap());
    if let Some(f) = format {
        cmd.args(["--log-format", f]);
    }
    let mut child = cmd.spawn().unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "bot did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = client
        .post(format!("{url}/alertmanager"))
        .bearer_auth(WEBHOOK_TOKEN)
        .body(fixture("am-FlinkJobUnstable-firing.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = std::fs::read_to_string(&log_file).unwrap();
        if log.contains("delivered") {
            break log;
        }
        assert!(Instant::now() < deadline, "no delivery logged:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    for secret in [WEBHOOK_TOKEN, DISCORD_TOKEN] {
        assert!(!log.contains(secret), "a secret is in the log:\n{log}");
    }
    log
}

#[tokio::test]
async fn json_logs_put_the_incident_id_on_every_incident_line() {
    let log = log_of_one_page(Some("json")).await;
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // A field named `message` would collide with the event's text in the flattened JSON.
    for l in &lines {
        assert!(l["message"].is_string(), "{l}");
    }
    let incident = |l: &Value| {
        l["incident"]
            .as_str()
            .or(l["span"]["incident"].as_str())
            .map(str::to_string)
    };
    let about_delivery: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            let m = l["message"].as_str().unwrap_or("");
            m.contains("rate limit") || m.contains("delivery failed") || m == "delivered"
        })
        .collect();
    assert_eq!(about_delivery.len(), 3, "429, 500, delivered:\n{log}");
    let id = incident(about_delivery[2]).expect("the delivered line names the incident");
    for l in &about_delivery {
        assert_eq!(incident(l).as_deref(), Some(id.as_str()), "{l}");
        assert!(l["level"].is_string() && l["timestamp"].is_string(), "{l}");
    }
    assert!(!log.contains('\u{1b}'), "escape codes in JSON:\n{log}");
}

#[tokio::test]
async fn text_logs_have_no_colours_off_a_terminal_and_name_the_incident() {
    let log = log_of_one_page(None).await;
    assert!(!log.contains('\u{1b}'), "escape codes in a file:\n{log}");
    let warn = log
        .lines()
        .find(|l| l.contains("rate limit"))
        .unwrap_or_else(|| panic!("no 429 line:\n{log}"));
    assert!(warn.contains("incident{incident="), "{warn}");
}
