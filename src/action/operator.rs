//! Jobs run by the Flink Kubernetes Operator: which ones they are, and what to do through the
//! operator instead of Flink's REST API. Pure: the caller passes the cluster's configuration
//! and the JobManager's configuration entries (`GET /jobmanager/config`).
//!
//! Why it matters: the operator owns the job's lifecycle. When a job it manages turns CANCELED
//! behind its back, it marks it suspended and resubmits it from its last state (FLINK-35414,
//! operator 1.10+), so a REST cancel is undone; a REST stop-with-savepoint leaves the operator
//! restoring from an older savepoint on its next upgrade; and a REST savepoint is not in the
//! operator's savepoint history. The operator's own way is its resource: `spec.job.state:
//! suspended` (with an `upgradeMode`) and `spec.job.savepointTriggerNonce`.
//!
//! Detection from Flink's own configuration, per the operator's `FlinkConfigBuilder`: every
//! deployment it builds carries `$internal.flink.version` (a key only the operator sets),
//! `kubernetes.cluster-id` (the `FlinkDeployment`'s name) and `kubernetes.namespace`; an
//! application deployment (one with `spec.job`, the only kind whose job the operator runs) has
//! `execution.target: kubernetes-application`, or `remote` in standalone mode, where the operator
//! adds its own cluster-mode key. A session cluster's jobs may be `FlinkSessionJob`s or submitted
//! by hand, which the JobManager cannot tell apart: those are recognised only when configured.

use serde::{Deserialize, Serialize};

pub use crate::config::is_k8s_name;
use crate::config::OperatorConfig;

/// The key only the operator writes into a deployment's Flink configuration.
pub const OPERATOR_VERSION_KEY: &str = "$internal.flink.version";
const CLUSTER_ID_KEY: &str = "kubernetes.cluster-id";
const NAMESPACE_KEY: &str = "kubernetes.namespace";
const TARGET_KEY: &str = "execution.target";
/// `StandaloneKubernetesConfigOptionsInternal.CLUSTER_MODE`: `APPLICATION` or `SESSION`.
const STANDALONE_MODE_KEY: &str = "kubernetes.internal.cluster-mode";

/// The operator's resource that runs a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operated {
    pub namespace: String,
    /// The `FlinkDeployment`'s name.
    pub deployment: String,
    /// Named in `clusters[].operator` (else read from the JobManager's configuration).
    pub configured: bool,
}

impl Operated {
    /// "FlinkDeployment `flink/orders`"
    pub fn words(&self) -> String {
        format!("FlinkDeployment `{}/{}`", self.namespace, self.deployment)
    }

    /// Suspends the job through the operator: with `savepoint` it takes a savepoint first and
    /// restores from it on resume (REST stop-with-savepoint); `stateless` ends it without one
    /// (REST cancel).
    pub fn suspend_command(&self, upgrade_mode: &str) -> String {
        format!(
            "kubectl -n {} patch flinkdeployment {} --type merge -p '{{\"spec\":{{\"job\":{{\"state\":\"suspended\",\"upgradeMode\":\"{upgrade_mode}\"}}}}}}'",
            self.namespace, self.deployment
        )
    }

    /// A savepoint the operator records in its history: any new nonce triggers one.
    pub fn savepoint_command(&self, nonce: u64) -> String {
        format!(
            "kubectl -n {} patch flinkdeployment {} --type merge -p '{{\"spec\":{{\"job\":{{\"savepointTriggerNonce\":{nonce}}}}}}}'",
            self.namespace, self.deployment
        )
    }
}

