//! Table tests for the folding rules and the board's message.

use super::*;
use crate::facts::root_cause::RootCause;
use crate::facts::taskmanager::{AffectedJob, Capacity, TaskManagerLoss};
use crate::facts::{ClusterFacts, JobFacts};

const LOST: i64 = 1_796_623_300_000; // 2026-12-07 06:01:40 UTC
const JOB: &str = "7c2e5a9b1d3f4e6a8b0c2d4e6f8a0b1c";

fn loss(jobs: &[&str]) -> TaskManagerLoss {
    TaskManagerLoss {
        id: "10.0.0.7:6122-3f9a1c".into(),
        endpoint: None,
        host: "10.0.0.7".into(),
        lost_at_ms: LOST,
        how: "no longer reachable",
        registered_again: false,
        jobs: jobs
            .iter()
            .map(|id| AffectedJob {
                id: id.to_string(),
                name: "orders".into(),
                state: "RESTARTING".into(),
                failures_since: 1,
                outcome: "restarting",
            })
            .collect(),
        cluster: Capacity {
            task_managers: 1,
            slots_total: 2,
            slots_free: 0,
        },
        also_lost: vec![],
    }
}

fn facts(state: Option<&str>) -> Facts {
    Facts {
        cluster: Some(ClusterFacts {
            name: "prod".into(),
            ui_url: String::new(),
        }),
        job: Some(JobFacts {
            id: JOB.into(),
            name: Some("orders".into()),
            state: state.map(String::from),
            start_time_ms: None,
            ui_url: String::new(),
            exceptions_url: String::new(),
            checkpoints_url: String::new(),
        }),
        ..Facts::default()
    }
}

fn failure(class: &str, message: &str, at: i64, stale: bool) -> RootCause {
    RootCause {
        class: class.into(),
        message: message.into(),
        chain: vec![],
        failure_labels: Default::default(),
        task: None,
        task_manager: None,
        timestamp: Some(at),
        unwrapped: false,
        stale,
        origin: crate::facts::frames::origin(class, &[], &[]),
        restore_source: None,
    }
}

/// A page of a job that was on the lost TaskManager, changed by `f`.
fn with(f: impl FnOnce(&mut Facts)) -> Facts {
    let mut x = facts(Some("RESTARTING"));
    x.task_manager_lost = Some(loss(&[JOB]));
    f(&mut x);
    x
}

fn tm() -> Option<&'static str> {
    Some("tm")
}

#[test]
fn which_board_a_page_joins() {
    let lost_msg = "TaskManager with id 10.0.0.7:6122-3f9a1c is no longer reachable.";
    type Case = (&'static str, Facts, i64, Option<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "the job had tasks on the lost TaskManager",
            with(|_| {}),
            LOST + 60_000,
            tm(),
        ),
        (
            "its newest failure is the loss",
            with(|f| {
                f.root_cause = Some(failure(
                    "org.apache.flink.util.FlinkException",
                    lost_msg,
                    LOST + 5_000,
                    false,
                ));
            }),
            LOST + 60_000,
            tm(),
        ),
        (
            "an own failure before the loss",
            with(|f| {
                f.root_cause = Some(failure(
                    "java.lang.IllegalStateException",
                    "bad record",
                    LOST - 5_000,
                    false,
                ));
            }),
            LOST + 60_000,
            tm(),
        ),
        (
            "its own exception after recovery",
            with(|f| {
                f.root_cause = Some(failure(
                    "java.lang.IllegalStateException",
                    "bad record",
                    LOST + 120_000,
                    false,
                ));
            }),
            LOST + 180_000,
            None,
        ),
        (
            "a stale own failure does not count",
            with(|f| {
                f.root_cause = Some(failure(
                    "java.lang.IllegalStateException",
                    "bad record",
                    LOST + 1,
                    true,
                ));
            }),
            LOST + 60_000,
            tm(),
        ),
        (
            "a loss older than the window",
            with(|_| {}),
            LOST + WINDOW_MS + 1,
            None,
        ),
        (
            "another job's TaskManager",
            with(|f| {
                f.task_manager_lost = Some(loss(&["00000000000000000000000000000000"]));
            }),
            LOST + 60_000,
            None,
        ),
        (
            "the cluster does not answer",
            {
                let mut f = facts(None);
                f.cluster_answered_before = true;
                f.missing
                    .push("job state: unreachable: connection refused".into());
                f
            },
            LOST,
            Some("jm"),
        ),
        (
            "a cluster that never answered since the bot started",
            {
                let mut f = facts(None);
                f.missing
                    .push("job state: unreachable: connection refused".into());
                f
            },
            LOST,
            None,
        ),
        (
            "the cluster is slow, not gone",
            {
                let mut f = facts(None);
                f.cluster_answered_before = true;
                f.missing.push("job state: no answer within 2000 ms".into());
                f
            },
            LOST,
            None,
        ),
        (
            "an alert without a job",
            {
                let mut f = facts(None);
                f.job = None;
                f.task_manager_lost = Some(loss(&[JOB]));
                f
            },
            LOST,
            None,
        ),
        ("nothing lost", facts(Some("RUNNING")), LOST, None),
    ];
    for (what, f, now, expected) in cases {
        let got = cause_of(&f, now);
        let kind = got.as_ref().map(|c| match c {
            Cause::TaskManager { .. } => "tm",
            Cause::Cluster { .. } => "jm",
        });
        assert_eq!(kind, expected, "{what}: {got:?}");
    }
}

