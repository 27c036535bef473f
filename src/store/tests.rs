//! The store against a real sled database in a temporary folder.

use super::*;
use std::sync::atomic::Ordering;

fn body(n: usize) -> Vec<u8> {
    format!(r#"{{"n":{n}}}"#).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits_and_nothing_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .accept(&body(n), &format!("g{}", n % 7), 1)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Accepted::Stored(_)));
    }
    assert!(
        store.commits() < 200,
        "group commit shares syncs: {} commits for 200 writes",
        store.commits()
    );
    let pending = store.pending_after(None, usize::MAX).unwrap();
    assert_eq!(pending.len(), 200);
    assert!(
        pending.windows(2).all(|w| w[0].seq < w[1].seq),
        "in sequence order"
    );
}

#[tokio::test]
async fn identical_pending_bodies_are_stored_once_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let first = store.accept(b"same", "g", 1).await.unwrap();
        let again = store.accept(b"same", "g", 2).await.unwrap();
        let Accepted::Stored(seq) = first else {
            panic!("{first:?}")
        };
        assert_eq!(again, Accepted::Duplicate(seq));
    }
    let store = reopen(dir.path()).await;
    let pending = store.pending_after(None, usize::MAX).unwrap();
    assert_eq!(
        pending,
        vec![Pending {
            seq: pending[0].seq,
            group: GroupId::of("g"),
            rank: 0,
        }]
    );
    let entries = store.entries(&[pending[0].seq]).unwrap();
    assert_eq!(entries[0].body, b"same");
    assert_eq!(entries[0].received_at_ms, 1);

    // Once delivered, the same body is a genuine repeat and is stored again.
    store.complete(&entries).unwrap();
    store.durable().await.unwrap();
    assert!(matches!(
        store.accept(b"same", "g", 3).await.unwrap(),
        Accepted::Stored(_)
    ));
    assert!(
        store
            .pending_after(Some(pending[0].seq), usize::MAX)
            .unwrap()
            .len()
            == 1
    );
}

/// The dropped store's commit task releases sled's file lock when it notices; wait for that.
pub(super) async fn reopen(path: &std::path::Path) -> Store {
    for _ in 0..100 {
        match Store::open(path) {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    Store::open(path).expect("the store reopens once the old one is gone")
}

#[tokio::test]
async fn a_call_past_its_deadline_fails_the_store_and_later_calls_never_run() {
    let guard = thread::StoreThread::start(std::time::Duration::from_secs(2)).unwrap();
    // Stands in for a sled call stuck after ENOSPC (the store thread is only held, not lost).
    let stuck = guard
        .run("stuck call", || {
            std::thread::sleep(std::time::Duration::from_secs(3));
            Ok(())
        })
        .await;
    assert!(
        matches!(&stuck, Err(StoreError::Failed(r)) if r.contains("stuck call")),
        "{stuck:?}"
    );
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ran.clone();
    let started = std::time::Instant::now();
    let later = guard.run_blocking("later call", move || {
        flag.store(true, Ordering::SeqCst);
        Ok(())
    });
    assert!(matches!(later, Err(StoreError::Failed(_))), "{later:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(50),
        "fails at once"
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(
        !ran.load(Ordering::SeqCst),
        "never reaches the storage engine"
    );
    assert!(guard
        .health()
        .failure()
        .unwrap()
        .contains("storage.timeout_ms"));
}

#[tokio::test]
async fn an_io_error_fails_the_store_but_a_corrupt_record_does_not() {
    let guard = thread::StoreThread::start(std::time::Duration::from_secs(5)).unwrap();
    let corrupt: Result<(), _> = guard
        .run("read", || Err(StoreError::Corrupt("bad record".into())))
        .await;
    assert!(corrupt.is_err());
    assert_eq!(
        guard.health().failure(),
        None,
        "one bad record is not a failed disk"
    );
    let io: Result<(), _> = guard
        .run("write", || {
            Err(StoreError::Sled(sled::Error::Io(std::io::Error::other(
                "No space left on device",
            ))))
        })
        .await;
    assert!(io.is_err());
    assert!(guard.health().failure().unwrap().contains("No space left"));
}

/// The rank kept with an entry survives a reopen, and an entry written before ranks existed
/// (the same bytes with a zero top byte) reads as rank 0.
#[tokio::test]
async fn an_entry_keeps_its_rank_and_old_entries_read_as_rank_zero() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = reopen(dir.path()).await;
        store.accept_ranked(b"critical", "gc", 4, 1).await.unwrap();
        store.accept(b"old", "go", 2).await.unwrap();
        store.close().await.unwrap();
    }
    let store = reopen(dir.path()).await;
    let ranks: Vec<(GroupId, u8)> = store
        .pending_after(None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|p| (p.group, p.rank))
        .collect();
    assert_eq!(ranks, [(GroupId::of("gc"), 4), (GroupId::of("go"), 0)]);
    let old = super::encode_entry(1, &[0; 16], "key", 0, b"body");
    let e = super::decode_entry(&7u64.to_be_bytes(), &old).unwrap();
    assert_eq!(
        (e.group_key.as_str(), e.rank, &e.body[..]),
        ("key", 0, &b"body"[..])
    );
}

#[tokio::test]
async fn a_read_for_two_groups_gives_each_its_own_entries_in_order_and_its_own_incident() {
    // Two group keys in one queue line (what a GroupId collision makes) come back apart.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let seq = |a: Accepted| match a {
        Accepted::Stored(s) => s,
        other => panic!("{other:?}"),
    };
    let a1 = seq(store.accept(b"a1", "ga", 1).await.unwrap());
    let b1 = seq(store.accept(b"b1", "gb", 2).await.unwrap());
    let a2 = seq(store.accept(b"a2", "ga", 3).await.unwrap());
    store.incidents.insert("gb", &br#"{"n":2}"#[..]).unwrap();

    let batches = store.group_work(&[a1, b1, a2, 999_999]).unwrap();
    let shape: Vec<(&str, Vec<u64>, bool)> = batches
        .iter()
        .map(|b| {
            (
                b.group_key.as_str(),
                b.entries.iter().map(|e| e.seq).collect(),
                b.incident.is_some(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [("ga", vec![a1, a2], false), ("gb", vec![b1], true)],
        "a sequence no longer pending is skipped"
    );
    let inc: Option<serde_json::Value> =
        decode_incident("gb", batches[1].incident.as_deref()).unwrap();
    assert_eq!(inc.unwrap()["n"], 2);
}
