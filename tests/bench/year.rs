//! `cargo bench --bench year`: a year of a busy fleet behind the store, and what it costs.
//!
//! 1. `year`: a real sled store fed through the store's own calls, in the order the pipeline
//!    makes them: each incident's firing notification is acknowledged into the inbox (a real
//!    Alertmanager 0.25 body), taken and recorded as delivered (the inbox entry goes, the
//!    incident with its message id is written), then its resolve the same way half an hour
//!    later; every 10th incident gets a note (acknowledged by), and every 10th an audit entry
//!    (`AuditLog::record`: store, export file, head file). Time is simulated (the incidents are
//!    spread evenly over 365 days) and retention (`storage.retention = 90d`) runs a pass every
//!    simulated week, as the bot's hourly task would (at most a week later).
//! 2. `reference`: a fresh store holding only what the last 90 days need: those incidents (same
//!    records), and the whole audit log (never pruned).
//! 3. `start`: the RELEASE binary started on the year's store with interactions on (so its
//!    audit log is opened and checked at start): time from spawn to `/readyz` 200, VmRSS after
//!    5 s idle, `/readyz` latency and webhook acknowledgement latency; the same on an empty
//!    store for comparison. And once more with the audit export removed, the first start after
//!    an upgrade (the whole chain is exported then).
//!
//! Knobs: BENCH_INCIDENTS (200000), BENCH_AUDIT_EVERY (10), BENCH_DIR (a temp dir),
//! FLINK_CHATOPS_BIN (default: the release binary cargo built for this bench).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use flink_chatops::alertmanager::Webhook;
use flink_chatops::audit::{AuditEvent, EventKind};
use flink_chatops::incident::{self, Incident};
use flink_chatops::store::{Accepted, AuditLog, Delivered, LineChange, Store};

#[path = "../support/mod.rs"]
mod support;
use support::{bot_binary, free_port};

const CHANNEL: u64 = 111_222_333;
const DAY: i64 = 86_400;
const WINDOW: Duration = Duration::from_secs(90 * 86_400);
const TOKEN: &str = "bench-webhook-token-0123456789";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn du(path: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .map(|d| d.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0),
            // Allocated blocks, not the apparent length: what the volume loses.
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                m.blocks() * 512
            }
            Err(_) => 0,
        }
    }
    walk(path)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The template body, with the group and the alert's label made distinct per incident.
struct Bodies {
    template: String,
}

impl Bodies {
    fn load() -> Bodies {
        let template = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/am-FlinkJobUnstable-firing.json"
        ))
        .expect("tests/data/am-FlinkJobUnstable-firing.json");
        Bodies { template }
    }

    fn body(&self, n: u64, resolved: bool) -> (Vec<u8>, Webhook) {
        let mut v: serde_json::Value = serde_json::from_str(&self.template).unwrap();
        let gk = format!("{{}}:{{alertname=\"FlinkJobUnstable\", bench=\"{n}\"}}");
        v["groupKey"] = gk.into();
        v["groupLabels"]["bench"] = n.to_string().into();
        v["commonLabels"]["bench"] = n.to_string().into();
        for a in v["alerts"].as_array_mut().unwrap() {
            a["labels"]["bench"] = n.to_string().into();
            a["fingerprint"] = format!("{n:016x}").into();
            if resolved {
                a["status"] = "resolved".into();
                a["endsAt"] = "2026-01-01T00:30:00Z".into();
            }
        }
        if resolved {
            v["status"] = "resolved".into();
        }
        let bytes = serde_json::to_vec(&v).unwrap();
        let hook = Webhook::parse(&bytes).unwrap();
        (bytes, hook)
    }
}

/// One notification through the inbox and its delivery record, as the pipeline does it.
async fn notify(
    store: &Store,
    body: &[u8],
    hook: &Webhook,
    prev: Option<Incident>,
    at: DateTime<Utc>,
    message: u64,
) -> Incident {
    let seq = match store
        .insert_ranked(body, &hook.group_key, 2, at.timestamp_millis())
        .await
        .unwrap()
    {
        Accepted::Stored(s) | Accepted::Duplicate(s) => s,
    };
    let origin = incident::Origin {
        instance: store.instance_id(),
        first_seq: seq,
    };
    let new = prev.is_none();
    let (mut inc, _) = incident::advance(prev, hook, 1, at, CHANNEL, origin);
    inc.message_id.get_or_insert(message);
    let batches = store.group_work(&[seq]).unwrap();
    let entries = &batches[0].entries;
    store
        .record_delivery(&Delivered {
            group_key: &hook.group_key,
            incident_id: &inc.id,
            incident: &inc,
            new_id: new,
            batch: entries,
            refill: None,
            digest: LineChange::Keep,
            shown: None,
        })
        .unwrap();
    inc
}

