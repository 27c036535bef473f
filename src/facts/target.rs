//! Which configured cluster and job an alert is about, from its labels alone (pure).

use crate::alertmanager::Alert;

/// What an alert points at, decided from its labels alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The cluster label names a cluster that is not configured: never guess an address.
    UnknownCluster(String),
    Cluster {
        cluster: String,
        job_id: Option<String>,
        job_name: Option<String>,
    },
}

/// Picks the target from labels: `cluster_label` must name a configured cluster; the job is
/// `job_id`, else `job_name`. (`job` is Prometheus's scrape job, not a Flink job.)
pub fn target(alert: &Alert, cluster_label: &str, known: &[String], default: &str) -> Target {
    let cluster = match alert.labels.get(cluster_label) {
        Some(name) if known.iter().any(|k| k == name) => name.clone(),
        Some(name) => return Target::UnknownCluster(name.clone()),
        None => default.to_string(),
    };
    let job_id = alert
        .labels
        .get("job_id")
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .cloned();
    Target::Cluster {
        cluster,
        job_id,
        job_name: alert.labels.get("job_name").cloned(),
    }
}

impl Target {
    /// The configured cluster the alert is about, if any.
    pub fn cluster(&self) -> Option<&str> {
        match self {
            Target::Cluster { cluster, .. } => Some(cluster),
            Target::UnknownCluster(_) => None,
        }
    }
}
