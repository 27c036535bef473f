//! Silences through a real Alertmanager 0.25 that pages the bot: the silence is in
//! Alertmanager's API with our matchers, author and comment; the silenced alert is suppressed and
//! never reaches the bot while an unsilenced one does; expiring it lets the alert page.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use flink_chatops::config::{AlertmanagerConfig, FlinkAuth};
use flink_chatops::silences::{SilenceClient, SilenceState};
use serde_json::{json, Value};

use crate::helpers::*;

async fn am_get(am: &Alertmanager, path: &str) -> Value {
    reqwest::get(format!("{}{path}", am.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_silence_stops_the_page_and_unsilence_lets_it_through() {
    let app = spawn_app(AppOptions::default()).await;
    let am = Alertmanager::start(&app.addr, FAST).await;
    let client = SilenceClient::new(
        &AlertmanagerConfig {
            url: Some(am.url.clone()),
            ..Default::default()
        },
        FlinkAuth::None,
        reqwest::Client::new(),
    )
    .unwrap()
    .expect("alertmanager.url is set");

    let labels: BTreeMap<String, String> = [
        ("alertname", "FlinkJobUnstable"),
        ("severity", "critical"),
        ("job_name", "silenced-orders"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let comment = "https://discord.com/channels/1/111222333/444555666";
    let new = client.silence_for(&labels, chrono::Utc::now(), 60, "alice", comment);
    let id = client.create(&new).await.unwrap();

    let listed = am_get(&am, "/api/v2/silences").await;
    let silence = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap_or_else(|| panic!("silence {id} not listed: {listed}"));
    assert_eq!(silence["createdBy"], "alice");
    assert_eq!(silence["comment"], comment);
    assert_eq!(silence["status"]["state"], "active");
    let mut matchers: Vec<(String, String, bool, bool)> = silence["matchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["value"].as_str().unwrap().to_string(),
                m["isRegex"].as_bool().unwrap(),
                m["isEqual"].as_bool().unwrap(),
            )
        })
        .collect();
    matchers.sort();
    let expected: Vec<(String, String, bool, bool)> = labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone(), false, true))
        .collect();
    assert_eq!(matchers, expected);
    let got = client.get(&id).await.unwrap();
    assert_eq!(got.status.state, SilenceState::Active);
    let minutes = (got.ends_at - got.starts_at).num_minutes();
    assert!((59..=60).contains(&minutes), "{minutes} min");

    let mut control = labels.clone();
    control.insert("job_name".into(), "unsilenced-payments".into());
    am.send(json!(labels), json!({"summary": "restarting"}), false)
        .await;
    am.send(json!(control), json!({"summary": "restarting"}), false)
        .await;
    app.recorder
        .wait_for(
            "the unsilenced alert's page",
            Duration::from_secs(30),
            |r| {
                r.iter()
                    .any(|x| x.body.to_string().contains("unsilenced-payments"))
            },
        )
        .await;
    // Alertmanager itself says the other alert is held back by our silence.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts = am_get(
            &am,
            "/api/v2/alerts?filter=job_name%3D%22silenced-orders%22",
        )
        .await;
        let state = &alerts[0]["status"];
        if state["state"] == "suppressed" {
            assert_eq!(state["silencedBy"], json!([id]));
            break;
        }
        assert!(Instant::now() < deadline, "not suppressed: {alerts}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !app.recorder
            .requests()
            .iter()
            .any(|x| x.body.to_string().contains("silenced-orders")),
        "the silenced alert reached the bot"
    );

    client.expire(&id).await.unwrap();
    assert_eq!(
        client.get(&id).await.unwrap().status.state,
        SilenceState::Expired
    );
    // A second Unsilence (double click, retry) is fine.
    client.expire(&id).await.unwrap();
    app.recorder
        .wait_for("the page once unsilenced", Duration::from_secs(30), |r| {
            r.iter()
                .any(|x| x.body.to_string().contains("silenced-orders"))
        })
        .await;
}
