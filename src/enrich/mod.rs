//! Enrichment: which cluster and job an alert is about, and what Flink says about that job.
//!
//! Best effort and bounded: one deadline covers all of an alert's calls, the calls run in
//! parallel where they can, and whatever fails is listed in `Facts::missing` instead of delaying
//! or dropping the page.

mod logs;
mod taskmanager;
mod watermarks;

use std::collections::HashMap;

use crate::facts::watermarks as watermarks_facts;
use crate::facts::*;
use crate::facts::{bottleneck, history, restarts, root_cause};
use crate::flink::types::{Checkpoints, Exceptions, JobDetails, Metric};
use crate::flink::{FlinkClient, FlinkError};

/// The configured Flink clients by cluster name.
pub type Clusters = HashMap<String, FlinkClient>;

/// A failure older than this before the alert started does not explain the alert.
pub const STALE_FAILURE_MS: i64 = 60 * 60 * 1000;

/// What an alert asks enrichment to look up beyond the job's own facts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wants {
    /// Sample back-pressure per vertex (a second round of calls).
    pub backpressure: bool,
    /// Look for a lost TaskManager across the cluster's jobs even when the job's own failure
    /// does not name one (the alert is about TaskManagers).
    pub task_managers: bool,
    /// Read the source subtasks' watermarks (a call or two per source vertex).
    pub watermarks: bool,
    /// The alert is about restarts: ask for the rescale history even when Flink's restart count
    /// and checkpoint restore do not show one yet (both lag a rescale, seen on a busy cluster).
    pub restarts: bool,
}

/// [`gather_with`] asking for back-pressure or not, and for a lost TaskManager only when the
/// job's own failure names one.
pub async fn gather(
    clusters: &Clusters,
    target: &Target,
    lookup_backpressure: bool,
    alert_started_ms: i64,
) -> Facts {
    // `/flink status` asks for the throughput facts: back-pressure and watermarks together.
    let wants = Wants {
        backpressure: lookup_backpressure,
        task_managers: false,
        watermarks: lookup_backpressure,
        restarts: false,
    };
    gather_with(clusters, target, wants, alert_started_ms).await
}

/// Gathers what Flink knows about the target. `alert_started_ms` is when the alert began firing.
///
/// One deadline (the cluster's call timeout) bounds the whole lookup, however many calls it
/// makes in sequence (job by name, then details, exceptions, checkpoints and metrics in
/// parallel, then back-pressure per vertex once the details name them): whatever has not
/// answered by then is listed as missing. A lost TaskManager (when the alert is about one, or
/// the job's failure names one) adds a sweep of the cluster's jobs in the same deadline.
pub async fn gather_with(
    clusters: &Clusters,
    target: &Target,
    wants: Wants,
    alert_started_ms: i64,
) -> Facts {
    let mut facts = Facts::default();
    let (cluster, job_id, job_name) = match target {
        Target::UnknownCluster(name) => {
            facts.notes.push(format!(
                "the alert names Flink cluster {name:?}, which is not configured; no lookup was made"
            ));
            facts
                .missing
                .push("all Flink facts: unknown cluster".into());
            return facts;
        }
        Target::Cluster {
            cluster,
            job_id,
            job_name,
        } => (cluster, job_id, job_name),
    };
    let Some(client) = clusters.get(cluster) else {
        facts.missing.push(format!(
            "all Flink facts: cluster {cluster:?} has no client"
        ));
        return facts;
    };
    let deadline = Deadline::starting_now(client.call_timeout());
    facts.cluster_answered_before = client.has_answered();
    facts.cluster = Some(ClusterFacts {
        name: client.name.clone(),
        ui_url: client.ui_link("overview"),
    });
    let job_id = match (job_id, job_name) {
        (Some(id), _) => id.clone(),
        (None, Some(name)) => match deadline.bound(find_job_by_name(client, name)).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                facts
                    .notes
                    .push(format!("no job named {name:?} on cluster {}", client.name));
                return facts;
            }
            Err(e) => {
                facts.missing.push(format!("job lookup by name: {e}"));
                return facts;
            }
        },
        (None, None) => {
            facts
                .notes
                .push("the alert has no job_id or job_name label; it concerns the cluster".into());
            if wants.task_managers {
                look_for_lost_task_manager(&mut facts, client, deadline, alert_started_ms).await;
            }
            return facts;
        }
    };
    facts.job = Some(JobFacts {
        id: job_id.clone(),
        name: job_name.clone(),
        state: None,
        start_time_ms: None,
        ui_url: client.ui_link(&format!("job/running/{job_id}/overview")),
        exceptions_url: client.ui_link(&format!("job/running/{job_id}/exceptions")),
        checkpoints_url: client.ui_link(&format!("job/running/{job_id}/checkpoints")),
    });
    let fetched = fetch(client, &job_id, wants, deadline).await;
    // Read once per cluster (cached by the client), after the job's own calls so a cluster that
    // is down is asked about the job first; a failure only leaves the line out.
    facts.operator = deadline.bound(client.operated()).await.ok().flatten();
    let kept = match &fetched.exceptions {
        Ok(ex) => keep_history(client, &job_id, ex, deadline)
            .await
            .and_then(|h| history::facts(&h, &ex.history.entries)),
        Err(_) => None,
    };
    assemble(&mut facts, fetched, alert_started_ms);
    if let Some(rc) = facts.root_cause.as_mut() {
        if !client.user_packages.is_empty() {
            rc.locate(&client.user_packages);
        }
    }
    facts.history = kept;
    more_restarts_from_history(&mut facts);
    look_for_rescale(
        &mut facts,
        client,
        &job_id,
        deadline,
        alert_started_ms,
        wants.restarts,
    )
    .await;
    let names_a_loss = facts
        .root_cause
        .as_ref()
        .is_some_and(|rc| !rc.stale && crate::facts::taskmanager::names_a_loss(rc));
    if wants.task_managers || names_a_loss {
        look_for_lost_task_manager(&mut facts, client, deadline, alert_started_ms).await;
    }
    // Last, in what is left of the deadline: only a generic failure sends the bot to the logs.
    if let Some(want) = crate::facts::log_wants::wants(&facts, alert_started_ms - STALE_FAILURE_MS)
    {
        facts.log = Some(logs::look(client, deadline, &job_id, &want).await);
    }
    facts
}