struct Fill {
    incidents: u64,
    audit: u64,
    prune_passes: u64,
    prune_time: Duration,
    elapsed: Duration,
}

/// Which incidents to feed: `from..to` of `total` spread over the year; retention passes
/// weekly when `prune`; an audit entry every `audit_every` incidents (0: none).
struct Plan {
    from: u64,
    to: u64,
    total: u64,
    prune: bool,
    audit_every: u64,
}

async fn fill(store: &Store, log: &AuditLog, bodies: &Bodies, plan: Plan) -> Fill {
    let Plan {
        from,
        to,
        total,
        prune,
        audit_every,
    } = plan;
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let step = 365.0 * DAY as f64 / total as f64;
    let started = Instant::now();
    let (mut audit, mut passes, mut prune_time) = (0, 0, Duration::ZERO);
    let mut next_prune = start + chrono::Duration::days(7);
    for n in from..to {
        let at = start + chrono::Duration::milliseconds((n as f64 * step * 1000.0) as i64);
        let (fired, hook) = bodies.body(n, false);
        let inc = notify(store, &fired, &hook, None, at, n + 1).await;
        if n % 10 == 0 {
            store
                .put_incident_note(
                    &inc.id,
                    &serde_json::json!({"acknowledged_by": "alice", "at": at}),
                )
                .unwrap();
        }
        if audit_every > 0 && n % audit_every == 0 {
            let event = AuditEvent::new(EventKind::Acknowledged)
                .with_actor(42, "alice")
                .with_job("prod", format!("{n:032x}"))
                .with_action("acknowledge")
                .with_request(format!("r{n}"));
            log.record(event, at.timestamp_millis()).await.unwrap();
            audit += 1;
        }
        let (resolved, hook) = bodies.body(n, true);
        notify(
            store,
            &resolved,
            &hook,
            Some(inc),
            at + chrono::Duration::minutes(30),
            n + 1,
        )
        .await;
        if n % 256 == 0 {
            store.durable().await.unwrap();
        }
        if prune && at >= next_prune {
            let t = Instant::now();
            store.prune_paced(at, WINDOW, Duration::ZERO).await.unwrap();
            prune_time += t.elapsed();
            passes += 1;
            next_prune += chrono::Duration::days(7);
        }
        if n > from && (n - from) % 20_000 == 0 {
            eprintln!(
                "  ... {} incidents, {:.0} s",
                n - from,
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.durable().await.unwrap();
    Fill {
        incidents: to - from,
        audit,
        prune_passes: passes,
        prune_time,
        elapsed: started.elapsed(),
    }
}

async fn open(dir: &Path) -> (Store, AuditLog) {
    let store = Store::open(&dir.join("store")).unwrap();
    let log = AuditLog::open(store.clone(), None, dir.join("store.audit-head.jsonl")).unwrap();
    (store, log)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Started {
    ready: Duration,
    rss_kb: u64,
    readyz: Duration,
    ack: Duration,
}

/// Starts the release bot on `dir/store` and measures it.
async fn start(dir: &Path, label: &str) -> Started {
    let port = free_port();
    let config = dir.join("bot.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\nretention = \"90d\"\n[discord]\napplication_id = 1200000000000000001\npublic_key = \"{}\"\ngateway = false\n[[clusters]]\nname = \"prod\"\nrest_url = \"http://127.0.0.1:9\"\n",
            dir.join("store").display(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let mut child = Command::new(bot_binary())
        .args(["serve", "--config"])
        .arg(&config)
        .env("FLINK_CHATOPS_WEBHOOK_TOKEN", TOKEN)
        .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{label}: never ready"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ready = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = rss_kb(child.id());
    let mut readyz = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        client.get(format!("{url}/readyz")).send().await.unwrap();
        readyz.push(t.elapsed());
    }
    let bodies = Bodies::load();
    let mut ack = Vec::new();
    for n in 0..200 {
        let (body, _) = bodies.body(10_000_000 + n, false);
        let t = Instant::now();
        let r = client
            .post(format!("{url}/alertmanager"))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        ack.push(t.elapsed());
    }
    let _ = child.kill();
    let _ = child.wait();
    Started {
        ready,
        rss_kb: rss,
        readyz: median(readyz),
        ack: median(ack),
    }
}

fn main() {
    let total = env_or("BENCH_INCIDENTS", 200_000);
    let audit_every = env_or("BENCH_AUDIT_EVERY", 10);
    let base = match std::env::var("BENCH_DIR") {
        Ok(d) => {
            std::fs::create_dir_all(&d).unwrap();
            tempfile::tempdir_in(d).unwrap()
        }
        Err(_) => tempfile::tempdir().unwrap(),
    };
    let (year, reference, empty) = (
        base.path().join("year"),
        base.path().join("reference"),
        base.path().join("empty"),
    );
    for d in [&year, &reference, &empty] {
        std::fs::create_dir_all(d).unwrap();
    }
    let bin = bot_binary();
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build --release`",
        bin.display()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bodies = Bodies::load();
    println!("year of traffic: {total} incidents fired+resolved, an audit entry every {audit_every}, retention 90d (a pass every simulated week)");

    let f = runtime.block_on(async {
        let (store, log) = open(&year).await;
        let f = fill(
            &store,
            &log,
            &bodies,
            Plan {
                from: 0,
                to: total,
                total,
                prune: true,
                audit_every,
            },
        )
        .await;
        store.close().await.unwrap();
        f
    });
    // The store is dropped with its runtime task; give sled its lock back.
    std::thread::sleep(Duration::from_secs(1));
    let year_size = du(&year.join("store"));
    println!(
        "year: {} incidents, {} audit entries in {:.0} s; {} retention passes took {:.1} s in all ({:.0} ms each)",
        f.incidents,
        f.audit,
        f.elapsed.as_secs_f64(),
        f.prune_passes,
        f.prune_time.as_secs_f64(),
        f.prune_time.as_secs_f64() * 1000.0 / f.prune_passes.max(1) as f64
    );
    println!(
        "year store on disk: {} (audit export {}, heads {})",
        mb(year_size),
        mb(du(&year.join("store.audit.jsonl"))),
        mb(du(&year.join("store.audit-head.jsonl")))
    );

    // What the last 90 days need: the same incidents, and the whole audit log.
    let kept_from = total - (total as f64 * 90.0 / 365.0) as u64;
    let r = runtime.block_on(async {
        let (store, log) = open(&reference).await;
        // The audit entries of the whole year first (they are all kept), then 90 days of pages.
        for n in (0..kept_from).filter(|n| audit_every > 0 && n % audit_every == 0) {
            let event = AuditEvent::new(EventKind::Acknowledged)
                .with_actor(42, "alice")
                .with_job("prod", format!("{n:032x}"))
                .with_action("acknowledge")
                .with_request(format!("r{n}"));
            log.record(event, 0).await.unwrap();
        }
        let plan = Plan {
            from: kept_from,
            to: total,
            total,
            prune: false,
            audit_every,
        };
        let r = fill(&store, &log, &bodies, plan).await;
        store.close().await.unwrap();
        r
    });
    std::thread::sleep(Duration::from_secs(1));
    let ref_size = du(&reference.join("store"));
    println!(
        "reference (last 90 days: {} incidents, and every audit entry): {} on disk, built in {:.0} s",
        r.incidents,
        mb(ref_size),
        r.elapsed.as_secs_f64()
    );
    println!(
        "year store / reference: {:.2}x (target: within 2x)",
        year_size as f64 / ref_size as f64
    );

    runtime.block_on(async {
        let e = start(&empty, "empty").await;
        let y = start(&year, "year").await;
        for (name, s) in [("empty store", &e), ("year store", &y)] {
            println!(
                "start on the {name}: ready in {:.0} ms, idle VmRSS {:.1} MiB, /readyz median {:.2} ms, webhook ack median {:.2} ms",
                s.ready.as_secs_f64() * 1000.0,
                s.rss_kb as f64 / 1024.0,
                s.readyz.as_secs_f64() * 1000.0,
                s.ack.as_secs_f64() * 1000.0
            );
        }
        std::fs::remove_file(year.join("store.audit.jsonl")).unwrap();
        let u = start(&year, "upgrade").await;
        println!(
            "first start after an upgrade (no audit export yet, the whole chain verified and exported): ready in {:.0} ms, idle VmRSS {:.1} MiB",
            u.ready.as_secs_f64() * 1000.0,
            u.rss_kb as f64 / 1024.0
        );
    });
    println!(
        "year store after the starts: {}",
        mb(du(&year.join("store")))
    );
}
