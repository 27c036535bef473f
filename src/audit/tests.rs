//! Table tests of sealing and verifying: each tampering the issue names, with and without heads
//! and keys, and the exact break it must produce.

use serde_json::json;

use super::*;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn event(n: u64) -> AuditEvent {
    AuditEvent::new(if n % 2 == 0 {
        EventKind::Approved
    } else {
        EventKind::Requested
    })
    .with_actor(1000 + n, format!("user{n}"))
    .with_job("prod", "a1b2c3")
    .with_action("cancel")
    .with_request(format!("r{n}"))
    .with_detail(json!({"n": n, "ratio": 0.1 + n as f64 / 3.0}))
}

fn chain(n: u64, key: Option<&[u8]>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for i in 1..=n {
        let e = seal(out.last(), 1_700_000_000_000 + i as i64, &event(i), key);
        out.push(e);
    }
    out
}

/// Stored form with one byte changed, read back.
fn flip(e: &Entry, from: &str, to: &str) -> Result<Entry, String> {
    let text = e.to_json();
    assert!(text.contains(from), "{text}");
    Entry::from_json(text.replacen(from, to, 1).as_bytes())
}

fn heads(entries: &[Entry], seqs: &[u64]) -> Vec<Head> {
    seqs.iter()
        .map(|s| entries[*s as usize - 1].head())
        .collect()
}

#[test]
fn an_intact_chain_verifies_and_survives_its_stored_form() {
    for key in [None, Some(KEY)] {
        let entries = chain(5, key);
        assert_eq!(entries[0].seq, 1);
        assert_eq!(entries[0].prev_hash, ChainHash::ZERO);
        assert!(entries.windows(2).all(|w| w[1].prev_hash == w[0].hash));
        // Through the stored form (floats and all) nothing changes.
        let reread: Vec<Entry> = entries
            .iter()
            .map(|e| Entry::from_json(e.to_json().as_bytes()).unwrap())
            .collect();
        assert_eq!(reread[2].event, entries[2].event);
        let summary = verify(&reread, &heads(&entries, &[2, 5]), key).unwrap();
        assert_eq!(summary.entries, 5);
        assert_eq!(summary.last, Some(entries[4].head()));
        assert_eq!(summary.heads_checked, 2);
        assert_eq!(summary.keyed, key.is_some());
    }
    assert_eq!(verify(&[], &[], None).unwrap().entries, 0);
}

#[test]
fn events_serialize_with_stable_snake_case_names() {
    let e = AuditEvent::new(EventKind::Acknowledged).with_action("acknowledge");
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"kind":"acknowledged","action":"acknowledge"}"#
    );
    let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names.join(" "),
        "requested approved denied expired executing succeeded failed acknowledged silenced unsilenced refused heartbeat",
        "released names never change"
    );
    for kind in EventKind::ALL {
        assert_eq!(
            serde_json::to_value(kind).unwrap(),
            json!(kind.as_str()),
            "as_str and serde agree"
        );
    }
    assert_eq!(
        event(2).summary(),
        "approved cancel prod/a1b2c3 by user2 (1002) [request r2]"
    );
}

