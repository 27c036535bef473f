//! The store against a real sled database in a temporary folder.

use super::*;

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
    let pending = store.pending_after(None).unwrap();
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
    let pending = store.pending_after(None).unwrap();
    assert_eq!(
        pending,
        vec![Pending {
            seq: pending[0].seq,
            group_key: "g".into()
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
    assert!(store.pending_after(Some(pending[0].seq)).unwrap().len() == 1);
}

/// The dropped store's commit task releases sled's file lock when it notices; wait for that.
async fn reopen(path: &std::path::Path) -> Store {
    for _ in 0..100 {
        match Store::open(path) {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    Store::open(path).expect("the store reopens once the old one is gone")
}
