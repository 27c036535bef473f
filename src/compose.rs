//! One page from one notification: which cluster and job, what Flink says, which pattern, what
//! message. Shared by the pipeline and by `flink-chatops render`, so a preview is exactly what
//! the bot would post.

use chrono::Utc;

use crate::alertmanager::Webhook;
use crate::config::Config;
use crate::diagnose::{diagnose, Diagnosis};
use crate::enrich::{self, Clusters};
use crate::facts::{self, Facts, Target};
use crate::incident::Incident;
use crate::message::Message;
use crate::render::{RenderInput, Renderer};

/// The cluster and job the group's lead alert points at (labels only, never a URL).
pub fn target(config: &Config, hook: &Webhook) -> Target {
    let known: Vec<String> = config.clusters.iter().map(|c| c.name.clone()).collect();
    facts::target(
        hook.lead_alert(),
        &config.flink.cluster_label,
        &known,
        &config.default_cluster().name,
    )
}

/// What Flink says about the target, bounded by the per-call deadline.
pub async fn facts(clusters: &Clusters, hook: &Webhook, target: &Target) -> Facts {
    let lead = hook.lead_alert();
    let started = lead.starts_at.timestamp_millis();
    let wants = enrich::Wants {
        backpressure: wants_backpressure(lead.name()),
        task_managers: wants_task_managers(lead.name()),
        watermarks: lead.name().to_ascii_lowercase().contains("watermark"),
        restarts: wants_rescale_check(lead.name()),
    };
    enrich::gather_with(clusters, target, wants, started).await
}

/// The failure pattern the facts show for the group's lead alert.
pub fn diagnosis(hook: &Webhook, facts: &Facts) -> Diagnosis {
    diagnose(hook.lead_alert().name(), facts)
}

/// Renders the incident's message for its diagnosis.
pub fn message(
    config: &Config,
    renderer: &Renderer,
    hook: &Webhook,
    incident: &Incident,
    facts: &Facts,
    diagnosis: &Diagnosis,
    note: Option<String>,
) -> Message {
    let severity = hook.severity();
    renderer.render(&RenderInput {
        hook,
        incident,
        facts,
        diagnosis,
        mentions: config.discord.mentions_for(&severity),
        now: Utc::now(),
        available: crate::buttons::Available::from_config(config),
        note,
    })
}

/// An alert about TaskManagers (`FlinkTaskManagerLost`) needs the cluster's jobs looked at for
/// the one that went away; the alert itself names only the JobManager.
/// A restart alert (the shipped `FlinkJobUnstable` counts restarts): a rescale restarts the job
/// too, so its history is worth one call even before Flink's own counters show the restart.
fn wants_rescale_check(alert_name: &str) -> bool {
    let n = alert_name.to_ascii_lowercase();
    n.contains("unstable") || n.contains("restart")
}

fn wants_task_managers(alert_name: &str) -> bool {
    alert_name.to_ascii_lowercase().contains("taskmanager")
}

/// Back-pressure sampling costs a second round of calls; only worth it when the alert is about
/// throughput.
fn wants_backpressure(alert_name: &str) -> bool {
    let n = alert_name.to_ascii_lowercase();
    n.contains("backpressure") || n.contains("lag") || n.contains("watermark") || n.contains("skew")
}
