//! `cargo bench --bench logs`
//!
//! What reading a cause from Flink's logs costs a page (issue 21), on the real Flink test
//! clusters (target/test-env/env.sh: FLINK23_URL, FLINK120_URL) with their real, busy
//! JobManager logs, through the bot's own client (`FlinkClient::jobmanager_log_tail`, 1 MiB kept)
//! and extraction (`facts::logs::find_cause`):
//! - the read: listing + streaming the whole current log file (Flink sends all of it whatever
//!   `Range` asks) and keeping its end, per log size;
//! - the extraction over the kept 1 MiB, for a job the log names and one it does not (the worst
//!   case: every record is looked at).
//!
//! Knobs: BENCH_ROUNDS (20).

use std::time::{Duration, Instant};

use flink_chatops::config::{ClusterConfig, FlinkAuth};
use flink_chatops::facts::logs::{self, LogQuery};
use flink_chatops::flink::FlinkClient;

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: source target/test-env/env.sh (tests/env/setup.sh)")
    })
}

fn client(url: &str) -> FlinkClient {
    let cluster = ClusterConfig {
        name: "bench".into(),
        rest_url: url.into(),
        web_ui_url: None,
        savepoint_dir: None,
        username: None,
        password_env: None,
        password_file: None,
        token_env: None,
        token_file: None,
        user_packages: Vec::new(),
        operator: None,
    };
    FlinkClient::new(
        &cluster,
        FlinkAuth::None,
        reqwest::Client::new(),
        Duration::from_secs(30),
    )
    .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what:<58} p50 {:>8.1} ms  p95 {:>8.1} ms  max {:>8.1} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for (version, url) in [
        ("2.3.0", required("FLINK23_URL")),
        ("1.20.5", required("FLINK120_URL")),
    ] {
        let c = client(&url);
        let list = c
            .jobmanager_logs()
            .await
            .expect("the JobManager's log list");
        let files = logs::files_to_read(&logs::files_of(&list, false), 0);
        let current = files.first().expect("a JobManager log file").clone();
        let mut reads = Vec::new();
        let mut tail = None;
        for _ in 0..rounds {
            let started = Instant::now();
            let _ = c.jobmanager_logs().await.unwrap();
            let t = c
                .jobmanager_log_tail(&current.name, 1024 * 1024)
                .await
                .unwrap();
            reads.push(started.elapsed());
            tail = Some(t);
        }
        let tail = tail.unwrap();
        report(
            &format!(
                "{version}: list + read {} log, keep 1 MiB",
                logs::size(tail.total_bytes)
            ),
            reads,
        );
        // A job the log names: the newest job id in the kept text.
        let named = tail
            .text
            .rsplit(" for job ")
            .next()
            .map(|r| r.chars().take(32).collect::<String>())
            .filter(|id| id.len() == 32)
            .unwrap_or_else(|| "0".repeat(32));
        let now = chrono::Utc::now().timestamp_millis();
        for (what, job) in [
            ("a job it names", named),
            ("a job it does not name", "f".repeat(32)),
        ] {
            let q = LogQuery {
                mentions: vec![job],
                at_ms: now,
                offset_ms: logs::clock_offset(&tail.text, current.mtime_ms),
                known: None,
            };
            let mut times = Vec::new();
            for _ in 0..rounds {
                let started = Instant::now();
                std::hint::black_box(logs::find_cause(&tail.text, &q));
                times.push(started.elapsed());
            }
            report(
                &format!(
                    "{version}: find_cause over {} for {what}",
                    logs::size(tail.text.len() as u64)
                ),
                times,
            );
        }
    }
}
