//! `cargo bench --bench interactions`
//!
//! How fast the interaction path answers, end to end: the RELEASE bot as its own process, signed
//! `POST /discord/interactions` requests (real Ed25519 signatures made here), `/flink status`
//! against the real Flink 2.3 test cluster, and delivery of pages really happening through
//! serenity to the in-bench Discord recorder (tests/api/recorder.rs). In the shape of
//! tests/bench/intake.rs.
//!
//! Measured, as time from just before the request is sent to the end of the response's body
//! (the *first response*, which Discord wants within 3 s):
//! - `/flink status <job>` alone (one question at a time, 25 ms apart);
//! - autocomplete of the job option alone (answered from the in-memory job index);
//! - both again while a storm of BENCH_STORM distinct incidents is sent to `POST /alertmanager`
//!   by 16 keep-alive senders, split into the *ingest* phase (until the last alert is
//!   acknowledged) and the *drain* phase (until the bot's inbox is empty, i.e. every page is at
//!   the recorder).
//!
//! The storm's alerts name no cluster, so they go to the default cluster `storm`, a loopback port
//! nobody listens on (as in intake.rs): the storm costs the bot intake, rendering and delivery,
//! but does not put 40,000 REST calls on the shared Flink cluster. `/flink status` asks the real
//! cluster `flink23`.
//!
//! The question-askers run on their own single-threaded runtime on their own OS thread, so the
//! storm's senders and the recorder (on the main runtime) do not delay their timestamps.
//!
//! Needs (from target/test-env/env.sh): FLINK23_URL, and BENCH_JOB (a job id; default
//! FLINK23_JOB_HEALTHY). Knobs: BENCH_STATUS (200 questions alone), BENCH_AUTOCOMPLETE (500),
//! BENCH_STORM (10000), BENCH_STORMS (3 rounds, one fresh bot each), FLINK_CHATOPS_BIN.

#[allow(dead_code)]
#[path = "../api/payloads.rs"]
mod payloads;
#[allow(dead_code)]
#[path = "../api/recorder.rs"]
mod recorder;

#[path = "../support/mod.rs"]
mod support;
use support::{cpu_secs, env_num, free_port, percentile as pct};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use recorder::Recorder;
use serde_json::{json, Value};

const WEBHOOK_TOKEN: &str = "bench-webhook-token-0123456789";
const CHANNEL: u64 = 111_222_333;
const NO_FLINK: &str = "http://127.0.0.1:9";
const KEY: [u8; 32] = [0x5a; 32];

/// Fails, naming what is missing, instead of skipping (the project's rule for benches too).
fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: `source target/test-env/env.sh` (tests/env/setup.sh starts the Flink clusters)")
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// The bot as a process (a smaller version of intake.rs's `Bot`: the config differs)

struct Bot {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

fn config(port: u16, store: &std::path::Path, discord: &str, flink23: &str) -> String {
    let public_key = hex::encode(SigningKey::from_bytes(&KEY).verifying_key().to_bytes());
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\npath = \"{}\"\n\n\
         [flink]\ncall_timeout_ms = 2000\nrefill_after_ms = 0\ndefault_cluster = \"storm\"\n\n\
         [discord]\napi_base = \"{discord}\"\ndefault_channel = {CHANNEL}\n\
         application_id = {}\npublic_key = \"{public_key}\"\ngateway = false\n\n\
         [[clusters]]\nname = \"flink23\"\nrest_url = \"{flink23}\"\n\n\
         [[clusters]]\nname = \"storm\"\nrest_url = \"{NO_FLINK}\"\n",
        store.display(),
        payloads::APP_ID,
    )
}

