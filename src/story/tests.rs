//! The story's assembly, table by table: order and numbering, audit entries preferred to the
//! request record, failure runs folded, the lookback window, and the draft's citations.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::action::{plan, ActionKind, JobSnapshot, SavepointFormat};
use crate::audit::{seal, AuditEvent, EventKind};
use crate::config::ClusterConfig;
use crate::facts::history::KeptFailure;
use crate::guard::{Done, Run};
use crate::incident::IncidentJob;
use crate::policy::{Approval, Person, Principal, State, Vote};

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap() + Duration::minutes(min)
}

fn incident() -> Incident {
    Incident {
        id: "inc1".into(),
        group_key: "g".into(),
        channel_id: 7,
        message_id: Some(99),
        firing_since: t(0),
        notifications: 3,
        last_notified_at: t(20),
        resolved_at: Some(t(40)),
        job: Some(IncidentJob {
            cluster: "prod".into(),
            id: "j1".into(),
            name: Some("orders".into()),
        }),
        labels: [("alertname".to_string(), "FlinkJobUnstable".to_string())].into(),
        digested: false,
        first_paged_at: Some(t(0) + Duration::seconds(12)),
        board: None,
        seen: Vec::new(),
    }
}

fn request(id: &str, kind: ActionKind, by: &str, at: DateTime<Utc>) -> Request {
    let cluster: ClusterConfig =
        toml::from_str("name = \"prod\"\nrest_url = \"http://flink:8081\"").unwrap();
    let mut p = plan(
        &ActionKind::Acknowledge,
        &cluster,
        &JobSnapshot::default(),
        id,
    )
    .unwrap();
    p.kind = kind;
    p.job_id = "j1".into();
    let approval = Approval {
        action: p.kind.slug().into(),
        requester: Person {
            user: crate::chat::UserId(1),
            name: by.into(),
        },
        requested_at: at,
        expires_at: at + Duration::minutes(15),
        needed: 0,
        approvers: vec![Principal::Role(crate::chat::RoleId(7))],
        votes: vec![],
        dry_run: false,
        state: State::Approved { at },
    };
    let mut r = Request::new(id.into(), p, approval, crate::chat::ChannelId(42), at);
    r.incident_id = Some("inc1".into());
    r
}

fn failure(at: DateTime<Utc>, class: &str) -> KeptFailure {
    KeptFailure {
        timestamp: at.timestamp_millis(),
        exception_name: class.into(),
        class: class.into(),
        message: "boom\nsecond line".into(),
        chain: vec![],
        task: None,
        task_manager: Some("tm-1".into()),
        endpoint: None,
        root_frames: vec![],
    }
}

/// The story of `inc` with nothing else held: no requests, audit entries, history or shown
/// diagnosis.
fn alone(inc: &Incident) -> Story {
    assemble(&Held {
        incident: inc,
        note: &Note::default(),
        requests: &[],
        audit: &[],
        history: None,
        shown: Shown::default(),
    })
}

fn story(reqs: &[Request], audit: &[audit::Entry], history: Option<&JobHistory>) -> Story {
    let inc = incident();
    let note = Note::default();
    assemble(&Held {
        incident: &inc,
        note: &note,
        requests: reqs,
        audit,
        history,
        shown: Shown {
            pattern: Some("restart_loop".into()),
            root_cause: Some("`java.lang.RuntimeException`: boom".into()),
        },
    })
}

fn lines(s: &Story) -> Vec<String> {
    s.entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {} [{}] {}",
                e.n,
                e.at.format("%H:%M:%S"),
                e.source,
                e.who.as_deref().unwrap_or("-"),
                e.what
            )
        })
        .collect()
}

#[test]
fn alert_page_and_resolve_alone() {
    assert_eq!(
        lines(&story(&[], &[], None)),
        [
            "1 03:00:00 alertmanager [-] alert FlinkJobUnstable started firing (startsAt)",
            "2 03:00:12 bot [-] first page posted to Discord",
            "3 03:40:00 alertmanager [-] alert resolved (endsAt)",
        ]
    );
    // Still firing: the newest notification is a fact of its own.
    let mut inc = incident();
    inc.resolved_at = None;
    let open = alone(&inc);
    assert_eq!(
        lines(&open)[2],
        "3 03:20:00 bot [-] last of 3 notifications from Alertmanager received"
    );
}

