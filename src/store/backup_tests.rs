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
