//! Test scaffolding: the bot on port 0, real Alertmanager processes, the Flink test clusters.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flink_chatops::config::Config;
use flink_chatops::startup::Application;
use serde_json::{json, Value};

use crate::recorder::Recorder;

pub const WEBHOOK_TOKEN: &str = "test-webhook-token-0123456789";
pub const DISCORD_TOKEN: &str = "test-discord-token";
pub const CHANNEL: u64 = 111_222_333;

/// An environment variable the test command (tests/run.sh) sets; missing means the test cannot
/// mean anything, so it fails and says how to get it.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the README's test command (tests/run.sh), which starts the Flink clusters and installs Alertmanager")
    })
}

pub struct TestApp {
    pub addr: String,
    pub recorder: Recorder,
    /// Keeps the store's folder alive as long as the app.
    pub _data_dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

/// Builder-style options for `spawn_app`.
#[derive(Clone)]
pub struct AppOptions {
    /// name -> REST URL
    pub clusters: Vec<(String, String)>,
    pub call_timeout_ms: u64,
    pub extra: Vec<(String, String)>,
    /// A recorder prepared by the test (e.g. with a gateway URL); a fresh one otherwise.
    pub recorder: Option<Recorder>,
    /// `delivery.digest_after` (storm digests); the bot's default when `None`.
    pub digest_after: Option<usize>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            clusters: vec![("default".into(), "http://127.0.0.1:9".into())],
            call_timeout_ms: 2_000,
            extra: vec![],
            recorder: None,
            digest_after: None,
        }
    }
}

/// A config file body for the given options, recorder and data dir.
pub fn config_toml(opts: &AppOptions, recorder_url: &str, data_dir: &Path, port: u16) -> String {
    let mut s = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nmax_body_bytes = 262144\n\n[storage]\npath = \"{}\"\n\n[flink]\ncall_timeout_ms = {}\n\n[discord]\napi_base = \"{recorder_url}\"\ndefault_channel = {CHANNEL}\n\n[delivery]\nretry_initial_ms = 100\nretry_max_ms = 1000\n{}\n",
        data_dir.join("store").display(),
        opts.call_timeout_ms,
        opts.digest_after
            .map(|n| format!("digest_after = {n}\n"))
            .unwrap_or_default(),
    );
    for (name, url) in &opts.clusters {
        s.push_str(&format!(
            "[[clusters]]\nname = \"{name}\"\nrest_url = \"{url}\"\n\n"
        ));
    }
    s
}

pub fn secrets_env() -> HashMap<String, String> {
    HashMap::from([
        (
            "FLINK_CHATOPS_WEBHOOK_TOKEN".to_string(),
            WEBHOOK_TOKEN.to_string(),
        ),
        (
            "FLINK_CHATOPS_DISCORD_TOKEN".to_string(),
            DISCORD_TOKEN.to_string(),
        ),
    ])
}

/// `TEST_LOG=1` (or a filter such as `TEST_LOG=flink_chatops=debug`) shows the bot's logs.
fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let filter = if filter == "1" { "info".into() } else { filter };
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

