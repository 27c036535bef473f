//! The fleet, on clusters of the tests' own: a TaskManager SIGKILLed under two jobs, and a
//! JobManager SIGKILLed under two jobs (each one incident listing the jobs, through a real
//! Alertmanager, and no page per job); a JobManager started with the configuration the Flink
//! Kubernetes Operator gives a deployment (its jobs are answered with the operator's way); and
//! the adaptive scheduler rescaling a job through `PUT /jobs/:id/resource-requirements` (its
//! restart is paged as a rescale, not a crash loop).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::actions::own_job::OwnJob;
use crate::helpers::*;
use crate::interactions::{ask, flink as flink_get, options, text};
use crate::payloads::{self, as_user, ROLE_ONCALL, USER_ID};
use crate::private_cluster::PrivateCluster;

/// What the operator's `FlinkConfigBuilder` writes into an application deployment's
/// configuration (namespace `flink`, `FlinkDeployment` `orders`), beside the cluster's own keys.
const OPERATOR_CONF: &str = "$internal.flink.version: v2_0
kubernetes.cluster-id: orders
kubernetes.namespace: flink
execution.target: kubernetes-application
web.cancel.enable: false
";

/// The adaptive scheduler, keeping its rescale history (off by default).
const ADAPTIVE_CONF: &str = "jobmanager.scheduler: adaptive
web.adaptive-scheduler.rescale-history.size: 10
";

/// The bot on `flink` with the on-call role allowed to request and approve everything.
async fn bot(flink: &PrivateCluster) -> TestApp {
    let mut opts = options(vec![(flink.name(), flink.url.clone())]);
    let oncall = format!("[\"role:{ROLE_ONCALL}\"]");
    for key in ["REQUESTERS", "APPROVERS"] {
        opts.extra
            .push((format!("FLINK_CHATOPS__POLICY__{key}"), oncall.clone()));
    }
    // Private clusters share two cores with every other test.
    opts.call_timeout_ms = 10_000;
    // The clusters' jobs, asked every second (crate::roster; a minute by default).
    opts.extra.push((
        "FLINK_CHATOPS__FLINK__ROSTER_EVERY_MS".into(),
        "1000".into(),
    ));
    spawn_app(opts).await
}

