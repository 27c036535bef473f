//! The bot's own Prometheus metrics: one registry per running bot, with typed handles that the
//! stages call in one line each (`metrics.webhook(Webhook::Stored)`), served as `GET /metrics`.
//!
//! Every name, label value, bucket layout and classification lives here, so the stages carry
//! no metric logic. Names follow Prometheus conventions: a `flink_chatops_` prefix, base units
//! (`_seconds`), `_total` for counters. Label values are closed sets (outcomes, configured
//! cluster names, endpoint templates with ids cut out), so no alert or id can grow the series
//! count. Labelled series are created at start-up with zero values, so rules and dashboards see
//! them before the first event (a counter that appears only on its first increment hides that
//! increment from `rate()`). Backlog, oldest pending age and store health are read from the
//! store at scrape time; `process_*` comes from the process collector (memory, CPU, open fds).

mod labels;

pub use labels::{endpoint, flink_outcome, Webhook, DELIVERY_OUTCOMES};
use labels::{FLINK_ENDPOINTS, FLINK_OUTCOMES};

use std::time::{Duration, Instant};

use prometheus::{
    Counter, Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::enrich::Clusters;
use crate::facts::Facts;
use crate::flink::FlinkError;
use crate::store::Store;

/// The handles Flink clients record their calls with.
#[derive(Clone)]
pub struct FlinkCallMetrics {
    calls: IntCounterVec,
    seconds: HistogramVec,
}

impl std::fmt::Debug for FlinkCallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlinkCallMetrics")
    }
}

