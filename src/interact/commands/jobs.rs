//! `/flink jobs [cluster]`: every running or recently failed job with state, uptime, restarts and
//! last checkpoint age; troubled jobs first.

use serenity::all::{CommandOptionType, CreateCommandOption};

use crate::interact::jobs::KnownJob;
use crate::interact::reply::Reply;
use crate::interact::resolve::RECENT_FAILURE_MS;
use crate::interact::InteractState;
use crate::message::{colors, Embed};
use crate::render::helpers::human_duration;

/// More than this many jobs are summarised ("… and N more").
const LISTED: usize = 25;

pub fn option(clusters: &[String]) -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::SubCommand,
        "jobs",
        "Every job with state, uptime, restarts, last checkpoint",
    )
    .add_sub_option(super::cluster_option(clusters))
    .add_sub_option(super::public_option())
}

/// One listed job with what the per-job calls found (None: not answered in time).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub job: KnownJob,
    pub restarts: Option<i64>,
    pub checkpoint_age_secs: Option<Option<i64>>,
}

pub async fn answer(state: &InteractState, cluster: Option<&str>, public: bool) -> Reply {
    if let Some(c) = cluster {
        if let Err(r) = crate::interact::resolve::known_cluster(c, &state.cluster_names) {
            return Reply::refusal(&r);
        }
    }
    let (jobs, unreachable) = state.jobs.fresh().await;
    let now = chrono::Utc::now().timestamp_millis();
    let mut listed = listed(&jobs, cluster, now);
    let total = listed.len();
    listed.truncate(LISTED);
    let rows = details(state, listed).await;
    let unreachable: Vec<String> = unreachable
        .into_iter()
        .filter(|c| cluster.is_none_or(|w| w == c))
        .collect();
    run(&rows, total, &unreachable, now).public(public)
}

/// Running and recently failed jobs, troubled first.
pub fn listed(jobs: &[KnownJob], cluster: Option<&str>, now_ms: i64) -> Vec<KnownJob> {
    let mut out: Vec<KnownJob> = jobs
        .iter()
        .filter(|j| cluster.is_none_or(|c| c == j.cluster))
        .filter(|j| {
            j.is_active() || (j.state == "FAILED" && now_ms - j.end_time_ms < RECENT_FAILURE_MS)
        })
        .cloned()
        .collect();
    out.sort_by_key(|j| (!j.is_troubled(), j.cluster.clone(), j.name.to_lowercase()));
    out
}

/// Restarts and checkpoint age per job, all calls at once, bounded by one Flink deadline.
async fn details(state: &InteractState, jobs: Vec<KnownJob>) -> Vec<Row> {
    let calls = jobs.into_iter().map(|job| async move {
        let Some(client) = state.clusters.get(&job.cluster) else {
            return Row {
                job,
                restarts: None,
                checkpoint_age_secs: None,
            };
        };
        let (cp, restarts) = tokio::join!(client.checkpoints(&job.id), restarts(client, &job.id));
        let now = chrono::Utc::now().timestamp_millis();
        Row {
            restarts,
            checkpoint_age_secs: cp.ok().map(|c| {
                crate::enrich::checkpoint_facts(&c, now)
                    .last_completed
                    .map(|l| l.age_secs)
            }),
            job,
        }
    });
    futures::future::join_all(calls).await
}

pub fn run(rows: &[Row], total: usize, unreachable: &[String], now_ms: i64) -> Reply {
    let mut lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let j = &r.job;
            let icon = if j.is_troubled() {
                "🔴"
            } else if j.state == "RUNNING" {
                "🟢"
            } else {
                "🟡"
            };
            let uptime = if j.is_active() && j.start_time_ms > 0 {
                format!("up {}", human_duration((now_ms - j.start_time_ms) / 1000))
            } else {
                "ended".to_string()
            };
            let restarts = r
                .restarts
                .map_or("restarts ?".to_string(), |n| format!("{n} restarts"));
            let cp = match r.checkpoint_age_secs {
                Some(Some(age)) => format!("checkpoint {} ago", human_duration(age)),
                Some(None) => "no checkpoint".to_string(),
                None => "checkpoint ?".to_string(),
            };
            format!(
                "{icon} **{}** `{}` {} · {} · {uptime} · {restarts} · {cp}",
                j.name,
                &j.id[..j.id.len().min(8)],
                j.cluster,
                j.state
            )
        })
        .collect();
    if total > rows.len() {
        lines.push(format!("… and {} more", total - rows.len()));
    }
    if lines.is_empty() {
        lines.push("No running or recently failed jobs.".to_string());
    }
    for c in unreachable {
        lines.push(format!(
            "⚠ cluster `{c}` did not answer; its jobs may be missing or out of date"
        ));
    }
    let troubled = rows.iter().filter(|r| r.job.is_troubled()).count();
    Reply::embed(Embed {
        title: format!("Flink jobs: {} listed, {troubled} troubled", rows.len()),
        description: crate::message::truncate(&lines.join("\n"), 4_000),
        color: if troubled > 0 {
            colors::CRITICAL
        } else {
            colors::RESOLVED
        },
        ..Default::default()
    })
}

/// `numRestarts` from the job's metrics; `None` when Flink has not answered it.
async fn restarts(client: &crate::flink::FlinkClient, job_id: &str) -> Option<i64> {
    let metrics = client.job_metrics(job_id, &["numRestarts"]).await.ok()?;
    metrics
        .iter()
        .find(|m| m.id == "numRestarts")
        .and_then(|m| m.value.as_deref())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as i64)
}