/// Sends `alertname` about `job` and returns the page once delivered and recorded.
async fn page(
    app: &TestApp,
    cluster: &str,
    job: &str,
    alertname: &str,
) -> crate::recorder::Recorded {
    let body = webhook(
        json!({"alertname": alertname, "flink_cluster": cluster, "job_id": job, "severity": "critical"}),
    );
    assert_eq!(
        app.post_webhook(body, Some(WEBHOOK_TOKEN)).await.status(),
        200
    );
    let is_page = |x: &crate::recorder::Recorded| {
        x.method == "POST"
            && x.status == 200
            && x.path.ends_with("/messages")
            && x.text().contains(alertname)
    };
    let seen = app
        .recorder
        .wait_for("the page", Duration::from_secs(60), |r| {
            r.iter().any(is_page)
        })
        .await;
    let page = seen.into_iter().find(is_page).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.pending().await > 0 {
        assert!(Instant::now() < deadline, "page not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page
}

fn buttons(page: &crate::recorder::Recorded) -> Vec<(String, String)> {
    page.body["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().unwrap())
        .map(|b| {
            (
                b["label"].as_str().unwrap_or_default().to_string(),
                b["custom_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn press(app: &TestApp, custom_id: &str, message_id: u64) -> String {
    let (answer, _, _) = ask(
        app,
        as_user(
            payloads::button(custom_id, &message_id.to_string()),
            USER_ID,
            &[ROLE_ONCALL],
        ),
    )
    .await;
    text(&answer)
}

#[tokio::test]
async fn an_operator_managed_job_is_stopped_and_cancelled_through_the_operator() {
    let flink = PrivateCluster::start_with("2.3", OPERATOR_CONF).await;
    let job = OwnJob::start(&flink.as_cluster(), "orders").await;
    let app = bot(&flink).await;

    let page = page(&app, &flink.name(), &job.id, "FlinkJobUnstable").await;
    let shown = page.text();
    assert!(
        shown.contains("Flink Kubernetes Operator, FlinkDeployment `flink/orders`"),
        "the page says who runs the job:\n{shown}"
    );
    let offered = buttons(&page);
    let cancel = offered
        .iter()
        .find(|(label, _)| label == "Cancel job (operator command)")
        .unwrap_or_else(|| panic!("a Cancel button that says what it does: {offered:?}"));
    let command = r#"kubectl -n flink patch flinkdeployment orders --type merge -p '{"spec":{"job":{"state":"suspended","upgradeMode":"stateless"}}}'"#;

    let answer = press(&app, &cancel.1, page.message_id.unwrap()).await;
    assert!(
        answer.contains(command),
        "the button answers with the command:\n{answer}"
    );
    let (answer, _, _) = ask(&app, payloads::command("cancel", &[("job", json!(job.id))])).await;
    let answer = text(&answer);
    assert!(answer.contains(command), "so does /flink cancel:\n{answer}");
    let (answer, _, _) = ask(&app, payloads::command("stop", &[("job", json!(job.id))])).await;
    let answer = text(&answer);
    assert!(
        answer.contains(r#""state":"suspended","upgradeMode":"savepoint""#),
        "a stop suspends with a savepoint:\n{answer}"
    );
    // Nothing was called: no request exists, and the job runs on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(flink_state(&flink, &job.id).await, "RUNNING");
    assert!(
        !app.recorder
            .calls("/messages")
            .iter()
            .any(|x| x.is_request_post()),
        "no request was posted"
    );

    // A savepoint through REST still runs, and says the operator will not list it.
    let (answer, _, _) = ask(
        &app,
        payloads::command("savepoint", &[("job", json!(job.id))]),
    )
    .await;
    assert!(text(&answer).contains("needs 1 approval"), "{answer}");
    let seen = app
        .recorder
        .wait_for("the request", Duration::from_secs(30), |r| {
            r.iter().any(|x| x.is_request_post() && x.status == 200)
        })
        .await;
    let request = seen
        .into_iter()
        .find(|x| x.is_request_post() && x.status == 200)
        .unwrap();
    let shown = request.text();
    assert!(shown.contains("will not list this savepoint"), "{shown}");
    assert!(
        shown.contains(r#"kubectl -n flink patch flinkdeployment orders --type merge -p '{"spec":{"job":{"savepointTriggerNonce":"#),
        "{shown}"
    );
    let approve = buttons(&request)
        .into_iter()
        .find(|(label, _)| label == "Approve")
        .unwrap()
        .1;
    let (answer, _, _) = ask(
        &app,
        as_user(
            payloads::button(&approve, &request.message_id.unwrap().to_string()),
            USER_ID + 1,
            &[ROLE_ONCALL],
        ),
    )
    .await;
    assert!(!text(&answer).is_empty());
    let deadline = Instant::now() + Duration::from_secs(120);
    while job.savepoints_on_disk().is_empty() {
        assert!(Instant::now() < deadline, "no savepoint written");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(job);
}

async fn flink_state(flink: &PrivateCluster, job: &str) -> String {
    flink_get(&flink.url, &format!("/jobs/{job}")).await["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn a_rescale_is_paged_as_a_rescale_not_a_crash_loop(version: &'static str) {
    let flink = PrivateCluster::start_with(version, ADAPTIVE_CONF).await;
    let job = OwnJob::start(&flink.as_cluster(), "rescaled").await;
    // A rescale comes well after the job's start (a restore at the start is the run's first).
    job.wait_until("running for 15 s", |j, _| {
        j["now"].as_i64().unwrap_or(0) - j["start-time"].as_i64().unwrap_or(i64::MAX) >= 15_000
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/jobs/{}/resource-requirements", flink.url, job.id);
    let mut wanted: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    for v in wanted.as_object_mut().unwrap().values_mut() {
        v["parallelism"]["upperBound"] = json!(2);
    }
    let put = http.put(&url).json(&wanted).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    // Flink serves checkpoint statistics from a cache (a few seconds): wait until they show the
    // restore too, as they do by the time a real alert fires (`for: 2m`).
    job.wait_until("RUNNING at parallelism 2, its restore shown", |j, cps| {
        cps["latest"]["restored"].is_object()
            && j["state"] == "RUNNING"
            && j["vertices"].as_array().is_some_and(|v| {
                v.iter()
                    .all(|v| v["parallelism"] == 2 && v["status"] == "RUNNING")
            })
    })
    .await;

    let app = bot(&flink).await;
    let page = page(&app, &flink.name(), &job.id, "FlinkJobUnstable").await;
    let shown = page.text();
    eprintln!("the page (shown with --nocapture):\n{shown}");
    assert!(shown.contains("pattern rescale"), "{shown}");
    // Flink 2.3 keeps a rescale history that says why; 1.20 has none, so the page says what it
    // saw: a restart with no failure.
    let why = match version {
        "2.3" => "because its resource requirements changed",
        _ => "restarted with no failure",
    };
    assert!(shown.contains(why), "says why:\n{shown}");
    assert!(!shown.contains("restart_loop"), "{shown}");
    drop(job);
}

#[tokio::test]
async fn flink_2_3_a_rescale_is_paged_as_a_rescale_not_a_crash_loop() {
    a_rescale_is_paged_as_a_rescale_not_a_crash_loop("2.3").await;
}

#[tokio::test]
async fn flink_1_20_a_rescale_is_paged_as_a_rescale_not_a_crash_loop() {
    a_rescale_is_paged_as_a_rescale_not_a_crash_loop("1.20").await;
}

/// Sends one alert per job (separate Alertmanager groups) and returns the channel's messages once
/// a topology incident lists every job; asserts no job got a page of its own.
async fn one_incident_for(
    app: &TestApp,
    flink: &PrivateCluster,
    jobs: &[&OwnJob],
    names: &[&str],
    alertname: &str,
    title: &str,
) -> String {
    let am = Alertmanager::start(&app.addr, FAST).await;
    for (job, name) in jobs.iter().zip(names) {
        am.send(
            json!({"alertname": alertname, "severity": "critical", "flink_cluster": flink.name(), "job_id": job.id, "job_name": name}),
            json!({"summary": "test page"}),
            false,
        )
        .await;
    }
    let lists_all = |x: &crate::recorder::Recorded| {
        x.status == 200
            && x.text().contains(title)
            && names.iter().all(|n| x.text().contains(&format!("`{n}`")))
    };
    let seen = app
        .recorder
        .wait_for(
            "one incident listing every job",
            Duration::from_secs(90),
            |r| r.iter().any(lists_all),
        )
        .await;
    one_message_no_pages(app, alertname).await;
    seen.into_iter().rev().find(lists_all).unwrap().text()
}

/// After a stray per-job page had the time to show up: one topology incident was posted (and
/// edited in place), and no job of it got a page of its own for `alertname`.
async fn one_message_no_pages(app: &TestApp, alertname: &str) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posts: Vec<String> = app
        .recorder
        .calls("/messages")
        .into_iter()
        .filter(|x| x.method == "POST" && x.status == 200)
        .map(|x| x.text())
        .collect();
    assert_eq!(
        posts
            .iter()
            .filter(|t| t.contains("topology incident"))
            .count(),
        1,
        "one incident, edited in place: {posts:#?}"
    );
    assert!(
        !posts
            .iter()
            .any(|t| t.contains(&format!("[FIRING] {alertname}"))),
        "no page of its own for a job of the incident: {posts:#?}"
    );
}

async fn a_lost_task_manager_is_one_incident(version: &'static str) {
    let flink = PrivateCluster::start(version).await;
    let a = OwnJob::start(&flink.as_cluster(), "fleet-tm-a").await;
    let b = OwnJob::start(&flink.as_cluster(), "fleet-tm-b").await;
    let tms = flink.get("/taskmanagers").await;
    let lost_id = tms["taskmanagers"][0]["id"].as_str().unwrap().to_string();
    flink.kill_task_manager();
    flink
        .wait_until("TaskManager gone", |o| o["taskmanagers"] == 0)
        .await;
    flink.start_task_manager();
    for job in [&a, &b] {
        job.wait_until("RUNNING again", |j, _| j["state"] == "RUNNING")
            .await;
    }
    let app = bot(&flink).await;
    let text = one_incident_for(
        &app,
        &flink,
        &[&a, &b],
        &["fleet-tm-a", "fleet-tm-b"],
        "FlinkJobUnstable",
        "TaskManager lost on",
    )
    .await;
    eprintln!("the incident (shown with --nocapture):\n{text}");
    assert!(
        text.contains(&format!("TaskManager `{lost_id}` on `127.0.0.1`")),
        "names the TaskManager:\n{text}"
    );
    assert!(text.contains("**2 job(s) restarted"), "{text}");
    drop((a, b));
}

#[tokio::test]
async fn flink_2_3_a_lost_task_manager_is_one_incident() {
    a_lost_task_manager_is_one_incident("2.3").await;
}

#[tokio::test]
async fn flink_1_20_a_lost_task_manager_is_one_incident() {
    a_lost_task_manager_is_one_incident("1.20").await;
}

#[tokio::test]
async fn a_stopped_job_manager_is_one_incident_for_the_cluster() {
    let flink = PrivateCluster::start("2.3").await;
    let a = OwnJob::start(&flink.as_cluster(), "fleet-jm-a").await;
    let b = OwnJob::start(&flink.as_cluster(), "fleet-jm-b").await;
    // A third job that no alert will name (the cluster's two slots are taken: it waits for one,
    // in a state that is not terminal, which is all the roster asks).
    let _c = OwnJob::submit_unslotted(
        &flink.as_cluster(),
        "harness.HealthyJob",
        "fleet-jm-c",
        &["--rate", "20"],
    )
    .await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let app = bot(&flink).await;
    // The bot has asked the cluster for its jobs (every second here) and kept all three.
    crate::metrics::wait_for_metrics(&app, "the cluster's three jobs", |t| {
        crate::metrics::try_sample(
            t,
            "flink_chatops_cluster_jobs",
            &[("flink_cluster", &flink.name())],
        ) == Some(3.0)
    })
    .await;
    let am = Alertmanager::start(&app.addr, FAST).await;
    // The bot sees the cluster answer first (a cluster that never answered is not "down").
    am.send(
        json!({"alertname": "FleetWarmUp", "severity": "warning", "flink_cluster": flink.name(), "job_name": "no-such-job"}),
        json!({"summary": "test page"}),
        false,
    )
    .await;
    app.recorder
        .wait_for("the warm-up page", Duration::from_secs(30), |r| {
            r.iter()
                .any(|x| x.status == 200 && x.text().contains("no job named"))
        })
        .await;
    flink.kill_job_manager();
    for (id, name) in [(&a_id, "fleet-jm-a"), (&b_id, "fleet-jm-b")] {
        am.send(
            json!({"alertname": "FlinkJobNotRunning", "severity": "critical", "flink_cluster": flink.name(), "job_id": id, "job_name": name}),
            json!({"summary": "test page"}),
            false,
        )
        .await;
    }
    let title = format!("Cluster {} unreachable: 2 job(s)", flink.name());
    let seen = app
        .recorder
        .wait_for(
            "one incident for the cluster",
            Duration::from_secs(60),
            |r| {
                r.iter()
                    .any(|x| x.status == 200 && x.text().contains(&title))
            },
        )
        .await;
    let text = seen
        .into_iter()
        .rev()
        .find(|x| x.status == 200 && x.text().contains(&title))
        .unwrap()
        .text();
    eprintln!("the incident (shown with --nocapture):\n{text}");
    assert!(
        text.contains("`fleet-jm-a`") && text.contains("`fleet-jm-b`"),
        "{text}"
    );
    // The job no alert named is listed too, from the cluster's last answer.
    assert!(
        text.contains(
            "the cluster ran 3 job(s); 1 of them with no alert here (yet): `fleet-jm-c` ("
        ),
        "{text}"
    );
    one_message_no_pages(&app, "FlinkJobNotRunning").await;
}
