//! Storage failure, slow clients and shutdown, against the bot as a real process.
//!
//! The full disk is real: a 4 MiB tmpfs (mounting one needs root; without it these tests fail
//! and say so). Half-open connections meet a real open-file limit (setrlimit in the child). A
//! Discord answer held back in flight is a TCP relay in front of the recorder that delays its
//! answers: the one stand-in here, because a real Discord cannot be made slow on demand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::process::Bot;
use crate::recorder::Recorder;

/// A tmpfs of a given size, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount(8) to make a small disk: {e}"));
        assert!(
            out.status.success(),
            "cannot mount a {size} tmpfs at {} (the full-disk tests need root): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "remount: {:?}", out);
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A webhook for alert `name` carrying `pad` bytes of annotation, so a small disk fills fast.
fn big_webhook(name: &str, pad: usize) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&webhook(json!({"alertname": name}))).unwrap();
    v["alerts"][0]["annotations"]["description"] = json!("x".repeat(pad));
    serde_json::to_vec(&v).unwrap()
}

/// Posts distinct webhooks until one gets 503; returns the alert names acknowledged before.
async fn fill_until_503(bot: &Bot) -> Vec<String> {
    let mut acked = Vec::new();
    for i in 0..400 {
        // Never a prefix of another name, so `contains` finds exactly this alert's message.
        let name = format!("Fill{i:03}Disk");
        match bot
            .post(big_webhook(&name, 60_000), Duration::from_secs(30))
            .await
        {
            200 => acked.push(name),
            503 => return acked,
            other => panic!("webhook {i} answered {other}"),
        }
    }
    panic!("400 webhooks of 60 KB did not fill a 4 MiB disk");
}

const BOUND: Duration = Duration::from_secs(20);

/// A config in `dir` (its log goes there too) with the store under `data`. Storm digests are
/// off: these tests count one message per acknowledged page, and a disk fills with dozens.
fn bot_config(dir: &Path, data: &Path, discord: &str) -> PathBuf {
    let file = dir.join("bot.toml");
    let opts = AppOptions {
        digest_after: Some(0),
        ..Default::default()
    };
    let config = config_toml(&opts, discord, data, free_port());
    std::fs::write(&file, config).unwrap();
    file
}

