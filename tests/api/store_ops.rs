//! Operating the store of a running bot process: the audit log read and verified without
//! stopping it, under load, and still caught when tampered with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::interactions::key;
use crate::payloads::APP_ID;
use crate::recorder::Recorder;

/// A bot process with interactions on (so its audit log is open) and a heartbeat entry every
/// second, so the log grows while the test reads it.
pub struct LiveBot {
    pub recorder: Recorder,
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
}

impl LiveBot {
    pub async fn new() -> LiveBot {
        let recorder = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bot.toml");
        let public_key = hex::encode(key().verifying_key().to_bytes());
        // Storm digests off: each page is its own message, so "delivered once" is countable.
        let opts = AppOptions {
            digest_after: Some(0),
            ..Default::default()
        };
        let toml = config_toml(&opts, &recorder.base_url, dir.path(), free_port())
            .replace(
                "[discord]\n",
                &format!("[discord]\napplication_id = {APP_ID}\npublic_key = \"{public_key}\"\ngateway = false\n"),
            )
            + "[audit]\nheartbeat_secs = 1\n";
        std::fs::write(&file, toml).unwrap();
        LiveBot {
            recorder,
            dir,
            file,
        }
    }

    pub fn head_file(&self) -> PathBuf {
        self.dir.path().join("store.audit-head.jsonl")
    }

    pub fn export_file(&self) -> PathBuf {
        self.dir.path().join("store.audit.jsonl")
    }
}