#[test]
fn one_board_per_task_manager_and_cluster() {
    let a = cause_of(
        &Facts {
            task_manager_lost: Some(loss(&[JOB])),
            ..facts(Some("RESTARTING"))
        },
        LOST,
    )
    .unwrap();
    let mut other_job = facts(Some("RUNNING"));
    other_job.job.as_mut().unwrap().id = "11111111111111111111111111111111".into();
    other_job.task_manager_lost = Some(loss(&["11111111111111111111111111111111"]));
    let b = cause_of(&other_job, LOST + 1_000).unwrap();
    assert_eq!(
        a.key(),
        b.key(),
        "two jobs of one TaskManager share a board"
    );
    let jm = Cause::Cluster {
        cluster: "prod".into(),
    };
    assert_ne!(a.key(), jm.key());
    assert_eq!(board_key(7, &a), board_key(7, &b));
    assert_ne!(board_key(7, &a), board_key(8, &a));
    assert_ne!(
        Board::new(7, a.clone(), 1).id,
        Board::new(7, b, 99).id,
        "a later board of the same cause is another message"
    );
    assert!(
        Board::new(7, jm, 1).id.len() <= 25,
        "the id is the first post's nonce"
    );
}

#[test]
fn a_page_whose_state_is_at_risk_keeps_its_own_message() {
    let c = Cause::Cluster {
        cluster: "prod".into(),
    };
    assert!(joins(Some(&c), false));
    assert!(!joins(Some(&c), true));
    assert!(!joins(None, false));
}

fn line(job: &str, state: &str, resolved: bool) -> JobLine {
    JobLine {
        incident_id: format!("inc-{job}"),
        job: job.into(),
        job_id: format!("id-{job}"),
        state: state.into(),
        restarts: Some(1),
        alert: "FlinkJobUnstable".into(),
        firing_since_ms: LOST + 30_000,
        resolved,
    }
}

#[test]
fn the_board_counts_and_lists_its_jobs_and_resolves_when_all_recovered() {
    let board = Board::new(
        7,
        Cause::TaskManager {
            cluster: "prod".into(),
            id: "10.0.0.7:6122-3f9a1c".into(),
            host: "10.0.0.7".into(),
            lost_at_ms: LOST,
            how: "no longer reachable".into(),
        },
        LOST,
    );
    let mut lines = vec![
        line("orders", "RUNNING", false),
        line("payments", "RESTARTING", false),
        line("clicks", "RESTARTING", true),
    ];
    let m = render(&board, &lines, None);
    assert_eq!(m.embed.title, "TaskManager lost on prod: 3 job(s)");
    assert!(
        m.embed.description.starts_with("TaskManager `10.0.0.7:6122-3f9a1c` on `10.0.0.7` lost at 06:01 UTC (no longer reachable): **3 job(s) restarted, 2 running again, 1 still restarting.**"),
        "{}",
        m.embed.description
    );
    let first = m.embed.description.find("`payments`").unwrap();
    assert!(
        first < m.embed.description.find("`orders`").unwrap(),
        "not recovered first"
    );
    assert!(m.embed.footer.contains(&board.id));
    assert!(!is_resolved(&lines));
    lines[1].state = "RUNNING".into();
    assert!(is_resolved(&lines));
    let m = render(&board, &lines, None);
    assert!(m.embed.title.starts_with("[RESOLVED]"), "{}", m.embed.title);
    assert!(!is_resolved(&[]));
}

#[test]
fn a_board_of_many_jobs_fits_in_one_message() {
    let board = Board::new(
        7,
        Cause::Cluster {
            cluster: "prod".into(),
        },
        LOST,
    );
    let lines: Vec<JobLine> = (0..500)
        .map(|i| line(&format!("job-{i:03}"), "", false))
        .collect();
    let m = render(&board, &lines, None);
    assert!(m.embed.description.chars().count() <= 4_096);
    assert!(
        m.embed.description.contains("more, all kept"),
        "{}",
        m.embed.description
    );
    assert!(m
        .embed
        .title
        .contains("Cluster prod unreachable: 500 job(s)"));
}

