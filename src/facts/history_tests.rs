//! Table tests of the kept exception history, on real answers of Flink 2.3.0 and 1.20.5.

use super::*;
use crate::facts::root_cause::from_entry;
use crate::flink::types::Exceptions;

const FLAKY_23: &str = include_str!("../diagnose/testdata/flink-2.3.0-exceptions-flaky.json");
const NESTED_120: &str =
    include_str!("../diagnose/testdata/flink-1.20.5-exceptions-nested-failed.json");
const TM_LOST_23: &str = include_str!("testdata/tm-lost-exceptions-2.3.0.json");
const TM_LOST_120: &str = include_str!("testdata/tm-lost-exceptions-1.20.5.json");

fn parse(json: &str) -> Exceptions {
    serde_json::from_str(json).unwrap()
}

/// The newest real entry of `json`, copied `n` times one second apart from `start_ms`: what
/// Flink answers for a loop that failed `n` times the same way.
fn loop_of(json: &str, start_ms: i64, n: usize) -> Vec<ExceptionEntry> {
    let template = parse(json).history.entries[0].clone();
    (0..n)
        .map(|i| ExceptionEntry {
            timestamp: start_ms + i as i64 * 1000,
            ..template.clone()
        })
        .collect()
}

#[test]
fn first_reads_keep_every_entry_oldest_first() {
    // (name, answer, entries, first timestamp, root class of the first)
    let cases = [
        (
            "2.3.0 restart loop",
            FLAKY_23,
            3,
            1_795_240_064_063,
            "java.lang.IllegalStateException",
        ),
        (
            "1.20.5 nested, ended FAILED (wrapper on top)",
            NESTED_120,
            3,
            1_795_240_147_969,
            "java.io.NotSerializableException",
        ),
        (
            "2.3.0 two lost TaskManagers",
            TM_LOST_23,
            2,
            1_796_130_191_520,
            "org.apache.flink.runtime.jobmaster.JobMasterException",
        ),
        (
            "1.20.5 lost TaskManagers and missing slots",
            TM_LOST_120,
            7,
            1_796_131_225_389,
            "org.apache.flink.runtime.resourcemanager.exceptions.ResourceManagerException",
        ),
    ];
    for (name, json, n, first_ms, class) in cases {
        let ex = parse(json);
        let mut h = JobHistory::default();
        let added = merge(&mut h, &ex.history.entries, ex.history.truncated, KEPT);
        assert_eq!(added, n, "{name}");
        assert_eq!(h.seen, n as u64, "{name}");
        assert_eq!(h.entries[0].timestamp, first_ms, "{name}");
        assert_eq!(h.entries[0].class, class, "{name}");
        assert!(h
            .entries
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp));
        // The same answer again adds nothing.
        assert_eq!(merge(&mut h, &ex.history.entries, false, KEPT), 0, "{name}");
        assert_eq!(h.seen, n as u64, "{name}");
        let f = facts(&h, &ex.history.entries).unwrap();
        assert_eq!((f.since_first, f.beyond_flink), (n as u64 - 1, 0), "{name}");
    }
}

#[test]
fn a_long_loop_keeps_its_first_failure_within_the_bound() {
    // (name, failures, reads every, limit, kept, seen, kept beyond Flink's newest 16)
    let cases = [
        ("within Flink's 16", 10, 16, 200, 10, 10, 0),
        ("40 failures read every 16", 40, 16, 200, 40, 40, 24),
        (
            "beyond the bound: the first and the newest 7",
            40,
            16,
            8,
            8,
            40,
            1,
        ),
        ("read after every failure", 25, 1, 5, 5, 25, 1),
    ];
    for (name, failures, every, limit, kept, seen, beyond) in cases {
        let start = 1_795_240_000_000;
        let all = loop_of(FLAKY_23, start, failures);
        let mut h = JobHistory::default();
        let mut read = every;
        loop {
            let end = read.min(failures);
            // Flink answers its newest 16 only.
            let window = &all[end.saturating_sub(16)..end];
            merge(&mut h, window, end > 16, limit);
            if end == failures {
                break;
            }
            read += every;
        }
        assert_eq!(h.entries.len(), kept, "{name}");
        assert_eq!(h.seen, seen, "{name}");
        assert_eq!(h.entries[0].timestamp, start, "{name}: the first is kept");
        assert_eq!(
            h.entries.last().unwrap().timestamp,
            start + (failures as i64 - 1) * 1000,
            "{name}: the newest is kept"
        );
        let flink_now = &all[failures.saturating_sub(16)..];
        let f = facts(&h, flink_now).unwrap();
        assert_eq!(f.since_first, seen - 1, "{name}");
        assert_eq!(f.beyond_flink, beyond, "{name}");
    }
}

