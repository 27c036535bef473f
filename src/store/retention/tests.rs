//! Retention: the pure decisions as tables, then one pass over a real sled store.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::decide::{self, IncidentAge, Verdict};
use crate::incident::Incident;
use crate::store::{Delivered, LineChange, Store};

const DAY_MS: i64 = 86_400_000;

#[test]
fn which_incidents_go() {
    let cutoff = 100 * DAY_MS;
    let table = [
        (None, false, Verdict::KeepFiring),
        (None, true, Verdict::KeepFiring),
        (Some(cutoff + 1), false, Verdict::KeepRecent),
        (Some(cutoff), false, Verdict::KeepRecent),
        (Some(cutoff - 1), true, Verdict::KeepPending),
        (Some(cutoff - 1), false, Verdict::Remove),
        (Some(0), false, Verdict::Remove),
    ];
    for (resolved_ms, pending, want) in table {
        let age = IncidentAge {
            resolved_ms,
            pending,
        };
        assert_eq!(decide::incident(age, cutoff), want, "{age:?}");
    }
}

#[test]
fn which_superseded_ids_requests_and_histories_go() {
    let cutoff = 100 * DAY_MS;
    // (start of the group's current incident, pending) -> the old id goes
    for (started, pending, want) in [
        (Some(cutoff - 1), false, true),
        (Some(cutoff), false, false),
        (Some(cutoff + DAY_MS), false, false),
        (None, false, true),
        (None, true, false),
        (Some(0), true, false),
    ] {
        assert_eq!(
            decide::superseded(started, cutoff, pending),
            want,
            "{started:?} {pending}"
        );
    }
    // (run, created, incident gone) -> the request goes
    for (run, created, gone, want) in [
        ("succeeded", cutoff - 1, true, true),
        ("failed", cutoff - 1, true, true),
        ("denied", 0, true, true),
        ("expired", 0, true, true),
        ("succeeded", cutoff - 1, false, false),
        ("succeeded", cutoff, true, false),
        ("waiting", 0, true, false),
        ("ready", 0, true, false),
        ("running", 0, true, false),
        ("confirm", 0, true, false),
        ("something_new", 0, true, false),
    ] {
        assert_eq!(
            decide::request(run, created, cutoff, gone),
            want,
            "{run} {created} {gone}"
        );
        assert_eq!(
            decide::request_is_open(run),
            !matches!(run, "succeeded" | "failed" | "denied" | "expired")
        );
    }
    for (newest, want) in [
        (Some(cutoff - 1), true),
        (Some(cutoff), false),
        (None, false),
    ] {
        assert_eq!(decide::history(newest, cutoff), want, "{newest:?}");
    }
    // (opened, lines recovered, posting) -> the board goes
    for (opened, lines, posting, want) in [
        (cutoff - 1, &[true, true][..], false, true),
        (cutoff - 1, &[][..], false, true),
        (cutoff - 1, &[true, false][..], false, false),
        (cutoff - 1, &[true][..], true, false),
        (cutoff, &[true][..], false, false),
    ] {
        assert_eq!(
            decide::board(opened, lines, posting, cutoff),
            want,
            "{opened} {lines:?} {posting}"
        );
    }
}

/// Boards of lost TaskManagers, as the pipeline writes them (`crate::topology`).
#[tokio::test]
async fn a_pass_removes_topology_incidents_that_are_over_and_old_with_their_lines() {
    use crate::topology::{board_key, Board, Cause, JobLine};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (now, window) = (at(0), Duration::from_secs(90 * 86_400));
    let line = |id: &str, state: &str, resolved: bool| JobLine {
        incident_id: id.into(),
        job: format!("job of {id}"),
        job_id: format!("job-{id}"),
        state: state.into(),
        restarts: Some(1),
        alert: "FlinkJobUnstable".into(),
        firing_since_ms: 0,
        resolved,
    };
    let tm = |id: &str| Cause::TaskManager {
        cluster: "prod".into(),
        id: id.into(),
        host: "10.0.0.1".into(),
        lost_at_ms: 0,
        how: "heartbeat timed out".into(),
    };
    // (TaskManager, opened days ago, its lines, a post in progress)
    let boards = [
        (
            "tm-over",
            -100,
            vec![line("a", "RUNNING", false), line("b", "", true)],
            false,
        ),
        (
            "tm-stuck",
            -100,
            vec![line("c", "RUNNING", false), line("d", "RESTARTING", false)],
            false,
        ),
        ("tm-recent", -10, vec![line("e", "RUNNING", false)], false),
        ("tm-posting", -100, vec![line("f", "RUNNING", false)], true),
    ];
    let mut keys = Vec::new();
    for (tm_id, days, lines, posting) in &boards {
        let board = Board::new(7, tm(tm_id), at(*days).timestamp_millis());
        let key = board_key(7, &board.cause);
        store.put_board(&key, &board).unwrap();
        for l in lines {
            store.put_board_line(&key, &l.incident_id, Some(l)).unwrap();
        }
        if *posting {
            store.mark_posting(&board.id).unwrap();
        }
        keys.push(key);
    }
    store.durable().await.unwrap();

    let pruned = store.prune(now, window).await.unwrap();

    assert_eq!(pruned.boards, 1, "{pruned:?}");
    assert!(store.board::<Board>(&keys[0]).unwrap().is_none());
    assert!(
        store.board_lines::<JobLine>(&keys[0]).unwrap().is_empty(),
        "its lines went with it"
    );
    for key in &keys[1..] {
        assert!(store.board::<Board>(key).unwrap().is_some(), "{key}");
        assert!(
            !store.board_lines::<JobLine>(key).unwrap().is_empty(),
            "{key}"
        );
    }
    assert_eq!(store.board_keys().unwrap().len(), 3);
    let again = store.prune(now, window).await.unwrap();
    assert_eq!(again.boards, 0, "{again:?}");
}