#[test]
fn a_job_on_a_board_stays_until_its_own_failure_or_its_state_at_risk() {
    let tm = Cause::TaskManager {
        cluster: "prod".into(),
        id: "10.0.0.7:6122-3f9a1c".into(),
        host: "10.0.0.7".into(),
        lost_at_ms: LOST,
        how: "no longer reachable".into(),
    };
    let jm = Cause::Cluster {
        cluster: "prod".into(),
    };
    let plain = facts(Some("RUNNING"));
    let own_after = with(|f| {
        f.root_cause = Some(failure(
            "java.lang.IllegalStateException",
            "bad record",
            LOST + 60_000,
            false,
        ));
    });
    let own_before = with(|f| {
        f.root_cause = Some(failure(
            "java.lang.IllegalStateException",
            "bad record",
            LOST - 60_000,
            false,
        ));
    });
    let cases = [
        ("running again", &tm, &plain, false, true),
        (
            "the loss left Flink's window",
            &tm,
            &facts(Some("RESTARTING")),
            false,
            true,
        ),
        (
            "its own exception after recovery",
            &tm,
            &own_after,
            false,
            false,
        ),
        (
            "an own failure before the loss",
            &tm,
            &own_before,
            false,
            true,
        ),
        ("its state at risk", &tm, &plain, true, false),
        ("the cluster answers again", &jm, &plain, false, true),
        ("the cluster's job at risk", &jm, &plain, true, false),
    ];
    for (what, cause, f, at_risk, expected) in cases {
        assert_eq!(stays(cause, f, at_risk), expected, "{what}");
    }
}

#[test]
fn a_new_board_only_after_the_last_one_is_over_and_old() {
    let b = Board::new(
        7,
        Cause::Cluster {
            cluster: "prod".into(),
        },
        LOST,
    );
    let running = [line("orders", "RUNNING", false)];
    let restarting = [line("orders", "RESTARTING", false)];
    let later = LOST + WINDOW_MS + 1;
    assert!(opens_anew(None, &[], LOST));
    assert!(
        !opens_anew(Some(&b), &running, LOST + 60_000),
        "a job already back does not end it early"
    );
    assert!(
        !opens_anew(Some(&b), &restarting, later),
        "still restarting"
    );
    assert!(opens_anew(Some(&b), &running, later), "over, and long ago");
}

#[test]
fn a_cluster_board_lists_the_jobs_of_its_last_answer_that_have_no_line() {
    use crate::roster::{Roster, RosterJob};
    let board = Board::new(
        7,
        Cause::Cluster {
            cluster: "prod".into(),
        },
        LOST,
    );
    let job = |name: &str| RosterJob {
        id: format!("id-{name}"),
        name: name.into(),
        state: "RUNNING".into(),
    };
    let roster = Roster {
        at_ms: LOST - 60_000,
        jobs: vec![job("billing"), job("clicks"), job("orders")],
    };
    let lines = vec![line("orders", "", false)];
    let m = render(&board, &lines, Some(&roster));
    let d = &m.embed.description;
    assert!(
        d.contains("When it last answered, at 06:00 UTC, the cluster ran 3 job(s); 2 of them with no alert here (yet): `billing` (RUNNING), `clicks` (RUNNING)."),
        "{d}"
    );
    assert_eq!(m.embed.title, "Cluster prod unreachable: 1 job(s)");
    // Every job alerting: said so, nothing listed twice.
    let all: Vec<JobLine> = ["billing", "clicks", "orders"]
        .iter()
        .map(|n| line(n, "", false))
        .collect();
    let m = render(&board, &all, Some(&roster));
    assert!(
        m.embed
            .description
            .ends_with("the cluster ran 3 job(s), all of them listed above."),
        "{}",
        m.embed.description
    );
    // A line kept before job ids were recorded matches by name.
    let mut old = line("billing", "", false);
    old.job_id.clear();
    let m = render(&board, &[old], Some(&roster));
    assert!(!m.embed.description.contains("`billing` (RUNNING)"));
    // Hundreds of quiet jobs still fit one message; a TaskManager's board has no roster part.
    let many = Roster {
        at_ms: LOST,
        jobs: (0..500).map(|i| job(&format!("job-{i:03}"))).collect(),
    };
    let lines: Vec<JobLine> = (0..500)
        .map(|i| line(&format!("alerting-{i:03}"), "", false))
        .collect();
    let m = render(&board, &lines, Some(&many));
    assert!(m.embed.description.chars().count() <= 4_096);
    assert!(
        m.embed.description.contains("more"),
        "{}",
        m.embed.description
    );
}
