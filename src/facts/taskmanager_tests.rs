//! Table tests on real answers: a HealthyJob on a private Flink 2.3.0 and 1.20.5 cluster whose
//! TaskManager was SIGKILLed ("no longer reachable"), replaced, then SIGSTOPped for longer than
//! `heartbeat.timeout` ("heartbeat timed out"), killed and replaced again.

use super::*;
use crate::diagnose::{diagnose, Pattern};
use crate::facts::root_cause::root_cause;
use crate::facts::Facts;
use crate::flink::types::JobsOverview;

struct Version {
    name: &'static str,
    exceptions: &'static str,
    jobs: &'static str,
    taskmanagers: &'static str,
    overview: &'static str,
}

const V23: Version = Version {
    name: "2.3.0",
    exceptions: include_str!("testdata/tm-lost-exceptions-2.3.0.json"),
    jobs: include_str!("testdata/tm-lost-jobs-2.3.0.json"),
    taskmanagers: include_str!("testdata/tm-lost-taskmanagers-2.3.0.json"),
    overview: include_str!("testdata/tm-lost-overview-2.3.0.json"),
};
const V120: Version = Version {
    name: "1.20.5",
    exceptions: include_str!("testdata/tm-lost-exceptions-1.20.5.json"),
    jobs: include_str!("testdata/tm-lost-jobs-1.20.5.json"),
    taskmanagers: include_str!("testdata/tm-lost-taskmanagers-1.20.5.json"),
    overview: include_str!("testdata/tm-lost-overview-1.20.5.json"),
};

struct Parsed {
    exceptions: Exceptions,
    jobs: JobsOverview,
    taskmanagers: TaskManagers,
    overview: ClusterOverview,
}

fn parse(v: &Version) -> Parsed {
    Parsed {
        exceptions: serde_json::from_str(v.exceptions).unwrap(),
        jobs: serde_json::from_str(v.jobs).unwrap(),
        taskmanagers: serde_json::from_str(v.taskmanagers).unwrap(),
        overview: serde_json::from_str(v.overview).unwrap(),
    }
}

fn decide_all(p: &Parsed, since_ms: i64) -> Option<TaskManagerLoss> {
    let views: Vec<JobView<'_>> = p
        .jobs
        .jobs
        .iter()
        .map(|job| JobView {
            job,
            exceptions: &p.exceptions,
        })
        .collect();
    decide(&views, &p.taskmanagers, &p.overview, since_ms)
}

#[test]
fn each_loss_text_names_its_task_manager() {
    // (version, entry index, id, endpoint, how)
    let cases = [
        (
            &V23,
            0,
            "127.0.0.1:39385-2121bf",
            "localhost:35539",
            "heartbeat timed out",
        ),
        (
            &V23,
            1,
            "127.0.0.1:39153-043da1",
            "localhost:44145",
            "no longer reachable",
        ),
        (
            &V120,
            0,
            "127.0.0.1:35389-3e2d55",
            "localhost:45717",
            "heartbeat timed out",
        ),
        (
            &V120,
            6,
            "127.0.0.1:41985-7817a3",
            "localhost:34141",
            "no longer reachable",
        ),
    ];
    for (v, i, id, endpoint, how) in cases {
        let p = parse(v);
        let entry = &p.exceptions.history.entries[i];
        let m = mention(entry).unwrap_or_else(|| panic!("{} entry {i}", v.name));
        assert_eq!(
            (m.id.as_str(), m.endpoint.as_deref(), m.how, m.at_ms),
            (id, Some(endpoint), how, entry.timestamp),
            "{} entry {i}",
            v.name
        );
    }
    // 1.20's failures while no slot was left name no TaskManager.
    let p = parse(&V120);
    assert!(mention(&p.exceptions.history.entries[1]).is_none());
}