impl FlinkCallMetrics {
    pub fn record<T>(
        &self,
        cluster: &str,
        path: &str,
        result: &Result<T, FlinkError>,
        started: Instant,
    ) {
        let endpoint = endpoint(path);
        self.calls
            .with_label_values(&[cluster, &endpoint, flink_outcome(result)])
            .inc();
        self.seconds
            .with_label_values(&[cluster, &endpoint])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Every metric of one running bot.
pub struct Metrics {
    registry: Registry,
    webhooks: IntCounterVec,
    inbox_pending: IntGauge,
    inbox_oldest_age: Gauge,
    store_up: IntGauge,
    delivery_attempts: IntCounterVec,
    delivery_gave_up: IntCounter,
    rate_limit_wait: Counter,
    page_latency: Histogram,
    enrichments: IntCounterVec,
    flink: FlinkCallMetrics,
}

impl Metrics {
    /// Creates and registers everything, including the store's commit histograms.
    pub fn new(store: &Store) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let reg = |c: Box<dyn prometheus::core::Collector>| registry.register(c);
        let webhooks = IntCounterVec::new(
            Opts::new(
                "flink_chatops_webhooks_total",
                "Alertmanager webhook requests by outcome (stored, duplicate, bad_request=400, unauthorized=401, too_large=413, unavailable=503).",
            ),
            &["outcome"],
        )?;
        for o in Webhook::ALL {
            webhooks.with_label_values(&[o.label()]);
        }
        let delivery_attempts = IntCounterVec::new(
            Opts::new(
                "flink_chatops_delivery_attempts_total",
                "Discord requests (posts and edits) by outcome; transient = 5xx or unreachable.",
            ),
            &["outcome"],
        )?;
        for o in DELIVERY_OUTCOMES {
            delivery_attempts.with_label_values(&[o]);
        }
        let calls = IntCounterVec::new(
            Opts::new(
                "flink_chatops_flink_calls_total",
                "Flink REST reads (enrichment, chat commands, action checks), by cluster, endpoint and outcome.",
            ),
            &["flink_cluster", "endpoint", "outcome"],
        )?;
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "flink_chatops_flink_call_duration_seconds",
                "Duration of Flink REST calls, by cluster and endpoint (capped by flink.call_timeout_ms).",
            )
            .buckets(exp_buckets(0.001, 2.0, 14)),
            &["flink_cluster", "endpoint"],
        )?;
        let metrics = Metrics {
            webhooks,
            inbox_pending: IntGauge::new(
                "flink_chatops_inbox_pending",
                "Acknowledged notifications not yet delivered (read from the store at scrape time).",
            )?,
            inbox_oldest_age: Gauge::new(
                "flink_chatops_inbox_oldest_pending_age_seconds",
                "Age of the oldest undelivered notification; 0 when the inbox is empty.",
            )?,
            store_up: IntGauge::new(
                "flink_chatops_store_up",
                "1 when the store answered at scrape time (as /readyz checks), else 0.",
            )?,
            delivery_attempts,
            delivery_gave_up: IntCounter::new(
                "flink_chatops_delivery_gave_up_total",
                "Deliveries abandoned without reaching Discord.",
            )?,
            rate_limit_wait: Counter::new(
                "flink_chatops_delivery_rate_limit_wait_seconds_total",
                "Seconds spent waiting as Discord's 429 retry_after asked.",
            )?,
            page_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "flink_chatops_page_latency_seconds",
                    "From a notification's acknowledgement to its message delivered to Discord (oldest of a coalesced batch).",
                )
                .buckets(exp_buckets(0.005, 2.0, 16)),
            )?,
            enrichments: IntCounterVec::new(
                Opts::new(
                    "flink_chatops_enrichments_total",
                    "Pages composed, by whether every Flink fact was fetched (complete) or some are missing (incomplete).",
                ),
                &["result"],
            )?,
            flink: FlinkCallMetrics { calls, seconds },
            registry: registry.clone(),
        };
        for r in ["complete", "incomplete"] {
            metrics.enrichments.with_label_values(&[r]);
        }
        let build = IntGaugeVec::new(
            Opts::new(
                "flink_chatops_build_info",
                "Always 1; the labels say which build is running.",
            ),
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let commit = store.commit_metrics();
        reg(Box::new(metrics.webhooks.clone()))?;
        reg(Box::new(metrics.inbox_pending.clone()))?;
        reg(Box::new(metrics.inbox_oldest_age.clone()))?;
        reg(Box::new(metrics.store_up.clone()))?;
        reg(Box::new(metrics.delivery_attempts.clone()))?;
        reg(Box::new(metrics.delivery_gave_up.clone()))?;
        reg(Box::new(metrics.rate_limit_wait.clone()))?;
        reg(Box::new(metrics.page_latency.clone()))?;
        reg(Box::new(metrics.enrichments.clone()))?;
        reg(Box::new(metrics.flink.calls.clone()))?;
        reg(Box::new(metrics.flink.seconds.clone()))?;
        reg(Box::new(commit.seconds.clone()))?;
        reg(Box::new(commit.writers.clone()))?;
        reg(Box::new(build))?;
        #[cfg(target_os = "linux")]
        reg(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// Adds metrics owned elsewhere (the gateway's, from `readiness`).
    pub fn register(
        &self,
        collectors: Vec<Box<dyn prometheus::core::Collector>>,
    ) -> prometheus::Result<()> {
        collectors
            .into_iter()
            .try_for_each(|c| self.registry.register(c))
    }

    pub fn webhook(&self, outcome: Webhook) {
        self.webhooks.with_label_values(&[outcome.label()]).inc();
    }

    /// One Discord request by its outcome label (one of `DELIVERY_OUTCOMES`); a 429 also adds
    /// the wait Discord asked for.
    pub fn delivery_attempt(&self, outcome: &'static str, asked_to_wait: Option<Duration>) {
        self.delivery_attempts.with_label_values(&[outcome]).inc();
        if let Some(after) = asked_to_wait {
            self.rate_limit_wait.inc_by(after.as_secs_f64());
        }
    }

    pub fn delivery_gave_up(&self) {
        self.delivery_gave_up.inc();
    }

    /// A page reached Discord; `received_at_ms` is when its (oldest) notification was acknowledged.
    pub fn page_delivered(&self, received_at_ms: i64) {
        let now = chrono::Utc::now().timestamp_millis();
        self.page_latency
            .observe((now - received_at_ms).max(0) as f64 / 1000.0);
    }

    pub fn enrichment(&self, facts: &Facts) {
        let result = if facts.is_complete() {
            "complete"
        } else {
            "incomplete"
        };
        self.enrichments.with_label_values(&[result]).inc();
    }

    /// Gives every client the call handles and creates its series at zero.
    pub fn instrument(&self, clusters: &mut Clusters) {
        for (name, client) in clusters.iter_mut() {
            for ep in FLINK_ENDPOINTS {
                for o in FLINK_OUTCOMES {
                    self.flink.calls.with_label_values(&[name, ep, o]);
                }
                self.flink.seconds.with_label_values(&[name, ep]);
            }
            client.metrics = Some(self.flink.clone());
        }
    }

    /// The exposition text, after reading the store's backlog.
    pub fn render(&self, store: &Store) -> String {
        self.inbox_pending.set(store.pending_count() as i64);
        let age = match store.oldest_pending_ms() {
            Ok(Some(at)) => (chrono::Utc::now().timestamp_millis() - at).max(0) as f64 / 1000.0,
            _ => 0.0,
        };
        self.inbox_oldest_age.set(age);
        // After the read above: a read past storage.timeout_ms has marked the store failed.
        self.store_up.set(i64::from(store.failure().is_none()));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

fn exp_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    prometheus::exponential_buckets(start, factor, count).expect("valid buckets")
}
