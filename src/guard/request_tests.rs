//! The request's life, table by table: binding, self-approval, distinct approvers, expiry,
//! deny, and that only a Ready request can be started.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::action::{plan, ActionKind, JobSnapshot};
use crate::config::ClusterConfig;
use crate::policy::{Person, Principal, State};

fn actor(user: u64) -> Actor {
    Actor {
        user: crate::chat::UserId(user),
        roles: vec![crate::chat::RoleId(7)],
        name: format!("u{user}"),
    }
}

fn request(needed: u8) -> Request {
    let cluster: ClusterConfig =
        toml::from_str("name = \"prod\"\nrest_url = \"http://flink:8081\"").unwrap();
    let p = plan(
        &ActionKind::Acknowledge,
        &cluster,
        &JobSnapshot::default(),
        "r1",
    )
    .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
    let approval = Approval {
        action: "acknowledge".into(),
        requester: Person {
            user: crate::chat::UserId(1),
            name: "u1".into(),
        },
        requested_at: now,
        expires_at: now + Duration::minutes(15),
        needed,
        approvers: vec![Principal::Role(crate::chat::RoleId(7))],
        votes: vec![],
        dry_run: false,
        state: if needed == 0 {
            State::Approved { at: now }
        } else {
            State::Pending
        },
    };
    Request::new("r1".into(), p, approval, crate::chat::ChannelId(42), now)
}

#[test]
fn two_other_people_make_it_ready_and_only_once() {
    let mut r = request(2);
    let t = r.created_at + Duration::minutes(1);
    let b = r.binding.clone();
    assert_eq!(r.run, Run::Waiting);
    assert_eq!(
        r.approve(&actor(2), "deadbeef00", t),
        Err(Refusal::Changed),
        "a button for another plan"
    );
    assert_eq!(
        r.approve(&actor(2), "", t),
        Err(Refusal::Changed),
        "no binding at all"
    );
    assert!(
        matches!(r.approve(&actor(1), &b[..16], t), Err(Refusal::Policy(_))),
        "own request"
    );
    assert_eq!(
        r.approve(&actor(2), &b[..16], t),
        Ok(Approved::Counted { have: 1, needed: 2 })
    );
    assert!(
        matches!(r.approve(&actor(2), &b[..16], t), Err(Refusal::Policy(_))),
        "the same person twice"
    );
    let outsider = Actor {
        roles: vec![],
        ..actor(9)
    };
    assert!(
        matches!(r.approve(&outsider, &b[..16], t), Err(Refusal::Policy(_))),
        "not an approver"
    );
    assert_eq!(r.run, Run::Waiting);
    assert_eq!(r.approve(&actor(3), &b[..16], t), Ok(Approved::Complete));
    assert_eq!(r.run, Run::Ready);
    assert_eq!(
        r.approve(&actor(4), &b[..16], t),
        Err(Refusal::Decided("approved, starting"))
    );
    assert!(r.start(t), "the worker claims it");
    assert!(!r.start(t), "and nobody claims it twice");
    r.finish(
        Ok(crate::guard::Done::Savepoint {
            location: "file:/sp/1".into(),
        }),
        t,
    );
    assert!(r.run.is_final());
    assert!(
        matches!(&r.run, Run::Succeeded { result, .. } if result == "savepoint at `file:/sp/1`")
    );
}

#[test]
fn expiry_is_exact_and_ends_it() {
    let mut r = request(1);
    let at = r.approval.expires_at;
    let b = r.binding.clone();
    assert!(!r.expire(at - Duration::seconds(1)));
    assert_eq!(r.run, Run::Waiting);
    assert!(r.expire(at), "at the boundary it has expired");
    assert!(!r.expire(at), "once");
    assert_eq!(r.approve(&actor(2), &b[..16], at), Err(Refusal::Expired));
    let mut late = request(1);
    assert_eq!(
        late.approve(&actor(2), &b[..16], at + Duration::hours(5)),
        Err(Refusal::Expired),
        "expired while the bot was down"
    );
    assert!(matches!(late.run, Run::Expired { .. }));
}

#[test]
fn deny_ends_it_and_no_approval_needed_is_ready_at_once() {
    let mut r = request(2);
    let t = r.created_at;
    r.deny(&actor(2), t).unwrap();
    assert!(matches!(r.run, Run::Denied { .. }));
    assert!(!r.start(t));
    assert_eq!(request(0).run, Run::Ready);
}

#[test]
fn a_question_is_answered_by_the_requester_only() {
    let mut r = request(0);
    r.plan.confirm = Some("TaskManager tm-2 is struggling. Dump anyway?".into());
    r.plan.effect = crate::action::Effect::ThreadDumps {
        task_managers: vec!["tm-1".into(), "tm-2".into()],
        struggling: vec!["tm-2".into()],
    };
    r.plan.calls = [
        "/jobmanager/thread-dump",
        "/taskmanagers/tm-1/thread-dump",
        "/taskmanagers/tm-2/thread-dump",
    ]
    .iter()
    .map(|p| crate::action::Call {
        method: crate::action::Method::Get,
        path: p.to_string(),
        body: None,
    })
    .collect();
    r.run = Run::Confirm;
    assert_eq!(r.confirm(&actor(2), true), Err(Refusal::NotRequester));
    r.confirm(&actor(1), false).unwrap();
    assert_eq!(r.run, Run::Ready);
    assert_eq!(
        r.plan.calls.len(),
        2,
        "the struggling one is left out: {:?}",
        r.plan.calls
    );
    assert!(
        matches!(&r.plan.effect, crate::action::Effect::ThreadDumps { task_managers, .. } if task_managers == &["tm-1".to_string()])
    );
    assert_eq!(
        r.confirm(&actor(1), true),
        Err(Refusal::Decided("approved, starting"))
    );

    let mut late = request(0);
    late.run = Run::Confirm;
    assert!(
        late.expire(late.approval.expires_at),
        "an unanswered question expires too"
    );
}

#[test]
fn a_request_stored_before_the_outbox_keeps_its_message_and_it_is_never_written_again() {
    let mut stored = serde_json::to_value(request(1)).unwrap();
    assert!(stored.get("message").is_none(), "not written: {stored}");
    stored["message"] = serde_json::json!(1300000000000000002u64);
    let old: Request = serde_json::from_value(stored).unwrap();
    assert_eq!(
        old.legacy_message,
        Some(crate::chat::MessageId(1300000000000000002))
    );
}
