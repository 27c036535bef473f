//! The runbook library in `responses/` against the diagnosis and the shipped alert rules: every
//! pattern has a template, every alert rule in `deploy/prometheus` has one, and all of them render
//! (strictly, without the renderer's silent fallbacks) for firing and resolved, rich and empty facts.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::{traces, Diagnosis, Pattern};
use crate::alertmanager::Webhook;
use crate::facts::root_cause::{parse_chain, CauseLink, RootCause};
use crate::facts::*;
use crate::render::{context, templates, RenderInput, Renderer};

const RULES: &str = include_str!("../../deploy/prometheus/flink-alerts.yml");

/// Alert names from the rules file, read loosely (`- alert: Name` lines) to avoid a YAML parser.
fn alert_names() -> BTreeSet<String> {
    RULES
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("- alert:")
                .or_else(|| l.trim().strip_prefix("alert:"))
        })
        .map(|n| n.trim().trim_matches(['"', '\'']).to_string())
        .collect()
}

const ALL_BUTTONS: crate::buttons::Available = crate::buttons::Available {
    answers: true,
    actions: true,
    silence: true,
    closed: 0,
};

/// Every word a template could set in bold to mean a button.
const BUTTON_WORDS: [&str; 16] = [
    "Cancel job",
    "Silence 1 h",
    "Silence 4 h",
    "Silence 1 d",
    "Stop with savepoint (drain)",
    "Status",
    "Exceptions",
    "Checkpoints",
    "Savepoint",
    "Stop with savepoint",
    "Cancel",
    "Thread dump",
    "Silence",
    "Unsilence",
    "Acknowledge",
    "Approve",
];

/// A message never promises a button it does not carry: each bold button word in `text` must be
/// the label of one of `carried`.
fn assert_names_only_carried(case: &str, text: &str, carried: &[String]) {
    for word in BUTTON_WORDS {
        if text.contains(&format!("**{word}**")) {
            assert!(
                carried.iter().any(|c| c == word),
                "{case}: text names **{word}** but the message carries only {carried:?}:\n{text}"
            );
        }
    }
}

fn hook(alert: &str, resolved: bool) -> Webhook {
    let status = if resolved { "resolved" } else { "firing" };
    let ends = if resolved {
        "2026-11-21T06:01:57.301Z"
    } else {
        "0001-01-01T00:00:00Z"
    };
    let labels = json!({
        "alertname": alert, "flink_cluster": "prod", "job_id": "7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c",
        "job_name": "orders-enrichment", "severity": "critical"
    });
    let annotations = json!({
        "summary": format!("{alert} for Flink job orders-enrichment"),
        "description": "Job orders-enrichment (7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c) restarted 8 times in the last 10m.",
        "runbook_url": format!("https://runbooks.example.internal/flink/{alert}")
    });
    let body = json!({
        "version": "4", "groupKey": format!("{{}}/{{}}:{{alertname=\"{alert}\"}}"), "truncatedAlerts": 0,
        "status": status, "receiver": "flink-chatops",
        "groupLabels": {"alertname": alert, "job_name": "orders-enrichment"},
        "commonLabels": labels, "commonAnnotations": annotations, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status, "labels": labels, "annotations": annotations,
            "startsAt": "2026-11-21T05:36:57.301Z", "endsAt": ends,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up", "fingerprint": "afc3aabe1bc0eed9"
        }]
    });
    Webhook::parse(body.to_string().as_bytes()).expect("sample webhook")
}

