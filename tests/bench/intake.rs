//! `cargo bench --bench intake [-- intake|repeat|memory|page ...]`
//!
//! End-to-end figures for the bot as it runs in production: the RELEASE binary as its own
//! process, real Alertmanager 0.25 payloads over loopback HTTP/1.1 keep-alive, the bearer check
//! on, a real sled store on disk (every 200 is after an fsync), and delivery really happening
//! through serenity's request builder to the in-bench Discord recorder (tests/api/recorder.rs).
//!
//! Parts (all by default; name some after `--` to run only those, e.g. `-- intake page`):
//! - `intake`: durable intake throughput and ack latency, 16 keep-alive senders, every body a
//!   distinct incident (new groupKey and fingerprints), so the dedup path is not what is measured.
//! - `ceiling` (diagnostic): the same load with Discord hanging, so the pipeline is idle and
//!   intake has the machine to itself: what intake alone can do here.
//! - `repeat`: the byte-identical resend path (one body, the first copy held pending by a 429
//!   from the recorder, so every resend hits the in-memory index of pending hashes).
//! - `memory`: VmRSS/VmHWM of the bot idle, then through a 10,000-incident storm until the
//!   recorder has every message (time to drain).
//! - `components` (diagnostic): in-process cost of parsing, hashing and `Store::accept` alone.
//! - `backlog` (diagnostic): the same storm with Discord hanging, so all of it stays pending: the
//!   memory a real storm costs while Discord rate-limits the channel. `backlog1`: the same
//!   number of distinct bodies in ONE group (attributes memory to per-group queue entries).
//! - `page`: webhook-in -> enriched-message-at-the-recorder latency against the real Flink 2.3
//!   cluster of the test env (FLINK23_URL, FLINK23_JOB_NESTED), next to the slowest of the four
//!   Flink REST calls the bot makes for that job, measured directly.
//!
//! Knobs (environment): BENCH_SECS (10), BENCH_WARMUP_SECS (1), BENCH_SENDERS (16),
//! BENCH_STORM (10000), BENCH_PAGES (50), BENCH_RUST_LOG (unset: the bot's default, `info`),
//! FLINK_CHATOPS_BIN (default: the binary cargo built for this bench, i.e. target/release),
//! BENCH_FIXTURES (default: ../shared/fixtures/alertmanager-0.25 next to the repo),
//! BENCH_PRIMARY_ONLY=1 (only tests/data/am-FlinkJobUnstable-firing.json as template).
//!
//! Load generator, recorder and bot share the same machine (2 cores here): the figures are for
//! the whole system on one box, and the bench prints how much CPU each side used.

#[allow(dead_code)]
#[path = "../api/recorder.rs"]
mod recorder;

#[path = "../support/mod.rs"]
mod support;
use support::{bot_binary, cpu_secs, env_num, free_port};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recorder::{Fault, Recorder};
use serde_json::Value;

const WEBHOOK_TOKEN: &str = "bench-webhook-token-0123456789";
const DISCORD_TOKEN: &str = "bench-discord-token";
const CHANNEL: u64 = 111_222_333;
/// Where enrichment goes in the non-Flink parts: a loopback port nobody listens on, so every
/// Flink call fails at once (ECONNREFUSED) and the page is delivered with "facts missing".
const NO_FLINK: &str = "http://127.0.0.1:9";
const MARK: &str = "@@SEQ@@";

// ---------------------------------------------------------------------------------------------
// Payloads

/// A real Alertmanager body with a marker where the per-request incident id goes.
struct Template {
    name: String,
    parts: Vec<String>,
}

impl Template {
    /// Makes the webhook a distinct incident: a `bench_incident` label in the group key, the
    /// group and common labels and every alert's labels, and per-alert fingerprints.
    fn from_webhook(name: &str, v: Value) -> Template {
        Template::build(name, v, true)
    }

    /// Distinct bodies (alert label and fingerprints vary) that all belong to the template's
    /// one Alertmanager group.
    fn one_group(name: &str, v: Value) -> Template {
        Template::build(name, v, false)
    }

    fn build(name: &str, mut v: Value, vary_group: bool) -> Template {
        let gk = v["groupKey"].as_str().unwrap_or("{}:{}").to_string();
        let gk = match gk.strip_suffix('}') {
            Some(head) if !head.ends_with('{') => format!("{head}, bench_incident=\"{MARK}\"}}"),
            Some(head) => format!("{head}bench_incident=\"{MARK}\"}}"),
            None => format!("{gk}/bench_incident={MARK}"),
        };
        if vary_group {
            v["groupKey"] = Value::String(gk);
        }
        let group_keys: &[&str] = if vary_group {
            &["groupLabels", "commonLabels"]
        } else {
            &["commonLabels"]
        };
        for key in group_keys.iter().copied() {
            if let Some(m) = v[key].as_object_mut() {
                m.insert("bench_incident".into(), Value::String(MARK.into()));
            }
        }
        if let Some(alerts) = v["alerts"].as_array_mut() {
            for (k, a) in alerts.iter_mut().enumerate() {
                if let Some(m) = a["labels"].as_object_mut() {
                    m.insert("bench_incident".into(), Value::String(MARK.into()));
                }
                a["fingerprint"] = Value::String(format!("{MARK}{k:04x}"));
            }
        }
        let text = serde_json::to_string_pretty(&v).unwrap();
        Template {
            name: name.to_string(),
            parts: text.split(MARK).map(String::from).collect(),
        }
    }

