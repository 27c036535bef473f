//! `/flink status <job>`: the facts a page shows, formatted by the page's own code.

use serenity::all::CreateCommandOption;

use super::JobQuery;
use crate::diagnose::{diagnose, Diagnosis};
use crate::enrich::{self, Facts, Target};
use crate::interact::jobs::KnownJob;
use crate::interact::reply::Reply;
use crate::interact::InteractState;
use crate::message::{colors, Embed};

pub fn option(clusters: &[String]) -> CreateCommandOption {
    super::job_subcommand(
        "status",
        "State, root cause and pattern, checkpoints, restarts, backpressure",
        clusters,
    )
}

pub async fn answer(state: &InteractState, q: &JobQuery) -> Reply {
    match state.resolve(&q.job, q.cluster.as_deref()).await {
        Ok(job) => {
            let facts = facts(state, &job).await;
            run(&job, &facts, &diagnose("", &facts)).public(q.public)
        }
        Err(r) => Reply::refusal(&r),
    }
}

/// Everything enrichment gathers for a page, with backpressure, under one deadline.
pub async fn facts(state: &InteractState, job: &KnownJob) -> Facts {
    let target = Target::Cluster {
        cluster: job.cluster.clone(),
        job_id: Some(job.id.clone()),
        job_name: None,
    };
    let now = chrono::Utc::now().timestamp_millis();
    enrich::gather(&state.clusters, &target, true, now).await
}

pub fn run(job: &KnownJob, facts: &Facts, diagnosis: &Diagnosis) -> Reply {
    let state = facts
        .job
        .as_ref()
        .and_then(|j| j.state.clone())
        .unwrap_or_else(|| job.state.clone());
    let color = match state.as_str() {
        "RUNNING" => colors::RESOLVED,
        "FAILED" | "FAILING" | "RESTARTING" => colors::CRITICAL,
        _ => colors::WARNING,
    };
    let description = match &facts.root_cause {
        Some(rc) if !rc.stale => format!(
            "**{}** (pattern `{}`)\n{}",
            diagnosis.title, diagnosis.slug, diagnosis.evidence
        ),
        Some(_) => "No recent failure; the last one is shown below.".to_string(),
        None => "No failure recorded.".to_string(),
    };
    Reply::embed(Embed {
        title: format!("{} — {state}", job.name),
        url: facts.job.as_ref().map(|j| j.ui_url.clone()),
        description,
        color,
        fields: crate::render::fact_fields(facts),
        footer: format!("cluster {} · job {}", job.cluster, job.id),
        timestamp: Some(chrono::Utc::now()),
    })
}
