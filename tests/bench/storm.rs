//! `cargo bench --bench storm [-- relay bot limited]`
//!
//! A storm of distinct Alertmanager groups through a REAL Alertmanager (ALERTMANAGER_BIN, from
//! `tests/env/setup.sh`'s env.sh), side by side in one run:
//! - `relay`: Alertmanager -> a trivial webhook receiver (answers 200, counts groups): the floor.
//! - `bot`: Alertmanager -> the release bot (real sled store, Flink unreachable so enrichment
//!   fails at once, digests off so every incident is its own post) -> the recorder as a fast
//!   Discord. Time until the recorder has every message, and the bot's CPU per delivered page,
//!   also split by thread (`pipeline` + `store` = delivery; the runtime workers = intake).
//! - `limited`: the same storm onto a recorder that rate-limits like Discord (5 writes per 5 s
//!   per channel, 50/s global; emulated, see tests/api/recorder_limits.rs) with storm digests on
//!   (default threshold): time until every incident is a message or a digest line, how fast a
//!   critical page sent in the middle of it arrives, and the 429s the bot collected.
//!
//! Knobs: BENCH_GROUPS (10000), FLINK_CHATOPS_BIN (default: the release binary of this bench).
//! The bot start below is a short copy of tests/bench/intake.rs's (bench binaries cannot share
//! a module without a support crate).

#[allow(dead_code)]
#[path = "../api/recorder.rs"]
mod recorder;

#[path = "../support/mod.rs"]
mod support;
use support::{env_num, free_port};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recorder::{RateLimits, Recorder};
use serde_json::{json, Value};

const WEBHOOK_TOKEN: &str = "bench-webhook-token-0123456789";
const CHANNEL: u64 = 111_222_333;

struct Proc {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_http(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bot as its own release process; `digest_after` 0 = every incident its own post.
async fn start_bot(discord: &str, digest_after: usize) -> (Proc, String, u32) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\npath = \"{}\"\n\n\
         [flink]\ncall_timeout_ms = 2000\nrefill_after_ms = 0\n\n\
         [discord]\napi_base = \"{discord}\"\ndefault_channel = {CHANNEL}\n\n\
         [delivery]\nretry_initial_ms = 100\nretry_max_ms = 1000\ndigest_after = {digest_after}\n\n\
         [[clusters]]\nname = \"default\"\nrest_url = \"http://127.0.0.1:9\"\n",
        dir.path().join("store").display()
    );
    let file = dir.path().join("bot.toml");
    std::fs::write(&file, config).unwrap();
    let bin = std::env::var("FLINK_CHATOPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_flink-chatops")));
    let child = Command::new(&bin)
        .args(["serve", "--config"])
        .arg(&file)
        .env_remove("RUST_LOG")
        .env("RUST_LOG", "warn")
        .env("FLINK_CHATOPS_WEBHOOK_TOKEN", WEBHOOK_TOKEN)
        .env("FLINK_CHATOPS_DISCORD_TOKEN", "bench-discord-token")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("bot.log")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let pid = child.id();
    let addr = format!("127.0.0.1:{port}");
    wait_http(&format!("http://{addr}/healthz")).await;
    (Proc { child, _dir: dir }, addr, pid)
}

async fn start_alertmanager(target_url: &str) -> (Proc, String) {
    let bin = std::env::var("ALERTMANAGER_BIN").unwrap_or_else(|_| {
        panic!("ALERTMANAGER_BIN is not set: run tests/env/setup.sh and source its env.sh")
    });
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "route:\n  receiver: r\n  group_by: ['alertname', 'job_name']\n  group_wait: 1s\n  group_interval: 5m\n  repeat_interval: 1h\n\
         receivers:\n  - name: r\n    webhook_configs:\n      - url: {target_url}\n        send_resolved: true\n        http_config:\n          authorization:\n            credentials: {WEBHOOK_TOKEN}\n"
    );
    let cfg = dir.path().join("am.yml");
    std::fs::write(&cfg, config).unwrap();
    let port = free_port();
    let child = Command::new(&bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start Alertmanager {bin}: {e}"));
    let url = format!("http://127.0.0.1:{port}");
    wait_http(&format!("{url}/-/ready")).await;
    (Proc { child, _dir: dir }, url)
}

/// Pushes `n` warnings, one Alertmanager group each, in batches.
async fn push_storm(am: &str, n: usize, prefix: &str) {
    let client = reqwest::Client::new();
    for start in (0..n).step_by(1_000) {
        let batch: Vec<Value> = (start..(start + 1_000).min(n))
            .map(|i| json!({"labels": {"alertname": "FlinkJobLag", "severity": "warning", "job_name": format!("{prefix}-{i:05}")}, "annotations": {"summary": "consumer lag is growing"}}))
            .collect();
        let r = client
            .post(format!("{am}/api/v2/alerts"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "Alertmanager: {}", r.status());
    }
}

/// A receiver that answers 200 and counts webhooks.
async fn trivial_receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

/// CPU seconds of a process, and of its threads grouped by name.
fn cpu(pid: u32) -> (f64, Vec<(String, f64)>) {
    let ticks = |stat: &str| -> f64 {
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (t(11) + t(12)) / 100.0
    };
    let total = ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default());
    let mut by: Vec<(String, f64)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            let p = t.path();
            let name = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            let name = match name.trim() {
                n if n.starts_with("sled-io") => "sled-io".to_string(),
                n => n.to_string(),
            };
            let secs = ticks(&std::fs::read_to_string(p.join("stat")).unwrap_or_default());
            match by.iter_mut().find(|(n, _)| *n == name) {
                Some((_, s)) => *s += secs,
                None => by.push((name, secs)),
            }
        }
    }
    (total, by)
}

async fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

async fn part_relay(n: usize) -> Duration {
    let (url, count) = trivial_receiver().await;
    let (_am, am) = start_alertmanager(&url).await;
    let start = Instant::now();
    push_storm(&am, n, "relay").await;
    wait_until("relay", Duration::from_secs(600), || {
        count.load(Ordering::Relaxed) >= n as u64
    })
    .await;
    let took = start.elapsed();
    println!(
        "[relay] Alertmanager -> trivial receiver: {n} groups in {:.2} s",
        took.as_secs_f64()
    );
    took
}

async fn part_bot(n: usize) -> Duration {
    let rec = Recorder::start().await;
    let (_bot, addr, pid) = start_bot(&rec.base_url, 0).await;
    let (_am, am) = start_alertmanager(&format!("http://{addr}/alertmanager")).await;
    let (cpu0, by0) = cpu(pid);
    let start = Instant::now();
    push_storm(&am, n, "bot").await;
    let r = rec.clone();
    wait_until("bot", Duration::from_secs(900), move || {
        r.posts().len() >= n
    })
    .await;
    let took = start.elapsed();
    let (cpu1, by1) = cpu(pid);
    let per = (cpu1 - cpu0) * 1e3 / n as f64;
    println!(
        "[bot] Alertmanager -> bot -> recorder: {n} pages in {:.2} s; bot CPU {:.2} s = {per:.3} ms per delivered page",
        took.as_secs_f64(),
        cpu1 - cpu0
    );
    let mut threads: Vec<(String, f64)> = by1
        .iter()
        .map(|(name, s)| {
            let before = by0.iter().find(|(n, _)| n == name).map_or(0.0, |(_, b)| *b);
            (name.clone(), (s - before) * 1e3 / n as f64)
        })
        .filter(|(_, ms)| *ms > 0.0)
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "[bot] ms per page by thread: {}",
        threads
            .iter()
            .map(|(n, ms)| format!("{n} {ms:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    took
}

async fn part_limited(n: usize) {
    let rec = Recorder::start().await;
    rec.rate_limit(Some(RateLimits::DISCORD));
    let (_bot, addr, _pid) = start_bot(&rec.base_url, 10).await;
    let (_am, am) = start_alertmanager(&format!("http://{addr}/alertmanager")).await;
    let start = Instant::now();
    push_storm(&am, n, "limited").await;
    // A critical page in the middle of the storm.
    tokio::time::sleep(Duration::from_secs(2)).await;
    reqwest::Client::new()
        .post(format!("{am}/api/v2/alerts"))
        .json(&json!([{"labels": {"alertname": "FlinkJobFailed", "severity": "critical", "job_name": "payments"}, "annotations": {"summary": "payments failed"}}]))
        .send()
        .await
        .unwrap();
    let r = rec.clone();
    let critical = wait_until("critical", Duration::from_secs(120), move || {
        r.posts()
            .iter()
            .any(|p| p.text().contains("payments failed"))
    })
    .await;
    let r = rec.clone();
    let digest_done = move || {
        let msgs = r.messages_in(CHANNEL);
        let own = msgs
            .iter()
            .filter(|m| {
                !m["embeds"][0]["title"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("Storm digest")
            })
            .count();
        let lines: usize = msgs
            .iter()
            .filter_map(|m| m["embeds"][0]["title"].as_str())
            .filter_map(|t| t.strip_prefix("Storm digest: "))
            .filter_map(|t| t.split(' ').next()?.parse::<usize>().ok())
            .sum();
        own + lines > n
    };
    wait_until(
        "every incident accounted for",
        Duration::from_secs(900),
        digest_done,
    )
    .await;
    let took = start.elapsed();
    let (c429, g429) = rec.rate_limited();
    let msgs = rec.messages_in(CHANNEL);
    println!(
        "[limited] {n} warnings + 1 critical on a rate-limited Discord with digests: every incident accounted for in {:.2} s ({} messages in the channel); critical page at Discord {:.2} s after it went to Alertmanager; {} requests in all, 429s: {c429} channel + {g429} global",
        took.as_secs_f64(),
        msgs.len(),
        critical.as_secs_f64(),
        rec.requests().len(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |p: &str| args.is_empty() || args.iter().any(|a| a == p);
    let n = env_num("BENCH_GROUPS", 10_000) as usize;
    println!(
        "machine: {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let relay = if want("relay") {
            Some(part_relay(n).await)
        } else {
            None
        };
        let bot = if want("bot") {
            Some(part_bot(n).await)
        } else {
            None
        };
        if let (Some(r), Some(b)) = (relay, bot) {
            println!(
                "[side by side] bot / relay = {:.2} (target <= 1.10)",
                b.as_secs_f64() / r.as_secs_f64()
            );
        }
        if want("limited") {
            part_limited(n).await;
        }
    });
}
