//! The audit tree against a real sled database: concurrent appends, reopening, heads, and
//! failing closed.

use super::*;
use crate::audit::EventKind;

const KEY: &str = "an audit key of at least thirty-two bytes";

fn event(n: u64, job: &str) -> AuditEvent {
    AuditEvent::new(EventKind::Requested)
        .with_actor(n, format!("user{n}"))
        .with_job("prod", job)
        .with_action("savepoint")
}

async fn reopen(path: &std::path::Path) -> Store {
    for _ in 0..250 {
        match Store::open(path) {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    Store::open(path).expect("the store reopens once the old one is gone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_form_one_chain_that_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let store = Store::open(&path).unwrap();
        let tasks: Vec<_> = (1..=40u64)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .audit_append(&event(n, "j1"), n as i64, Some(KEY.as_bytes()))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap().seq);
        }
        seqs.sort();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "no sequence shared");
        let summary = store
            .audit_verify(&[], Some(KEY.as_bytes()))
            .unwrap()
            .unwrap();
        assert_eq!(summary.entries, 40);
    }
    let store = reopen(&path).await;
    let last = store.audit_last().unwrap().unwrap();
    assert_eq!(last.seq, 40);
    let next = store
        .audit_append(&event(41, "j2"), 41, Some(KEY.as_bytes()))
        .await
        .unwrap();
    assert_eq!((next.seq, next.prev_hash), (41, last.hash));
    let heads = [last.head(), next.head()];
    let summary = store
        .audit_verify(&heads, Some(KEY.as_bytes()))
        .unwrap()
        .unwrap();
    assert_eq!((summary.entries, summary.heads_checked), (41, 2));
    assert_eq!(
        store.audit_verify(&heads, None).unwrap(),
        Err(Break::KeyNeeded { seq: 1 })
    );

    let range = store.audit_range(39, 10).unwrap();
    assert_eq!(
        range.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [39, 40, 41]
    );
    let recent = store.audit_recent(2, None).unwrap();
    assert_eq!(recent.iter().map(|e| e.seq).collect::<Vec<_>>(), [40, 41]);
    let only_j2 = store.audit_recent(10, Some("j2")).unwrap();
    assert_eq!(only_j2.iter().map(|e| e.seq).collect::<Vec<_>>(), [41]);
    assert_eq!(store.audit_get(7).unwrap().unwrap().seq, 7);
    assert_eq!(store.audit_raw().unwrap().count(), 41);
}

#[tokio::test]
async fn the_log_publishes_every_head_and_verify_catches_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let head_file = dir.path().join("heads/audit-head.jsonl");
    let log = AuditLog::open(store.clone(), None, head_file.clone()).unwrap();
    for n in 1..=4 {
        log.record(event(n, "j1"), n as i64).await.unwrap();
    }
    let heads = audit::read_heads(&head_file).unwrap().unwrap();
    assert_eq!(
        heads.iter().map(|h| h.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(heads[3], store.audit_last().unwrap().unwrap().head());
    assert!(log.verify().unwrap().is_ok());

    let tree = store.audit_tree().unwrap();
    tree.remove(4u64.to_be_bytes()).unwrap();
    assert_eq!(
        log.verify().unwrap(),
        Err(Break::CutTail {
            published: 4,
            last: 3
        })
    );
    // Moving an entry under another key is caught too.
    let third = tree.get(3u64.to_be_bytes()).unwrap().unwrap();
    tree.insert(4u64.to_be_bytes(), third).unwrap();
    assert_eq!(
        log.verify().unwrap(),
        Err(Break::Misplaced {
            stored_as: 4,
            seq: 3
        })
    );
}

#[tokio::test]
async fn an_unreadable_last_entry_refuses_further_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    store.audit_append(&event(1, "j"), 1, None).await.unwrap();
    store
        .audit_tree()
        .unwrap()
        .insert(1u64.to_be_bytes(), b"{not json".to_vec())
        .unwrap();
    let err = store
        .audit_append(&event(2, "j"), 2, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("audit verify"), "{err}");
    assert!(store.audit_get(2).unwrap().is_none(), "nothing appended");
}

/// /dev/full accepts the open and fails every write with ENOSPC: a real full disk.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_head_that_cannot_be_published_fails_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let export = dir.path().join("audit.jsonl");
    let log = AuditLog::open_with_export(store.clone(), None, "/dev/full".into(), &export).unwrap();
    let err = log.record(event(1, "j"), 1).await.unwrap_err();
    assert!(matches!(err, AuditError::Publish { .. }), "{err}");
    // The entry itself is durable: the log shows the step that was then refused.
    assert_eq!(store.audit_last().unwrap().unwrap().seq, 1);
}

#[tokio::test]
async fn a_store_behind_its_export_refuses_to_record() {
    let dir = tempfile::tempdir().unwrap();
    let head_file = dir.path().join("audit-head.jsonl");
    let store = Store::open(&dir.path().join("store")).unwrap();
    let log = AuditLog::open(store.clone(), None, head_file.clone()).unwrap();
    for n in 1..=3 {
        log.record(event(n, "j1"), n as i64).await.unwrap();
    }
    // Another (empty) store under the same export and heads: a wiped or replaced store.
    let other = Store::open(&dir.path().join("other")).unwrap();
    let log = AuditLog::open(other.clone(), None, head_file).unwrap();
    assert!(matches!(
        log.verify().unwrap(),
        Err(Break::CutTail {
            published: 3,
            last: 0
        })
    ));
    let err = log.record(event(4, "j1"), 4).await.unwrap_err();
    assert!(
        err.to_string().contains("replaced without its audit log"),
        "{err}"
    );
}
