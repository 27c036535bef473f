//! Small helpers shared by the integration tests (`tests/api`) and the benches (`tests/bench`),
//! each of which includes this file with `#[path]` (a bench uses only some of it).

#![allow(dead_code)]

use std::path::PathBuf;

/// A port nobody listens on right now (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A number from the environment (a bench's size), or `default`.
pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The bot binary: `FLINK_CHATOPS_BIN` (e.g. a release build), else the one cargo built.
pub fn bot_binary() -> PathBuf {
    std::env::var("FLINK_CHATOPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_flink-chatops")))
}

/// User plus system CPU seconds of a process so far (`/proc/<pid>/stat`, fields 14 and 15).
pub fn cpu_secs(pid: impl std::fmt::Display) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The name (field 2) may hold spaces: fields are counted after its closing parenthesis,
    // where field 3 starts.
    let after = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The `p`th percentile of sorted samples (nearest rank); NaN when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}
