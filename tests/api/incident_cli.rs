//! `flink-chatops incident list|show|export`, the real binary on a real sled store written
//! through the library (an incident, its acknowledge request and audit entries, the job's
//! exception history from a real Flink 2.3 answer): the export is the same document the
//! Timeline button posts, and the JSON the same story; with the bot running, it answers them.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use flink_chatops::action::{plan, ActionKind, JobSnapshot};
use flink_chatops::audit::{AuditEvent, EventKind};
use flink_chatops::config::ClusterConfig;
use flink_chatops::flink::types::Exceptions;
use flink_chatops::guard::Request;
use flink_chatops::incident::{Incident, IncidentJob};
use flink_chatops::policy::{Approval, Person, Principal, State};
use flink_chatops::render::Renderer;
use flink_chatops::store::{AuditLog, Delivered, LineChange, Store};
use flink_chatops::story::{self, markdown};

const EXCEPTIONS: &str =
    include_str!("../../src/diagnose/testdata/flink-2.3.0-exceptions-flaky.json");
const ID: &str = "0123456789abcdef01234567";

fn run(config: &PathBuf, args: &[&str]) -> (bool, String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
            .arg("incident")
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        // The store of the runtime just dropped may still hold sled's lock for a moment.
        if stderr.contains("in use by another process") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        return (out.status.success(), stdout, stderr);
    }
}

#[test]
fn export_gives_the_document_the_button_posts() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let config = dir.path().join("bot.toml");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}\"\n", store_dir.display()),
    )
    .unwrap();
    let exceptions: Exceptions = serde_json::from_str(EXCEPTIONS).unwrap();
    let newest = exceptions
        .history
        .entries
        .iter()
        .map(|e| e.timestamp)
        .max()
        .unwrap();
    let fired = Utc.timestamp_millis_opt(newest + 30_000).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (doc, json) = runtime.block_on(async {
        let store = Store::open(&store_dir).unwrap();
        let incident = Incident {
            id: ID.into(),
            group_key: "{}:{alertname=\"FlinkJobUnstable\"}".into(),
            channel_id: 7,
            message_id: Some(99),
            firing_since: fired,
            notifications: 2,
            last_notified_at: fired + chrono::Duration::minutes(10),
            resolved_at: Some(fired + chrono::Duration::minutes(10)),
            job: Some(IncidentJob {
                cluster: "prod".into(),
                id: "j1".into(),
                name: Some("orders".into()),
            }),
            labels: [("alertname".to_string(), "FlinkJobUnstable".to_string())].into(),
            digested: false,
            first_paged_at: Some(fired + chrono::Duration::seconds(9)),
            board: None,
            seen: Vec::new(),
        };
        store
            .record_delivery(&Delivered {
                group_key: &incident.group_key,
                incident_id: ID,
                incident: &incident,
                new_id: true,
                batch: &[],
                refill: None,
                digest: LineChange::Keep,
                shown: None,
            })
            .unwrap();
        let archive = store.exception_archive().await.unwrap();
        archive.record("prod", "j1", &exceptions).await.unwrap();
        let cluster: ClusterConfig =
            toml::from_str("name = \"prod\"\nrest_url = \"http://flink:8081\"").unwrap();
        let mut p = plan(
            &ActionKind::Acknowledge,
            &cluster,
            &JobSnapshot::default(),
            "r1",
        )
        .unwrap();
        p.job_id = "j1".into();
        let at = fired + chrono::Duration::minutes(2);
        let approval = Approval {
            action: "acknowledge".into(),
            requester: Person {
                user: flink_chatops::chat::UserId(1),
                name: "Ana".into(),
            },
            requested_at: at,
            expires_at: at + chrono::Duration::minutes(15),
            needed: 0,
            approvers: vec![Principal::Role(flink_chatops::chat::RoleId(7))],
            votes: vec![],
            dry_run: false,
            state: State::Approved { at },
        };
        let mut req = Request::new(
            "r1".into(),
            p,
            approval,
            flink_chatops::chat::ChannelId(7),
            at,
        );
        req.incident_id = Some(ID.into());
        // Done, as its audit entries say (a Ready request would run when a bot starts).
        req.start(at);
        req.finish(
            Ok(flink_chatops::guard::Done::Acknowledged { by: "Ana".into() }),
            at,
        );
        store.put_request("r1", &req).unwrap();
        let log = AuditLog::open(store.clone(), None, dir.path().join("heads.jsonl")).unwrap();
        for (kind, ms) in [(EventKind::Requested, 0), (EventKind::Succeeded, 400)] {
            let mut e = AuditEvent::new(kind)
                .with_job("prod", "j1")
                .with_action("acknowledge")
                .with_request("r1");
            if kind == EventKind::Requested {
                e = e.with_actor(1, "Ana");
            } else {
                e = e.with_detail(serde_json::json!({"result": "acknowledged by Ana"}));
            }
            log.record(e, at.timestamp_millis() + ms).await.unwrap();
        }
        let s = story::gather::story(&store, ID).await.unwrap().unwrap();
        let doc = markdown::document(&Renderer::new(None).unwrap(), &s);
        let json = serde_json::to_value(&s).unwrap();
        store.close().await.unwrap();
        (doc, json)
    });
    drop(runtime);

    let (ok, out, err) = run(&config, &["list"]);
    assert!(ok, "{err}");
    assert!(out.starts_with(ID), "{out}");
    assert!(out.contains("FlinkJobUnstable  prod/orders"), "{out}");

    let (ok, out, err) = run(&config, &["export", ID, "--format", "md"]);
    assert!(ok, "{err}");
    assert_eq!(
        out, doc,
        "the command line and the button give one document"
    );
    for want in [
        "| Ana | requested acknowledge of prod/j1 |",
        "acknowledge done: acknowledged by Ana",
        "job failed: java.lang.IllegalStateException",
        "- First failure: java.lang.IllegalStateException",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }

    let (ok, out, err) = run(&config, &["export", ID, "--format", "json"]);
    assert!(ok, "{err}");
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed, json);
    let kinds: Vec<&str> = parsed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "failure",
            "failure_repeated",
            "alert_fired",
            "first_page",
            "requested",
            "succeeded",
            "resolved"
        ]
    );

    let (ok, out, _) = run(&config, &["show", ID]);
    assert!(ok);
    assert!(
        out.starts_with(&format!("## Timeline of incident {ID}")),
        "{out}"
    );

    let (ok, _, err) = run(&config, &["show", "nope"]);
    assert!(!ok);
    assert!(err.contains("the store has no incident nope"), "{err}");

    // While the bot runs (it holds the store), the same answers come from it.
    let live = dir.path().join("live.toml");
    std::fs::write(
        &live,
        format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\n\n[storage]\npath = \"{}\"\n\n[discord]\napi_base = \"http://127.0.0.1:9\"\ndefault_channel = 7\n",
            crate::helpers::free_port(),
            store_dir.display()
        ),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _bot = runtime.block_on(crate::helpers::BotProcess::start(&live));
    let (ok, out, err) = run(&live, &["export", ID, "--format", "md"]);
    assert!(ok, "{err}");
    assert_eq!(out, doc, "the running bot gives the same document");
    let (ok, out, err) = run(&live, &["list"]);
    assert!(ok, "{err}");
    assert!(out.starts_with(ID), "{out}");
    let (ok, _, err) = run(&live, &["show", "nope"]);
    assert!(!ok);
    assert!(err.contains("the store has no incident nope"), "{err}");
}
