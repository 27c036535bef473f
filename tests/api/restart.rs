//! Acknowledged means delivered, even across a SIGKILL.

use std::time::Duration;

use crate::helpers::*;
use crate::recorder::{Fault, Recorder};

#[tokio::test]
async fn sigkill_after_ack_before_delivery_delivers_exactly_once_after_restart() {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.toml");
    let port = free_port();
    std::fs::write(
        &file,
        config_toml(&AppOptions::default(), &recorder.base_url, dir.path(), port),
    )
    .unwrap();

    // Discord fails every attempt, so the notification is acknowledged but not delivered.
    for _ in 0..1000 {
        recorder.inject(Fault::ServerError);
    }
    let bot = BotProcess::start(&file).await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/alertmanager", bot.addr))
        .bearer_auth(WEBHOOK_TOKEN)
        .body(fixture("am-FlinkJobUnstable-firing.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    recorder
        .wait_for("a failed delivery attempt", Duration::from_secs(10), |r| {
            r.iter().any(|x| x.status == 500)
        })
        .await;
    bot.kill();
    assert!(
        recorder.posts().is_empty(),
        "nothing was delivered before the kill"
    );

    recorder.clear_faults();
    let bot = BotProcess::start(&file).await;
    recorder
        .wait_for("delivery after restart", Duration::from_secs(15), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(recorder.posts().len(), 1, "delivered exactly once");
    assert!(recorder.posts()[0].text().contains("FlinkJobUnstable"));
    let ready: serde_json::Value = reqwest::get(format!("http://{}/readyz", bot.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["pending"], 0, "{ready}");
    drop(bot);
}