#[tokio::test]
async fn a_full_disk_leaves_probes_and_webhooks_answering_with_the_reason() {
    let (disk, dir) = (Tmpfs::mount("4m"), tempfile::tempdir().unwrap());
    let recorder = Recorder::start().await;
    let config = bot_config(dir.path(), disk.path(), &recorder.base_url);
    let bot = Bot::start(&config, &[], None).await;
    let acked = fill_until_503(&bot).await;
    assert!(
        !acked.is_empty(),
        "some webhooks fit before the disk filled"
    );

    for round in 0..5 {
        let (status, _) = bot.get("/healthz", BOUND).await;
        assert_eq!(
            status, 200,
            "round {round}: /healthz does not depend on the store"
        );
        let (status, body) = bot.get("/readyz", BOUND).await;
        assert_eq!(status, 503, "round {round}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("storage failed"), "names the reason: {body}");
        let status = bot.post(big_webhook("AfterFull", 10), BOUND).await;
        assert_eq!(status, 503, "round {round}: Alertmanager must retry");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        bot.log().contains("STORE FAILED"),
        "a loud log line:\n{}",
        bot.log()
    );
}

#[tokio::test]
async fn after_a_full_disk_the_bot_restarts_once_there_is_room_and_delivers_everything_acknowledged(
) {
    let (disk, dir) = (Tmpfs::mount("4m"), tempfile::tempdir().unwrap());
    let recorder = Recorder::start().await;
    let config = bot_config(dir.path(), disk.path(), &recorder.base_url);
    // Discord unreachable at first, so everything acknowledged is still in the inbox at restart.
    let unreachable = [("FLINK_CHATOPS__DISCORD__API_BASE", "http://127.0.0.1:9")];
    let mut bot = Bot::start(&config, &unreachable, None).await;
    let acked = fill_until_503(&bot).await;
    assert!(
        !acked.is_empty(),
        "some webhooks fit before the disk filled"
    );
    let (status, body) = bot.get("/readyz", BOUND).await;
    assert_eq!(status, 503, "{body}");

    disk.resize("64m");
    let status = bot.exited(Duration::from_secs(60)).await;
    assert!(
        !status.success(),
        "exits non-zero for the supervisor: {status}"
    );
    assert!(
        bot.log()
            .contains("exiting so that the supervisor restarts"),
        "{}",
        bot.log()
    );

    let bot = Bot::start(&config, &[], None).await;
    assert_eq!(bot.post(big_webhook("AfterRoom", 10), BOUND).await, 200);
    let mut names = acked.clone();
    names.push("AfterRoom".into());
    recorder
        .wait_for(
            "every acknowledged alert delivered",
            Duration::from_secs(90),
            |seen| {
                names.iter().all(|n| {
                    seen.iter()
                        .any(|r| r.status == 200 && r.text().contains(n.as_str()))
                })
            },
        )
        .await;
    for n in &names {
        let mut ids: Vec<u64> = recorder
            .posts()
            .iter()
            .filter(|r| r.text().contains(n.as_str()))
            .filter_map(|r| r.message_id)
            .collect();
        ids.dedup();
        assert_eq!(ids.len(), 1, "{n}: one message, got {ids:?}");
    }
}

#[tokio::test]
async fn half_open_connections_beyond_the_limit_neither_lock_out_probes_nor_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::start().await;
    // 512 files: the bot derives a limit of 288 connections (the rest is kept for the store and
    // outgoing calls); 600 half-sent headers would otherwise take every file.
    let config = bot_config(dir.path(), dir.path(), &recorder.base_url);
    let bot = Bot::start(&config, &[], Some(512)).await;
    ensure_open_files(2_048);
    let mut stalled = Vec::new();
    for _ in 0..600 {
        let mut s = tokio::net::TcpStream::connect(&bot.addr).await.unwrap();
        s.write_all(b"POST /alertmanager HTTP/1.1\r\nHost: bot\r\nContent-Ty")
            .await
            .unwrap();
        stalled.push(s);
    }
    let started = Instant::now();
    let (status, _) = bot.get("/healthz", Duration::from_secs(60)).await;
    assert_eq!(status, 200);
    let body = webhook(json!({"alertname": "PastTheSlowClients"}));
    assert_eq!(bot.post(body, Duration::from_secs(60)).await, 200);
    eprintln!("probe and webhook answered after {:?}", started.elapsed());

    // Every stalled connection is closed by the bot (EOF or reset), none is left holding a file.
    let closed = futures::future::join_all(stalled.into_iter().map(|mut s| async move {
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue, // a 408 or similar before closing
                Err(_) => return false,
            }
        }
    }))
    .await;
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(open, 0, "{open} stalled connections were never closed");
    assert!(
        bot.log().contains("connection limit reached"),
        "a log line says the limit was hit:\n{}",
        bot.log()
    );
}

/// Raises this test process's own soft open-file limit (CI shells often start at 1,024).
fn ensure_open_files(want: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on our own process with a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        if l.rlim_cur < want {
            assert!(
                l.rlim_max >= want,
                "this test needs {want} open files, the hard limit is {}",
                l.rlim_max
            );
            l.rlim_cur = want;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
        }
    }
}

/// Relays TCP to `to`, holding every chunk of the answers back for `delay`.
async fn slow_relay(to: String, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = tokio::net::TcpStream::connect(&to).await else {
                continue;
            };
            let (mut in_read, mut in_write) = inbound.into_split();
            let (mut out_read, mut out_write) = outbound.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut in_read, &mut out_write).await });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = out_read.read(&mut buf).await {
                    tokio::time::sleep(delay).await;
                    if in_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn sigterm_with_a_delivery_in_flight_records_it_and_nothing_is_posted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::start().await;
    let relay = slow_relay(
        recorder.base_url.trim_start_matches("http://").to_string(),
        Duration::from_secs(3),
    )
    .await;
    let config = bot_config(dir.path(), dir.path(), &relay);
    let mut bot = Bot::start(&config, &[], None).await;
    let body = webhook(json!({"alertname": "InFlightAtShutdown"}));
    assert_eq!(bot.post(body, BOUND).await, 200);
    // Discord has the message; its answer is still on the way when the bot is told to stop.
    recorder
        .wait_for("the post", Duration::from_secs(20), |r| !r.is_empty())
        .await;
    bot.sigterm();
    let status = bot.exited(Duration::from_secs(40)).await;
    assert!(status.success(), "{status}:\n{}", bot.log());

    let direct = [(
        "FLINK_CHATOPS__DISCORD__API_BASE",
        recorder.base_url.as_str(),
    )];
    let bot = Bot::start(&config, &direct, None).await;
    let (_, ready) = bot.get("/readyz", BOUND).await;
    assert_eq!(ready["pending"], 0, "recorded before the exit: {ready}");
    // Whatever the restarted bot would re-post is picked up within this.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recorder.requests().len(), 1, "posted once, never again");
}
