//! HTTP access to one configured Flink cluster. The base URL always comes from configuration,
//! never from an alert, and every call carries its own deadline.

use std::time::Duration;

use reqwest::Url;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

use super::types::*;
use crate::config::{ClusterConfig, FlinkAuth};

#[derive(Debug, Clone, thiserror::Error)]
pub enum FlinkError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl FlinkError {
    /// What went wrong, in words fit for chat: no URL, no body, no internal detail.
    pub fn brief(&self) -> String {
        match self {
            FlinkError::Timeout(ms) => format!("no answer within {ms} ms"),
            FlinkError::Unreachable(_) => "the cluster is unreachable".into(),
            FlinkError::Status { status: 404, .. } => "the cluster does not know this job".into(),
            FlinkError::Status { status, .. } => format!("the cluster answered HTTP {status}"),
            FlinkError::Decode(_) => "the cluster's answer was not understood".into(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, FlinkError::Status { status: 404, .. })
    }
}

#[derive(Debug, Clone)]
pub struct FlinkClient {
    pub name: String,
    pub(crate) base: Url,
    ui: Url,
    auth: FlinkAuth,
    pub(crate) http: reqwest::Client,
    timeout: Duration,
    /// Deadline of calls that act (see `flink::actions`).
    pub(crate) action_timeout: Duration,
    /// Set by `Metrics::instrument` when the bot runs; `render` calls are not counted.
    pub metrics: Option<crate::metrics::FlinkCallMetrics>,
    /// Where the exception history the bot reads is kept beyond Flink's own (set at start-up;
    /// `render` and tests without a store have none). See `store::ExceptionArchive`.
    pub archive: Option<crate::store::ExceptionArchive>,
    /// `clusters[].user_packages`: the jobs' own package prefixes (empty: guessed per trace).
    pub user_packages: Vec<String>,
    /// `clusters[].operator`: the operator's resource, when configured rather than detected.
    pub operator: Option<crate::config::OperatorConfig>,
    /// What the JobManager's configuration said about the operator, once it answered: the
    /// configuration of a running JobManager does not change, so pages read it once per cluster.
    pub(crate) operated:
        std::sync::Arc<std::sync::OnceLock<Option<crate::action::operator::Operated>>>,
    /// Set once the cluster answered anything since the bot started (shared by the clones):
    /// a cluster that stops answering is down, one that never answered may be misconfigured.
    answered: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Shared by the clones of this client: reads skip a cluster that just refused.
    pub(crate) breaker: std::sync::Arc<super::breaker::Breaker>,
}

impl FlinkClient {
    pub fn new(
        cluster: &ClusterConfig,
        auth: FlinkAuth,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Result<FlinkClient, String> {
        let base = parse_base(&cluster.rest_url)?;
        let ui = parse_base(cluster.web_ui_url.as_deref().unwrap_or(&cluster.rest_url))?;
        Ok(FlinkClient {
            name: cluster.name.clone(),
            base,
            ui,
            auth,
            http,
            timeout,
            action_timeout: timeout,
            metrics: None,
            archive: None,
            user_packages: cluster.user_packages.clone(),
            operator: cluster.operator.clone(),
            operated: Default::default(),
            answered: Default::default(),
            breaker: Default::default(),
        })
    }

    /// Whether the cluster has answered a read (even with an error status) since the bot started.
    pub fn has_answered(&self) -> bool {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The deadline of one call; enrichment also uses it as the deadline of all its calls.
    pub fn call_timeout(&self) -> Duration {
        self.timeout
    }

    /// Link to a page of the Flink web UI, e.g. `#/job/running/<id>/exceptions`.
    pub fn ui_link(&self, fragment: &str) -> String {
        format!("{}#/{}", self.ui.as_str(), fragment.trim_start_matches('/'))
    }

    pub async fn jobs_overview(&self) -> Result<JobsOverview, FlinkError> {
        self.get("jobs/overview").await
    }

    /// `/overview`: TaskManagers and slots now.
    pub async fn overview(&self) -> Result<ClusterOverview, FlinkError> {
        self.get("overview").await
    }

    pub async fn job(&self, job_id: &str) -> Result<JobDetails, FlinkError> {
        self.get(&format!("jobs/{}", segment(job_id)?)).await
    }

    /// As many entries as Flink still has (`web.exception-history-size`, 16 by default): the
    /// archive keeps them all, so none may be skipped between two reads.
    pub async fn exceptions(&self, job_id: &str) -> Result<Exceptions, FlinkError> {
        self.get(&format!(
            "jobs/{}/exceptions?maxExceptions=100",
            segment(job_id)?
        ))
        .await
    }

    pub async fn checkpoints(&self, job_id: &str) -> Result<Checkpoints, FlinkError> {
        self.get(&format!("jobs/{}/checkpoints", segment(job_id)?))
            .await
    }

    pub async fn job_metrics(
        &self,
        job_id: &str,
        names: &[&str],
    ) -> Result<Vec<Metric>, FlinkError> {
        self.get(&format!(
            "jobs/{}/metrics?get={}",
            segment(job_id)?,
            names.join(",")
        ))
        .await
    }

    /// `/jobs/:id/vertices/:vid`: records in and out per subtask.
    pub async fn vertex(&self, job_id: &str, vertex_id: &str) -> Result<VertexDetails, FlinkError> {
        self.get(&format!(
            "jobs/{}/vertices/{}",
            segment(job_id)?,
            segment(vertex_id)?
        ))
        .await
    }

    /// The ids of a vertex's metrics (`<subtask>.<operator>.<metric>`).
    pub async fn vertex_metric_ids(
        &self,
        job_id: &str,
        vertex_id: &str,
    ) -> Result<Vec<String>, FlinkError> {
        let listed: Vec<Metric> = self
            .get(&format!(
                "jobs/{}/vertices/{}/metrics",
                segment(job_id)?,
                segment(vertex_id)?
            ))
            .await?;
        Ok(listed.into_iter().map(|m| m.id).collect())
    }

    /// The values of some of a vertex's metrics (ids from [`Self::vertex_metric_ids`]).
    pub async fn vertex_metrics(
        &self,
        job_id: &str,
        vertex_id: &str,
        ids: &[String],
    ) -> Result<Vec<Metric>, FlinkError> {
        // Metric ids are Flink's own (operator names sanitised to `[A-Za-z0-9_.-]`); anything
        // else is left out rather than spliced into the query.
        let safe: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| {
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            })
            .collect();
        self.get(&format!(
            "jobs/{}/vertices/{}/metrics?get={}",
            segment(job_id)?,
            segment(vertex_id)?,
            safe.join(",")
        ))
        .await
    }

    pub async fn backpressure(
        &self,
        job_id: &str,
        vertex_id: &str,
    ) -> Result<Backpressure, FlinkError> {
        self.get(&format!(
            "jobs/{}/vertices/{}/backpressure",
            segment(job_id)?,
            segment(vertex_id)?
        ))
        .await
    }

    /// A read. Not made while the cluster's refusal of a moment ago stands (see `breaker`);
    /// such a skipped read is not a call, so it is not in the call metrics.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, FlinkError> {
        let started = std::time::Instant::now();
        self.breaker.check(started)?;
        let result = self.fetch(path).await;
        self.breaker.record(&result, std::time::Instant::now());
        if matches!(result, Ok(_) | Err(FlinkError::Status { .. })) {
            self.answered
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(m) = &self.metrics {
            m.record(&self.name, path, &result, started);
        }
        result
    }

    async fn fetch<T: DeserializeOwned>(&self, path: &str) -> Result<T, FlinkError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| FlinkError::Decode(format!("bad path {path}: {e}")))?;
        let request = self.authorize(self.http.get(url)).timeout(self.timeout);
        let ms = self.timeout.as_millis() as u64;
        let response = request.send().await.map_err(|e| classify(e, ms))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| classify(e, ms))?;
        if !status.is_success() {
            return Err(FlinkError::Status {
                status: status.as_u16(),
                body: first_error(&bytes),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| FlinkError::Decode(e.to_string()))
    }

    pub(crate) fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            FlinkAuth::None => request,
            FlinkAuth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            FlinkAuth::Bearer(token) => request.bearer_auth(token.expose_secret()),
        }
    }
}

fn parse_base(url: &str) -> Result<Url, String> {
    // A trailing slash makes `join` append rather than replace the last path segment, so a
    // Flink behind a path prefix (`https://proxy/flink/prod`) works.
    let with_slash = if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    };
    Url::parse(&with_slash).map_err(|e| format!("{url:?} is not a URL: {e}"))
}

/// Job and vertex ids are 32 hex digits, TaskManager ids longer and alphanumeric; only short
/// alphanumeric ids (at most 64) are spliced into a path.
pub(crate) fn segment(id: &str) -> Result<&str, FlinkError> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(FlinkError::Decode(format!("{id:?} is not a Flink id")))
    }
}

pub(crate) fn classify(e: reqwest::Error, timeout_ms: u64) -> FlinkError {
    if e.is_timeout() {
        FlinkError::Timeout(timeout_ms)
    } else {
        FlinkError::Unreachable(root_message(&e))
    }
}

fn root_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Flink errors look like `{"errors":["..."]}`; keep the first line of the first one.
pub(crate) fn first_error(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<String>,
    }
    let text = match serde_json::from_slice::<Errors>(bytes) {
        Ok(e) => e.errors.into_iter().next().unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}