/// Flink's history holds 16 failures and its restart metric lags; the kept history may prove more.
fn more_restarts_from_history(facts: &mut Facts) {
    let Some(h) = &facts.history else { return };
    let state = facts.job.as_ref().and_then(|j| j.state.as_deref());
    let kept = h.restarts_at_least(state);
    if facts.restarts.is_some_and(|r| kept > r) {
        facts.restarts = Some(kept);
        facts.notes.retain(|n| !n.starts_with("restarts: at least"));
        facts.notes.push(format!(
            "restarts: at least {kept}, counted from the failures the bot kept (Flink's restart metric had not caught up)"
        ));
    }
}

/// Merges the answer into the archive (if the bot keeps one); the kept history, or `None`
/// when the archive did not answer in time (logged by the archive; the page goes on).
async fn keep_history(
    client: &FlinkClient,
    job_id: &str,
    ex: &Exceptions,
    deadline: Deadline,
) -> Option<history::JobHistory> {
    let archive = client.archive.as_ref()?;
    tokio::time::timeout_at(deadline.at, archive.record(&client.name, job_id, ex))
        .await
        .ok()?
        .ok()
}

/// A job that restarted may have been rescaled rather than failed: asks the adaptive scheduler's
/// rescale history (one call, only for a job that restarted: restarts counted, RESTARTING, or
/// its current run restored from a checkpoint, since Flink's restart metric lags a rescale by
/// seconds). No history is not a missing fact: most clusters do not keep one (Flink before 2.3,
/// the default scheduler).
async fn look_for_rescale(
    facts: &mut Facts,
    client: &FlinkClient,
    job_id: &str,
    deadline: Deadline,
    alert_started_ms: i64,
    about_restarts: bool,
) {
    let state = facts.job.as_ref().and_then(|j| j.state.as_deref());
    let restored = facts
        .checkpoints
        .as_ref()
        .is_some_and(|c| c.last_restored.is_some());
    if !about_restarts
        && facts.restarts.unwrap_or(0) == 0
        && state != Some("RESTARTING")
        && !restored
    {
        return;
    }
    let newest_failure = facts.root_cause.as_ref().and_then(|rc| rc.timestamp);
    facts.rescale = match deadline.bound(client.rescale_history(job_id)).await {
        Ok(history) if !history.is_empty() => {
            crate::facts::rescale::decide(&history, newest_failure, alert_started_ms)
        }
        // No history kept (Flink 1.x answers 404): for a restart alert, what the restore and the
        // failures show.
        _ if about_restarts => crate::facts::rescale::without_history(
            facts
                .checkpoints
                .as_ref()
                .and_then(|c| c.last_restored.as_ref())
                .map(|r| (r.id, r.restored_at_ms)),
            facts.job.as_ref().and_then(|j| j.start_time_ms),
            facts.job.as_ref().and_then(|j| j.state.as_deref()),
            newest_failure,
            alert_started_ms,
        ),
        _ => None,
    };
}