impl Bot {
    async fn start(discord: &str, flink23: &str) -> Bot {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let file = dir.path().join("bot.toml");
        std::fs::write(
            &file,
            config(port, &dir.path().join("store"), discord, flink23),
        )
        .unwrap();
        let bin = PathBuf::from(
            std::env::var("FLINK_CHATOPS_BIN")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_flink-chatops").into()),
        );
        let mut cmd = Command::new(&bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("FLINK_CHATOPS") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .args(["serve", "--config"])
            .arg(&file)
            .env("FLINK_CHATOPS_WEBHOOK_TOKEN", WEBHOOK_TOKEN)
            .env("FLINK_CHATOPS_DISCORD_TOKEN", "bench-discord-token")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("bot.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let bot = Bot {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while bot.pending().await.is_none() {
            assert!(
                Instant::now() < deadline,
                "bot did not start:\n{}",
                bot.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bot
    }

    /// The inbox's size from `/readyz`; `None` while the bot is not up.
    async fn pending(&self) -> Option<u64> {
        let r = reqwest::get(format!("{}/readyz", self.base)).await.ok()?;
        r.json::<Value>().await.ok()?["pending"].as_u64()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bot.log")).unwrap_or_default()
    }

    /// The bot's own ERROR lines, to see its side of a failed question.
    fn print_errors(&self) {
        for line in self.log().lines().filter(|l| l.contains("ERROR")).take(5) {
            println!("  bot log: {line}");
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Asking: signed interactions, one at a time

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Question {
    Status,
    Autocomplete,
}

impl Question {
    /// Pause between two questions of one asker: people do not type back to back.
    fn gap(self) -> Duration {
        match self {
            Question::Status => Duration::from_millis(25),
            Question::Autocomplete => Duration::from_millis(10),
        }
    }
}

/// One answered question: when it was sent, how long the first response took, and whether the
/// answer was the right kind (a full status embed about the job, or a list of choices).
struct Sample {
    sent: Instant,
    ms: f64,
    deferred: bool,
    wrong: Option<String>,
}

struct Asker {
    client: reqwest::Client,
    url: String,
    key: SigningKey,
    job_id: String,
    job_name: String,
}

impl Asker {
    fn payload(&self, q: Question) -> Value {
        match q {
            // What Discord sends once the person picked the job from autocomplete.
            Question::Status => payloads::command(
                "status",
                &[("job", json!(format!("flink23/{}", self.job_id)))],
            ),
            Question::Autocomplete => {
                let partial: String = self.job_name.chars().take(4).collect();
                payloads::autocomplete("status", &partial, &[])
            }
        }
    }

    async fn ask(&self, q: Question) -> Sample {
        let body = serde_json::to_vec(&self.payload(q)).unwrap();
        let ts = chrono::Utc::now().timestamp().to_string();
        let sig = self.key.sign(&[ts.as_bytes(), &body[..]].concat());
        let sent = Instant::now();
        let answer = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-signature-ed25519", hex::encode(sig.to_bytes()))
            .header("x-signature-timestamp", ts)
            .body(body)
            .send()
            .await;
        let answer = match answer {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.map_err(|e| e.to_string()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(chain(&e)),
        };
        let ms = sent.elapsed().as_secs_f64() * 1e3;
        let (deferred, wrong) = match answer {
            Ok(v) => (v["type"] == 5, self.check(q, &v)),
            Err(e) => (false, Some(e)),
        };
        Sample {
            sent,
            ms,
            deferred,
            wrong,
        }
    }

    /// What is wrong with an answer, if anything. A deferral (type 5) is a right first
    /// response; it is counted apart.
    fn check(&self, q: Question, v: &Value) -> Option<String> {
        let ok = match (q, v["type"].as_u64()) {
            (_, Some(5)) => true,
            (Question::Status, Some(4)) => {
                let embed = &v["data"]["embeds"][0];
                let title = embed["title"].as_str().unwrap_or("");
                let missing = embed["fields"].as_array().into_iter().flatten().any(|f| {
                    f["name"]
                        .as_str()
                        .is_some_and(|n| n.contains("unavailable"))
                });
                title.starts_with(&self.job_name) && !missing
            }
            (Question::Autocomplete, Some(8)) => v["data"]["choices"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["value"].as_str().unwrap_or("").ends_with(&self.job_id))
            }),
            _ => false,
        };
        (!ok).then(|| v.to_string().chars().take(300).collect())
    }
}

/// An error with its causes: reqwest's own text alone does not say what failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s = format!("{s}: {c}");
        cur = c.source();
    }
    s
}

/// Asks `q` again and again on its own thread and runtime until `stop`, or `count` times.
fn ask_on_own_thread(
    asker: &Arc<Asker>,
    q: Question,
    count: Option<usize>,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Sample>> {
    let (asker, stop) = (asker.clone(), stop.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) && count.is_none_or(|n| out.len() < n) {
                out.push(asker.ask(q).await);
                tokio::time::sleep(q.gap()).await;
            }
            out
        })
    })
}

/// The samples of an asker thread, waited for without blocking the main runtime.
async fn joined(h: std::thread::JoinHandle<Vec<Sample>>) -> Vec<Sample> {
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap()
}

/// `n` questions, one after the other.
async fn ask_times(asker: &Arc<Asker>, q: Question, n: usize) -> Vec<Sample> {
    joined(ask_on_own_thread(asker, q, Some(n), &Arc::default())).await
}

// ---------------------------------------------------------------------------------------------
// The storm