fn rich_facts() -> Facts {
    let chain = parse_chain(traces::DIRECT_OOM);
    let root: CauseLink = chain.last().cloned().unwrap();
    let url = |page: &str| {
        format!("http://flink.example:8081/#/job/running/7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c/{page}")
    };
    Facts {
        cluster: Some(ClusterFacts {
            name: "prod".into(),
            ui_url: "http://flink.example:8081/#/overview".into(),
        }),
        job: Some(JobFacts {
            id: "7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c".into(),
            name: Some("orders-enrichment".into()),
            state: Some("RESTARTING".into()),
            start_time_ms: Some(1_795_239_000_000),
            ui_url: url("overview"),
            exceptions_url: url("exceptions"),
            checkpoints_url: url("checkpoints"),
        }),
        root_cause: Some(RootCause {
            class: root.class,
            message: root.message,
            chain,
            failure_labels: Default::default(),
            task: Some("Source: clicks -> Map (3/8)".into()),
            task_manager: Some("10.42.3.17:6122-4f1c2a".into()),
            timestamp: Some(1_795_240_152_022),
            unwrapped: true,
            stale: false,
            origin: crate::facts::frames::Origin {
                thrown_by: crate::facts::frames::Owner::Job,
                job_frame: Some("com.example.orders.EnrichOrder.map(EnrichOrder.java:42)".into()),
            },
            restore_source: None,
        }),
        checkpoints: Some(CheckpointFacts {
            completed: 120,
            failed: 7,
            in_progress: 1,
            restored: 3,
            last_completed: Some(CompletedCheckpoint {
                id: 127,
                completed_at_ms: 1_795_239_900_000,
                age_secs: 1_930,
                duration_ms: 48_200,
                size_bytes: 3_221_225_472,
                path: Some("s3://flink-state/checkpoints/7c2e5a9b/chk-127".into()),
                is_savepoint: false,
            }),
            last_failed: Some(FailedCheckpoint {
                id: 128,
                failed_at_ms: Some(1_795_240_100_000),
                message: Some("Checkpoint expired before completing.".into()),
            }),
            last_restored: Some(RestoredCheckpoint {
                id: 126,
                restored_at_ms: 1_795_239_000_000,
                path: Some("s3://flink-state/savepoints/savepoint-7c2e5a-0a1b2c3d4e5f".into()),
                is_savepoint: true,
                summary: "savepoint `s3://flink-state/savepoints/savepoint-7c2e5a-0a1b2c3d4e5f` (id 126) at 2026-11-21 05:30 UTC".into(),
            }),
        }),
        restarts: Some(57),
        downtime_ms: Some(0),
        history: Some(crate::facts::history::HistoryFacts {
            first: crate::facts::history::KeptFailure {
                timestamp: 1_795_230_000_000,
                exception_name: "java.lang.OutOfMemoryError".into(),
                class: "java.lang.OutOfMemoryError".into(),
                message: "Direct buffer memory".into(),
                chain: Vec::new(),
                task: Some("Source: clicks -> Map (3/8)".into()),
                task_manager: None,
                endpoint: None,
                root_frames: Vec::new(),
            },
            since_first: 57,
            kept: 58,
            beyond_flink: 42,
            first_seen_only: false,
        }),
        task_manager_lost: Some(crate::facts::taskmanager::TaskManagerLoss {
            id: "10.42.3.17:6122-4f1c2a".into(),
            endpoint: Some("10.42.3.17:40125".into()),
            host: "10.42.3.17".into(),
            lost_at_ms: 1_795_240_150_000,
            how: "no longer reachable",
            registered_again: false,
            jobs: vec![crate::facts::taskmanager::AffectedJob {
                id: "7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c".into(),
                name: "orders-enrichment".into(),
                state: "RESTARTING".into(),
                failures_since: 3,
                outcome: "restarting",
            }],
            cluster: crate::facts::taskmanager::Capacity {
                task_managers: 3,
                slots_total: 12,
                slots_free: 0,
            },
            also_lost: vec!["10.42.3.18:6122-9e8d7c".into()],
        }),
        operator: None,
        rescale: None,
        cluster_answered_before: true,
        backpressure: Some(BackpressureFacts {
            hot: None,
            vertex: "Source: clicks -> Map".into(),
            level: "high".into(),
            ratio: 0.93,
            bottleneck: Some(Bottleneck {
                vertex: "enrich-sessions".into(),
                busy_pct: 98,
                parallelism: 4,
                skew: Some(Skew {
                    subtask: 2,
                    busy_pct: 99,
                    median_pct: 40,
                    backpressure_pct: 0,
                    median_backpressure_pct: 0,
                }),
                holds_back: "Source: clicks -> Map".into(),
            }),
        }),
        watermark: Some(crate::facts::watermarks::WatermarkFacts {
            vertex: "Source: returns".into(),
            subtask: 1,
            watermark_ms: Some(1_796_620_796_736),
            watermark_at: "2026-12-07 05:19:56 UTC".into(),
            idle: true,
            idle_secs: Some(300),
            behind_others_secs: Some(298),
            behind_now_secs: Some(300),
            inputs: 4,
        }),
        log: Some(crate::facts::logs::LogFacts {
            cause: Some(crate::facts::logs::LogCause {
                logged_at: "2026-12-07 05:19:56,736".into(),
                at_ms: 1_796_620_796_736,
                level: "WARN".into(),
                headline: "Failed to trigger or complete checkpoint 13 for job a3f1c9e2b7d64e0f9c1a2b3c4d5e6f70.".into(),
                class: Some("java.nio.file.AccessDeniedException".into()),
                message: "s3a://prod-checkpoints/flink/a3f1/chk-13/_metadata".into(),
                path: Some("s3a://prod-checkpoints/flink/a3f1/chk-13/_metadata".into()),
                bucket: Some("prod-checkpoints".into()),
                repeats: 2,
            }),
            read_from: Some("the JobManager's log `flink-standalonesession-0.log` (last 1.0 MiB of 2.2 MiB)".into()),
            not_found: None,
        }),
        missing: vec!["checkpoints: no answer within 2000 ms".into()],
        notes: vec!["job found by name".into()],
    }
}