fn at(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + chrono::Duration::days(days)
}

fn incident(group: &str, id: &str, fired: i64, resolved: Option<i64>) -> Incident {
    Incident {
        id: id.into(),
        group_key: group.into(),
        channel_id: 7,
        message_id: Some(1),
        firing_since: at(fired),
        notifications: 1,
        last_notified_at: at(resolved.unwrap_or(fired)),
        resolved_at: resolved.map(at),
        job: None,
        labels: Default::default(),
        digested: false,
        first_paged_at: Some(at(fired)),
        board: None,
        seen: Vec::new(),
    }
}

fn deliver(store: &Store, i: &Incident, line: Option<&[u8]>) {
    store
        .record_delivery(&Delivered {
            group_key: &i.group_key,
            incident_id: &i.id,
            incident: i,
            new_id: true,
            batch: &[],
            refill: None,
            digest: line.map_or(LineChange::Keep, |line| LineChange::Put {
                channel: i.channel_id,
                line,
            }),
            shown: None,
        })
        .unwrap();
}

fn request(id: &str, incident: Option<&str>, run: &str, created: i64) -> serde_json::Value {
    // The fields of `guard::Request` retention reads, in its serialized form.
    json!({
        "id": id,
        "run": {"run": run, "result": "ok", "at": at(created)},
        "incident_id": incident,
        "created_at": at(created),
    })
}