async fn look_for_lost_task_manager(
    facts: &mut Facts,
    client: &FlinkClient,
    deadline: Deadline,
    alert_started_ms: i64,
) {
    let since = alert_started_ms - STALE_FAILURE_MS;
    match taskmanager::lost_task_manager(client, deadline, since).await {
        Ok(loss) => facts.task_manager_lost = loss,
        Err(e) => facts.missing.push(describe("lost TaskManager", &e)),
    }
}

/// The end of an enrichment's time: every call it makes is cut off there.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    ms: u64,
}

impl Deadline {
    fn starting_now(budget: std::time::Duration) -> Deadline {
        Deadline {
            at: tokio::time::Instant::now() + budget,
            ms: budget.as_millis() as u64,
        }
    }

    async fn bound<T>(
        self,
        call: impl std::future::Future<Output = Result<T, FlinkError>>,
    ) -> Result<T, FlinkError> {
        tokio::time::timeout_at(self.at, call)
            .await
            .unwrap_or(Err(FlinkError::Timeout(self.ms)))
    }
}

/// What the job's calls answered, each within the one deadline.
struct Fetched {
    details: Result<JobDetails, FlinkError>,
    /// `None` when not asked for (or the details, which name the vertices, did not come).
    backpressure: Option<Result<Option<BackpressureFacts>, FlinkError>>,
    /// Likewise.
    watermark: Option<Result<Option<watermarks_facts::WatermarkFacts>, FlinkError>>,
    exceptions: Result<Exceptions, FlinkError>,
    checkpoints: Result<Checkpoints, FlinkError>,
    metrics: Result<Vec<Metric>, FlinkError>,
}

async fn fetch(client: &FlinkClient, job_id: &str, wants: Wants, deadline: Deadline) -> Fetched {
    // Back-pressure and watermarks start as soon as the details name the vertices, beside the
    // other calls.
    let details_then_backpressure = async {
        let details = deadline.bound(client.job(job_id)).await;
        let (bp, wm) = match &details {
            Ok(d) => {
                let bp = async {
                    match wants.backpressure {
                        true => Some(deadline.bound(worst_backpressure(client, d)).await),
                        false => None,
                    }
                };
                let wm = async {
                    match wants.watermarks {
                        true => Some(deadline.bound(watermarks::lowest(client, d)).await),
                        false => None,
                    }
                };
                tokio::join!(bp, wm)
            }
            Err(_) => (None, None),
        };
        (details, bp, wm)
    };
    let ((details, backpressure, watermark), exceptions, checkpoints, metrics) = tokio::join!(
        details_then_backpressure,
        deadline.bound(client.exceptions(job_id)),
        deadline.bound(client.checkpoints(job_id)),
        deadline.bound(client.job_metrics(job_id, &["numRestarts", "downtime"])),
    );
    Fetched {
        details,
        backpressure,
        watermark,
        exceptions,
        checkpoints,
        metrics,
    }
}