    fn render(&self, seq: u64, out: &mut Vec<u8>) {
        use std::io::Write;
        out.clear();
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                write!(out, "{seq:012x}").unwrap();
            }
            out.extend_from_slice(p.as_bytes());
        }
    }
}

fn is_webhook(v: &Value) -> bool {
    v["version"] == "4"
        && v["groupKey"].as_str().is_some_and(|s| !s.is_empty())
        && v["alerts"].as_array().is_some_and(|a| !a.is_empty())
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// tests/data/am-FlinkJobUnstable-firing.json plus every webhook body captured from
/// Alertmanager 0.25 in the shared fixtures (the Discord captures and API dumps are skipped).
fn load_templates() -> Vec<Template> {
    let mut out = Vec::new();
    let primary = manifest_dir().join("tests/data/am-FlinkJobUnstable-firing.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&primary).unwrap()).unwrap();
    out.push(Template::from_webhook("am-FlinkJobUnstable-firing", v));
    if std::env::var("BENCH_PRIMARY_ONLY").is_ok_and(|v| v == "1") {
        return out;
    }
    let dir = std::env::var("BENCH_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest_dir().join("../shared/fixtures/alertmanager-0.25"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        if f.extension().is_some_and(|e| e == "json") {
            if let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&f).unwrap_or_default()) {
                if is_webhook(&v) {
                    let name = f.file_stem().unwrap().to_string_lossy().to_string();
                    out.push(Template::from_webhook(&name, v));
                }
            }
        }
    }
    if out.len() == 1 {
        println!(
            "note: no webhook fixtures in {}; using tests/data only",
            dir.display()
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The bot as a process

struct Bot {
    child: Child,
    addr: String,
    pid: u32,
    _dir: tempfile::TempDir,
}

impl Bot {
    async fn start(discord_base: &str, flink_url: &str) -> Bot {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nmax_body_bytes = 262144\n\n\
             [storage]\npath = \"{}\"\n\n[flink]\ncall_timeout_ms = 2000\nrefill_after_ms = {refill}\n\n\
             [discord]\napi_base = \"{}\"\ndefault_channel = {CHANNEL}\n\n\
             [delivery]\nretry_initial_ms = 100\nretry_max_ms = 1000\ndigest_after = {digest}\n\n\
             [[clusters]]\nname = \"default\"\nrest_url = \"{flink_url}\"\n",
            dir.path().join("store").display(),
            discord_base,
            // Without Flink (parts intake/repeat/memory) every page lacks facts; the later
            // "refill" edits would be Flink-outage behaviour, not intake: off there.
            refill = if flink_url == NO_FLINK { 0 } else { 30_000 },
            // Every incident its own message: what is measured is the cost of one page.
            digest = 0,
        );
        let file = dir.path().join("bot.toml");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("bot.log")).unwrap();
        let mut cmd = Command::new(bot_binary());
        for (k, _) in std::env::vars() {
            if k.starts_with("FLINK_CHATOPS") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        if let Ok(level) = std::env::var("BENCH_RUST_LOG") {
            cmd.env("RUST_LOG", level);
        }
        let child = cmd
            .args(["serve", "--config"])
            .arg(&file)
            .env("FLINK_CHATOPS_WEBHOOK_TOKEN", WEBHOOK_TOKEN)
            .env("FLINK_CHATOPS_DISCORD_TOKEN", DISCORD_TOKEN)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bot_binary().display()));
        let pid = child.id();
        let addr = format!("127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "bot did not start; log: {}",
                dir.path().join("bot.log").display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Bot {
            child,
            addr,
            pid,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/alertmanager", self.addr)
    }

    async fn pending(&self, client: &reqwest::Client) -> Option<u64> {
        let v: Value = client
            .get(format!("http://{}/readyz", self.addr))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["pending"].as_u64()
    }

    /// The bot's log without ANSI colour codes.
    fn log_text(&self) -> String {
        let raw = std::fs::read_to_string(self._dir.path().join("bot.log")).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("bot.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (VmRSS, VmHWM) in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Busy and total jiffies of the whole machine (all cores), from /proc/stat.
fn machine_jiffies() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let nums: Vec<f64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = nums.iter().take(8).sum();
    let idle = nums.get(3).copied().unwrap_or(0.0) + nums.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------------
// Load

struct Load {
    acked: u64,
    errors: u64,
    duplicates: u64,
    /// Per acknowledged request, microseconds from send to the end of the answer.
    latencies_us: Vec<u32>,
    elapsed: Duration,
    first_error: Option<String>,
}

#[derive(Clone, Copy)]
enum Bodies {
    /// Every request a new incident, round-robin over the templates.
    Distinct,
    /// The same bytes every time.
    Identical,
}

/// `senders` keep-alive connections (one client each, like one Alertmanager receiver each),
/// each with one request in flight, until `total` requests were sent or `duration` has passed.
/// Requests that start in the first `warmup` are sent but not counted.
async fn load(
    bot: &Bot,
    templates: Arc<Vec<Template>>,
    bodies: Bodies,
    senders: usize,
    warmup: Duration,
    duration: Option<Duration>,
    total: Option<u64>,
) -> Load {
    // Incident ids start at 1 in every run; each run has its own bot and store.
    let seq = Arc::new(AtomicU64::new(1));
    let url = Arc::new(bot.url());
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = duration.map(|d| measure_from + d);
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (url, templates, issued, stop, seq) = (
            url.clone(),
            templates.clone(),
            issued.clone(),
            stop.clone(),
            seq.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .user_agent("Alertmanager/0.25.0")
                .build()
                .unwrap();
            let mut lat = Vec::with_capacity(200_000);
            let (mut acked, mut errors, mut dups, mut first_error) = (0u64, 0u64, 0u64, None);
            let mut buf = Vec::with_capacity(8192);
            let fixed = match bodies {
                Bodies::Identical => {
                    templates[0].render(0xdead_beef, &mut buf);
                    Some(axum::body::Bytes::copy_from_slice(&buf))
                }
                Bodies::Distinct => None,
            };
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(t) = total {
                    if issued.fetch_add(1, Ordering::Relaxed) >= t {
                        break;
                    }
                }
                let now = Instant::now();
                if stop_at.is_some_and(|s| now >= s) {
                    break;
                }
                let body = match &fixed {
                    Some(b) => reqwest::Body::from(b.clone()),
                    None => {
                        let n = seq.fetch_add(1, Ordering::Relaxed);
                        templates[(n as usize) % templates.len()].render(n, &mut buf);
                        bytes_of(&buf)
                    }
                };
                let sent = Instant::now();
                let result = client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .bearer_auth(WEBHOOK_TOKEN)
                    .body(body)
                    .send()
                    .await;
                let outcome = match result {
                    Ok(r) => {
                        let status = r.status();
                        match r.bytes().await {
                            Ok(b) if status.is_success() => Ok(b),
                            Ok(b) => Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&b))),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                let took = sent.elapsed();
                if sent < measure_from {
                    continue;
                }
                match outcome {
                    Ok(b) => {
                        acked += 1;
                        if b.windows(11).any(|w| w == b"\"duplicate\"") {
                            dups += 1;
                        }
                        lat.push(took.as_micros().min(u32::MAX as u128) as u32);
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                        if errors > 100 {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            (acked, errors, dups, lat, first_error)
        }));
    }
    let mut out = Load {
        acked: 0,
        errors: 0,
        duplicates: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
        first_error: None,
    };
    for t in tasks {
        let (a, e, d, l, fe) = t.await.unwrap();
        out.acked += a;
        out.errors += e;
        out.duplicates += d;
        out.latencies_us.extend(l);
        if out.first_error.is_none() {
            out.first_error = fe;
        }
    }
    let end = Instant::now();
    out.elapsed = end.saturating_duration_since(measure_from.min(end));
    out.latencies_us.sort_unstable();
    out
}

fn bytes_of(buf: &[u8]) -> reqwest::Body {
    reqwest::Body::from(buf.to_vec())
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn pct_f(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

// ---------------------------------------------------------------------------------------------
// Results

struct Row {
    part: &'static str,
    metric: String,
    value: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Table(Vec<Row>);

impl Table {
    fn add(
        &mut self,
        part: &'static str,
        metric: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        met: Option<bool>,
    ) {
        self.0.push(Row {
            part,
            metric: metric.into(),
            value: value.into(),
            target: target.into(),
            met,
        });
    }

    fn print(&self) {
        let w = |f: &dyn Fn(&Row) -> usize, min: usize| {
            self.0.iter().map(f).max().unwrap_or(0).max(min)
        };
        let (w0, w1, w2, w3) = (
            w(&|r| r.part.len(), 4),
            w(&|r| r.metric.len(), 6),
            w(&|r| r.value.len(), 5),
            w(&|r| r.target.len(), 6),
        );
        println!(
            "\n{:w0$}  {:w1$}  {:>w2$}  {:w3$}  met",
            "part", "metric", "value", "target"
        );
        println!("{}", "-".repeat(w0 + w1 + w2 + w3 + 13));
        for r in &self.0 {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            println!(
                "{:w0$}  {:w1$}  {:>w2$}  {:w3$}  {met}",
                r.part, r.metric, r.value, r.target
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parts

/// Accepts connections and never answers: a Discord that hangs. Every delivery then holds one
/// of the bot's `delivery.concurrency` workers for reqwest's 15 s timeout, so the pipeline does
/// (almost) nothing and intake has the machine to itself.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// `stalled`: Discord hangs (diagnostic: intake alone); otherwise delivery really happens to
/// the recorder while intake runs (the figure the targets are about).
async fn part_intake(table: &mut Table, templates: &Arc<Vec<Template>>, stalled: bool) {
    let part = if stalled { "ceiling" } else { "intake" };
    let secs = env_num("BENCH_SECS", 10);
    let warmup = env_num("BENCH_WARMUP_SECS", 1);
    let senders = env_num("BENCH_SENDERS", 16) as usize;
    let recorder = Recorder::start().await;
    let discord = if stalled {
        black_hole().await
    } else {
        recorder.base_url.clone()
    };
    let bot = Bot::start(&discord, NO_FLINK).await;
    println!(
        "[{part}] {senders} keep-alive senders, {warmup} s warm-up + {secs} s measured, distinct incidents over {} templates; delivery {}",
        templates.len(),
        if stalled { "stalled (Discord never answers)" } else { "to the recorder" }
    );
    let (bot_cpu0, me_cpu0) = (cpu_secs(bot.pid), cpu_secs("self"));
    let (busy0, total0) = machine_jiffies();
    let sys0 = syscalls(bot.pid);
    let t0 = Instant::now();
    let r = load(
        &bot,
        templates.clone(),
        Bodies::Distinct,
        senders,
        Duration::from_secs(warmup),
        Some(Duration::from_secs(secs)),
        None,
    )
    .await;
    let wall = t0.elapsed().as_secs_f64();
    let (bot_cpu, me_cpu) = (cpu_secs(bot.pid) - bot_cpu0, cpu_secs("self") - me_cpu0);
    let sys1 = syscalls(bot.pid);
    let (busy1, total1) = machine_jiffies();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    let machine_busy = (busy1 - busy0) / 100.0;
    let machine_total = (total1 - total0) / 100.0;
    let others = (machine_busy - bot_cpu - me_cpu).max(0.0);
    let delivered = recorder.posts().len();
    let rate = r.acked as f64 / r.elapsed.as_secs_f64();
    let (p50, p99, max) = (
        pct(&r.latencies_us, 50.0),
        pct(&r.latencies_us, 99.0),
        pct(&r.latencies_us, 100.0),
    );
    println!(
        "[{part}] acked {} in {:.2} s = {rate:.0}/s, errors {}{}; ack latency p50 {p50:.2} ms p99 {p99:.2} ms max {max:.2} ms",
        r.acked, r.elapsed.as_secs_f64(), r.errors,
        r.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    println!(
        "[{part}] meanwhile delivered {delivered} messages to the recorder; CPU over {wall:.1} s wall: bot {bot_cpu:.1} s, bench (senders + recorder) {me_cpu:.1} s, other processes {others:.1} s, of {machine_total:.1} s on {cores} cores; bot CPU per acked notification {:.0} us",
        bot_cpu * 1e6 / r.acked.max(1) as f64
    );
    if let (Some(a), Some(b)) = (sys0, sys1) {
        println!(
            "[{part}] bot I/O: {} write syscalls, {:.1} MiB written to the store ({:.0} B per acked notification)",
            b.0 - a.0,
            (b.1 - a.1) as f64 / 1048576.0,
            (b.1 - a.1) as f64 / r.acked.max(1) as f64
        );
    }
    let (rss, hwm) = memory_kib(bot.pid);
    println!(
        "[{part}] bot VmRSS {:.1} MiB, VmHWM {:.1} MiB after the run",
        mib(rss),
        mib(hwm)
    );
    let what = if stalled {
        "acked/s, delivery stalled (diagnostic)"
    } else {
        "acked notifications/s (distinct)"
    };
    let (target_rate, target_p99) = if stalled {
        ("", "")
    } else {
        (">= 10000", "< 10 ms")
    };
    table.add(
        part,
        what,
        format!("{rate:.0}"),
        target_rate,
        (!stalled).then_some(rate >= 10_000.0),
    );
    table.add(part, "ack latency p50", format!("{p50:.2} ms"), "", None);
    table.add(
        part,
        "ack latency p99",
        format!("{p99:.2} ms"),
        target_p99,
        (!stalled).then_some(p99 < 10.0),
    );
    table.add(part, "ack latency max", format!("{max:.2} ms"), "", None);
    table.add(
        part,
        "errors",
        r.errors.to_string(),
        "0",
        Some(r.errors == 0),
    );
    if !stalled {
        table.add(
            part,
            "delivered during run",
            format!("{delivered}"),
            "",
            None,
        );
    }
    table.add(
        part,
        "CPU s bot / bench / others",
        format!("{bot_cpu:.1} / {me_cpu:.1} / {others:.1}"),
        format!("of {machine_total:.1}"),
        None,
    );
}

/// (write syscalls, bytes written to storage) from /proc/PID/io.
fn syscalls(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("syscw:")?, field("write_bytes:")?))
}

async fn part_repeat(table: &mut Table, templates: &Arc<Vec<Template>>) {
    let secs = env_num("BENCH_SECS", 10).min(5);
    let senders = env_num("BENCH_SENDERS", 16) as usize;
    let recorder = Recorder::start().await;
    // Hold the first copy pending: its delivery gets a 429 asking for 10 minutes.
    recorder.inject(Fault::RateLimited { retry_after: 600.0 });
    let bot = Bot::start(&recorder.base_url, NO_FLINK).await;
    let mut buf = Vec::new();
    templates[0].render(0xdead_beef, &mut buf);
    let client = reqwest::Client::new();
    let first = client
        .post(bot.url())
        .bearer_auth(WEBHOOK_TOKEN)
        .header("content-type", "application/json")
        .body(buf.clone())
        .send()
        .await
        .unwrap();
    assert!(first.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while recorder.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first copy was never delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("[repeat] first copy stored and held pending (429); {senders} senders resend the identical {} bytes for {secs} s", buf.len());
    let r = load(
        &bot,
        templates.clone(),
        Bodies::Identical,
        senders,
        Duration::from_secs(1),
        Some(Duration::from_secs(secs)),
        None,
    )
    .await;
    let rate = r.acked as f64 / r.elapsed.as_secs_f64();
    let (p50, p99, max) = (
        pct(&r.latencies_us, 50.0),
        pct(&r.latencies_us, 99.0),
        pct(&r.latencies_us, 100.0),
    );
    println!(
        "[repeat] acked {} ({} as duplicate) in {:.2} s = {rate:.0}/s, errors {}; p50 {p50:.2} ms p99 {p99:.2} ms max {max:.2} ms; pending {}",
        r.acked, r.duplicates, r.elapsed.as_secs_f64(), r.errors, bot.pending(&client).await.unwrap_or(0)
    );
    table.add(
        "repeat",
        "acked resends/s (identical)",
        format!("{rate:.0}"),
        "",
        None,
    );
    table.add(
        "repeat",
        "answered `duplicate`",
        format!("{}/{}", r.duplicates, r.acked),
        "all",
        Some(r.duplicates == r.acked),
    );
    table.add(
        "repeat",
        "ack latency p50 / p99",
        format!("{p50:.2} / {p99:.2} ms"),
        "",
        None,
    );
}

async fn part_memory(table: &mut Table, templates: &Arc<Vec<Template>>) {
    let storm = env_num("BENCH_STORM", 10_000);
    let senders = env_num("BENCH_SENDERS", 16) as usize;
    let recorder = Recorder::start().await;
    let bot = Bot::start(&recorder.base_url, NO_FLINK).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss, idle_hwm) = memory_kib(bot.pid);
    println!(
        "[memory] idle after start: VmRSS {:.1} MiB (VmHWM {:.1} MiB)",
        mib(idle_rss),
        mib(idle_hwm)
    );

    // Sample RSS through the storm (VmHWM is the authoritative peak; this shows when).
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, pid) = (sampling.clone(), bot.pid);
        tokio::spawn(async move {
            let start = Instant::now();
            let mut peak = (0u64, Duration::ZERO);
            while sampling.load(Ordering::Relaxed) {
                let (rss, _) = memory_kib(pid);
                if rss > peak.0 {
                    peak = (rss, start.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let bot_cpu0 = cpu_secs(bot.pid);
    let start = Instant::now();
    let r = load(
        &bot,
        templates.clone(),
        Bodies::Distinct,
        senders,
        Duration::ZERO,
        None,
        Some(storm),
    )
    .await;
    let acked_in = start.elapsed();
    println!(
        "[memory] storm of {storm}: {} acked in {:.2} s ({} errors), ack p99 {:.2} ms",
        r.acked,
        acked_in.as_secs_f64(),
        r.errors,
        pct(&r.latencies_us, 99.0)
    );
    let (rss_acked, _) = memory_kib(bot.pid);

    // Drain: the inbox empties only after each message is delivered and recorded.
    // A backlog that has not moved for BENCH_STALL_SECS (15) is stranded: reported as such
    // rather than waited on forever.
    let client = reqwest::Client::new();
    let deadline = start + Duration::from_secs(600);
    let stall = Duration::from_secs(env_num("BENCH_STALL_SECS", 15));
    let mut drained = false;
    let mut stranded = 0;
    let mut last_change = (u64::MAX, Instant::now());
    while Instant::now() < deadline {
        let p = bot.pending(&client).await.unwrap_or(u64::MAX);
        if p == 0 {
            drained = true;
            break;
        }
        if p != last_change.0 {
            last_change = (p, Instant::now());
        } else if last_change.1.elapsed() > stall {
            stranded = p;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sampling.store(false, Ordering::Relaxed);
    let (peak_sampled, peak_at) = sampler.await.unwrap();
    let (rss_end, hwm) = memory_kib(bot.pid);
    let posts = recorder.posts();
    let last = posts.iter().map(|p| p.at).max();
    let drain = last.map(|l| l.saturating_duration_since(start));
    let distinct: std::collections::HashSet<&str> = posts
        .iter()
        .filter_map(|p| p.body["nonce"].as_str())
        .collect();
    let all = posts.len() as u64 == r.acked && distinct.len() as u64 == r.acked && r.acked == storm;
    if stranded > 0 {
        println!(
            "[memory] STRANDED: {stranded} acknowledged notifications stayed in the inbox, unchanged for {} s (the recorder has {} of {}); bot log tail:\n{}",
            stall.as_secs(), posts.len(), r.acked, bot.log_tail()
        );
    } else if !drained {
        println!(
            "[memory] NOT drained within 600 s; bot log tail:\n{}",
            bot.log_tail()
        );
    }
    // Stop-watch stops when the inbox is empty; the bot idles after that.
    let bot_cpu = cpu_secs(bot.pid) - bot_cpu0;
    println!(
        "[memory] bot CPU for the storm (intake + enrichment attempt + render + delivery + commit): {bot_cpu:.1} s = {:.0} us per incident",
        bot_cpu * 1e6 / storm.max(1) as f64
    );
    println!(
        "[memory] recorder has {} messages ({} distinct nonces); last arrived {:.2} s after the storm began; RSS when all acked {:.1} MiB, at the end {:.1} MiB; VmHWM {:.1} MiB (sampled peak {:.1} MiB at {:.2} s)",
        posts.len(), distinct.len(), drain.map_or(f64::NAN, |d| d.as_secs_f64()), mib(rss_acked), mib(rss_end), mib(hwm), mib(peak_sampled), peak_at.as_secs_f64()
    );
    table.add(
        "memory",
        "VmRSS idle",
        format!("{:.1} MiB", mib(idle_rss)),
        "< 20 MB",
        Some((idle_rss * 1024) < 20_000_000),
    );
    table.add(
        "memory",
        format!("VmHWM through {storm}-incident storm"),
        format!("{:.1} MiB", mib(hwm)),
        "< 80 MB",
        Some((hwm * 1024) < 80_000_000),
    );
    table.add(
        "memory",
        "VmRSS after drain",
        format!("{:.1} MiB", mib(rss_end)),
        "",
        None,
    );
    table.add(
        "memory",
        format!("time to ack {storm}"),
        format!("{:.2} s", acked_in.as_secs_f64()),
        "",
        None,
    );
    table.add(
        "memory",
        format!("time to drain {storm} to recorder"),
        match (drain, stranded) {
            (None, _) => "n/a".to_string(),
            (Some(d), 0) => format!("{:.2} s", d.as_secs_f64()),
            (Some(d), n) => format!("{:.2} s, {n} stranded", d.as_secs_f64()),
        },
        "all delivered",
        Some(all && drained),
    );
}

/// In-process costs of the intake's steps, without HTTP or the pipeline: what each step costs per
/// notification, and what the store alone sustains with 16 concurrent writers.
async fn part_components(table: &mut Table, templates: &Arc<Vec<Template>>) {
    use flink_chatops::alertmanager::Webhook;
    use sha2::Digest;
    let n = 20_000u64;
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut b = Vec::new();
            templates[(i as usize) % templates.len()].render(i + 1, &mut b);
            b
        })
        .collect();
    let mean_len = bodies.iter().map(Vec::len).sum::<usize>() as f64 / n as f64;
    let time = |f: &dyn Fn(&[u8])| {
        let t = Instant::now();
        for b in &bodies {
            f(b);
        }
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let parse = time(&|b| {
        std::hint::black_box(Webhook::parse(b).unwrap());
    });
    let plain = time(&|b| {
        std::hint::black_box(serde_json::from_slice::<Webhook>(b).unwrap());
    });
    let sha = time(&|b| {
        std::hint::black_box(sha2::Sha256::digest(b));
    });
    println!(
        "[components] per notification (mean body {mean_len:.0} B): Webhook::parse {parse:.1} us, plain serde_json::from_slice::<Webhook> {plain:.1} us, SHA-256 {sha:.1} us"
    );

    // The store alone: 16 writers, each awaiting its own durable accept, as intake does.
    let dir = tempfile::tempdir().unwrap();
    let store = flink_chatops::store::Store::open(&dir.path().join("store")).unwrap();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicU64::new(0));
    let senders = env_num("BENCH_SENDERS", 16) as usize;
    let cpu0 = cpu_secs("self");
    let t = Instant::now();
    let tasks: Vec<_> = (0..senders)
        .map(|_| {
            let (store, bodies, next) = (store.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let s = Instant::now();
                    store
                        .accept(&bodies[i as usize], "bench-group", 0)
                        .await
                        .unwrap();
                    lat.push(s.elapsed().as_micros() as u32);
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_secs("self") - cpu0;
    lat.sort_unstable();
    let rate = n as f64 / secs;
    println!(
        "[components] Store::accept alone, {senders} concurrent writers, {n} distinct bodies: {rate:.0}/s, p50 {:.2} ms p99 {:.2} ms, {:.0} us CPU per accept (sled + group commit)",
        pct(&lat, 50.0),
        pct(&lat, 99.0),
        cpu * 1e6 / n as f64
    );
    table.add(
        "components",
        "Webhook::parse / plain serde_json",
        format!("{parse:.1} / {plain:.1} us"),
        "",
        None,
    );
    table.add(
        "components",
        "SHA-256 of a body",
        format!("{sha:.1} us"),
        "",
        None,
    );
    table.add(
        "components",
        "Store::accept alone (16 writers)",
        format!("{rate:.0}/s"),
        "",
        None,
    );
    table.add(
        "components",
        "Store::accept p99 / CPU each",
        format!("{:.2} ms / {:.0} us", pct(&lat, 99.0), cpu * 1e6 / n as f64),
        "",
        None,
    );
}

/// The storm again, but Discord hangs (as when it rate-limits a channel to a few messages per
/// second): everything stays pending, which is the bot's worst case for memory.
/// `one_group` (diagnostic): the same number of distinct bodies, all in one Alertmanager group,
/// so the pipeline holds one queue entry instead of one per group.
async fn part_backlog(table: &mut Table, templates: &Arc<Vec<Template>>, one_group: bool) {
    let part = if one_group { "backlog1" } else { "backlog" };
    let templates = if one_group {
        let primary = manifest_dir().join("tests/data/am-FlinkJobUnstable-firing.json");
        let v: Value = serde_json::from_slice(&std::fs::read(&primary).unwrap()).unwrap();
        Arc::new(vec![Template::one_group("one-group", v)])
    } else {
        templates.clone()
    };
    let templates = &templates;
    let storm = env_num("BENCH_STORM", 10_000);
    let senders = env_num("BENCH_SENDERS", 16) as usize;
    let discord = black_hole().await;
    let bot = Bot::start(&discord, NO_FLINK).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle, _) = memory_kib(bot.pid);
    let start = Instant::now();
    let r = load(
        &bot,
        templates.clone(),
        Bodies::Distinct,
        senders,
        Duration::ZERO,
        None,
        Some(storm),
    )
    .await;
    let acked_in = start.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, hwm) = memory_kib(bot.pid);
    let pending = bot.pending(&reqwest::Client::new()).await.unwrap_or(0);
    println!(
        "[{part}] {storm} {} with Discord hanging: {} acked in {:.2} s ({:.0}/s, p99 {:.2} ms), {pending} pending; VmRSS {:.1} MiB (idle {:.1}), VmHWM {:.1} MiB = {:.1} KiB per pending notification",
        if one_group { "notifications of one incident" } else { "incidents" },
        r.acked,
        acked_in.as_secs_f64(),
        r.acked as f64 / acked_in.as_secs_f64(),
        pct(&r.latencies_us, 99.0),
        mib(rss),
        mib(idle),
        mib(hwm),
        (hwm.saturating_sub(idle)) as f64 / pending.max(1) as f64
    );
    if one_group {
        table.add(
            part,
            format!("VmHWM, {storm} pending in ONE group (diagnostic)"),
            format!("{:.1} MiB", mib(hwm)),
            "",
            None,
        );
    } else {
        table.add(
            part,
            format!("VmHWM, {storm} pending (Discord hanging)"),
            format!("{:.1} MiB", mib(hwm)),
            "(< 80 MB)",
            Some(hwm * 1024 < 80_000_000),
        );
    }
}

async fn part_page(table: &mut Table, templates: &Arc<Vec<Template>>) {
    let (url, job) = match (
        std::env::var("FLINK23_URL"),
        std::env::var("FLINK23_JOB_NESTED"),
    ) {
        (Ok(u), Ok(j)) => (u, j),
        _ => {
            println!("[page] NOT MEASURED: FLINK23_URL / FLINK23_JOB_NESTED are not set (source target/test-env/env.sh after tests/env/setup.sh has started the Flink clusters)");
            table.add(
                "page",
                "page latency",
                "not measured",
                "<= slowest Flink call + few ms",
                None,
            );
            return;
        }
    };
    let flink = reqwest::Client::new();
    if let Err(e) = flink
        .get(format!("{url}/jobs/{job}"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
    {
        println!("[page] NOT MEASURED: the Flink 2.3 cluster at {url} does not answer for job {job}: {e}");
        table.add(
            "page",
            "page latency",
            "not measured",
            "<= slowest Flink call + few ms",
            None,
        );
        return;
    }
    let pages = env_num("BENCH_PAGES", 50) as usize;
    let recorder = Recorder::start().await;
    let bot = Bot::start(&recorder.base_url, &url).await;
    // The FlinkJobUnstable page from tests/data, about the nested-failure job.
    let mut buf = Vec::new();
    templates[0].render(0, &mut buf);
    let v: Value = serde_json::from_slice(&buf).unwrap();
    let text = serde_json::to_string(&v)
        .unwrap()
        .replace("7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c", &job);
    let base = Template::from_webhook("page", serde_json::from_str(&text).unwrap());
    let paths = [
        format!("jobs/{job}"),
        format!("jobs/{job}/exceptions?maxExceptions=10"),
        format!("jobs/{job}/checkpoints"),
        format!("jobs/{job}/metrics?get=numRestarts"),
    ];
    let client = reqwest::Client::new();
    let (mut page_ms, mut slowest_ms, mut ack_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut enriched = 0;
    println!("[page] {pages} pages about job {job} on {url}, one at a time, each next to a direct round of the 4 REST calls (parallel, as the bot makes them)");
    // One unmeasured round each to open connections on both sides.
    for i in 0..=pages {
        let calls = paths.iter().map(|p| {
            let (flink, u) = (flink.clone(), format!("{url}/{p}"));
            async move {
                let t = Instant::now();
                let r = flink.get(u).send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().await.unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            }
        });
        let times = futures::future::join_all(calls).await;
        tokio::time::sleep(Duration::from_millis(20)).await;

        let before = recorder.requests().len();
        base.render(0x1000 + i as u64, &mut buf);
        let sent = Instant::now();
        let r = client
            .post(bot.url())
            .bearer_auth(WEBHOOK_TOKEN)
            .header("content-type", "application/json")
            .body(buf.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
        let acked = sent.elapsed();
        let deadline = Instant::now() + Duration::from_secs(20);
        let msg = loop {
            let seen = recorder.requests();
            if seen.len() > before {
                break seen[before].clone();
            }
            assert!(
                Instant::now() < deadline,
                "page {i} never reached the recorder"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        // Wait for the delivery's own commit before the next round.
        while bot.pending(&client).await != Some(0) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if i == 0 {
            continue;
        }
        let text = msg.text();
        // The job's name comes only from Flink (the alert says "ad-attribution").
        if text.contains("harness-nested-failure") {
            enriched += 1;
        }
        page_ms.push(msg.at.saturating_duration_since(sent).as_secs_f64() * 1000.0);
        ack_ms.push(acked.as_secs_f64() * 1000.0);
        slowest_ms.push(times.iter().cloned().fold(0.0, f64::max));
        for (k, t) in times.iter().enumerate() {
            per_call[k].push(*t);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The bot's own word on each delivery: `complete=true` when no Flink fact was missing.
    let log = bot.log_text();
    let complete = log.matches("complete=true").count();
    let incomplete = log.matches("complete=false").count();
    let mut diffs: Vec<f64> = page_ms
        .iter()
        .zip(&slowest_ms)
        .map(|(p, s)| p - s)
        .collect();
    for v in [&mut page_ms, &mut slowest_ms, &mut ack_ms, &mut diffs] {
        v.sort_by(f64::total_cmp);
    }
    for v in per_call.iter_mut() {
        v.sort_by(f64::total_cmp);
    }
    for (p, v) in paths.iter().zip(&per_call) {
        println!(
            "[page]   GET /{p}: p50 {:.2} ms p99 {:.2} ms",
            pct_f(v, 50.0),
            pct_f(v, 99.0)
        );
    }
    let (pp50, pp99) = (pct_f(&page_ms, 50.0), pct_f(&page_ms, 99.0));
    let (sp50, sp99) = (pct_f(&slowest_ms, 50.0), pct_f(&slowest_ms, 99.0));
    println!(
        "[page] page latency p50 {pp50:.2} ms p99 {pp99:.2} ms (ack p50 {:.2} ms); slowest direct call p50 {sp50:.2} ms p99 {sp99:.2} ms; difference p50 {:.2} ms p99 {:.2} ms (per-page difference p50 {:.2} p99 {:.2}); {enriched}/{} messages carry the job's Flink facts; bot log: {complete} deliveries complete, {incomplete} with facts missing (includes the warm-up page)",
        pct_f(&ack_ms, 50.0), pp50 - sp50, pp99 - sp99, pct_f(&diffs, 50.0), pct_f(&diffs, 99.0), page_ms.len()
    );
    table.add(
        "page",
        "pages with all Flink facts",
        format!("{enriched}/{}", page_ms.len()),
        "all",
        Some(enriched == page_ms.len() && incomplete == 0),
    );
    table.add(
        "page",
        "page latency p50 / p99",
        format!("{pp50:.1} / {pp99:.1} ms"),
        "",
        None,
    );
    table.add(
        "page",
        "slowest Flink call p50 / p99",
        format!("{sp50:.1} / {sp99:.1} ms"),
        "",
        None,
    );
    let ok = pct_f(&diffs, 50.0) <= 5.0;
    table.add(
        "page",
        "page - slowest call, p50 / p99",
        format!("{:.1} / {:.1} ms", pct_f(&diffs, 50.0), pct_f(&diffs, 99.0)),
        "a few ms (<= 5)",
        Some(ok),
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |p: &str| args.is_empty() || args.iter().any(|a| a == p);
    let bin = bot_binary();
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build --release`",
        bin.display()
    );
    println!(
        "machine: {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let templates = Arc::new(load_templates());
        println!(
            "flink-chatops intake bench: bot {} ({} templates: {})",
            bin.display(),
            templates.len(),
            templates
                .iter()
                .take(4)
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
                + ", ..."
        );
        let mut table = Table::default();
        if want("intake") {
            part_intake(&mut table, &templates, false).await;
        }
        if want("ceiling") {
            part_intake(&mut table, &templates, true).await;
        }
        if want("repeat") {
            part_repeat(&mut table, &templates).await;
        }
        if want("memory") {
            part_memory(&mut table, &templates).await;
        }
        if want("components") {
            part_components(&mut table, &templates).await;
        }
        if want("backlog") {
            part_backlog(&mut table, &templates, false).await;
        }
        if want("backlog1") {
            part_backlog(&mut table, &templates, true).await;
        }
        if want("page") {
            part_page(&mut table, &templates).await;
        }
        table.print();
    });
}
