//! One incident, one message, through a real Alertmanager: repeats and resolves edit it.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::message_limits::assert_within_discord_limits;

#[tokio::test]
async fn repeat_and_resolve_edit_the_same_message() {
    let app = spawn_app(AppOptions::default()).await;
    let am = Alertmanager::start(
        &app.addr,
        AmTiming {
            group_wait: "1s",
            group_interval: "1s",
            repeat_interval: "2s",
        },
    )
    .await;
    let labels = json!({"alertname": "FlinkJobUnstable", "severity": "critical", "job_name": "lifecycle-job"});
    am.send(labels.clone(), json!({"summary": "restarting"}), false)
        .await;
    let seen = app
        .recorder
        .wait_for("the first message", Duration::from_secs(20), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    let first = seen.iter().find(|x| x.status == 200).unwrap().clone();
    assert_eq!(first.method, "POST");
    let id = first.message_id.unwrap();
    assert!(first.embed()["title"]
        .as_str()
        .unwrap()
        .starts_with("[FIRING]"));

    app.recorder
        .wait_for("a repeat edit", Duration::from_secs(30), |r| {
            r.iter().any(|x| x.method == "PATCH" && x.status == 200)
        })
        .await;
    let edit = app.recorder.edits().remove(0);
    assert_eq!(edit.message_id, Some(id));
    assert!(edit.text().contains("2 notification(s)"), "{}", edit.text());

    am.send(labels, json!({"summary": "restarting"}), true)
        .await;
    app.recorder
        .wait_for("the resolve edit", Duration::from_secs(30), |r| {
            r.iter().any(|x| {
                x.method == "PATCH"
                    && x.embed()["title"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("[RESOLVED]")
            })
        })
        .await;
    let resolved = app
        .recorder
        .edits()
        .into_iter()
        .find(|x| {
            x.embed()["title"]
                .as_str()
                .unwrap()
                .starts_with("[RESOLVED]")
        })
        .unwrap();
    assert_eq!(resolved.message_id, Some(id));
    assert_eq!(resolved.embed()["color"], 0x2ECC71);
    assert!(
        resolved.text().contains("Resolved after"),
        "{}",
        resolved.text()
    );
    assert_eq!(app.recorder.posts().len(), 1, "no second message");
}

#[tokio::test]
async fn a_200_alert_group_posts_one_message_within_discord_limits() {
    let app = spawn_app(AppOptions::default()).await;
    let am = Alertmanager::start(&app.addr, FAST).await;
    let alerts = (0..200)
        .map(|i| {
            json!({"labels": {"alertname": "FlinkTaskManagerLost", "severity": "critical", "job_name": "storm", "host": format!("tm-{i:03}.flink.internal")},
                   "annotations": {"summary": "TaskManager lost", "description": "x".repeat(300)}})
        })
        .collect();
    am.send_many(alerts).await;
    app.recorder
        .wait_for("the group message", Duration::from_secs(20), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let posts = app.recorder.posts();
    assert_eq!(posts.len(), 1);
    assert_within_discord_limits(&posts[0].body);
    let text = posts[0].text();
    assert!(text.contains("200 firing"), "{text}");
    assert!(text.contains("more"), "the list is summarised: {text}");
    assert!(app.recorder.requests().iter().all(|r| r.status != 400));
}

#[tokio::test]
async fn alerts_joining_and_leaving_the_group_update_its_list() {
    let app = spawn_app(AppOptions::default()).await;
    let am = Alertmanager::start(&app.addr, FAST).await;
    let tm = |host: &str| json!({"alertname": "FlinkTaskManagerLost", "severity": "critical", "job_name": "orders", "host": host});
    am.send(tm("tm-1"), json!({"summary": "TaskManager lost"}), false)
        .await;
    app.recorder
        .wait_for("the first message", Duration::from_secs(20), |r| {
            r.iter().any(|x| x.status == 200)
        })
        .await;

    am.send(tm("tm-2"), json!({"summary": "TaskManager lost"}), false)
        .await;
    let joined = |r: &[crate::recorder::Recorded]| {
        r.iter()
            .any(|x| x.method == "PATCH" && x.text().contains("2 firing, 0 resolved"))
    };
    app.recorder
        .wait_for(
            "an edit listing both alerts",
            Duration::from_secs(20),
            joined,
        )
        .await;

    am.send(tm("tm-1"), json!({"summary": "TaskManager lost"}), true)
        .await;
    let left = |r: &[crate::recorder::Recorded]| {
        r.iter()
            .any(|x| x.method == "PATCH" && x.text().contains("1 firing, 1 resolved"))
    };
    let seen = app
        .recorder
        .wait_for(
            "an edit with one alert resolved",
            Duration::from_secs(20),
            left,
        )
        .await;
    let last = seen
        .iter()
        .rev()
        .find(|x| left(std::slice::from_ref(*x)))
        .unwrap();
    assert!(
        last.embed()["title"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING]"),
        "still firing while tm-2 is"
    );
    assert!(last.text().contains("tm-2"), "{}", last.text());
    assert_eq!(
        app.recorder.posts().len(),
        1,
        "one message for the whole incident"
    );
}
