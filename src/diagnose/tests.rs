//! Table-driven diagnosis tests. Every root cause goes through the real parsing path
//! (`Exceptions` JSON -> `root_cause` -> `parse_chain`), from real harness fixtures or from
//! traces shaped exactly like Flink's (`traces.rs`).

use std::collections::BTreeMap;

use super::traces::*;
use super::*;
use crate::facts::root_cause::{parse_chain, root_cause, RootCause};
use crate::facts::{BackpressureFacts, CheckpointFacts, FailedCheckpoint, JobFacts};
use crate::flink::types::Exceptions;
use Pattern::*;

/// One `exceptionHistory` entry carrying `trace`, as Flink 2.x and 1.20 report it.
pub(super) fn from_trace(trace: &str) -> RootCause {
    let name = parse_chain(trace)[0].class.clone();
    let json = serde_json::json!({
        "exceptionHistory": {
            "entries": [{
                "exceptionName": name,
                "stacktrace": trace,
                "timestamp": 1_795_240_152_022_i64,
                "taskName": "KeyedProcess -> Sink: orders-sink (3/8)",
                "taskManagerId": "10.42.3.17:6122-4f1c2a",
                "failureLabels": {},
                "concurrentExceptions": []
            }],
            "truncated": false
        }
    });
    let ex: Exceptions = serde_json::from_value(json).expect("exceptions JSON");
    root_cause(&ex).expect("a root cause")
}

pub(super) fn from_fixture(path: &str) -> RootCause {
    let json =
        std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path);
    let ex: Exceptions = serde_json::from_str(&json).expect("fixture parses");
    root_cause(&ex).expect("a root cause")
}

/// 1.20's legacy `root-exception` only, as when the history is empty.
pub(super) fn legacy_only(path: &str) -> RootCause {
    let json =
        std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path);
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["exceptionHistory"]["entries"] = serde_json::json!([]);
    let ex: Exceptions = serde_json::from_value(value).unwrap();
    root_cause(&ex).expect("legacy root cause")
}

const NESTED_23: &str = "tests/data/flink-2.3.0-exceptions-nested-failed.json";
const NESTED_120: &str = "src/diagnose/testdata/flink-1.20.5-exceptions-nested-failed.json";
const FLAKY_23: &str = "src/diagnose/testdata/flink-2.3.0-exceptions-flaky.json";
/// `com.acme.billing.InvoiceJob` (tests/jobs): the job's own `SchemaException` from its own code.
pub(super) const OWN_CODE_23: &str = "src/diagnose/testdata/flink-2.3.0-exceptions-own-code.json";
pub(super) const OWN_CODE_120: &str = "src/diagnose/testdata/flink-1.20.5-exceptions-own-code.json";
/// `InvoiceJob` started from a `HealthyJob` savepoint: its keyed operator is not in the program.
pub(super) const UNMAPPED_23: &str =
    "src/diagnose/testdata/flink-2.3.0-exceptions-restore-unmapped.json";
pub(super) const UNMAPPED_120: &str =
    "src/diagnose/testdata/flink-1.20.5-exceptions-restore-unmapped.json";