fn empty_facts() -> Facts {
    Facts {
        missing: vec!["all Flink facts: unknown cluster".into()],
        ..Facts::default()
    }
}

#[test]
fn every_pattern_and_every_shipped_alert_has_a_template() {
    let renderer = Renderer::new(None).expect("embedded templates load");
    assert!(renderer.has_template("default"));
    for p in Pattern::ALL {
        assert!(
            renderer.has_template(&format!("patterns/{}", p.slug())),
            "no responses/patterns/{}.hbs",
            p.slug()
        );
    }
    let alerts = alert_names();
    assert!(
        alerts.len() >= 10,
        "expected the shipped alert rules, found {alerts:?}"
    );
    for a in &alerts {
        assert!(
            renderer.has_template(&format!("alerts/{a}")),
            "no responses/alerts/{a}.hbs"
        );
    }
}

#[test]
fn every_template_renders_strictly_for_every_alert_pattern_and_status() {
    let hb = templates::load(None).expect("embedded templates load");
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 6, 5, 0).unwrap();
    let mut longest = (0, String::new());
    let mut alerts: Vec<String> = alert_names().into_iter().collect();
    alerts.push("SomeAlertWithoutTemplate".into());
    for alert in &alerts {
        let body = if hb.has_template(&format!("alerts/{alert}")) {
            format!("alerts/{alert}")
        } else {
            "default".into()
        };
        for resolved in [false, true] {
            let hook = hook(alert, resolved);
            let (incident, _) = crate::incident::advance(None, &hook, 1, now, 42, 1);
            for (kind, facts) in [("rich", rich_facts()), ("empty", empty_facts())] {
                for p in Pattern::ALL {
                    let diagnosis =
                        Diagnosis::new(p, "Some title", "root cause java.lang.Error: boom");
                    let input = RenderInput {
                        hook: &hook,
                        incident: &incident,
                        facts: &facts,
                        diagnosis: &diagnosis,
                        mentions: &[],
                        now,
                        available: ALL_BUTTONS,
                        note: None,
                    };
                    let mut ctx: Value = context(&input);
                    let case = format!(
                        "{body} / patterns/{} / {kind} / resolved={resolved}",
                        p.slug()
                    );
                    let guidance = hb
                        .render(&format!("patterns/{}", p.slug()), &ctx)
                        .unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert!(!guidance.trim().is_empty(), "{case}: empty guidance");
                    let carried: Vec<String> = ctx["buttons"]
                        .as_object()
                        .unwrap()
                        .values()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect();
                    assert_names_only_carried(&case, &guidance, &carried);
                    ctx["guidance"] = Value::String(guidance.trim().to_string());
                    let text = hb
                        .render(&body, &ctx)
                        .unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert_names_only_carried(&case, &text, &carried);
                    let n = text.chars().count();
                    assert!(n > 0 && n < 4096, "{case}: {n} characters");
                    assert!(
                        !text.contains("{{") && !text.contains("]()"),
                        "{case}: unrendered or empty link:\n{text}"
                    );
                    if resolved {
                        assert!(
                            text.contains("Resolved"),
                            "{case}: resolved message does not say so:\n{text}"
                        );
                        assert!(
                            !text.contains(guidance.trim()) && n < 700,
                            "{case}: resolved message repeats the steps:\n{text}"
                        );
                    } else {
                        assert!(
                            text.contains(guidance.trim()),
                            "{case}: guidance not included"
                        );
                    }
                    if n > longest.0 {
                        longest = (n, case);
                    }
                }
            }
        }
    }
    assert!(
        longest.0 < 3_000,
        "longest description {} characters ({})",
        longest.0,
        longest.1
    );
}