/// `n` distinct incidents from the repo's real Alertmanager body: each its own group key,
/// fingerprints and label, so neither dedup nor per-group coalescing is what happens.
fn storm_bodies(n: usize) -> Arc<Vec<Bytes>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/am-FlinkJobUnstable-firing.json");
    let template: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let bodies = (0..n)
        .map(|i| {
            let mut v = template.clone();
            v["groupKey"] = json!(format!(
                "{}/storm-{i}",
                v["groupKey"].as_str().unwrap_or("")
            ));
            for (k, a) in v["alerts"].as_array_mut().unwrap().iter_mut().enumerate() {
                a["fingerprint"] = json!(format!("{i:012x}{k:04x}"));
                a["labels"]["bench_incident"] = json!(i.to_string());
            }
            Bytes::from(serde_json::to_vec(&v).unwrap())
        })
        .collect();
    Arc::new(bodies)
}

/// Sends every body once over `senders` keep-alive connections; returns when all are
/// acknowledged, with the number refused.
async fn storm(bot: &Bot, bodies: Arc<Vec<Bytes>>, senders: usize) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(format!("{}/alertmanager", bot.base));
    let tasks: Vec<_> = (0..senders)
        .map(|_| {
            let (next, url, bodies) = (next.clone(), url.clone(), bodies.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut refused = 0;
                while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let r = client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .bearer_auth(WEBHOOK_TOKEN)
                        .body(body.clone())
                        .send()
                        .await;
                    let ok = match r {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    refused += usize::from(!ok);
                }
                refused
            })
        })
        .collect();
    let mut refused = 0;
    for t in tasks {
        refused += t.await.unwrap();
    }
    refused
}

// ---------------------------------------------------------------------------------------------
// Figures

/// One printed row. Wrong answers are counted (and the first one shown), not hidden: a fast
/// wrong answer is no answer.
fn report(what: &str, samples: &[&Sample], target_ms: Option<f64>) -> String {
    let mut ms: Vec<f64> = samples.iter().map(|s| s.ms).collect();
    ms.sort_by(f64::total_cmp);
    let deferred = samples.iter().filter(|s| s.deferred).count();
    let wrong: Vec<&String> = samples.iter().filter_map(|s| s.wrong.as_ref()).collect();
    let (p50, p99, max) = (pct(&ms, 50.0), pct(&ms, 99.0), pct(&ms, 100.0));
    let met = match target_ms {
        Some(t) if p99 < t => format!("p99 < {t} ms: met"),
        Some(t) => format!("p99 < {t} ms: MISSED"),
        None => String::new(),
    };
    let line = format!(
        "{what:<34} n={:<5} p50 {p50:>7.1} ms  p99 {p99:>7.1} ms  max {max:>7.1} ms  deferred {deferred}  wrong {}  {met}",
        ms.len(),
        wrong.len()
    );
    if let Some(w) = wrong.first() {
        println!("{what}: first wrong answer: {w}");
    }
    line
}

// ---------------------------------------------------------------------------------------------
// Parts

async fn job_name(flink23: &str, job_id: &str) -> String {
    let v: Value = reqwest::get(format!("{flink23}/jobs/{job_id}"))
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("Flink 2.3 at {flink23} does not know job {job_id}: {e}"))
        .json()
        .await
        .unwrap();
    // A job that is not running would be left out of autocomplete (and not be the question).
    assert_eq!(
        v["state"], "RUNNING",
        "job {job_id} is not running: {}",
        v["state"]
    );
    v["name"].as_str().expect("job name").to_string()
}

fn asker(bot: &Bot, job_id: &str, job_name: &str) -> Arc<Asker> {
    Arc::new(Asker {
        client: reqwest::Client::new(),
        url: format!("{}/discord/interactions", bot.base),
        key: SigningKey::from_bytes(&KEY),
        job_id: job_id.into(),
        job_name: job_name.into(),
    })
}

/// Questions only, nothing else sent to the bot.
async fn part_alone(flink23: &str, job_id: &str, name: &str, rows: &mut Vec<String>) {
    let recorder = Recorder::start().await;
    let bot = Bot::start(&recorder.base_url, flink23).await;
    let asker = asker(&bot, job_id, name);
    ask_times(&asker, Question::Status, 5).await; // warm-up: connection, job index
    println!("[alone] load average {}", loadavg());
    let n = env_num("BENCH_STATUS", 200);
    let status = ask_times(&asker, Question::Status, n).await;
    rows.push(report(
        "status, alone",
        &status.iter().collect::<Vec<_>>(),
        None,
    ));
    let n = env_num("BENCH_AUTOCOMPLETE", 500);
    let ac = ask_times(&asker, Question::Autocomplete, n).await;
    rows.push(report(
        "autocomplete, alone",
        &ac.iter().collect::<Vec<_>>(),
        Some(50.0),
    ));
}

