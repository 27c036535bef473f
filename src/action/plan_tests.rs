//! Table tests for `plan`: action x job state x configuration -> plan or refusal.

use super::*;
use crate::action::{ActionKind, SavepointFormat};

const JOB: &str = "8b935060e799e119d6b5b9b7b6655632";

fn cluster(savepoint_dir: Option<&str>) -> ClusterConfig {
    ClusterConfig {
        name: "prod".into(),
        rest_url: "http://flink:8081".into(),
        web_ui_url: None,
        savepoint_dir: savepoint_dir.map(String::from),
        username: None,
        password_env: None,
        password_file: None,
        token_env: None,
        token_file: None,
        user_packages: Vec::new(),
        operator: None,
    }
}

fn job(state: &str, age: Option<i64>) -> JobSnapshot {
    JobSnapshot {
        id: JOB.into(),
        name: Some("orders".into()),
        state: state.into(),
        last_completed_checkpoint_age_secs: age,
        flink_savepoint_dir: None,
        task_managers: vec![],
        operator: None,
    }
}

const SP: ActionKind = ActionKind::Savepoint {
    format: SavepointFormat::Canonical,
};
const STOP: ActionKind = ActionKind::StopWithSavepoint {
    drain: false,
    format: SavepointFormat::Canonical,
};

/// (action, job state) -> Ok or the refusal reason.
#[test]
fn preconditions_by_action_and_state() {
    let c = cluster(Some("s3://bucket/savepoints"));
    let states = [
        "RUNNING",
        "RESTARTING",
        "CREATED",
        "FAILING",
        "CANCELLING",
        "FAILED",
        "CANCELED",
        "FINISHED",
        "SUSPENDED",
    ];
    for state in states {
        for (kind, expect) in [
            (
                SP.clone(),
                if state == "RUNNING" {
                    Ok(())
                } else {
                    Err("job_not_running")
                },
            ),
            (
                STOP.clone(),
                if state == "RUNNING" {
                    Ok(())
                } else {
                    Err("job_not_running")
                },
            ),
            (
                ActionKind::Cancel,
                match state {
                    "FAILED" | "CANCELED" | "FINISHED" => Err("job_finished"),
                    "CANCELLING" => Err("job_cancelling"),
                    _ => Ok(()),
                },
            ),
            (ActionKind::ThreadDump, Ok(())),
            (ActionKind::Silence { minutes: 60 }, Ok(())),
            (ActionKind::Acknowledge, Ok(())),
        ] {
            let got = plan(&kind, &c, &job(state, Some(30)), "req-1")
                .map(|_| ())
                .map_err(|r| r.reason);
            assert_eq!(got, expect, "{} on a {state} job", kind.slug());
        }
    }
}

#[test]
fn savepoint_call_is_exactly_what_flink_gets() {
    let p = plan(
        &SP,
        &cluster(Some("s3://b/sp")),
        &job("RUNNING", Some(5)),
        "req-1",
    )
    .unwrap();
    let id = trigger_id("req-1", &SP);
    assert_eq!(p.calls.len(), 1);
    assert_eq!(
        p.calls[0].to_string(),
        format!(
            "POST /jobs/{JOB}/savepoints {{\"cancel-job\":false,\"formatType\":\"CANONICAL\",\"target-directory\":\"s3://b/sp\",\"triggerId\":\"{id}\"}}"
        )
    );
    assert_eq!(
        p.effect,
        Effect::TriggerSavepoint {
            target_dir: "s3://b/sp".into(),
            format: SavepointFormat::Canonical,
            trigger_id: id
        }
    );
    assert!(p.warning.is_none(), "a savepoint does not end the job");
}

#[test]
fn stop_call_uses_the_stop_field_names_and_its_own_trigger_id() {
    let kind = ActionKind::StopWithSavepoint {
        drain: true,
        format: SavepointFormat::Native,
    };
    let p = plan(
        &kind,
        &cluster(Some("s3://b/sp")),
        &job("RUNNING", Some(5)),
        "req-1",
    )
    .unwrap();
    let body = p.calls[0].body.clone().unwrap();
    assert_eq!(p.calls[0].path, format!("/jobs/{JOB}/stop"));
    assert_eq!(body["targetDirectory"], "s3://b/sp");
    assert_eq!(body["drain"], true);
    assert_eq!(body["formatType"], "NATIVE");
    assert_eq!(body["triggerId"], trigger_id("req-1", &kind));
    assert_ne!(body["triggerId"], trigger_id("req-1", &SP));
    assert!(p.warning.unwrap().contains("MAX_WATERMARK"));
    assert_eq!(
        p.facts.unwrap(),
        "job orders is RUNNING; last completed checkpoint 5 s ago"
    );
}

