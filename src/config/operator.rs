//! `clusters[].operator`: the Flink Kubernetes Operator resource that runs a cluster's jobs,
//! and the Kubernetes name rule both the config check and detection (`action::operator`) use.

use serde::Deserialize;

/// A DNS-1123 name as Kubernetes requires of namespaces and resources: lower-case letters,
/// digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters.
pub fn is_k8s_name(name: &str) -> bool {
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| edge(b) || b == b'-' || b == b'.')
        && edge(name.as_bytes()[0])
        && edge(name.as_bytes()[name.len() - 1])
}

/// `clusters[].operator = { namespace = "flink", deployment = "orders" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    pub namespace: String,
    pub deployment: String,
}