/// Questions while the storm is ingested and drained; one fresh bot per round.
async fn part_storm(flink23: &str, job_id: &str, name: &str, rows: &mut Vec<String>) {
    let (size, rounds) = (env_num("BENCH_STORM", 10_000), env_num("BENCH_STORMS", 3));
    let bodies = storm_bodies(size);
    let (mut status, mut ac) = (Vec::new(), Vec::new());
    let (mut ingest_until, mut drain_until) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let recorder = Recorder::start().await;
        let bot = Bot::start(&recorder.base_url, flink23).await;
        let asker = asker(&bot, job_id, name);
        let stop = Arc::new(AtomicBool::new(false));
        ask_times(&asker, Question::Status, 5).await; // warm-up: connection, job index
        let (load, bot_cpu0) = (loadavg(), cpu_secs(bot.child.id()));
        let s = ask_on_own_thread(&asker, Question::Status, None, &stop);
        let a = ask_on_own_thread(&asker, Question::Autocomplete, None, &stop);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let begun = Instant::now();
        let refused = storm(&bot, bodies.clone(), 16).await;
        let acked = Instant::now();
        let drained = drain(&bot).await;
        stop.store(true, Ordering::Relaxed);
        let (s, a) = (joined(s).await, joined(a).await);
        let delivered = recorder.posts().len();
        println!(
            "[storm {round}] load average {load}; {size} alerts acked in {:.2} s ({refused} refused), inbox empty after {:.2} s, {delivered} pages at the recorder; bot CPU {:.1} s",
            (acked - begun).as_secs_f64(),
            (drained - begun).as_secs_f64(),
            cpu_secs(bot.child.id()) - bot_cpu0,
        );
        assert!(
            refused == 0 && delivered == size,
            "the storm was not all delivered:\n{}",
            bot.log()
        );
        if s.iter().chain(&a).any(|x| x.wrong.is_some()) {
            bot.print_errors();
        }
        status.extend(s.into_iter().filter(|x| x.sent >= begun));
        ac.extend(a.into_iter().filter(|x| x.sent >= begun));
        ingest_until.push((begun, acked));
        drain_until.push((acked, drained));
    }
    let within =
        |w: &[(Instant, Instant)], x: &Sample| w.iter().any(|(a, b)| x.sent >= *a && x.sent < *b);
    for (what, samples, target) in [("status", &status, 500.0), ("autocomplete", &ac, 50.0)] {
        let ingest: Vec<&Sample> = samples
            .iter()
            .filter(|x| within(&ingest_until, x))
            .collect();
        let drain: Vec<&Sample> = samples.iter().filter(|x| within(&drain_until, x)).collect();
        let both: Vec<&Sample> = ingest.iter().chain(&drain).copied().collect();
        rows.push(report(
            &format!("{what}, storm ingest"),
            &ingest,
            Some(target),
        ));
        rows.push(report(&format!("{what}, storm drain"), &drain, None));
        rows.push(report(
            &format!("{what}, storm (ingest + drain)"),
            &both,
            Some(target),
        ));
    }
}

/// Waits until the inbox is empty: every page delivered (or given up on, which the caller sees).
async fn drain(bot: &Bot) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(300);
    while bot.pending().await != Some(0) {
        assert!(
            Instant::now() < deadline,
            "the storm did not drain in 300 s:\n{}",
            bot.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Instant::now()
}

fn main() {
    let flink23 = required_env("FLINK23_URL");
    let job_id = std::env::var("BENCH_JOB").unwrap_or_else(|_| required_env("FLINK23_JOB_HEALTHY"));
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |p: &str| args.is_empty() || args.iter().any(|a| a == p);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let name = job_name(&flink23, &job_id).await;
        println!(
            "interactions bench: {} cores, load average {}; job {name} ({job_id}) on {flink23}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            loadavg()
        );
        let mut rows = Vec::new();
        if want("alone") {
            part_alone(&flink23, &job_id, &name, &mut rows).await;
        }
        if want("storm") {
            part_storm(&flink23, &job_id, &name, &mut rows).await;
        }
        println!(
            "\nfirst response (send to end of body), load average now {}:",
            loadavg()
        );
        for r in rows {
            println!("{r}");
        }
    });
}