/// Runs the binary with `args` and `--config file` last; (success, stdout, stderr).
pub fn cli(file: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args(args)
        .arg("--config")
        .arg(file)
        .envs(secrets_env())
        .env_remove("FLINK_CHATOPS_AUDIT_KEY")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Webhooks answered 200: (number, when the answer came).
pub type Acked = Arc<Mutex<Vec<(usize, Instant)>>>;

/// Posts distinct firing webhooks (alert `Load-<n>-x`) until `stop`, noting those answered 200.
pub fn load(addr: String, stop: Arc<AtomicUsize>, acked: Acked) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut n = 0;
        while stop.load(Ordering::Relaxed) == 0 {
            n += 1;
            let body = webhook(json!({"alertname": format!("Load-{n}-x"), "severity": "warning"}));
            let r = client
                .post(format!("http://{addr}/alertmanager"))
                .bearer_auth(WEBHOOK_TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            if r.is_ok_and(|r| r.status() == 200) {
                acked.lock().unwrap().push((n, Instant::now()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

fn heads(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_and_export_read_a_running_bot_under_load_and_still_catch_tampering() {
    let live = LiveBot::new().await;
    let bot = BotProcess::start(&live.file).await;
    let (stop, acked) = (Arc::new(AtomicUsize::new(0)), Acked::default());
    let load = load(bot.addr.clone(), stop.clone(), acked.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while heads(&live.head_file()) < 3 {
        assert!(Instant::now() < deadline, "no heartbeats published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Entries keep coming while each command reads.
    for _ in 0..3 {
        let file = live.file.clone();
        let (ok, out, err) = tokio::task::spawn_blocking(move || cli(&file, &["audit", "verify"]))
            .await
            .unwrap();
        assert!(ok, "{out}{err}");
        assert!(
            out.contains("audit log intact") && out.contains("read from the export"),
            "{out}"
        );
        assert!(err.contains("the bot is running"), "{err}");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let file = live.file.clone();
    let (ok, exported, err) = tokio::task::spawn_blocking(move || cli(&file, &["audit", "export"]))
        .await
        .unwrap();
    assert!(ok, "{err}");
    let entries: Vec<flink_chatops::audit::Entry> = exported
        .lines()
        .map(|l| flink_chatops::audit::Entry::from_json(l.as_bytes()).unwrap())
        .collect();
    assert!(entries.len() >= 3, "{exported}");
    let file = live.file.clone();
    let (ok, listed, err) =
        tokio::task::spawn_blocking(move || cli(&file, &["audit", "list", "--limit", "2"]))
            .await
            .unwrap();
    assert!(
        ok && listed.lines().count() == 2 && listed.contains("heartbeat"),
        "{listed}{err}"
    );
    stop.store(1, Ordering::Relaxed);
    load.await.unwrap();
    assert!(acked.lock().unwrap().len() > 20, "the load was answered");
    assert!(
        !live.recorder.requests().is_empty(),
        "and delivered meanwhile"
    );

    // A copy of the two files, away from the store, verifies on its own...
    let copy = tempfile::tempdir().unwrap();
    let config = copy.path().join("bot.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n",
            copy.path().join("store").display()
        ),
    )
    .unwrap();
    let (head, export) = (
        copy.path().join("store.audit-head.jsonl"),
        copy.path().join("store.audit.jsonl"),
    );
    // Heads first, as the bot writes them last.
    std::fs::copy(live.head_file(), &head).unwrap();
    std::fs::copy(live.export_file(), &export).unwrap();
    let (ok, out, err) = cli(&config, &["audit", "verify"]);
    assert!(ok, "{out}{err}");
    let original = std::fs::read_to_string(&export).unwrap();
    // ...a changed byte is caught...
    let lines: Vec<&str> = original.lines().collect();
    let changed = lines[1].replacen("heartbeat", "heartbeaT", 1);
    assert_ne!(changed, lines[1]);
    let mut edited = lines.clone();
    edited[1] = &changed;
    std::fs::write(&export, edited.join("\n") + "\n").unwrap();
    let (ok, out, err) = cli(&config, &["audit", "verify", "--source", "export"]);
    assert!(!ok && err.contains("broken at entry 2"), "{out}{err}");
    // ...and so is a cut tail, through the published heads.
    let cut = lines[..lines.len() - 1].join("\n") + "\n";
    std::fs::write(&export, cut).unwrap();
    let (ok, out, err) = cli(&config, &["audit", "verify"]);
    assert!(!ok && err.contains("cut off"), "{out}{err}");
    drop(bot);
}

/// Messages in the test channel whose text names `marker`.
fn messages_naming(r: &Recorder, marker: &str) -> usize {
    r.messages_in(CHANNEL)
        .iter()
        .filter(|m| m.to_string().contains(marker))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_delivered_once_after_the_channel_is_fixed() {
    let live = LiveBot::new().await;
    let bot = BotProcess::start(&live.file).await;
    live.recorder.deny(CHANNEL);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{}/alertmanager", bot.addr))
        .bearer_auth(WEBHOOK_TOKEN)
        .header("content-type", "application/json")
        .body(webhook(
            json!({"alertname": "DeadLetter-7-x", "severity": "warning"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let file = live.file.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let f = file.clone();
        let (ok, out, err) = tokio::task::spawn_blocking(move || cli(&f, &["dead", "list"]))
            .await
            .unwrap();
        assert!(ok, "{err}");
        if out.contains("DeadLetter-7-x") {
            break out;
        }
        assert!(Instant::now() < deadline, "never buried: {out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.contains("403") || listed.to_lowercase().contains("permission"),
        "{listed}"
    );
    assert_eq!(messages_naming(&live.recorder, "DeadLetter-7-x"), 0);

    live.recorder.allow(CHANNEL);
    let f = file.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || cli(&f, &["dead", "replay", "all"]))
        .await
        .unwrap();
    assert!(ok && out.contains("replayed 1"), "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while messages_naming(&live.recorder, "DeadLetter-7-x") == 0 {
        assert!(
            Instant::now() < deadline,
            "the replayed page was not delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Replaying again finds nothing, and the page stays delivered once.
    let f = file.clone();
    let (ok, out, _) = tokio::task::spawn_blocking(move || cli(&f, &["dead", "replay", "all"]))
        .await
        .unwrap();
    assert!(ok && out.contains("replayed 0"), "{out}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(messages_naming(&live.recorder, "DeadLetter-7-x"), 1);
    let (ok, out, _) = tokio::task::spawn_blocking(move || cli(&file, &["dead", "list"]))
        .await
        .unwrap();
    assert!(ok && out.contains("no dead letters"), "{out}");
    drop(bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_into_a_fresh_folder_and_delivers_every_page_once() {
    let live = LiveBot::new().await;
    let bot = BotProcess::start(&live.file).await;
    let (stop, acked) = (Arc::new(AtomicUsize::new(0)), Acked::default());
    let load = load(bot.addr.clone(), stop.clone(), acked.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let backup = live.dir.path().join("backups/store.fcb");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let (file, out) = (live.file.clone(), backup.clone());
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        cli(&file, &["backup", "--output", out.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(
        ok && err.contains("from the running bot") && err.contains("checksum verified"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(1, Ordering::Relaxed);
    load.await.unwrap();
    let before: Vec<usize> = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(n, _)| *n)
        .collect();
    assert!(
        before.len() > 20,
        "pages acknowledged before the backup: {}",
        before.len()
    );
    // The machine is lost: no chance to flush or deliver what is pending.
    bot.kill();

    // A fresh folder: the backup, plus the head and export files shipped off the machine.
    let fresh = tempfile::tempdir().unwrap();
    let toml = std::fs::read_to_string(&live.file).unwrap();
    let old_store = live.dir.path().join("store").display().to_string();
    let new_store = fresh.path().join("store").display().to_string();
    let old_listen = toml
        .lines()
        .find(|l| l.starts_with("listen = "))
        .unwrap()
        .to_string();
    let config = fresh.path().join("bot.toml");
    std::fs::write(
        &config,
        toml.replace(&old_store, &new_store).replace(
            &old_listen,
            &format!("listen = \"127.0.0.1:{}\"", free_port()),
        ),
    )
    .unwrap();
    std::fs::copy(
        live.head_file(),
        fresh.path().join("store.audit-head.jsonl"),
    )
    .unwrap();
    std::fs::copy(live.export_file(), fresh.path().join("store.audit.jsonl")).unwrap();
    let (ok, out, err) = cli(&config, &["restore", "--input", backup.to_str().unwrap()]);
    assert!(ok && out.contains("restored"), "{out}{err}");
    // Restoring over a store is refused without --force.
    let (ok, _, err) = cli(&config, &["restore", "--input", backup.to_str().unwrap()]);
    assert!(!ok && err.contains("--force"), "{err}");
    // With --force the first restore is kept aside, and the second one is what starts.
    let (ok, out, err) = cli(
        &config,
        &["restore", "--force", "--input", backup.to_str().unwrap()],
    );
    assert!(
        ok && err.contains("the old store was moved to"),
        "{out}{err}"
    );

    let restored = BotProcess::start(&config).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing: Vec<&usize> = before
            .iter()
            .filter(|n| messages_naming(&live.recorder, &format!("Load-{n}-x")) == 0)
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never delivered after the restore: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in &before {
        assert_eq!(
            messages_naming(&live.recorder, &format!("Load-{n}-x")),
            1,
            "Load-{n}-x is one message"
        );
    }
    // The audit chain verifies, bot running (export) and stopped (store).
    let (ok, out, err) = cli(&config, &["audit", "verify"]);
    assert!(ok && out.contains("read from the export"), "{out}{err}");
    drop(restored);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out, err) = cli(&config, &["audit", "verify", "--source", "store"]);
        if ok {
            assert!(out.contains("audit log intact"), "{out}");
            break;
        }
        assert!(
            err.contains("in use") && Instant::now() < deadline,
            "{out}{err}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_rewrites_a_churned_store_and_keeps_what_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let store = flink_chatops::store::Store::open(&path).unwrap();
        // Churn: bodies acknowledged and delivered, as the inbox sees them; one stays pending.
        let big = "x".repeat(8_000);
        for n in 0..3_000 {
            let body = format!("{{\"n\":{n},\"pad\":\"{big}\"}}");
            store.accept(body.as_bytes(), "g", n).await.unwrap();
            let pending = store.pending_after(None, 10).unwrap();
            let seqs: Vec<u64> = pending.iter().map(|p| p.seq).collect();
            let batches = store.group_work(&seqs).unwrap();
            store.complete(&batches[0].entries).unwrap();
        }
        store
            .accept(b"{\"still\":\"pending\"}", "g2", 1)
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    let config = dir.path().join("bot.toml");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}\"\n", path.display()),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let (ok, out, err) = cli(
            &config,
            &["compact", "--min-ratio", "2", "--min-size-mb", "0"],
        );
        if ok {
            break out;
        }
        assert!(
            err.contains("in use") && Instant::now() < deadline,
            "{out}{err}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(out.contains("compacted"), "{out}");
    // A small store is left alone (the default floor is 64 MB).
    let (ok, out, _) = cli(&config, &["compact"]);
    assert!(ok && out.contains("no need to compact"), "{out}");
    let store = flink_chatops::store::Store::open(&path).unwrap();
    let pending = store.pending_after(None, 10).unwrap();
    assert_eq!(pending.len(), 1, "what was pending still is");
    assert!(!dir.path().join("store.before-compact").exists());
}