#[test]
fn the_newest_loss_is_described_with_its_jobs_and_the_cluster_now() {
    // (version, id, host, lost at, how, job outcome, failures since, TMs, slots free/total, also)
    let cases = [
        (
            &V23,
            "127.0.0.1:39385-2121bf",
            1_796_130_225_523,
            "heartbeat timed out",
            "recovered",
            (1, 1, 2),
            vec!["127.0.0.1:39153-043da1".to_string()],
        ),
        (
            &V120,
            "127.0.0.1:35389-3e2d55",
            1_796_131_254_401,
            "heartbeat timed out",
            "restarting",
            (1, 2, 2),
            vec!["127.0.0.1:41985-7817a3".to_string()],
        ),
    ];
    for (v, id, at, how, outcome, (tms, free, total), also) in cases {
        let p = parse(v);
        let loss = decide_all(&p, 0).unwrap_or_else(|| panic!("{}", v.name));
        assert_eq!(loss.id, id, "{}", v.name);
        assert_eq!(loss.host, "127.0.0.1", "{}", v.name);
        assert_eq!((loss.lost_at_ms, loss.how), (at, how), "{}", v.name);
        assert!(!loss.registered_again, "{}", v.name);
        assert_eq!(loss.jobs.len(), 1, "{}", v.name);
        assert_eq!(loss.jobs[0].name, "tm-lost-exp", "{}", v.name);
        assert_eq!(loss.jobs[0].outcome, outcome, "{}", v.name);
        assert_eq!(loss.jobs[0].failures_since, 0, "{}", v.name);
        assert_eq!(
            (
                loss.cluster.task_managers,
                loss.cluster.slots_free,
                loss.cluster.slots_total
            ),
            (tms, free, total),
            "{}",
            v.name
        );
        assert_eq!(loss.also_lost, also, "{}", v.name);
    }
}

#[test]
fn the_first_loss_counts_what_failed_after_it() {
    // Only the first loss is recent enough when the window starts just before it.
    let p = parse(&V120);
    let first = &p.exceptions.history.entries[6];
    let only_first = Exceptions {
        history: crate::flink::types::ExceptionHistory {
            entries: p.exceptions.history.entries[1..].to_vec(),
            truncated: false,
        },
        ..Default::default()
    };
    let views = [JobView {
        job: &p.jobs.jobs[0],
        exceptions: &only_first,
    }];
    let loss = decide(&views, &p.taskmanagers, &p.overview, first.timestamp).unwrap();
    assert_eq!(loss.id, "127.0.0.1:41985-7817a3");
    // Five NoResourceAvailableException failures followed while no slot was left.
    assert_eq!(loss.jobs[0].failures_since, 5);
    assert!(loss.also_lost.is_empty());
}

#[test]
fn an_old_loss_or_none_at_all_is_not_described() {
    for v in [&V23, &V120] {
        let p = parse(v);
        assert!(decide_all(&p, i64::MAX).is_none(), "{}", v.name);
        let healthy = Exceptions::default();
        let views = [JobView {
            job: &p.jobs.jobs[0],
            exceptions: &healthy,
        }];
        assert!(decide(&views, &p.taskmanagers, &p.overview, 0).is_none());
    }
}

#[test]
fn a_job_failing_from_a_lost_task_manager_is_diagnosed_so() {
    for v in [&V23, &V120] {
        let p = parse(v);
        let facts = Facts {
            root_cause: root_cause(&p.exceptions),
            ..Default::default()
        };
        assert_eq!(
            diagnose("FlinkJobUnstable", &facts).pattern,
            Pattern::TaskmanagerLost,
            "{}",
            v.name
        );
    }
}

#[test]
fn losses_and_the_missing_slots_after_them_ask_for_the_cluster_sweep() {
    // (version, entry index, names a loss)
    let cases = [
        (&V23, 0, true),
        (&V23, 1, true),
        (&V120, 0, true),
        (&V120, 1, true),
        (&V120, 6, true),
    ];
    for (v, i, want) in cases {
        let p = parse(v);
        let rc = from_entry(&p.exceptions.history.entries[i]);
        assert_eq!(
            names_a_loss(&rc),
            want,
            "{} entry {i}: {}",
            v.name,
            rc.class
        );
    }
    let flaky: Exceptions = serde_json::from_str(include_str!(
        "../diagnose/testdata/flink-2.3.0-exceptions-flaky.json"
    ))
    .unwrap();
    assert!(!names_a_loss(&from_entry(&flaky.history.entries[0])));
}