#[tokio::test]
async fn a_pass_removes_only_resolved_incidents_past_the_window_with_what_hangs_off_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = at(0);
    let window = Duration::from_secs(90 * 86_400);

    let firing = incident("g-firing", "i-firing", -200, None);
    let old = incident("g-old", "i-old", -120, Some(-100));
    let recent = incident("g-recent", "i-recent", -20, Some(-10));
    let waiting = incident("g-waiting", "i-waiting", -120, Some(-100));
    let asked = incident("g-asked", "i-asked", -120, Some(-100));
    deliver(&store, &firing, None);
    deliver(&store, &old, Some(b"line of i-old"));
    deliver(&store, &recent, None);
    deliver(&store, &waiting, None);
    deliver(&store, &asked, None);
    // A group whose incident was replaced by a newer one: the first id is only in the index.
    let first = incident("g-again", "i-again-1", -300, Some(-290));
    let second = incident("g-again", "i-again-2", -150, Some(-30));
    deliver(&store, &first, None);
    deliver(&store, &second, None);
    for id in ["i-firing", "i-old", "i-recent", "i-again-1"] {
        store
            .put_incident_note(id, &json!({"acknowledged_by": "alice"}))
            .unwrap();
    }
    let requests = [
        request("r-old", Some("i-old"), "succeeded", -100),
        request("r-firing", Some("i-firing"), "succeeded", -150),
        request("r-asked", Some("i-asked"), "waiting", -100),
        request("r-loose", None, "failed", -100),
        request("r-loose-new", None, "failed", -5),
    ];
    for r in &requests {
        store.put_request(r["id"].as_str().unwrap(), r).unwrap();
    }
    // What the way out showed for them (the message as sent, the thread, a request's place).
    use crate::outbox::{page_key, request_key, thread_key};
    for key in [
        page_key("i-old"),
        thread_key("i-old"),
        page_key("i-firing"),
        request_key("r-old"),
        request_key("r-asked"),
    ] {
        store.put_shown(&key, &1u8).unwrap();
    }
    // A new notification for g-waiting is in the inbox, not delivered yet.
    store.accept(b"{}", "g-waiting", 1).await.unwrap();
    // A page Discord refused, and an audit entry: neither is retention's to remove.
    let dead = store.accept(b"{\"dead\":1}", "g-dead", 1).await.unwrap();
    let crate::store::Accepted::Stored(dead_seq) = dead else {
        panic!("{dead:?}")
    };
    let entries = store.entries(&[dead_seq]).unwrap();
    store.bury(&entries, "404").unwrap();
    store
        .audit_append(&crate::audit::AuditEvent::heartbeat(), 0, None)
        .await
        .unwrap();
    let history = store.db.open_tree("exception_history").unwrap();
    let old_ms = at(-100).timestamp_millis();
    let new_ms = at(-1).timestamp_millis();
    history
        .insert(
            b"prod\0old-job",
            serde_json::to_vec(&json!({"entries": [{"timestamp": old_ms}], "seen": 1})).unwrap(),
        )
        .unwrap();
    history
        .insert(
            b"prod\0live-job",
            serde_json::to_vec(
                &json!({"entries": [{"timestamp": old_ms}, {"timestamp": new_ms}], "seen": 2}),
            )
            .unwrap(),
        )
        .unwrap();
    store.durable().await.unwrap();

    let pruned = store.prune(now, window).await.unwrap();

    assert_eq!(pruned.incidents, 1, "{pruned:?}");
    assert_eq!(pruned.kept_pending, 2, "g-waiting and g-asked: {pruned:?}");
    assert_eq!(pruned.superseded, 1, "{pruned:?}");
    assert_eq!(pruned.notes, 2, "i-old's and i-again-1's: {pruned:?}");
    assert_eq!(pruned.requests, 2, "r-old and r-loose: {pruned:?}");
    assert_eq!(pruned.digest_lines, 1, "{pruned:?}");
    assert_eq!(pruned.histories, 1, "{pruned:?}");
    assert!(!pruned.deferred);

    let get = |g: &str| store.incident::<Incident>(g).unwrap();
    assert_eq!(get("g-old"), None);
    assert!(store.incident_by_id::<Incident>("i-old").unwrap().is_none());
    let note: serde_json::Value = store.incident_note("i-old").unwrap();
    assert_eq!(note, serde_json::Value::Null, "the note went with it");
    let shown = |k: String| store.shown::<u8>(&k).unwrap();
    assert_eq!(shown(page_key("i-old")), None, "its message copy went too");
    assert_eq!(shown(thread_key("i-old")), None);
    assert_eq!(shown(request_key("r-old")), None);
    assert_eq!(
        shown(page_key("i-firing")),
        Some(1),
        "a firing one keeps it"
    );
    assert_eq!(shown(request_key("r-asked")), Some(1));
    assert!(store.digest_lines::<String>(7).unwrap().is_empty());
    assert_eq!(
        get("g-firing"),
        Some(firing.clone()),
        "firing is never removed"
    );
    assert_eq!(get("g-recent"), Some(recent));
    assert_eq!(get("g-waiting"), Some(waiting), "a pending entry keeps it");
    assert_eq!(get("g-asked"), Some(asked), "an open request keeps it");
    assert_eq!(get("g-again"), Some(second));
    assert!(store
        .incident_by_id::<Incident>("i-again-1")
        .unwrap()
        .is_none());
    assert!(store
        .incident_by_id::<Incident>("i-again-2")
        .unwrap()
        .is_some());
    let note: serde_json::Value = store.incident_note("i-firing").unwrap();
    assert_eq!(note["acknowledged_by"], "alice");
    let kept: Vec<String> = store
        .requests::<serde_json::Value>()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kept, ["r-asked", "r-firing", "r-loose-new"]);
    assert!(history.get(b"prod\0old-job").unwrap().is_none());
    assert!(history.get(b"prod\0live-job").unwrap().is_some());
    assert_eq!(store.dead_count(), 1, "dead letters stay");
    assert_eq!(
        store.audit_range(1, 10).unwrap().len(),
        1,
        "the audit log stays"
    );
    assert_eq!(
        store.pending_after(None, 10).unwrap().len(),
        1,
        "the inbox stays"
    );

    // A later page for the same group starts a new incident cleanly: nothing of the old one
    // is found under the group or the new id.
    let mut hook = crate::alertmanager::Webhook::parse(include_bytes!(
        "../../../tests/data/am-FlinkJobUnstable-firing.json"
    ))
    .unwrap();
    hook.group_key = "g-old".into();
    let (fresh, delivery) = crate::incident::advance(get(&hook.group_key), &hook, 1, now, 7, 99);
    assert_eq!(delivery, crate::incident::Delivery::Post);
    deliver(&store, &fresh, None);
    assert_eq!(
        store.incident_by_id::<Incident>(&fresh.id).unwrap(),
        Some(fresh.clone())
    );
    let note: serde_json::Value = store.incident_note(&fresh.id).unwrap();
    assert_eq!(note, serde_json::Value::Null);

    // A second pass finds nothing more to do.
    let again = store.prune(now, window).await.unwrap();
    assert_eq!(
        again.incidents + again.superseded + again.requests,
        0,
        "{again:?}"
    );
}