#[test]
fn failures_in_the_window_folded_by_run_first_kept_even_if_flink_dropped_it() {
    let history = JobHistory {
        entries: vec![
            // Before the lookback: another incident's.
            failure(t(-90), "A"),
            failure(t(-5), "java.lang.RuntimeException"),
            failure(t(-4), "java.lang.RuntimeException"),
            failure(t(-3), "java.lang.RuntimeException"),
            failure(t(2), "java.io.IOException"),
            // After the resolve.
            failure(t(50), "B"),
        ],
        // Flink's own history held only the newest of these by now; the bot kept them all.
        seen: 8,
        dropped_through_ms: None,
        started_truncated: false,
    };
    let s = story(&[], &[], Some(&history));
    let got = lines(&s);
    assert_eq!(
        got[..4],
        [
            "1 02:55:00 flink exception history [-] job failed: java.lang.RuntimeException: boom (on tm-1)",
            "2 02:57:00 flink exception history [-] java.lang.RuntimeException again: 3 times in all, the last: java.lang.RuntimeException: boom (on tm-1)",
            "3 03:00:00 alertmanager [-] alert FlinkJobUnstable started firing (startsAt)",
            "4 03:00:12 bot [-] first page posted to Discord",
        ]
    );
    assert!(got[4].ends_with("job failed: java.io.IOException: boom (on tm-1)"));
    assert!(!got.iter().any(|l| l.contains(" A:") || l.contains(" B:")));
    assert!(s.unplaced.iter().any(|u| u.starts_with("2 failure(s)")));
    let d = &s.draft;
    assert_eq!(d.first_failure.as_ref().unwrap().entry, 1);
    assert!(d
        .first_failure
        .as_ref()
        .unwrap()
        .text
        .starts_with("java.lang.RuntimeException: boom"));
    assert_eq!(d.last_failure.as_ref().unwrap().entry, 5);
    // Impact runs from the first failure, not the alert, to the resolve.
    assert_eq!(d.impact_start.as_ref().unwrap().entry, 1);
    assert_eq!(d.impact_minutes, Some(45));
    assert_eq!(d.detection_seconds, Some(12));
    assert_eq!(d.pattern.as_deref(), Some("restart_loop"));
}

