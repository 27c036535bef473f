//! Backups of a real sled store: the copy order, a round trip, and damaged files refused.

use super::*;
use crate::store::{Accepted, Store, Which};

#[test]
fn pending_work_first_unknown_trees_with_it_audit_before_requests() {
    let names: Vec<String> = [
        "requests",
        "audit",
        "incidents",
        "outbox",
        "inbox",
        "dead",
        "meta",
        "zz_new",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        order(&names),
        [
            "inbox",
            "outbox",
            "zz_new",
            "dead",
            "audit",
            "meta",
            "requests",
            "incidents"
        ]
    );
}

async fn reopen(path: &Path) -> Store {
    for _ in 0..200 {
        if let Ok(s) = Store::open(path) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Store::open(path).unwrap()
}

#[tokio::test]
async fn a_backup_restores_every_tree_and_never_reuses_a_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("a")).unwrap();
    let mut last_seq = 0;
    for n in 0..1_200 {
        if let Accepted::Stored(s) = store
            .accept(
                format!("{{\"n\":{n}}}").as_bytes(),
                &format!("g{}", n % 5),
                n,
            )
            .await
            .unwrap()
        {
            last_seq = s;
        }
    }
    let delivered = store.entries(&[last_seq]).unwrap();
    store.complete(&delivered).unwrap();
    let dead = store.entries(&[last_seq - 1]).unwrap();
    store.bury(&dead, "403").unwrap();
    store
        .put_request("r1", &serde_json::json!({"id": "r1"}))
        .unwrap();
    let e = store
        .audit_append(&crate::audit::AuditEvent::heartbeat(), 1, None)
        .await
        .unwrap();
    store
        .db
        .open_tree("outbox")
        .unwrap()
        .insert(b"w1", &b"work"[..])
        .unwrap();
    store.durable().await.unwrap();

    let mut file = Vec::new();
    let copied = store.backup(&mut file).await.unwrap();
    assert!(copied.records >= 1_200, "{copied:?}");

    let restored = dir.path().join("b");
    let back = restore_into(&file[..], &restored).unwrap();
    assert_eq!((back.records, back.trees), (copied.records, copied.trees));
    let b = reopen(&restored).await;
    assert_eq!(
        b.instance_id(),
        store.instance_id(),
        "the same store, so the same incident ids"
    );
    assert_eq!(b.pending_after(None, 5_000).unwrap().len(), 1_198);
    assert_eq!(b.dead_letters().unwrap().len(), 1);
    assert_eq!(b.audit_last().unwrap().unwrap().hash, e.hash);
    assert!(b.request::<serde_json::Value>("r1").unwrap().is_some());
    assert_eq!(
        b.db.open_tree("outbox")
            .unwrap()
            .get(b"w1")
            .unwrap()
            .as_deref(),
        Some(&b"work"[..]),
        "a tree this code does not know is copied too"
    );
    // New work gets sequences after everything restored.
    let Accepted::Stored(next) = b.accept(b"new", "g", 1).await.unwrap() else {
        panic!()
    };
    assert!(next > last_seq, "{next} > {last_seq}");
    // A replayed dead letter is pending again, once.
    assert_eq!(b.dead_replay(Which::All).await.unwrap(), vec![last_seq - 1]);
    assert_eq!(b.dead_letters().unwrap().len(), 0);
    assert_eq!(b.pending_after(None, 5_000).unwrap().len(), 1_200);

    // A cut or changed file never restores.
    let cut = &file[..file.len() - 10];
    let err = restore_into(cut, &dir.path().join("c")).unwrap_err();
    assert!(err.to_string().contains("cut off"), "{err}");
    let mut changed = file.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 1;
    let err = read(&changed[..], |_| Ok(())).unwrap_err();
    assert!(
        err.to_string().contains("changed or damaged") || err.to_string().contains("unexpected"),
        "{err}"
    );
    let err = restore_into(&file[..], &restored).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[tokio::test]
async fn a_restore_appends_the_later_audit_entries_and_never_reruns_an_action() {
    use crate::audit::{AuditEvent, EventKind};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("a")).unwrap();
    let request = |run: &str| serde_json::json!({"id": "r1", "run": {"run": run}});
    store.put_request("r1", &request("ready")).unwrap();
    store.put_request("r2", &request("waiting")).unwrap();
    let ev = |k| AuditEvent::new(k).with_request("r1");
    store
        .audit_append(&ev(EventKind::Approved), 1, None)
        .await
        .unwrap();
    let mut file = Vec::new();
    store.backup(&mut file).await.unwrap();
    // After the backup the action ran; only the audit export kept that.
    store
        .audit_append(&ev(EventKind::Executing), 2, None)
        .await
        .unwrap();
    store
        .audit_append(&ev(EventKind::Succeeded), 3, None)
        .await
        .unwrap();
    let exported = store.audit_range(1, 10).unwrap();

    let restored = dir.path().join("b");
    restore_into(&file[..], &restored).unwrap();
    let b = reopen(&restored).await;
    let now = chrono::Utc::now();
    assert_eq!(
        b.after_restore(exported.clone(), now).await.unwrap(),
        (2, 1)
    );
    let r1: serde_json::Value = b.request("r1").unwrap().unwrap();
    assert_eq!(r1["run"]["run"], "failed", "{r1}");
    assert!(r1["run"]["reason"].as_str().unwrap().contains("#2"), "{r1}");
    let r2: serde_json::Value = b.request("r2").unwrap().unwrap();
    assert_eq!(r2["run"]["run"], "waiting", "untouched");
    assert_eq!(
        b.audit_verify(&[exported[2].head()], None)
            .unwrap()
            .unwrap()
            .entries,
        3
    );
    // Again: nothing more to add. An export of another chain is refused.
    assert_eq!(b.after_restore(exported, now).await.unwrap(), (0, 0));
    let other = Store::open(&dir.path().join("c")).unwrap();
    for n in 0..5 {
        other
            .audit_append(&AuditEvent::heartbeat(), n, None)
            .await
            .unwrap();
    }
    let err = b
        .after_restore(other.audit_range(1, 10).unwrap(), now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another store"), "{err}");
}