#[test]
fn dropped_entries_seen_again_are_not_counted_twice() {
    let all = loop_of(FLAKY_23, 1_795_240_000_000, 12);
    let mut h = JobHistory::default();
    merge(&mut h, &all[..10], false, 4);
    assert_eq!((h.entries.len(), h.seen), (4, 10));
    // Flink still has entries 2..12: 2..=6 were kept once and dropped.
    merge(&mut h, &all[2..], false, 4);
    assert_eq!((h.entries.len(), h.seen), (4, 12));
}

#[test]
fn a_history_first_read_truncated_says_its_first_is_only_the_earliest_seen() {
    let all = loop_of(FLAKY_23, 1_795_240_000_000, 3);
    let mut h = JobHistory::default();
    merge(&mut h, &all, true, KEPT);
    let f = facts(&h, &all).unwrap();
    assert!(f.first_seen_only);
    assert!(f.line().starts_with("earliest failure the bot saw 2026-"));
    let mut fresh = JobHistory::default();
    merge(&mut fresh, &all, false, KEPT);
    let line = facts(&fresh, &all).unwrap().line();
    assert!(
        line.starts_with("first failure 2026-11-21 05:46:40 UTC: `IllegalStateException`: harness: simulated failure"),
        "{line}"
    );
    assert!(line.ends_with("; 2 failures seen since"), "{line}");
}

#[test]
fn kept_records_stay_small_and_read_back() {
    let ex = parse(TM_LOST_120);
    let mut h = JobHistory::default();
    merge(&mut h, &ex.history.entries, false, KEPT);
    let bytes = serde_json::to_vec(&h).unwrap();
    // Flink's answer is 36 KB of stack traces; the record keeps the causes only.
    assert!(bytes.len() < 8_000, "{} bytes", bytes.len());
    let back: JobHistory = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, h);
}

#[test]
fn kept_failures_prove_restarts_beyond_flinks_history() {
    let all = loop_of(FLAKY_23, 1_795_240_000_000, 40);
    let mut h = JobHistory::default();
    for end in [16, 32, 40] {
        merge(&mut h, &all[end - 16..end], false, KEPT);
    }
    let f = facts(&h, &all[24..]).unwrap();
    // (job state, restarts at least)
    for (state, want) in [
        (Some("RUNNING"), 40),
        (Some("RESTARTING"), 40),
        (Some("FAILED"), 39),
        (None, 40),
    ] {
        assert_eq!(f.restarts_at_least(state), want, "{state:?}");
    }
}

#[test]
fn a_kept_failure_is_diagnosed_as_flinks_own_entry_is() {
    let answers = [
        ("2.3.0 flaky", FLAKY_23),
        ("1.20.5 nested", NESTED_120),
        ("2.3.0 lost TaskManagers", TM_LOST_23),
        ("1.20.5 lost TaskManagers", TM_LOST_120),
        (
            "2.3.0 own code",
            include_str!("../diagnose/testdata/flink-2.3.0-exceptions-own-code.json"),
        ),
        (
            "1.20.5 own code",
            include_str!("../diagnose/testdata/flink-1.20.5-exceptions-own-code.json"),
        ),
        (
            "2.3.0 restore",
            include_str!("../diagnose/testdata/flink-2.3.0-exceptions-restore-unmapped.json"),
        ),
        (
            "1.20.5 restore",
            include_str!("../diagnose/testdata/flink-1.20.5-exceptions-restore-unmapped.json"),
        ),
    ];
    let pattern = |rc: crate::facts::root_cause::RootCause| {
        let facts = crate::facts::Facts {
            root_cause: Some(rc),
            ..Default::default()
        };
        crate::diagnose::diagnose("", &facts).pattern
    };
    for (name, json) in answers {
        for (i, e) in parse(json).history.entries.iter().enumerate() {
            let kept = KeptFailure::from_entry(e);
            let back: KeptFailure =
                serde_json::from_slice(&serde_json::to_vec(&kept).unwrap()).unwrap();
            assert_eq!(
                pattern(back.root_cause()),
                pattern(from_entry(e)),
                "{name} entry {i}"
            );
            assert_eq!(
                back.root_cause().origin.job_frame,
                from_entry(e).origin.job_frame,
                "{name} entry {i}"
            );
        }
    }
}
