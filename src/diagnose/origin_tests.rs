//! Diagnosis by whose code threw (`facts::frames`) and restores that failed, on real traces of
//! both Flink versions and the shapes in `traces.rs`.

use super::tests::*;
use super::traces::*;
use super::*;
use Pattern::*;

/// Failures thrown from the job's own frames that have a runbook of their own keep it: the
/// origin stage comes after the class rules.
#[test]
fn code_in_the_stack_does_not_steal_known_patterns() {
    use crate::facts::frames::Owner;
    #[rustfmt::skip]
    let cases = [
        (HEAP_OOM, HeapOom, "com.example.sessions.SessionAggregator.process(SessionAggregator.java:61)"),
        (GC_OVERHEAD, HeapOom, "com.example.dedup.SeenIds.add(SeenIds.java:33)"),
        (NOT_SERIALIZABLE, Serialization, "harness.SerializationFailureJob$CacheWriter.fail(SerializationFailureJob.java:62)"),
        (NPE, UserCodeBug, "com.example.orders.EnrichOrder.map(EnrichOrder.java:42)"),
        (NUMBER_FORMAT, UserCodeBug, "com.example.clicks.ParseClick.map(ParseClick.java:27)"),
    ];
    for (trace, pattern, frame) in cases {
        let rc = from_trace(trace);
        assert_eq!(rc.origin.thrown_by, Owner::Job, "{trace}");
        assert_eq!(rc.origin.job_frame.as_deref(), Some(frame));
        let d = diagnose(
            "FlinkJobUnstable",
            &Facts {
                root_cause: Some(rc),
                ..Facts::default()
            },
        );
        assert_eq!(d.pattern, pattern, "{}", d.evidence);
    }
    // Checkpoint expiry and class loading are thrown by Flink and the JDK: no job frame at all.
    for trace in [CHECKPOINT_THRESHOLD_EXPIRED, NO_CLASS_DEF] {
        assert_ne!(from_trace(trace).origin.thrown_by, Owner::Job, "{trace}");
    }
}

/// The real failure of the own-code test job, both versions: diagnosed by its frames, and the
/// frame it names is the `throw` in `InvoiceParser.java`.
#[test]
fn the_jobs_own_exception_is_a_code_bug_at_its_own_frame() {
    let throw_line = include_str!("../../tests/jobs/src/com/acme/billing/InvoiceParser.java")
        .lines()
        .position(|l| l.contains("throw new SchemaException"))
        .expect("the throw")
        + 1;
    let frame = format!("com.acme.billing.InvoiceParser.parse(InvoiceParser.java:{throw_line})");
    for rc in [
        from_fixture(OWN_CODE_23),
        from_fixture(OWN_CODE_120),
        legacy_only(OWN_CODE_120),
    ] {
        assert_eq!(rc.class, "com.acme.billing.SchemaException");
        assert_eq!(rc.origin.job_frame.as_deref(), Some(frame.as_str()));
        let d = diagnose(
            "FlinkJobUnstable",
            &Facts {
                root_cause: Some(rc),
                ..Facts::default()
            },
        );
        assert_eq!(d.pattern, UserCodeBug);
        assert!(
            d.evidence.ends_with(&format!("thrown at {frame}")),
            "{}",
            d.evidence
        );
    }
}

/// A restore that failed never shows in `latest.restored`; the path it tried is in the message.
#[test]
fn a_failed_restore_names_the_savepoint_it_tried() {
    for (fixture, version) in [(UNMAPPED_23, "2.3.0"), (UNMAPPED_120, "1.20.5")] {
        let rc = from_fixture(fixture);
        let path = rc
            .restore_source
            .as_deref()
            .unwrap_or_else(|| panic!("{fixture}"));
        assert!(
            path.starts_with(&format!(
                "file:/work/wt-diagcode/target/flink/{version}/savepoints/savepoint-"
            )) && !path.ends_with('.'),
            "{path}"
        );
    }
    let legacy = legacy_only(UNMAPPED_120);
    assert_eq!(
        legacy.restore_source,
        from_fixture(UNMAPPED_120).restore_source
    );
    assert_eq!(
        from_trace(ROLLBACK_UNMAPPED).restore_source.as_deref(),
        Some("s3://flink-state/savepoints/savepoint-7c2e5a-0a1b2c3d4e5f")
    );
    assert_eq!(from_trace(HEAP_OOM).restore_source, Option::None);
}

#[test]
fn a_code_bug_found_by_its_frames_names_the_frame() {
    let facts = Facts {
        root_cause: Some(from_trace(RESTART_LOOP_POISON)),
        ..Facts::default()
    };
    let d = diagnose("FlinkJobUnstable", &facts);
    assert_eq!(d.pattern, UserCodeBug);
    assert_eq!(
        d.evidence,
        "root cause java.lang.IllegalStateException: harness restart loop: poison record 41, thrown at harness.RestartLoopJob$Poison.fail(RestartLoopJob.java:43)"
    );
}