#[test]
fn the_full_renderer_uses_the_library_for_a_real_diagnosis() {
    let renderer = Renderer::new(None).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 6, 5, 0).unwrap();
    let hook = hook("FlinkJobUnstable", false);
    let (incident, _) = crate::incident::advance(None, &hook, 1, now, 42, 1);
    let facts = rich_facts();
    let diagnosis = super::diagnose("FlinkJobUnstable", &facts);
    assert_eq!(diagnosis.pattern, Pattern::DirectOom);
    let input = RenderInput {
        hook: &hook,
        incident: &incident,
        facts: &facts,
        diagnosis: &diagnosis,
        mentions: &[],
        now,
        available: crate::buttons::Available {
            answers: true,
            ..Default::default()
        },
        note: None,
    };
    let message = renderer.render(&input);
    let d = &message.embed.description;
    let carried: Vec<String> = message.buttons.iter().map(|b| b.label.clone()).collect();
    assert_eq!(carried, ["Status", "Exceptions", "Checkpoints"]);
    assert_names_only_carried("full render", d, &carried);
    assert!(d.contains("Direct (off-heap) memory exhausted"), "{d}");
    assert!(d.contains("taskmanager.memory.task.off-heap.size"), "{d}");
    assert!(
        d.contains("https://runbooks.example.internal/flink/FlinkJobUnstable"),
        "{d}"
    );
    assert!(d.contains("/exceptions)"), "{d}");
    assert!(message.embed.total_len() <= 6_000);
}

/// The job's frame and the restore source reach the runbooks that use them; "Thrown at" only
/// when the job's code threw.
#[test]
fn runbooks_name_the_jobs_frame_and_what_the_run_restored_from() {
    let hb = templates::load(None).expect("embedded templates load");
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 6, 5, 0).unwrap();
    let hook = hook("FlinkJobUnstable", false);
    let (incident, _) = crate::incident::advance(None, &hook, 1, now, 42, 1);
    let render = |facts: &Facts, p: Pattern| {
        let diagnosis = Diagnosis::new(p, "t", "e");
        let input = RenderInput {
            hook: &hook,
            incident: &incident,
            facts,
            diagnosis: &diagnosis,
            mentions: &[],
            now,
            available: ALL_BUTTONS,
            note: None,
        };
        hb.render(&format!("patterns/{}", p.slug()), &context(&input))
            .unwrap()
    };
    let frame = "`com.example.orders.EnrichOrder.map(EnrichOrder.java:42)`";
    let restored = "This run started from savepoint `s3://flink-state/savepoints/savepoint-7c2e5a-0a1b2c3d4e5f` (id 126) at 2026-11-21 05:30 UTC.";
    let mut facts = rich_facts();
    let bug = render(&facts, Pattern::UserCodeBug);
    assert!(bug.contains(&format!("Thrown at {frame}.")), "{bug}");
    assert!(bug.contains(&format!("1. Open {frame}")), "{bug}");
    assert!(bug.contains(restored), "{bug}");
    assert!(render(&facts, Pattern::RestartLoop).contains(restored));
    let state = render(&facts, Pattern::IncompatibleState);
    assert!(
        state.contains(
            "from the same savepoint (`s3://flink-state/savepoints/savepoint-7c2e5a-0a1b2c3d4e5f`)"
        ),
        "{state}"
    );

    let rc = facts.root_cause.as_mut().unwrap();
    rc.origin.thrown_by = crate::facts::frames::Owner::Flink;
    rc.restore_source = Some("s3://flink-state/savepoints/savepoint-tried".into());
    facts.checkpoints.as_mut().unwrap().last_restored = None;
    let bug = render(&facts, Pattern::UserCodeBug);
    assert!(
        bug.contains(&format!("Called from the job's code at {frame}."))
            && !bug.contains("Thrown at"),
        "{bug}"
    );
    assert!(!bug.contains("This run started from"), "{bug}");
    let state = render(&facts, Pattern::IncompatibleState);
    assert!(
        state.contains(
            "from the same savepoint or checkpoint (`s3://flink-state/savepoints/savepoint-tried`)"
        ),
        "{state}"
    );
}
