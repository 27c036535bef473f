//! Table tests: actor x action x approvals x time, against a policy parsed from TOML the way an
//! operator writes it.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

const OPS: u64 = 100;
const LEADS: u64 = 200;

fn policy(toml_text: &str) -> Policy {
    let config: PolicyConfig = toml::from_str(toml_text).unwrap();
    config.validate().unwrap();
    Policy::new(&config)
}

fn standard() -> Policy {
    policy(&format!(
        r#"
requesters = ["role:{OPS}"]
[actions.cancel]
approvers = ["role:{LEADS}"]
[actions.threaddump]
requesters = ["role:{OPS}", "user:7"]
"#
    ))
}

fn actor(user: u64, roles: &[u64]) -> Actor {
    Actor {
        user: crate::chat::UserId(user),
        roles: roles.iter().map(|r| crate::chat::RoleId(*r)).collect(),
        name: format!("u{user}"),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
}

#[test]
fn who_may_request_what() {
    let p = standard();
    type Case = (&'static str, u64, &'static [u64], Result<u8, &'static str>);
    let cases: &[Case] = &[
        ("savepoint", 1, &[OPS], Ok(1)),
        ("cancel", 1, &[OPS], Ok(2)),
        ("stop", 1, &[OPS, LEADS], Ok(2)),
        ("threaddump", 7, &[], Ok(0)),
        (
            "threaddump",
            8,
            &[],
            Err("not allowed to request threaddump"),
        ),
        ("silence", 1, &[OPS], Ok(0)),
        ("cancel", 2, &[LEADS], Err("ask someone with role <@&100>")),
        // `policy.requesters` applies to every action without its own, acknowledge too.
        ("acknowledge", 1, &[OPS], Ok(0)),
        (
            "acknowledge",
            9,
            &[],
            Err("not allowed to request acknowledge"),
        ),
        ("reboot", 1, &[OPS], Err("no action called \"reboot\"")),
    ];
    for (action, user, roles, want) in cases {
        let got = decide_request(&p, action, &actor(*user, roles), t0());
        match (got, want) {
            (Ok(d), Ok(n)) => {
                assert_eq!(d.approvals_needed, *n, "{action} by {user}");
                assert_eq!(d.expires_at, t0() + Duration::minutes(15));
                assert!(!d.dry_run);
            }
            (Err(r), Err(text)) => assert!(r.to_string().contains(text), "{action}: {r}"),
            (got, want) => panic!("{action} by {user}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn an_empty_policy_lets_nobody_run_anything_but_acknowledge_and_says_so() {
    let p = policy("");
    for action in [
        "savepoint",
        "stop",
        "cancel",
        "threaddump",
        "silence",
        "unsilence",
    ] {
        let r = decide_request(&p, action, &actor(1, &[OPS]), t0()).unwrap_err();
        assert_eq!(
            r,
            Refusal::NobodyMayRequest {
                action: action.into()
            }
        );
        assert!(
            r.to_string()
                .contains(&format!("policy.actions.{action}.requesters")),
            "{r}"
        );
    }
    assert!(decide_request(&p, "acknowledge", &actor(1, &[]), t0()).is_ok());
    let described = p.describe().join("\n");
    assert!(
        described.contains("cancel: nobody may request it"),
        "{described}"
    );
    assert!(
        described.contains("acknowledge: requested by @everyone; runs without approval"),
        "{described}"
    );
}

#[test]
fn two_distinct_approvers_other_than_the_requester_run_a_cancel() {
    let p = standard();
    let requester = actor(1, &[OPS, LEADS]);
    let mut a = Approval::request(&p, "cancel", &requester, t0()).unwrap();
    assert!(a.is_pending());
    let at = t0() + Duration::minutes(1);
    type Step = (u64, &'static [u64], Result<Progress, &'static str>);
    let steps: &[Step] = &[
        (1, &[OPS, LEADS], Err("your own cancel request")),
        (
            2,
            &[OPS],
            Err("not allowed to approve cancel: ask someone with role <@&200>"),
        ),
        (3, &[LEADS], Ok(Progress::Waiting { have: 1, needed: 2 })),
        (3, &[LEADS], Err("already approved this cancel")),
        (4, &[LEADS], Ok(Progress::Approved)),
        (5, &[LEADS], Err("already approved")),
    ];
    for (user, roles, want) in steps {
        let got = a.approve(&actor(*user, roles), at);
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, *w, "user {user}"),
            (Err(r), Err(text)) => assert!(r.to_string().contains(text), "user {user}: {r}"),
            (got, want) => panic!("user {user}: got {got:?}, want {want:?}"),
        }
    }
    assert_eq!(a.state, State::Approved { at });
    assert_eq!(a.votes.len(), 2);
    assert!(a.deny(&actor(3, &[LEADS]), at).is_err(), "decided is final");
}

#[test]
fn expiry_is_exact_at_the_boundary() {
    let p = standard();
    let requester = actor(1, &[OPS]);
    let deadline = t0() + Duration::minutes(15);
    for (at, counts) in [
        (deadline - Duration::milliseconds(1), true),
        (deadline, false),
        (deadline + Duration::hours(5), false),
    ] {
        let mut a = Approval::request(&p, "savepoint", &requester, t0()).unwrap();
        match a.approve(&actor(2, &[OPS]), at) {
            Ok(progress) => {
                assert!(counts, "{at}");
                assert_eq!(progress, Progress::Approved);
            }
            Err(r) => {
                assert!(!counts, "{at}: {r}");
                assert_eq!(
                    r,
                    Refusal::Expired {
                        action: "savepoint".into(),
                        at: deadline
                    }
                );
                assert!(r.to_string().contains("expired at 10:15 UTC"), "{r}");
                assert_eq!(a.state, State::Expired { at: deadline });
            }
        }
    }
    // The timer (or the sweep after a restart) expires it once.
    let mut a = Approval::request(&p, "savepoint", &requester, t0()).unwrap();
    assert!(!a.expire(deadline - Duration::seconds(1)));
    assert!(a.expire(deadline + Duration::hours(3)));
    assert!(!a.expire(deadline + Duration::hours(4)), "only once");
    assert_eq!(a.state, State::Expired { at: deadline });
}

#[test]
fn zero_approval_actions_are_approved_at_once() {
    let p = standard();
    let a = Approval::request(&p, "threaddump", &actor(7, &[]), t0()).unwrap();
    assert!(a.is_approved());
    let mut a = a;
    assert!(matches!(
        a.approve(&actor(2, &[OPS]), t0()),
        Err(Refusal::Decided { .. })
    ));
}

#[test]
fn deny_by_an_approver_or_withdrawal_by_the_requester_ends_it() {
    let p = standard();
    let requester = actor(1, &[OPS]);
    let mut a = Approval::request(&p, "cancel", &requester, t0()).unwrap();
    let r = a.deny(&actor(9, &[]), t0()).unwrap_err();
    assert!(
        r.to_string().contains("not allowed to approve cancel"),
        "{r}"
    );
    a.deny(&actor(3, &[LEADS]), t0()).unwrap();
    assert!(matches!(a.state, State::Denied { ref by, .. } if by.user == crate::chat::UserId(3)));
    let r = a.approve(&actor(4, &[LEADS]), t0()).unwrap_err();
    assert_eq!(r.to_string(), "this cancel request was already denied");

    let mut b = Approval::request(&p, "cancel", &requester, t0()).unwrap();
    b.deny(&requester, t0()).unwrap();
    assert!(matches!(b.state, State::Denied { .. }));
}

#[test]
fn dry_run_and_custom_rules_carry_through() {
    let p = policy(
        r#"
dry_run = true
[actions.savepoint]
requesters = ["@everyone"]
approvers = ["user:5", "user:6"]
approvals = 2
expiry_minutes = 1
"#,
    );
    let a = Approval::request(&p, "savepoint", &actor(1, &[]), t0()).unwrap();
    assert!(a.dry_run);
    assert_eq!(a.needed, 2);
    assert_eq!(a.expires_at, t0() + Duration::minutes(1));
    assert!(p.describe().iter().any(|l| l.starts_with("dry run")));
    // Stored and read back, the approval means the same.
    let json = serde_json::to_string(&a).unwrap();
    assert!(
        json.contains(r#""approvers":["user:5","user:6"]"#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Approval>(&json).unwrap(), a);
}

#[test]
fn invalid_policies_name_the_key() {
    let cases = [
        ("[actions.cancle]\napprovals = 1", "`policy.actions.cancle`"),
        (
            "[actions.cancel]\napprovals = 11",
            "`policy.actions.cancel.approvals`",
        ),
        (
            "[actions.cancel]\nexpiry_minutes = 0",
            "`policy.actions.cancel.expiry_minutes`",
        ),
        (
            "[actions.cancel]\nrequesters = [\"role:1\"]\napprovers = [\"user:5\"]",
            "`policy.actions.cancel.approvers`: cancel needs 2",
        ),
        (
            "requesters = [\"role:1\"]\napprovers = []",
            "`policy.approvers`",
        ),
    ];
    for (text, want) in cases {
        let config: PolicyConfig = toml::from_str(text).unwrap();
        let err = config.validate().unwrap_err();
        assert!(err.contains(want), "{text}: {err}");
    }
    for bad in ["rol:1", "role:", "role:0", "user:abc", "everyone"] {
        let text = format!("requesters = [\"{bad}\"]");
        let err = toml::from_str::<PolicyConfig>(&text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not \"role:<id>\""), "{bad}: {err}");
    }
}
