//! `flink-chatops audit list|show|verify|export`, the real binary on a real sled store written
//! through the library. Tampering goes through sled itself (its files are paged and compressed,
//! so editing bytes on disk would test sled's checksums, not ours): a changed byte, a removed,
//! moved or forged entry and a cut tail must each make `audit verify` fail and say which.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flink_chatops::audit::{self, AuditEvent, EventKind};
use flink_chatops::config::Config;
use flink_chatops::store::{AuditLog, Store};
use secrecy::SecretString;

const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";

/// A store folder with its config file and head file, written with (or without) an HMAC key.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn config(&self) -> PathBuf {
        self.dir.path().join("bot.toml")
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn head_file(&self) -> PathBuf {
        self.dir.path().join("store.audit-head.jsonl")
    }

    fn new(key: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let f = Fixture { dir };
        std::fs::write(
            f.config(),
            format!("[storage]\npath = \"{}\"\n", f.store().display()),
        )
        .unwrap();
        let config = Config::load(Some(&f.config()), []).unwrap();
        assert_eq!(config.audit.head_file(&config.storage.path), f.head_file());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let store = Store::open(&f.store()).unwrap();
            let log = AuditLog::open(store, key.map(SecretString::from), f.head_file()).unwrap();
            let steps = [
                (EventKind::Requested, 1, "alice", "j1"),
                (EventKind::Approved, 2, "bob", "j1"),
                (EventKind::Executing, 1, "alice", "j1"),
                (EventKind::Succeeded, 1, "alice", "j1"),
                (EventKind::Acknowledged, 3, "carol", "j2"),
            ];
            for (i, (kind, id, name, job)) in steps.into_iter().enumerate() {
                let event = AuditEvent::new(kind)
                    .with_actor(id, name)
                    .with_job("prod", job)
                    .with_action(if job == "j1" {
                        "savepoint"
                    } else {
                        "acknowledge"
                    })
                    .with_request("r1")
                    .with_detail(if kind == EventKind::Succeeded {
                        serde_json::json!({"step": i, "result": "savepoint at file:/sp/savepoint-1"})
                    } else {
                        serde_json::json!({"step": i})
                    });
                log.record(event, 1_764_584_000_000 + i as i64 * 1000)
                    .await
                    .unwrap();
            }
        });
        // Dropping the runtime drops the store's commit task and with it sled's file lock.
        drop(runtime);
        f
    }

    /// A copy of the store, config and heads to tamper with.
    fn copy(&self) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let to = Fixture { dir };
        copy_dir(&self.store(), &to.store());
        std::fs::copy(self.head_file(), to.head_file()).unwrap();
        std::fs::write(
            to.config(),
            format!("[storage]\npath = \"{}\"\n", to.store().display()),
        )
        .unwrap();
        to
    }

    /// Runs `flink-chatops audit <args>`, waiting out the lock of a store still being closed.
    fn audit(&self, args: &[&str], key: Option<&str>) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_flink-chatops"));
            // `--config` after the subcommand's own arguments, as clap allows for every option.
            cmd.arg("audit")
                .args(args)
                .arg("--config")
                .arg(self.config())
                .env_remove("FLINK_CHATOPS_AUDIT_KEY")
                .env_remove("FLINK_CHATOPS_DISCORD_TOKEN");
            if let Some(k) = key {
                cmd.env("FLINK_CHATOPS_AUDIT_KEY", k);
            }
            let out = cmd.output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            if text.contains("in use by another process") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            return (out.status.success(), text);
        }
    }

    /// Opens the store with sled directly and hands the audit tree to `edit`.
    fn tamper(&self, edit: impl FnOnce(&sled::Tree)) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let db = loop {
            match sled::open(self.store()) {
                Ok(db) => break db,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot open the store with sled: {e}"),
            }
        };
        let tree = db.open_tree("audit").unwrap();
        edit(&tree);
        db.flush().unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn value(tree: &sled::Tree, seq: u64) -> String {
    String::from_utf8(tree.get(key(seq)).unwrap().unwrap().to_vec()).unwrap()
}

#[test]
fn list_show_export_and_verify_an_intact_log() {
    let f = Fixture::new(None);
    let (ok, text) = f.audit(&["verify"], None);
    assert!(ok, "{text}");
    assert!(text.contains("audit log intact: 5 entries"), "{text}");
    assert!(text.contains("5 published head(s)"), "{text}");

    let (ok, text) = f.audit(&["list"], None);
    assert!(ok, "{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.contains(
            "#2  2025-12-01 10:13:21Z  approved savepoint prod/j1 by bob (2) [request r1]"
        ),
        "{text}"
    );
    assert!(
        text.contains("succeeded savepoint prod/j1 by alice (1) [request r1]")
            && text.contains("  -> savepoint at file:/sp/savepoint-1"),
        "a result is on its entry's line: {text}"
    );
    let (_, text) = f.audit(&["list", "--job", "j2", "--limit", "10"], None);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("acknowledged acknowledge prod/j2 by carol"),
        "{text}"
    );
    let (_, text) = f.audit(&["list", "--limit", "2"], None);
    assert!(
        text.starts_with("#4 "),
        "the newest two, oldest first: {text}"
    );

    let (ok, text) = f.audit(&["show", "2"], None);
    assert!(ok, "{text}");
    let shown: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(shown["event"]["kind"], "approved");
    assert_eq!(shown["sealing"], "sha256");
    let (ok, text) = f.audit(&["show", "99"], None);
    assert!(!ok && text.contains("no audit entry 99"), "{text}");

    let (ok, text) = f.audit(&["export", "--format", "jsonl"], None);
    assert!(ok, "{text}");
    let entries: Vec<audit::Entry> = text
        .lines()
        .map(|l| audit::Entry::from_json(l.as_bytes()).unwrap())
        .collect();
    let heads = audit::read_heads(&f.head_file()).unwrap().unwrap();
    // The export verifies on its own, against the same heads.
    assert_eq!(audit::verify(&entries, &heads, None).unwrap().entries, 5);
}