enum Input {
    None,
    Trace(&'static str),
    Fixture(&'static str),
    Legacy(&'static str),
}

fn job(state: &str) -> JobFacts {
    JobFacts {
        id: "7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c".into(),
        name: Some("orders-enrichment".into()),
        state: Some(state.into()),
        start_time_ms: Some(1_795_239_000_000),
        ui_url: "http://flink.example:8081/#/job/running/7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c/overview"
            .into(),
        exceptions_url:
            "http://flink.example:8081/#/job/running/7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c/exceptions"
                .into(),
        checkpoints_url:
            "http://flink.example:8081/#/job/running/7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c/checkpoints"
                .into(),
    }
}

fn checkpoints(last_failed: Option<&str>, in_progress: i64) -> CheckpointFacts {
    CheckpointFacts {
        completed: 120,
        failed: 7,
        in_progress,
        restored: 0,
        last_completed: None,
        last_failed: last_failed.map(|m| FailedCheckpoint {
            id: 128,
            failed_at_ms: Some(1_795_240_100_000),
            message: Some(m.into()),
        }),
        last_restored: None,
    }
}

fn nothing(_: &mut Facts) {}

fn expired(f: &mut Facts) {
    f.checkpoints = Some(checkpoints(
        Some("Checkpoint expired before completing."),
        0,
    ));
}

fn declined(f: &mut Facts) {
    f.checkpoints = Some(checkpoints(Some("Asynchronous task checkpoint failed."), 0));
}

fn stuck(f: &mut Facts) {
    f.checkpoints = Some(checkpoints(None, 1));
}

fn restarting(f: &mut Facts) {
    f.job = Some(job("RESTARTING"));
    f.restarts = Some(57);
}

fn rescaled(f: &mut Facts) {
    restarting(f);
    let history = [crate::facts::rescale::RescaleEntry {
        trigger_cause: "UPDATE_REQUIREMENT".into(),
        terminal_state: None,
        start_timestamp_in_millis: 1_796_623_304_807,
        end_timestamp_in_millis: None,
    }];
    f.rescale = crate::facts::rescale::decide(&history, None, 1_796_623_304_807);
}

fn high_backpressure(f: &mut Facts) {
    f.backpressure = Some(BackpressureFacts {
        hot: None,
        vertex: "Source: clicks -> Map".into(),
        level: "high".into(),
        ratio: 0.93,
        bottleneck: None,
    });
}

fn user_label(f: &mut Facts) {
    let rc = f.root_cause.as_mut().unwrap();
    rc.failure_labels = BTreeMap::from([("type".to_string(), "User".to_string())]);
}

type Case = (&'static str, Input, fn(&mut Facts), &'static str, Pattern);

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Input::*;
    vec![
        // The look-alike trap: a middle message says "looks like: java.lang.OutOfMemoryError",
        // the real root is NotSerializableException.
        ("nested 2.3.0 look-alike", Fixture(NESTED_23), nothing, "FlinkJobNotRunning", Serialization),
        ("nested 1.20.5 look-alike", Fixture(NESTED_120), nothing, "FlinkJobUnstable", Serialization),
        ("nested 1.20.5 legacy root-exception", Legacy(NESTED_120), nothing, "FlinkJobUnstable", Serialization),
        // IllegalStateException is also Flink's own precondition failure, so its class says
        // nothing; the stack does: thrown from the harness jobs' own code, it is a code bug (the
        // restart loop is its symptom), thrown from Flink's, it is not.
        ("harness flaky IllegalStateException", Fixture(FLAKY_23), nothing, "FlinkJobUnstable", UserCodeBug),
        ("harness flaky, foreign alert", Fixture(FLAKY_23), nothing, "SomeTeamAlert", UserCodeBug),
        ("harness restart-loop job", Trace(RESTART_LOOP_POISON), restarting, "FlinkJobUnstable", UserCodeBug),
        ("own exception class from own code 2.3.0", Fixture(OWN_CODE_23), nothing, "FlinkJobUnstable", UserCodeBug),
        ("own exception class from own code 1.20.5", Fixture(OWN_CODE_120), nothing, "FlinkJobUnstable", UserCodeBug),
        ("own exception class, foreign alert", Fixture(OWN_CODE_23), nothing, "SomeTeamAlert", UserCodeBug),
        ("own exception class, 1.20.5 legacy root-exception", Legacy(OWN_CODE_120), nothing, "FlinkJobNotRunning", UserCodeBug),
        ("Flink's own precondition, unstable", Trace(FLINK_PRECONDITION), nothing, "FlinkJobUnstable", RestartLoop),
        ("Flink's own precondition, foreign alert", Trace(FLINK_PRECONDITION), nothing, "SomeTeamAlert", Unknown),
        // Thrown from a library the job calls: not the job's bug, whatever the job did around it.
        ("unlisted library under the job's code", Trace(UNLISTED_LIBRARY), nothing, "SomeTeamAlert", Unknown),
        ("heap OOM", Trace(HEAP_OOM), nothing, "FlinkJobUnstable", HeapOom),
        ("heap OOM beats the alert", Trace(HEAP_OOM), nothing, "FlinkWatermarkStalled", HeapOom),
        ("GC overhead under a wrapper", Trace(GC_OVERHEAD), nothing, "FlinkJobUnstable", HeapOom),
        ("direct OOM in Kafka fetcher", Trace(DIRECT_OOM), nothing, "FlinkKafkaLagGrowing", DirectOom),
        ("metaspace OOM", Trace(METASPACE_OOM), nothing, "FlinkJobNotRunning", MetaspaceOom),
        ("tolerable threshold, expired", Trace(CHECKPOINT_THRESHOLD_EXPIRED), nothing, "FlinkJobNotRunning", CheckpointTimeout),
        ("checkpoint alert, expired", None, expired, "FlinkCheckpointFailing", CheckpointTimeout),
        ("checkpoint too old, one in progress", None, stuck, "FlinkCheckpointTooOld", CheckpointTimeout),
        ("checkpoint failing, no reason, one in progress", None, stuck, "FlinkCheckpointFailing", CheckpointTimeout),
        ("async checkpoint failed (chain)", Trace(CHECKPOINT_ASYNC_FAILED), nothing, "FlinkCheckpointFailing", CheckpointDeclined),
        ("checkpoint alert, declined", None, declined, "FlinkCheckpointFailing", CheckpointDeclined),
        ("checkpoint alert, no reason", None, nothing, "FlinkCheckpointFailing", CheckpointDeclined),
        ("harness serialization job", Trace(NOT_SERIALIZABLE), nothing, "FlinkJobUnstable", Serialization),
        ("Kryo unregistered class", Trace(KRYO_UNREGISTERED), nothing, "FlinkJobUnstable", Serialization),
        ("Kryo over ClassNotFoundException", Trace(KRYO_CLASS_NOT_FOUND), nothing, "FlinkJobUnstable", Serialization),
        ("InvalidClassException outside restore", Trace(INVALID_CLASS), nothing, "FlinkJobUnstable", Serialization),
        ("NPE", Trace(NPE), nothing, "FlinkJobUnstable", UserCodeBug),
        ("NumberFormatException in chained operator", Trace(NUMBER_FORMAT), nothing, "FlinkJobUnstable", UserCodeBug),
        ("SQL NOT NULL enforcer", Trace(SQL_NOT_NULL), nothing, "FlinkJobUnstable", UserCodeBug),
        ("NoClassDefFoundError", Trace(NO_CLASS_DEF), nothing, "FlinkJobNotRunning", UserCodeBug),
        ("heartbeat timeout", Trace(HEARTBEAT_TIMEOUT), nothing, "FlinkJobUnstable", TaskmanagerLost),
        ("TaskManager no longer reachable", Trace(TM_UNREACHABLE), nothing, "FlinkJobUnstable", TaskmanagerLost),
        ("RemoteTransportException", Trace(REMOTE_TRANSPORT), nothing, "FlinkJobUnstable", TaskmanagerLost),
        ("no more allocated slots", Trace(NO_MORE_SLOTS), nothing, "FlinkJobUnstable", TaskmanagerLost),
        ("TaskManager alert alone", None, nothing, "FlinkTaskManagerLost", TaskmanagerLost),
        ("Kafka metadata timeout", Trace(KAFKA_METADATA), nothing, "FlinkKafkaLagGrowing", KafkaUnavailable),
        ("shaded Kafka NetworkException", Trace(KAFKA_SHADED_NETWORK), nothing, "FlinkJobUnstable", KafkaUnavailable),
        ("Kafka unknown topic", Trace(KAFKA_UNKNOWN_TOPIC), nothing, "FlinkJobNotRunning", KafkaUnavailable),
        ("Kinesis throughput exceeded", Trace(KINESIS_THROTTLED), nothing, "FlinkJobUnstable", SinkThrottled),
        ("Elasticsearch HTTP 429", Trace(ELASTICSEARCH_429), nothing, "FlinkJobUnstable", SinkThrottled),
        ("async I/O timeout", Trace(ASYNC_TIMEOUT), nothing, "FlinkJobUnstable", Timeout),
        ("pekko ask timeout", Trace(ASK_TIMEOUT), nothing, "FlinkJobUnstable", Timeout),
        ("StateMigrationException", Trace(STATE_MIGRATION), nothing, "FlinkJobNotRunning", IncompatibleState),
        ("rollback: operator not mapped", Trace(ROLLBACK_UNMAPPED), nothing, "FlinkJobNotRunning", IncompatibleState),
        ("rollback: operator not mapped, real 2.3.0", Fixture(UNMAPPED_23), nothing, "FlinkJobNotRunning", IncompatibleState),
        ("rollback: operator not mapped, real 1.20.5", Fixture(UNMAPPED_120), nothing, "FlinkJobNotRunning", IncompatibleState),
        ("rollback, 1.20.5 legacy root-exception", Legacy(UNMAPPED_120), nothing, "FlinkJobUnstable", IncompatibleState),
        ("InvalidClassException on restore", Trace(RESTORE_INVALID_CLASS), nothing, "FlinkJobUnstable", IncompatibleState),
        ("Kafka lag, nothing failed", None, high_backpressure, "FlinkKafkaLagGrowing", Backpressure),
        ("backpressure alert", None, nothing, "FlinkBackpressureHigh", Backpressure),
        ("high backpressure, foreign alert", None, high_backpressure, "SomeTeamAlert", Backpressure),
        ("watermark stalled", None, nothing, "FlinkWatermarkStalled", WatermarkStall),
        ("watermark never started", None, nothing, "FlinkWatermarkNotStarted", WatermarkStall),
        ("data skew", None, nothing, "FlinkDataSkew", DataSkew),
        ("GC pressure", None, nothing, "FlinkHighGCPressure", HeapOom),
        ("unstable, opaque cause", Trace(OPAQUE), nothing, "FlinkJobUnstable", RestartLoop),
        ("restarting, foreign alert", Trace(OPAQUE), restarting, "SomeTeamAlert", RestartLoop),
        ("not running while restarting", None, restarting, "FlinkJobNotRunning", RestartLoop),
        ("rescaled, not failed", None, rescaled, "FlinkJobUnstable", Rescale),
        ("rescaled while an old failure is on record", Trace(OPAQUE), rescaled, "FlinkJobNotRunning", Rescale),
        ("failure label type=User", Trace(OPAQUE), user_label, "FlinkJobNotRunning", UserCodeBug),
        ("opaque cause, foreign alert", Trace(OPAQUE), nothing, "SomeTeamAlert", Unknown),
        ("nothing known at all", None, nothing, "FlinkJobNotRunning", Unknown),
    ]
}

#[test]
fn every_case_gets_its_pattern() {
    let mut failures = Vec::new();
    for (name, input, extra, alert, expected) in cases() {
        let mut facts = Facts {
            root_cause: match input {
                Input::None => Option::None,
                Input::Trace(t) => Some(from_trace(t)),
                Input::Fixture(p) => Some(from_fixture(p)),
                Input::Legacy(p) => Some(legacy_only(p)),
            },
            ..Facts::default()
        };
        extra(&mut facts);
        let d = diagnose(alert, &facts);
        if d.pattern != expected {
            failures.push(format!(
                "{name}: expected {expected:?}, got {:?} ({} / {})",
                d.pattern, d.title, d.evidence
            ));
        }
        assert_eq!(d.slug, d.pattern.slug());
        assert!(!d.title.is_empty(), "{name}: empty title");
        assert!(
            d.evidence.chars().count() < 700,
            "{name}: evidence too long: {}",
            d.evidence
        );
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_pattern_has_a_case() {
    let covered: Vec<Pattern> = cases().into_iter().map(|c| c.4).collect();
    for p in Pattern::ALL {
        assert!(covered.contains(&p), "no test case for {p:?}");
    }
}

#[test]
fn the_look_alike_never_wins_and_the_evidence_names_the_real_root() {
    let facts = Facts {
        root_cause: Some(from_fixture(NESTED_23)),
        ..Facts::default()
    };
    let d = diagnose("FlinkJobUnstable", &facts);
    assert_eq!(d.pattern, Serialization);
    assert_eq!(
        d.evidence,
        "root cause java.io.NotSerializableException: com.example.payments.LegacyHttpClient"
    );
    assert!(!d.evidence.contains("OutOfMemoryError"));
}

#[test]
fn evidence_says_what_matched() {
    let heap = diagnose(
        "FlinkJobUnstable",
        &Facts {
            root_cause: Some(from_trace(HEAP_OOM)),
            ..Facts::default()
        },
    );
    assert_eq!(
        heap.evidence,
        "root cause java.lang.OutOfMemoryError: Java heap space"
    );
    assert_eq!(heap.title, "Heap memory exhausted");

    let chain = diagnose(
        "X",
        &Facts {
            root_cause: Some(from_trace(CHECKPOINT_ASYNC_FAILED)),
            ..Facts::default()
        },
    );
    assert!(
        chain.evidence.starts_with("org.apache.flink.runtime.checkpoint.CheckpointException: Asynchronous task checkpoint failed. (cause 1 of 5; root cause java.nio.file.AccessDeniedException"),
        "{}",
        chain.evidence
    );

    let mut facts = Facts::default();
    expired(&mut facts);
    let cp = diagnose("FlinkCheckpointFailing", &facts);
    assert_eq!(
        cp.evidence,
        "last failed checkpoint #128: Checkpoint expired before completing."
    );

    // Flink's long OOM advice is cut to one short line.
    let direct = diagnose(
        "X",
        &Facts {
            root_cause: Some(from_trace(DIRECT_OOM)),
            ..Facts::default()
        },
    );
    assert!(
        direct.evidence.ends_with('…') && direct.evidence.chars().count() < 210,
        "{}",
        direct.evidence
    );
}

#[test]
fn actions_come_from_the_known_set_and_always_include_status() {
    for p in Pattern::ALL {
        let d = Diagnosis::new(p, "t", "e");
        assert_eq!(d.actions, p.actions());
        assert_eq!(
            d.actions.first(),
            Some(&crate::buttons::Offer::Status),
            "{p:?}"
        );
        let mut seen = std::collections::HashSet::new();
        for a in &d.actions {
            assert!(seen.insert(a.slug()), "{p:?} offers {} twice", a.slug());
        }
    }
    let d = diagnose(
        "FlinkJobUnstable",
        &Facts {
            root_cause: Some(from_trace(HEAP_OOM)),
            ..Facts::default()
        },
    );
    assert!(d.actions.contains(&crate::buttons::suggest::SAVEPOINT));
}

#[test]
fn slugs_round_trip_and_serialize_as_snake_case() {
    for p in Pattern::ALL {
        assert_eq!(Pattern::from_slug(p.slug()), Some(p));
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            serde_json::json!(p.slug())
        );
    }
    let d = serde_json::to_value(Diagnosis::new(HeapOom, "Heap memory exhausted", "e")).unwrap();
    assert_eq!(d["slug"], "heap_oom");
    assert_eq!(d["actions"][0], "status");
}

#[test]
fn a_stale_failure_does_not_explain_a_new_alert() {
    let mut rc = from_trace(traces::HEAP_OOM);
    let fresh = Facts {
        root_cause: Some(rc.clone()),
        ..Default::default()
    };
    assert_eq!(diagnose("FlinkWatermarkStalled", &fresh).pattern, HeapOom);
    rc.stale = true;
    let stale = Facts {
        root_cause: Some(rc),
        ..Default::default()
    };
    assert_eq!(
        diagnose("FlinkWatermarkStalled", &stale).pattern,
        WatermarkStall
    );
}