#[test]
fn audit_entries_tell_the_requests_and_the_record_fills_in_for_unaudited_ones() {
    let ack = request("r1", ActionKind::Acknowledge, "ana", t(1));
    let mut sp = request(
        "r2",
        ActionKind::Savepoint {
            format: SavepointFormat::Canonical,
        },
        "bo",
        t(5),
    );
    sp.approval.needed = 1;
    sp.approval.votes.push(Vote {
        by: Person {
            user: crate::chat::UserId(3),
            name: "cy".into(),
        },
        at: t(6),
    });
    sp.run = Run::Succeeded {
        result: "savepoint at `file:/sp/1`".into(),
        at: t(8),
        done: Some(Done::Savepoint {
            location: "file:/sp/1".into(),
        }),
    };
    // r1 is audited; r2 has no audit entries (read from its record).
    let ev = |kind, who: Option<&str>, detail| {
        let mut e = AuditEvent::new(kind)
            .with_job("prod", "j1")
            .with_action("acknowledge")
            .with_request("r1")
            .with_detail(detail);
        if let Some(w) = who {
            e = e.with_actor(1, w);
        }
        e
    };
    let e1 = seal(
        None,
        t(1).timestamp_millis(),
        &ev(EventKind::Requested, Some("ana"), serde_json::Value::Null),
        None,
    );
    let e2 = seal(
        Some(&e1),
        t(1).timestamp_millis(),
        &ev(
            EventKind::Approved,
            None,
            serde_json::json!({"reason": "no approval needed"}),
        ),
        None,
    );
    let e3 = seal(
        Some(&e2),
        t(1).timestamp_millis() + 50,
        &ev(EventKind::Executing, None, serde_json::Value::Null),
        None,
    );
    let e4 = seal(
        Some(&e3),
        t(1).timestamp_millis() + 90,
        &ev(
            EventKind::Succeeded,
            None,
            serde_json::json!({"result": "acknowledged by ana"}),
        ),
        None,
    );
    // Another request's entry is not this incident's.
    let other = seal(
        Some(&e4),
        t(2).timestamp_millis(),
        &AuditEvent::new(EventKind::Requested).with_request("zz"),
        None,
    );
    let s = story(&[ack, sp], &[e1, e2, e3, e4, other], None);
    let got = lines(&s);
    assert_eq!(
        got,
        [
            "1 03:00:00 alertmanager [-] alert FlinkJobUnstable started firing (startsAt)",
            "2 03:00:12 bot [-] first page posted to Discord",
            "3 03:01:00 audit #1 [ana] requested acknowledge of prod/j1",
            "4 03:01:00 audit #2 [-] acknowledge approved: no approval needed",
            "5 03:01:00 audit #3 [-] acknowledge started on prod/j1",
            "6 03:01:00 audit #4 [-] acknowledge done: acknowledged by ana",
            "7 03:05:00 request r2 [bo] requested savepoint of prod/j1",
            "8 03:06:00 request r2 [cy] approved savepoint",
            "9 03:08:00 request r2 [-] savepoint done: savepoint at `file:/sp/1`",
            "10 03:40:00 alertmanager [-] alert resolved (endsAt)",
        ]
    );
    let d = &s.draft;
    assert_eq!(d.response.len(), 7);
    assert_eq!(
        d.response[0].text,
        "03:01:00 UTC ana: requested acknowledge of prod/j1"
    );
    assert_eq!(
        d.restore_point,
        Some(Cited {
            text: "file:/sp/1".into(),
            entry: 9
        })
    );
}

#[test]
fn facts_without_a_time_are_named_not_placed() {
    let mut inc = incident();
    inc.first_paged_at = None;
    inc.notifications = 1;
    inc.resolved_at = None;
    let note = Note {
        acknowledged_by: Some("dee".into()),
        ..Default::default()
    };
    let s = assemble(&Held {
        incident: &inc,
        note: &note,
        requests: &[],
        audit: &[],
        history: None,
        shown: Shown::default(),
    });
    assert_eq!(s.entries.len(), 1, "{:?}", lines(&s));
    assert!(s
        .unplaced
        .iter()
        .any(|u| u.starts_with("when the first page went out")));
    assert!(s
        .unplaced
        .iter()
        .any(|u| u.starts_with("acknowledged by dee")));
    assert!(s
        .unplaced
        .iter()
        .any(|u| u.starts_with("the job's failures")));
    assert_eq!(s.draft.impact_end, None);
    assert_eq!(s.draft.detection_seconds, None);
}

#[test]
fn markdown_cites_every_fact_and_keeps_table_cells_whole() {
    let history = JobHistory {
        entries: vec![failure(t(-5), "java.lang.RuntimeException")],
        seen: 1,
        dropped_through_ms: None,
        started_truncated: true,
    };
    let mut sp = request(
        "r2",
        ActionKind::Savepoint {
            format: SavepointFormat::Canonical,
        },
        "b|o",
        t(5),
    );
    sp.run = Run::Succeeded {
        result: "savepoint at `file:/sp/1`".into(),
        at: t(8),
        done: Some(Done::Savepoint {
            location: "file:/sp/1".into(),
        }),
    };
    let s = story(&[sp], &[], Some(&history));
    let renderer = crate::render::Renderer::new(None).unwrap();
    let doc = markdown::document(&renderer, &s);
    for want in [
        "# Postmortem draft: orders",
        "- Pattern as last shown: `restart_loop`",
        "- Root cause as last shown: `java.lang.RuntimeException`: boom",
        "- First failure: java.lang.RuntimeException: boom (on tm-1) at 2026-12-07 02:55:00 UTC (#1)",
        "- Time to the first page: 12 s",
        "- Duration: 45 min",
        "- Savepoint taken from chat: `file:/sp/1` (#5)",
        "## Follow-ups",
        "| 1 | 2026-12-07 02:55:00 UTC | flink exception history |  | job failed: java.lang.RuntimeException: boom (on tm-1) |",
        "| 4 | 2026-12-07 03:05:00 UTC | request r2 | b\\|o | requested savepoint of prod/j1 |",
        "- failures before the first one the bot saw",
    ] {
        assert!(doc.contains(want), "missing {want:?} in\n{doc}");
    }
    let timeline = markdown::timeline(&renderer, &s);
    assert!(
        timeline.starts_with("## Timeline of incident inc1"),
        "{timeline}"
    );
    assert!(!timeline.contains("Postmortem"));
}

