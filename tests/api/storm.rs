//! Storms through a real Alertmanager onto a Discord that rate-limits like Discord.
//!
//! The recorder emulates Discord's per-channel bucket (5 writes per 5 s) and global limit
//! (50/s) with 429s and `X-RateLimit-*` headers: a real Discord shows them only when abused,
//! so this is the one thing emulated here, and it says so.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use crate::recorder::{RateLimits, Recorded, Recorder};

/// `n` warnings, each its own Alertmanager group (distinct `job_name`).
fn warnings(prefix: &str, n: usize, resolve: bool) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut a = json!({
                "labels": {"alertname": "FlinkJobLag", "severity": "warning", "job_name": format!("{prefix}-{i:04}")},
                "annotations": {"summary": "consumer lag is growing"},
            });
            if resolve {
                a["endsAt"] = json!(chrono::Utc::now().to_rfc3339());
            }
            a
        })
        .collect()
}

async fn rate_limited_app(digest_after: usize) -> TestApp {
    let recorder = Recorder::start().await;
    recorder.rate_limit(Some(RateLimits::DISCORD));
    spawn_app(AppOptions {
        recorder: Some(recorder),
        digest_after: Some(digest_after),
        ..Default::default()
    })
    .await
}

async fn wait_pending_at_least(app: &TestApp, n: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let p = app.pending().await;
        if p >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {p} of {n} notifications reached the bot within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn is_page_for(r: &Recorded, needle: &str) -> bool {
    r.status == 200 && r.text().contains(needle)
}

#[tokio::test]
async fn a_critical_page_behind_a_thousand_pending_warnings_reaches_discord_within_ten_seconds() {
    // Digests off: only the ordering gets the critical page through.
    let app = rate_limited_app(0).await;
    let am = Alertmanager::start(&app.addr, FAST).await;
    am.send_many(warnings("lagging", 1_000, false)).await;
    // Discord takes one message a second here, so nearly all of them are still waiting.
    wait_pending_at_least(&app, 950, Duration::from_secs(60)).await;

    let sent = Instant::now();
    am.send(
        json!({"alertname": "FlinkJobFailed", "severity": "critical", "job_name": "payments"}),
        json!({"summary": "the payments job failed"}),
        false,
    )
    .await;
    let seen = app
        .recorder
        .wait_for("the critical page", Duration::from_secs(10), |r| {
            r.iter()
                .any(|x| x.method == "POST" && is_page_for(x, "payments"))
        })
        .await;
    let took = sent.elapsed();
    let posted = seen
        .iter()
        .filter(|r| r.method == "POST" && r.status == 200)
        .count();
    assert!(
        app.pending().await > 900,
        "the warnings were still waiting ({posted} posted), so the critical page overtook them"
    );
    // Alertmanager's own group_wait (1 s) is part of the 10 s.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let (channel_429, global_429) = app.recorder.rate_limited();
    eprintln!("critical page at Discord {took:?} after it went to Alertmanager, behind {} pending warnings ({posted} posted); {channel_429} + {global_429} 429s", app.pending().await);
    assert!(
        channel_429 + global_429 <= 10,
        "the bot kept to the bucket instead of spending Discord's invalid-request budget: {channel_429} + {global_429} 429s"
    );
}

#[tokio::test]
async fn a_storm_becomes_one_digest_message_that_accounts_for_every_incident_and_follows_resolves()
{
    const STORM: usize = 300;
    const OWN: usize = 10;
    let app = rate_limited_app(OWN).await;
    let am = Alertmanager::start(&app.addr, FAST).await;
    am.send_many(warnings("storm", STORM, false)).await;

    // The first OWN incidents get their own messages; the rest are lines of one digest.
    let digest = |r: &[Recorded]| -> Option<Recorded> {
        r.iter()
            .rev()
            .find(|x| {
                x.status == 200
                    && x.embed()["title"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("Storm digest"))
            })
            .cloned()
    };
    let want = format!("Storm digest: {} incidents", STORM - OWN);
    let seen = app
        .recorder
        .wait_for(
            "a digest of the whole storm",
            Duration::from_secs(90),
            |r| digest(r).is_some_and(|d| d.embed()["title"].as_str().unwrap().starts_with(&want)),
        )
        .await;
    let d = digest(&seen).unwrap();
    let text = d.embed()["description"].as_str().unwrap().to_string();
    assert!(
        text.starts_with(&format!("**{} firing · 0 resolved.**", STORM - OWN)),
        "{text}"
    );
    assert!(
        text.contains("`FlinkJobLag` 290"),
        "counts by alert: {text}"
    );
    assert!(
        text.contains("FlinkJobLag · storm-"),
        "lines name the job: {text}"
    );
    let footer = d.embed()["footer"]["text"].as_str().unwrap();
    let id = footer
        .split("storm digest · incident ")
        .nth(1)
        .unwrap_or_else(|| panic!("the footer names the digest: {footer}"));
    // Also the post's nonce: Discord takes at most 25 characters.
    assert!(id.len() <= 25, "{id}");
    let first = app
        .recorder
        .requests()
        .into_iter()
        .find(|x| x.method == "POST" && x.status == 200 && x.text().contains("Storm digest"))
        .expect("the digest was posted");
    assert_eq!(
        first.body["nonce"].as_str(),
        Some(id),
        "the nonce is the id"
    );
    assert!(
        d.body["components"].as_array().is_none_or(|c| c.is_empty()),
        "no buttons on a digest"
    );

    // Every incident is accounted for: its own message, or a line of the digest.
    let own: Vec<String> = app
        .recorder
        .messages_in(CHANNEL)
        .iter()
        .filter(|m| {
            !m["embeds"][0]["title"]
                .as_str()
                .unwrap_or("")
                .starts_with("Storm digest")
        })
        .map(|m| m["embeds"][0]["title"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(own.len(), OWN, "own messages: {own:?}");
    let digests = app
        .recorder
        .messages_in(CHANNEL)
        .iter()
        .filter(|m| {
            m["embeds"][0]["title"]
                .as_str()
                .unwrap_or("")
                .starts_with("Storm digest")
        })
        .count();
    assert_eq!(
        digests, 1,
        "one digest message per channel, edited in place"
    );

    // A critical page during the storm still gets its own message, quickly.
    let sent = Instant::now();
    am.send(
        json!({"alertname": "FlinkJobFailed", "severity": "critical", "job_name": "payments"}),
        json!({"summary": "the payments job failed"}),
        false,
    )
    .await;
    app.recorder
        .wait_for("the critical page", Duration::from_secs(10), |r| {
            r.iter()
                .any(|x| x.method == "POST" && is_page_for(x, "payments"))
        })
        .await;
    assert!(sent.elapsed() < Duration::from_secs(10));

    // Resolves update the digest's lines (and the own messages), nothing is left pending.
    am.send_many(warnings("storm", STORM, true)).await;
    let resolved = format!("**0 firing · {} resolved.**", STORM - OWN);
    app.recorder
        .wait_for(
            "the digest to show every line resolved",
            Duration::from_secs(90),
            |r| {
                digest(r).is_some_and(|d| {
                    d.embed()["description"]
                        .as_str()
                        .unwrap()
                        .starts_with(&resolved)
                })
            },
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.pending().await > 0 {
        assert!(
            Instant::now() < deadline,
            "notifications still pending after the storm"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (channel_429, global_429) = app.recorder.rate_limited();
    assert!(
        channel_429 + global_429 <= 10,
        "{channel_429} + {global_429} 429s"
    );
}

/// Digest lines are as durable as posts: lines stored while Discord failed are in the digest
/// after a SIGKILL and restart, which edits the same digest message rather than posting another.
#[tokio::test]
async fn a_digest_is_brought_up_to_date_after_a_sigkill() {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    let opts = AppOptions {
        digest_after: Some(2),
        ..Default::default()
    };
    let config = config_toml(&opts, &recorder.base_url, dir.path(), free_port());
    std::fs::write(&file, config).unwrap();
    let warn =
        |i: usize| webhook(json!({"alertname": format!("StormLine{i}"), "severity": "warning"}));
    let post = |addr: String, body: Vec<u8>| async move {
        let r = reqwest::Client::new()
            .post(format!("http://{addr}/alertmanager"))
            .bearer_auth(WEBHOOK_TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    let digest_title = |want: &'static str| {
        move |r: &[Recorded]| {
            r.iter().any(|x| {
                x.status == 200
                    && x.embed()["title"]
                        .as_str()
                        .is_some_and(|t| t.starts_with(want))
            })
        }
    };

    let bot = BotProcess::start(&file).await;
    for i in 0..5 {
        post(bot.addr.clone(), warn(i)).await;
    }
    recorder
        .wait_for(
            "a digest of three",
            Duration::from_secs(30),
            digest_title("Storm digest: 3 incidents"),
        )
        .await;
    // Discord fails from now on: two more lines are stored, the digest cannot be edited.
    for _ in 0..1_000 {
        recorder.inject(crate::recorder::Fault::ServerError);
    }
    for i in 5..7 {
        post(bot.addr.clone(), warn(i)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready: Value = reqwest::get(format!("http://{}/readyz", bot.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["pending"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "lines not recorded: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bot.kill();

    recorder.clear_faults();
    let bot = BotProcess::start(&file).await;
    recorder
        .wait_for(
            "the digest with all five lines",
            Duration::from_secs(30),
            digest_title("Storm digest: 5 incidents"),
        )
        .await;
    let digests: Vec<Value> = recorder
        .messages_in(CHANNEL)
        .into_iter()
        .filter(|m| {
            m["embeds"][0]["title"]
                .as_str()
                .unwrap_or("")
                .starts_with("Storm digest")
        })
        .collect();
    assert_eq!(
        digests.len(),
        1,
        "the same digest message was edited: {digests:?}"
    );
    assert_eq!(
        recorder.posts().len(),
        3,
        "two incidents of their own and one digest, each posted once"
    );
    drop(bot);
}