#[test]
fn savepoint_dir_comes_from_config_then_flink_else_a_refusal() {
    let mut j = job("RUNNING", Some(5));
    j.flink_savepoint_dir = Some("file:///flink/default".into());
    let from_config = plan(&SP, &cluster(Some("s3://mine")), &j, "r").unwrap();
    assert!(
        matches!(from_config.effect, Effect::TriggerSavepoint { ref target_dir, .. } if target_dir == "s3://mine")
    );
    let from_flink = plan(&STOP, &cluster(None), &j, "r").unwrap();
    assert!(
        matches!(from_flink.effect, Effect::StopWithSavepoint { ref target_dir, .. } if target_dir == "file:///flink/default")
    );

    for kind in [SP, STOP] {
        let refusal = plan(&kind, &cluster(None), &job("RUNNING", Some(5)), "r").unwrap_err();
        assert_eq!(refusal.reason, "no_savepoint_dir");
        assert!(refusal.message.contains("cluster prod"), "{refusal}");
        assert!(refusal.message.contains("savepoint_dir"), "{refusal}");
    }
}

#[test]
fn cancel_warns_with_the_checkpoint_age() {
    let c = cluster(None);
    for (age, warning) in [
        (
            Some(42 * 60),
            "no completed checkpoint for 42 min: cancelling loses that work",
        ),
        (
            Some(2 * 3600 + 5 * 60),
            "no completed checkpoint for 2 h 5 min: cancelling loses that work",
        ),
        (
            Some(12),
            "last completed checkpoint 12 s ago: cancelling loses the work since then",
        ),
        (
            None,
            "the job has no completed checkpoint: cancelling loses all of its state",
        ),
    ] {
        let p = plan(&ActionKind::Cancel, &c, &job("RESTARTING", age), "r").unwrap();
        assert_eq!(p.warning.as_deref(), Some(warning));
        assert_eq!(
            p.calls[0].to_string(),
            format!("PATCH /jobs/{JOB}?mode=cancel")
        );
        assert!(p
            .facts
            .as_ref()
            .unwrap()
            .starts_with("job orders is RESTARTING"));
        assert!(p.shown().contains(&format!("⚠ {warning}")));
    }
    // A cancel needs no savepoint directory.
    assert_eq!(
        plan(&ActionKind::Cancel, &c, &job("RUNNING", None), "r")
            .unwrap()
            .effect,
        Effect::Cancel
    );
}

#[test]
fn trigger_ids_are_stable_per_request_and_distinct_per_kind() {
    let kinds = [
        SP,
        ActionKind::Savepoint {
            format: SavepointFormat::Native,
        },
        STOP,
    ];
    for kind in &kinds {
        let a = trigger_id("req-1", kind);
        assert_eq!(a, trigger_id("req-1", kind), "stable");
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(a, trigger_id("req-2", kind), "per request");
    }
    assert_ne!(trigger_id("req-1", &SP), trigger_id("req-1", &STOP));
    // Both stop variants share the slug, so a drain/no-drain pair of one request would collide:
    // they are one action with different parameters, and a request has exactly one.
    assert_eq!(
        trigger_id("req-1", &STOP),
        trigger_id(
            "req-1",
            &ActionKind::StopWithSavepoint {
                drain: true,
                format: SavepointFormat::Canonical
            }
        )
    );
}

#[test]
fn a_plan_is_the_same_for_the_same_request() {
    let c = cluster(Some("s3://b"));
    let j = job("RUNNING", Some(5));
    assert_eq!(
        plan(&STOP, &c, &j, "r-9").unwrap(),
        plan(&STOP, &c, &j, "r-9").unwrap()
    );
}