#[test]
fn the_diagnosis_is_read_back_from_the_message_as_last_sent() {
    use crate::message::{Embed, Field, Message};
    let msg = Message {
        embed: Embed {
            footer: "Resolved after 4m · 3 notification(s) · pattern restart_loop · incident i1"
                .into(),
            fields: vec![
                Field::new("Job", "orders".to_string(), true),
                Field::new(
                    "Root cause",
                    "`java.io.IOException`: x\nin map".to_string(),
                    false,
                ),
            ],
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        gather::shown(&msg),
        Shown {
            pattern: Some("restart_loop".into()),
            root_cause: Some("`java.io.IOException`: x in map".into()),
        }
    );
    assert_eq!(gather::shown(&Message::default()), Shown::default());
}

#[test]
fn what_flink_said_at_each_look_is_on_the_timeline_and_the_restore_point_in_the_draft() {
    use crate::incident::seen::{Look, Seen};
    let look = |at: DateTime<Utc>, look: Look, state: &str, restored: Option<&str>| Seen {
        at,
        look,
        diagnosis: "Restart loop".into(),
        state: Some(state.into()),
        restarts: Some(4),
        downtime_ms: restored.is_none().then_some(125_000),
        root_cause: Some("java.lang.RuntimeException: poison record".into()),
        root_cause_at_ms: Some(t(-2).timestamp_millis()),
        checkpoint: Some((12, t(-10).timestamp_millis())),
        restored_from: restored.map(String::from),
        complete: restored.is_some(),
    };
    let mut inc = incident();
    inc.seen = vec![
        look(t(0) + Duration::seconds(12), Look::Page, "RESTARTING", None),
        look(
            t(1),
            Look::Refill,
            "RUNNING",
            Some("checkpoint `file:/cp/chk-12` (id 12)"),
        ),
    ];
    let s = alone(&inc);
    let got = lines(&s);
    assert_eq!(
        got[2],
        "3 03:00:12 flink, at the first page [-] Flink said: job RESTARTING; 4 restart(s); down for 2 min 5 s; diagnosis: Restart loop; root cause java.lang.RuntimeException: poison record (failed 2026-12-07 02:58:00 UTC); last checkpoint #12 completed 2026-12-07 02:50:00 UTC; some facts could not be fetched"
    );
    assert!(
        got[3].starts_with("4 03:01:00 flink, at a refill [-] Flink said: job RUNNING;")
            && got[3].ends_with("restored from checkpoint `file:/cp/chk-12` (id 12)"),
        "{}",
        got[3]
    );
    let restored = s.draft.restored_from.as_ref().unwrap();
    assert_eq!(restored.text, "checkpoint `file:/cp/chk-12` (id 12)");
    assert_eq!(restored.entry, 4);
    let down = s.draft.downtime.as_ref().unwrap();
    assert_eq!(down.text, "2 min 5 s (Flink's downtime gauge)");
    assert_eq!(down.entry, 3);
    assert!(
        !s.unplaced.iter().any(|u| u.contains("what Flink said")),
        "{:?}",
        s.unplaced
    );
    // An incident paged before looks were kept says so.
    let old = story(&[], &[], None);
    assert!(old.unplaced.iter().any(|u| u.contains("what Flink said")));
    assert!(old.draft.restored_from.is_none());
}