#[test]
fn verify_names_each_kind_of_tampering() {
    let original = Fixture::new(None);
    type Edit = Box<dyn FnOnce(&sled::Tree)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "one byte of an entry changed",
            Box::new(|t| {
                let v = value(t, 2).replacen("\"bob\"", "\"bot\"", 1);
                t.insert(key(2), v.as_bytes()).unwrap();
            }),
            "broken at entry 2: entry 2 does not match its seal: a byte of it was changed",
        ),
        (
            "an entry removed",
            Box::new(|t| {
                t.remove(key(3)).unwrap();
            }),
            "broken at entry 3: entries 3 to 3 are not where they belong: removed",
        ),
        (
            "two entries swapped",
            Box::new(|t| {
                let (two, three) = (value(t, 2), value(t, 3));
                t.insert(key(2), three.as_bytes()).unwrap();
                t.insert(key(3), two.as_bytes()).unwrap();
            }),
            "the record stored as entry 2 says it is entry 3: entries were moved",
        ),
        (
            "an entry replaced by a well-sealed forgery",
            Box::new(|t| {
                let three = audit::Entry::from_json(value(t, 3).as_bytes()).unwrap();
                let forged = audit::seal(
                    Some(&three),
                    0,
                    &AuditEvent::new(EventKind::Failed).with_job("prod", "j1"),
                    None,
                );
                t.insert(key(4), forged.to_json().as_bytes()).unwrap();
            }),
            "entry 4 differs from the head published for it",
        ),
        (
            "the tail cut",
            Box::new(|t| {
                t.remove(key(5)).unwrap();
                t.remove(key(4)).unwrap();
            }),
            "the log ends at entry 3 but head 5 was published: entries 4 to 5 were cut off",
        ),
    ];
    for (name, edit, want) in cases {
        let f = original.copy();
        f.tamper(edit);
        let (ok, text) = f.audit(&["verify"], None);
        assert!(!ok, "{name}: verify passed: {text}");
        assert!(text.contains(want), "{name}: {text}");
    }

    // Without the head file a cut tail cannot be ruled out, and verify says so.
    let f = original.copy();
    std::fs::remove_file(f.head_file()).unwrap();
    let (ok, text) = f.audit(&["verify"], None);
    assert!(!ok, "{text}");
    assert!(text.contains("no heads were published"), "{text}");
}

#[test]
fn an_hmac_sealed_log_needs_its_key_and_rejects_unkeyed_forgeries() {
    let f = Fixture::new(Some(KEY));
    let (ok, text) = f.audit(&["verify"], Some(KEY));
    assert!(ok, "{text}");
    assert!(text.contains("HMAC-sealed"), "{text}");

    let (ok, text) = f.audit(&["verify"], None);
    assert!(!ok);
    assert!(
        text.contains("entry 1 is sealed with an HMAC key"),
        "{text}"
    );

    let (ok, text) = f.audit(
        &["verify"],
        Some("another-key-that-is-long-enough-0123456789"),
    );
    assert!(!ok);
    assert!(
        text.contains("entry 1 does not match its seal") && text.contains("HMAC key"),
        "{text}"
    );

    // Whoever can write the store but lacks the key appends a plausible entry: caught.
    let forged = f.copy();
    forged.tamper(|t| {
        let five = audit::Entry::from_json(value(t, 5).as_bytes()).unwrap();
        let next = audit::seal(Some(&five), 0, &AuditEvent::new(EventKind::Succeeded), None);
        t.insert(key(6), next.to_json().as_bytes()).unwrap();
    });
    let (ok, text) = forged.audit(&["verify"], Some(KEY));
    assert!(!ok);
    assert!(
        text.contains("entry 6 is not sealed with the HMAC key"),
        "{text}"
    );
}

#[test]
fn a_store_in_use_or_missing_is_reported_plainly() {
    let f = Fixture::new(None);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Store::open(&f.store()) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
    let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args(["audit", "--source", "store", "--config"])
        .arg(f.config())
        .arg("list")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("is in use by another process: stop the bot"),
        "{text}"
    );
    // Without `--source store`, the export the log keeps beside its heads is read instead.
    let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args(["audit", "list", "--config"])
        .arg(f.config())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    assert!(stderr.contains("reading the audit export"), "{stderr}");
    drop(store);
    drop(runtime);

    let empty = tempfile::tempdir().unwrap();
    let config = empty.path().join("bot.toml");
    let missing = empty.path().join("nothing-here");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}\"\n", missing.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args(["audit", "--config"])
        .arg(&config)
        .arg("verify")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("no store at") && text.contains("storage.path"),
        "{text}"
    );
    assert!(!missing.exists(), "reading never creates a store");
}