#[test]
fn each_tampering_gives_its_break() {
    let e = chain(5, None);
    let three_forged = seal(Some(&e[1]), 1, &event(99), None);
    type Case = (&'static str, Vec<Entry>, Vec<u64>, Break);
    let cases: Vec<Case> = vec![
        (
            "a changed byte in the event",
            vec![
                e[0].clone(),
                e[1].clone(),
                flip(&e[2], "user3", "user4").unwrap(),
                e[3].clone(),
            ],
            vec![],
            Break::Altered { seq: 3 },
        ),
        (
            "a changed time",
            vec![
                e[0].clone(),
                flip(&e[1], "\"at_ms\":1700000000002", "\"at_ms\":1700000000003").unwrap(),
            ],
            vec![],
            Break::Altered { seq: 2 },
        ),
        (
            "an entry removed",
            vec![e[0].clone(), e[1].clone(), e[3].clone(), e[4].clone()],
            vec![],
            Break::Missing { from: 3, to: 3 },
        ),
        (
            "the first entries removed",
            vec![e[2].clone(), e[3].clone()],
            vec![],
            Break::Missing { from: 1, to: 2 },
        ),
        (
            "two entries swapped",
            vec![e[0].clone(), e[2].clone(), e[1].clone()],
            vec![],
            Break::Missing { from: 2, to: 2 },
        ),
        (
            "an entry repeated",
            vec![e[0].clone(), e[1].clone(), e[1].clone()],
            vec![],
            Break::OutOfOrder {
                seq: 2,
                expected: 3,
            },
        ),
        (
            "a well-sealed entry put in place of another",
            vec![
                e[0].clone(),
                e[1].clone(),
                three_forged.clone(),
                e[3].clone(),
            ],
            vec![],
            Break::BrokenLink { seq: 4 },
        ),
        (
            "an entry inserted and the rest renumbered by hand",
            vec![
                e[0].clone(),
                e[1].clone(),
                three_forged,
                flip(&e[2], "\"seq\":3", "\"seq\":4").unwrap(),
            ],
            vec![],
            Break::Altered { seq: 4 },
        ),
        (
            "the tail cut, with a head published for it",
            e[..3].to_vec(),
            vec![2, 5],
            Break::CutTail {
                published: 5,
                last: 3,
            },
        ),
        (
            "everything cut",
            vec![],
            vec![1],
            Break::CutTail {
                published: 1,
                last: 0,
            },
        ),
    ];
    for (name, entries, published, want) in cases {
        let got = verify(&entries, &heads(&e, &published), None);
        assert_eq!(got, Err(want.clone()), "{name}");
        assert!(want.to_string().contains(&want.seq().to_string()), "{name}");
    }
}

#[test]
fn a_cut_tail_goes_unnoticed_without_heads_and_is_caught_with_them() {
    let e = chain(5, None);
    // This is why heads are published: the chain itself is intact after a cut.
    assert!(verify(&e[..3], &[], None).is_ok());
    assert!(verify(&e[..3], &heads(&e, &[3]), None).is_ok());
    assert_eq!(
        verify(&e[..3], &heads(&e, &[4]), None),
        Err(Break::CutTail {
            published: 4,
            last: 3
        })
    );
}

#[test]
fn a_rewritten_chain_is_caught_by_its_heads_or_by_the_key() {
    let original = chain(4, None);
    // Whoever can write the store rebuilds a consistent unkeyed chain with entry 2 changed.
    let mut rewritten = vec![original[0].clone()];
    for i in 2..=4u64 {
        let ev = if i == 2 {
            event(2).with_actor(1, "mallory")
        } else {
            event(i)
        };
        let next = seal(rewritten.last(), 1_700_000_000_000 + i as i64, &ev, None);
        rewritten.push(next);
    }
    assert!(verify(&rewritten, &[], None).is_ok(), "a plain chain alone");
    assert_eq!(
        verify(&rewritten, &heads(&original, &[3]), None),
        Err(Break::HeadMismatch { seq: 3 })
    );
    // With a key configured, an unkeyed chain does not pass at all.
    assert_eq!(
        verify(&rewritten, &[], Some(KEY)),
        Err(Break::Unkeyed { seq: 1 })
    );
}

#[test]
fn hmac_sealed_chains_need_the_right_key() {
    let e = chain(3, Some(KEY));
    assert!(e.iter().all(|x| x.sealing == Sealing::HmacSha256));
    assert_ne!(
        e[0].hash,
        chain(1, None)[0].hash,
        "the key changes the hash"
    );
    assert!(verify(&e, &[], Some(KEY)).is_ok());
    assert_eq!(verify(&e, &[], None), Err(Break::KeyNeeded { seq: 1 }));
    assert_eq!(
        verify(&e, &[], Some(b"another key, just as long as it..")),
        Err(Break::Altered { seq: 1 })
    );
    // Flipping the sealing to plain SHA-256 does not get past a verifier that has the key...
    let downgraded = flip(&e[0], "hmac-sha256", "sha256").unwrap();
    assert_eq!(
        verify(std::slice::from_ref(&downgraded), &[], Some(KEY)),
        Err(Break::Unkeyed { seq: 1 })
    );
    // ...nor one without it: the sealing is part of the sealed bytes.
    assert_eq!(
        verify(&[downgraded], &[], None),
        Err(Break::Altered { seq: 1 })
    );
}

#[test]
fn unreadable_records_are_errors_not_panics() {
    let e = chain(1, None);
    let text = e[0].to_json();
    for bad in [
        text.replacen('{', "[", 1),
        text.replacen("\"kind\":\"requested\"", "\"kind\":\"requestes\"", 1),
        text.replacen(&e[0].hash.to_string(), "zz", 1),
        text[..text.len() - 1].to_string(),
    ] {
        assert!(Entry::from_json(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn the_head_file_skips_an_unfinished_last_line_and_refuses_edited_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/heads.jsonl");
    assert!(read_heads(&path).unwrap().is_none(), "missing is not empty");
    let e = chain(2, None);
    let publisher = Publisher::open(&path).unwrap();
    publisher.publish(&e[0].head()).unwrap();
    publisher.publish(&e[1].head()).unwrap();
    assert_eq!(
        read_heads(&path).unwrap().unwrap(),
        vec![e[0].head(), e[1].head()]
    );
    // A crash in the middle of a write leaves half a line: that append was reported as failed.
    let mut text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}{{\"seq\":3,\"ha")).unwrap();
    assert_eq!(read_heads(&path).unwrap().unwrap().len(), 2);
    text.insert_str(0, "not a head\n");
    std::fs::write(&path, text).unwrap();
    let err = read_heads(&path).unwrap_err().to_string();
    assert!(err.contains("line 1: not a published head"), "{err}");
}

#[test]
fn an_outcome_is_the_result_or_reason_on_one_short_line() {
    let with = |d: serde_json::Value| AuditEvent::new(EventKind::Succeeded).with_detail(d);
    let table: Vec<(AuditEvent, usize, Option<&str>)> = vec![
        (
            with(json!({"result": "savepoint at s3://b/sp-1"})),
            80,
            Some("savepoint at s3://b/sp-1"),
        ),
        (
            with(json!({"reason": "job not\n running"})),
            80,
            Some("job not running"),
        ),
        (
            with(json!({"result": {"files": 2}})),
            80,
            Some("{\"files\":2}"),
        ),
        (with(json!({"result": "abcdefghij"})), 5, Some("abcd…")),
        (with(json!({"calls": ["x"]})), 80, None),
        (with(json!({"result": null})), 80, None),
        (AuditEvent::heartbeat(), 80, None),
    ];
    for (event, max, want) in table {
        assert_eq!(event.outcome(max).as_deref(), want, "{:?}", event.detail);
    }
}

#[test]
fn resuming_checks_only_what_follows_and_the_heads_published_since() {
    let entries = chain(6, None);
    let all = heads(&entries, &[2, 4, 6]);
    let mut v = Verifier::resume(entries[3].head(), &all, None);
    for e in &entries[4..] {
        v.push(e).unwrap();
    }
    let s = v.finish().unwrap();
    assert_eq!(
        (s.entries, s.heads_checked),
        (2, 1),
        "only #5 and #6, head 6"
    );
    // What follows must link to the resumed entry...
    let mut v = Verifier::resume(entries[2].head(), &all, None);
    assert_eq!(v.push(&entries[4]), Err(Break::Missing { from: 4, to: 4 }));
    let other = chain(5, Some(KEY));
    let mut v = Verifier::resume(entries[3].head(), &[], Some(KEY));
    assert_eq!(v.push(&other[4]), Err(Break::BrokenLink { seq: 5 }));
    // ...and a head published past the end is still a cut tail.
    let v = Verifier::resume(entries[5].head(), &heads(&chain(7, None), &[7]), None);
    assert!(matches!(
        v.finish(),
        Err(Break::CutTail { published: 7, .. })
    ));
}

#[test]
fn the_export_sits_beside_the_head_file() {
    use std::path::Path;
    for (head, want) in [
        (
            "/d/flink-chatops-data.audit-head.jsonl",
            "/d/flink-chatops-data.audit.jsonl",
        ),
        ("/d/audit-head.jsonl", "/d/audit.jsonl"),
        ("/d/heads.jsonl", "/d/heads.jsonl.entries.jsonl"),
    ] {
        assert_eq!(
            export::path_beside(Path::new(head)),
            Path::new(want),
            "{head}"
        );
    }
}

#[test]
fn the_export_resumes_from_its_tail_cuts_a_torn_line_and_refuses_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.audit.jsonl");
    let entries = chain(5, None);
    let read = |from: u64, n: usize| -> Result<Vec<Entry>, std::io::Error> {
        Ok(entries
            .iter()
            .filter(|e| e.seq >= from)
            .take(n)
            .cloned()
            .collect())
    };
    let x = Exporter::open(&path).unwrap();
    assert_eq!(x.last(), None);
    x.catch_up(3, read).unwrap();
    x.catch_up(2, read).unwrap();
    assert_eq!(x.last(), Some(entries[2].head()));
    drop(x);
    // A write that never finished: no head names it, so it is cut off on open.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, &entries[3].to_json().as_bytes()[..20]).unwrap();
    let x = Exporter::open(&path).unwrap();
    assert_eq!(x.last(), Some(entries[2].head()));
    x.catch_up(5, read).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let copied: Vec<Entry> = text
        .lines()
        .map(|l| Entry::from_json(l.as_bytes()).unwrap())
        .collect();
    let json = |v: &[Entry]| v.iter().map(Entry::to_json).collect::<Vec<_>>();
    assert_eq!(
        json(&copied),
        json(&entries),
        "each entry once, in order, byte for byte"
    );
    assert_eq!(
        verify(&copied, &heads(&entries, &[5]), None)
            .unwrap()
            .entries,
        5
    );
    // A store whose chain is not the copied one (another store, a rewritten log) is refused.
    let other = chain(6, Some(KEY));
    let err = x
        .catch_up(6, |_, _| Ok::<_, std::io::Error>(vec![other[5].clone()]))
        .unwrap_err();
    assert!(err.to_string().contains("does not follow entry 5"), "{err}");
    // A tail that is not an entry is someone's edit: opening says so.
    std::fs::write(&path, "not an entry\n").unwrap();
    let err = Exporter::open(&path).err().unwrap();
    assert!(err.to_string().contains("was edited"), "{err}");
}