/// The operator's resource for this cluster's jobs: the configured one, else what the
/// JobManager's configuration says, else `None` (not operator-managed, or a session cluster).
pub fn detect(
    configured: Option<&OperatorConfig>,
    entries: &[(String, String)],
) -> Option<Operated> {
    if let Some(c) = configured {
        return Some(Operated {
            namespace: c.namespace.clone(),
            deployment: c.deployment.clone(),
            configured: true,
        });
    }
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    };
    get(OPERATOR_VERSION_KEY)?;
    let application = match get(TARGET_KEY) {
        Some("kubernetes-application") => true,
        Some("remote") => {
            get(STANDALONE_MODE_KEY).is_some_and(|m| m.eq_ignore_ascii_case("application"))
        }
        _ => false,
    };
    if !application {
        return None;
    }
    // The names end up in a command people paste into a shell: anything but a Kubernetes name
    // (which the operator's resources always have) is not trusted.
    let namespace = get(NAMESPACE_KEY).unwrap_or("default");
    let deployment = get(CLUSTER_ID_KEY)?;
    (is_k8s_name(namespace) && is_k8s_name(deployment)).then(|| Operated {
        namespace: namespace.to_string(),
        deployment: deployment.to_string(),
        configured: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn op(ns: &str, name: &str, configured: bool) -> Option<Operated> {
        Some(Operated {
            namespace: ns.into(),
            deployment: name.into(),
            configured,
        })
    }

    #[test]
    fn detection_table() {
        let v = (OPERATOR_VERSION_KEY, "v1_20");
        let id = (CLUSTER_ID_KEY, "orders");
        let ns = (NAMESPACE_KEY, "flink");
        let app = (TARGET_KEY, "kubernetes-application");
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<Operated>);
        let cases: Vec<Case> = vec![
            (
                "application deployment",
                vec![v, id, ns, app],
                op("flink", "orders", false),
            ),
            (
                "namespace defaults",
                vec![v, id, app],
                op("default", "orders", false),
            ),
            (
                "session cluster",
                vec![v, id, ns, (TARGET_KEY, "kubernetes-session")],
                None,
            ),
            ("native k8s without the operator", vec![id, ns, app], None),
            (
                "standalone application",
                vec![
                    v,
                    id,
                    ns,
                    (TARGET_KEY, "remote"),
                    (STANDALONE_MODE_KEY, "APPLICATION"),
                ],
                op("flink", "orders", false),
            ),
            (
                "standalone session",
                vec![
                    v,
                    id,
                    ns,
                    (TARGET_KEY, "remote"),
                    (STANDALONE_MODE_KEY, "SESSION"),
                ],
                None,
            ),
            ("no cluster id", vec![v, ns, app], None),
            (
                "blank version",
                vec![(OPERATOR_VERSION_KEY, " "), id, ns, app],
                None,
            ),
            (
                "plain standalone cluster",
                vec![(TARGET_KEY, "remote")],
                None,
            ),
            (
                "a name that is no Kubernetes name",
                vec![v, (CLUSTER_ID_KEY, "x; rm -rf /"), ns, app],
                None,
            ),
            (
                "a namespace that is no Kubernetes name",
                vec![v, id, (NAMESPACE_KEY, "Prod'"), app],
                None,
            ),
        ];
        for (what, pairs, expected) in cases {
            assert_eq!(detect(None, &entries(&pairs)), expected, "{what}");
        }
    }

    #[test]
    fn kubernetes_names() {
        for ok in ["orders", "a", "flink-prod", "team.orders-2"] {
            assert!(is_k8s_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Orders",
            "-a",
            "a-",
            "a b",
            "a'b",
            "a;b",
            &"a".repeat(254),
        ] {
            assert!(!is_k8s_name(bad), "{bad}");
        }
    }

    #[test]
    fn configuration_wins() {
        let c = OperatorConfig {
            namespace: "prod".into(),
            deployment: "payments".into(),
        };
        let found = detect(
            Some(&c),
            &entries(&[(OPERATOR_VERSION_KEY, "v1_20"), (CLUSTER_ID_KEY, "other")]),
        );
        assert_eq!(found, op("prod", "payments", true));
        assert_eq!(detect(Some(&c), &[]), op("prod", "payments", true));
    }

    #[test]
    fn commands_name_the_resource() {
        let o = op("flink", "orders", false).unwrap();
        assert_eq!(
            o.suspend_command("savepoint"),
            r#"kubectl -n flink patch flinkdeployment orders --type merge -p '{"spec":{"job":{"state":"suspended","upgradeMode":"savepoint"}}}'"#
        );
        assert_eq!(
            o.savepoint_command(42),
            r#"kubectl -n flink patch flinkdeployment orders --type merge -p '{"spec":{"job":{"savepointTriggerNonce":42}}}'"#
        );
        assert_eq!(o.words(), "FlinkDeployment `flink/orders`");
    }
}