pub async fn spawn_app(opts: AppOptions) -> TestApp {
    init_test_log();
    let recorder = match opts.recorder.clone() {
        Some(r) => r,
        None => Recorder::start().await,
    };
    let data_dir = tempfile::tempdir().unwrap();
    let file = data_dir.path().join("bot.toml");
    std::fs::write(
        &file,
        config_toml(&opts, &recorder.base_url, data_dir.path(), 0),
    )
    .unwrap();
    let mut env = secrets_env();
    env.extend(opts.extra.iter().cloned());
    let config = Config::load(Some(&file), env.clone()).expect("test config is valid");
    let app = Application::build(config, &env).await.expect("app builds");
    let addr = format!("127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        recorder,
        _data_dir: data_dir,
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post_webhook(
        &self,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/alertmanager"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Posts a one-alert webhook with these labels and returns the first message Discord took.
    pub async fn first_page(&self, labels: Value) -> crate::recorder::Recorded {
        assert_eq!(
            self.post_webhook(webhook(labels), Some(WEBHOOK_TOKEN))
                .await
                .status(),
            200
        );
        let seen = self
            .recorder
            .wait_for("the page", Duration::from_secs(60), |r| {
                r.iter().any(|x| x.status == 200)
            })
            .await;
        seen.into_iter().find(|x| x.status == 200).unwrap()
    }

    /// Waits until nothing is pending (a delivery is recorded just after Discord answers it),
    /// or fails after 10 s.
    pub async fn drained(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pending = self.pending().await;
            if pending == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{pending} still pending after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn pending(&self) -> u64 {
        let v: Value = self
            .client
            .get(self.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["pending"].as_u64().unwrap()
    }
}

pub use crate::support::free_port;

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// A real Alertmanager (Debian's prometheus-alertmanager) sending webhooks to the bot.
pub struct Alertmanager {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

pub struct AmTiming {
    pub group_wait: &'static str,
    pub group_interval: &'static str,
    pub repeat_interval: &'static str,
}

pub const FAST: AmTiming = AmTiming {
    group_wait: "1s",
    group_interval: "1s",
    repeat_interval: "1h",
};

impl Alertmanager {
    pub async fn start(bot_addr: &str, timing: AmTiming) -> Alertmanager {
        let bin =
            std::env::var("ALERTMANAGER_BIN").unwrap_or_else(|_| "prometheus-alertmanager".into());
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            r#"route:
  receiver: bot
  group_by: ['alertname', 'job_name']
  group_wait: {gw}
  group_interval: {gi}
  repeat_interval: {ri}
receivers:
  - name: bot
    webhook_configs:
      - url: http://{bot_addr}/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {WEBHOOK_TOKEN}
"#,
            gw = timing.group_wait,
            gi = timing.group_interval,
            ri = timing.repeat_interval,
        );
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(&cfg, config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("am.log")).unwrap();
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start Alertmanager `{bin}` ({e}): run tests/run.sh, which installs it"
                )
            });
        let am = Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{}/-/ready", am.url)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        am
    }

    /// Fires (or, with `resolve`, ends) an alert through Alertmanager's API.
    pub async fn send(&self, labels: Value, annotations: Value, resolve: bool) {
        let mut alert = json!({ "labels": labels, "annotations": annotations });
        if resolve {
            alert["endsAt"] = json!(chrono::Utc::now().to_rfc3339());
        }
        let r = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&json!([alert]))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "Alertmanager refused the alert: {}",
            r.status()
        );
    }

    pub async fn send_many(&self, alerts: Vec<Value>) {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&alerts)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "Alertmanager refused the alerts: {}",
            r.status()
        );
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bot as a real process (for SIGKILL tests).
pub struct BotProcess {
    pub child: Child,
    pub addr: String,
}

impl BotProcess {
    pub async fn start(config_file: &Path) -> BotProcess {
        let text = std::fs::read_to_string(config_file).unwrap();
        let addr = text
            .lines()
            .find_map(|l| l.strip_prefix("listen = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap()
            .to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
            .args(["serve", "--config"])
            .arg(config_file)
            .envs(secrets_env())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "bot did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        BotProcess { child, addr }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A v4 webhook body with one firing alert, shaped like Alertmanager 0.25's.
pub fn webhook(labels: Value) -> Vec<u8> {
    let group_key = format!(
        "{{}}:{{alertname=\"{}\"}}",
        labels["alertname"].as_str().unwrap_or("")
    );
    serde_json::to_vec(&json!({
        "receiver": "bot", "status": "firing", "version": "4", "groupKey": group_key, "truncatedAlerts": 0,
        "groupLabels": {"alertname": labels["alertname"]}, "commonLabels": labels, "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": "test"},
                    "startsAt": chrono::Utc::now().to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": "0123456789abcdef"}]
    }))
    .unwrap()
}

/// Relays TCP connections from `listen` to `to`: lets a test bring a real server "back up"
/// on an address that refused connections before.
pub async fn start_relay(listen: u16, to: String) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", listen))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}