#[test]
fn an_approval_binds_to_action_cluster_job_and_parameters() {
    let c = cluster(Some("s3://b"));
    let j = job("RUNNING", Some(5));
    let base = plan(&STOP, &c, &j, "r-1").unwrap().binding();
    assert_eq!(base.len(), 64);
    assert_eq!(base, plan(&STOP, &c, &j, "r-1").unwrap().binding());
    let drain = ActionKind::StopWithSavepoint {
        drain: true,
        format: SavepointFormat::Canonical,
    };
    let mut other_job = j.clone();
    other_job.id = "0123456789abcdef0123456789abcdef".into();
    let mut other_cluster = c.clone();
    other_cluster.name = "staging".into();
    for (what, other) in [
        ("drain", plan(&drain, &c, &j, "r-1")),
        ("job", plan(&STOP, &c, &other_job, "r-1")),
        ("cluster", plan(&STOP, &other_cluster, &j, "r-1")),
        (
            "directory",
            plan(&STOP, &cluster(Some("s3://elsewhere")), &j, "r-1"),
        ),
        ("request (trigger id)", plan(&STOP, &c, &j, "r-2")),
        ("action", plan(&ActionKind::Cancel, &c, &j, "r-1")),
    ] {
        assert_ne!(other.unwrap().binding(), base, "{what}");
    }
}

#[test]
fn job_actions_need_a_job() {
    let mut j = job("RUNNING", None);
    j.id = String::new();
    for kind in [SP, STOP, ActionKind::Cancel] {
        assert_eq!(
            plan(&kind, &cluster(Some("s3://b")), &j, "r")
                .unwrap_err()
                .reason,
            "no_job"
        );
    }
    j.id = "../../jobmanager".into();
    assert_eq!(
        plan(&ActionKind::Cancel, &cluster(None), &j, "r")
            .unwrap_err()
            .reason,
        "no_job"
    );
    let dump = plan(&ActionKind::ThreadDump, &cluster(None), &j, "r").unwrap();
    assert_eq!(dump.calls[0].to_string(), "GET /jobmanager/thread-dump");
}

#[test]
fn thread_dump_asks_before_dumping_a_struggling_task_manager() {
    let mut j = job("RESTARTING", None);
    j.task_managers = vec![
        TaskManagerHealth {
            id: "10.0.0.7:6122-3f9a1c".into(),
            heap_used_bytes: Some(97),
            heap_max_bytes: Some(100),
            ..Default::default()
        },
        TaskManagerHealth {
            id: "10.0.0.8:6122-aaaaaa".into(),
            ..Default::default()
        },
        TaskManagerHealth {
            id: "bad/../id".into(),
            ..Default::default()
        },
    ];
    let p = plan(&ActionKind::ThreadDump, &cluster(None), &j, "r").unwrap();
    assert_eq!(
        p.effect,
        Effect::ThreadDumps {
            task_managers: vec!["10.0.0.7:6122-3f9a1c".into(), "10.0.0.8:6122-aaaaaa".into()],
            struggling: vec!["10.0.0.7:6122-3f9a1c".into()],
        }
    );
    assert_eq!(p.calls.len(), 3);
    assert_eq!(
        p.calls[1].path,
        "/taskmanagers/10.0.0.7:6122-3f9a1c/thread-dump"
    );
    let confirm = p.confirm.unwrap();
    assert!(
        confirm.starts_with("TaskManager 10.0.0.7:6122-3f9a1c (heap 97% used) is struggling"),
        "{confirm}"
    );
    assert!(confirm.ends_with("Dump anyway?"));
    j.task_managers.remove(0);
    assert!(plan(&ActionKind::ThreadDump, &cluster(None), &j, "r")
        .unwrap()
        .confirm
        .is_none());
}

#[test]
fn silences_are_bounded_and_unsilence_needs_a_real_id() {
    let c = cluster(None);
    let j = job("FAILED", None);
    assert_eq!(
        plan(&ActionKind::Silence { minutes: 240 }, &c, &j, "r")
            .unwrap()
            .effect,
        Effect::Silence { minutes: 240 }
    );
    for minutes in [0, MAX_SILENCE_MINUTES + 1] {
        assert_eq!(
            plan(&ActionKind::Silence { minutes }, &c, &j, "r")
                .unwrap_err()
                .reason,
            "bad_duration"
        );
    }
    let ok = ActionKind::Unsilence {
        silence_id: "6f5b2c1e-8f3a-4d2b-9c1e-0a1b2c3d4e5f".into(),
    };
    assert!(plan(&ok, &c, &j, "r").is_ok());
    let bad = ActionKind::Unsilence {
        silence_id: "../status".into(),
    };
    assert_eq!(plan(&bad, &c, &j, "r").unwrap_err().reason, "bad_silence");
}