/// Turns the answers into facts, listing what did not answer.
fn assemble(facts: &mut Facts, f: Fetched, alert_started_ms: i64) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let state = f.details.as_ref().ok().map(|d| d.state.clone());
    match f.details {
        Ok(d) => apply_details(facts, d),
        Err(e) => facts.missing.push(describe("job state", &e)),
    }
    match f.backpressure {
        Some(Ok(bp)) => facts.backpressure = bp,
        Some(Err(e)) => facts.missing.push(describe("backpressure", &e)),
        None => {}
    }
    match f.watermark {
        Some(Ok(wm)) => facts.watermark = wm,
        Some(Err(e)) => facts.missing.push(describe("watermarks", &e)),
        None => {}
    }
    match restarts::decide(&f.metrics, &f.exceptions, state.as_deref()) {
        restarts::Restarts::Counted(n) => facts.restarts = Some(n),
        restarts::Restarts::AtLeast(n) => {
            facts.restarts = Some(n);
            facts.notes.push(format!(
                "restarts: at least {n}, counted from the exception history (Flink's restart metric had not caught up)"
            ));
        }
        restarts::Restarts::Unknown(why) => facts.missing.push(format!("restarts: {why}")),
    }
    facts.downtime_ms = restarts::downtime_ms(&f.metrics);
    match f.exceptions {
        Ok(ex) => {
            facts.root_cause = root_cause::root_cause(&ex).map(|mut rc| {
                rc.stale = rc
                    .timestamp
                    .is_some_and(|t| t < alert_started_ms - STALE_FAILURE_MS);
                rc
            })
        }
        Err(e) => facts.missing.push(describe("exceptions", &e)),
    }
    match f.checkpoints {
        Ok(c) => facts.checkpoints = Some(checkpoint_facts(&c, now_ms)),
        Err(e) => facts.missing.push(describe("checkpoints", &e)),
    }
}

fn describe(what: &str, e: &FlinkError) -> String {
    if e.is_not_found() {
        format!("{what}: the cluster does not know this job")
    } else {
        format!("{what}: {e}")
    }
}

/// Picks the job a `job_name` label means: a running one if there is one, else the newest.
async fn find_job_by_name(client: &FlinkClient, name: &str) -> Result<Option<String>, FlinkError> {
    let overview = client.jobs_overview().await?;
    let mut candidates: Vec<_> = overview
        .jobs
        .into_iter()
        .filter(|j| j.name == name)
        .collect();
    candidates.sort_by_key(|j| {
        let active = matches!(
            j.state.as_str(),
            "RUNNING" | "RESTARTING" | "FAILING" | "CREATED" | "INITIALIZING"
        );
        (active, j.start_time)
    });
    Ok(candidates.pop().map(|j| j.jid))
}

fn apply_details(facts: &mut Facts, d: JobDetails) {
    if let Some(job) = facts.job.as_mut() {
        job.name = Some(d.name);
        job.state = Some(d.state);
        job.start_time_ms = Some(d.start_time);
    }
}

/// The vertices asked for their back-pressure, sources first; the calls run in parallel.
const BACKPRESSURE_VERTICES: usize = 16;

/// The most back-pressured vertex, and the bottleneck behind it, from one back-pressure call per
/// vertex (no call beyond those: the job graph comes with `details`).
async fn worst_backpressure(
    client: &FlinkClient,
    details: &JobDetails,
) -> Result<Option<BackpressureFacts>, FlinkError> {
    let calls = details
        .vertices
        .iter()
        .take(BACKPRESSURE_VERTICES)
        .map(|v| async move { (v, client.backpressure(&details.jid, &v.id).await) });
    let mut first_error = None;
    let answers: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter_map(|(v, r)| match r {
            Ok(bp) => Some((v, bp)),
            Err(e) => {
                first_error.get_or_insert(e);
                None
            }
        })
        .collect();
    let worst = answers
        .iter()
        .map(|(v, bp)| {
            let ratio = bp.subtasks.iter().map(|s| s.ratio).fold(0.0, f64::max);
            (v, bp, ratio)
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(v, bp, ratio)| BackpressureFacts {
            vertex: v.name.clone(),
            level: bp.level.clone().unwrap_or_else(|| "unknown".into()),
            ratio,
            bottleneck: None,
            hot: None,
        });
    // Some vertices answering is enough; none answering is a missing fact.
    let Some(worst) = worst else {
        return first_error.map_or(Ok(None), Err);
    };
    let pressure = answers
        .into_iter()
        .map(|(v, bp)| (v.id.clone(), bp))
        .collect();
    // The hot subtask's records: one more call, for the one vertex (skipped if it fails).
    let hot = match bottleneck::hottest(details, &pressure) {
        Some((v, skew)) => Some(bottleneck::HotSubtask {
            vertex: v.name.clone(),
            parallelism: v.parallelism,
            skew,
            records: client
                .vertex(&details.jid, &v.id)
                .await
                .map(|d| bottleneck::records(&d))
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Some(BackpressureFacts {
        bottleneck: bottleneck::find(details, &pressure),
        hot,
        ..worst
    }))
}