#[test]
fn refusals_carry_no_urls_or_paths() {
    let c = cluster(None);
    let mut refusals = vec![];
    for state in ["FAILED", "RESTARTING", "CANCELLING"] {
        for kind in [SP, STOP, ActionKind::Cancel] {
            refusals.extend(plan(&kind, &c, &job(state, None), "r").err());
        }
    }
    refusals.extend(plan(&SP, &c, &job("RUNNING", None), "r").err());
    assert!(refusals.len() >= 7);
    for r in refusals {
        assert!(
            !r.message.contains("://") && !r.message.contains("/jobs"),
            "{r}"
        );
    }
}

#[test]
fn ages_read_naturally() {
    assert_eq!(age_words(0), "0 s");
    assert_eq!(age_words(59), "59 s");
    assert_eq!(age_words(60), "1 min");
    assert_eq!(age_words(3600), "1 h");
    assert_eq!(age_words(3600 * 3 + 61), "3 h 1 min");
    assert_eq!(age_words(-5), "0 s");
}

fn operated(state: &str) -> JobSnapshot {
    JobSnapshot {
        operator: Some(crate::action::operator::Operated {
            namespace: "flink".into(),
            deployment: "orders".into(),
            configured: false,
        }),
        ..job(state, Some(30))
    }
}

/// Operator-managed jobs: (action, state) -> refusal reason or a plan, and what it says.
#[test]
fn operator_managed_jobs_stop_and_cancel_through_the_operator() {
    let c = cluster(Some("s3://bucket/savepoints"));
    let cases: [(ActionKind, &str, Result<(), &str>); 8] = [
        (STOP, "RUNNING", Err("operator_managed")),
        (STOP, "RESTARTING", Err("operator_managed")),
        (ActionKind::Cancel, "RUNNING", Err("operator_managed")),
        (ActionKind::Cancel, "FAILED", Err("operator_managed")),
        (SP, "RUNNING", Ok(())),
        (SP, "RESTARTING", Err("job_not_running")),
        (ActionKind::ThreadDump, "RUNNING", Ok(())),
        (ActionKind::Acknowledge, "RUNNING", Ok(())),
    ];
    for (kind, state, expect) in cases {
        let got = plan(&kind, &c, &operated(state), "req-1");
        assert_eq!(
            got.as_ref().map(|_| ()).map_err(|r| r.reason),
            expect,
            "{} on a {state} operator-managed job",
            kind.slug()
        );
    }
    let stop = plan(&STOP, &c, &operated("RUNNING"), "r").unwrap_err();
    assert!(
        stop.message.contains("FlinkDeployment `flink/orders`"),
        "{stop}"
    );
    assert!(
        stop.message.contains(r#"kubectl -n flink patch flinkdeployment orders --type merge -p '{"spec":{"job":{"state":"suspended","upgradeMode":"savepoint"}}}'"#),
        "{stop}"
    );
    let cancel = plan(&ActionKind::Cancel, &c, &operated("RUNNING"), "r").unwrap_err();
    assert!(
        cancel.message.contains(r#""upgradeMode":"stateless""#),
        "{cancel}"
    );
    assert!(!cancel.message.contains("://"), "{cancel}");
}

#[test]
fn a_rest_savepoint_of_an_operator_managed_job_says_the_operator_will_not_list_it() {
    let c = cluster(Some("s3://bucket/savepoints"));
    let p = plan(&SP, &c, &operated("RUNNING"), "req-1").unwrap();
    assert_eq!(p.calls.len(), 1, "the savepoint itself still runs");
    let w = p.warning.clone().unwrap();
    assert!(w.contains("will not list this savepoint"), "{w}");
    assert!(w.contains("savepointTriggerNonce"), "{w}");
    // The same request shows the same command (the nonce comes from its trigger id).
    assert_eq!(
        plan(&SP, &c, &operated("RUNNING"), "req-1")
            .unwrap()
            .warning,
        Some(w)
    );
    assert!(plan(&SP, &c, &job("RUNNING", None), "req-1")
        .unwrap()
        .warning
        .is_none());
}
