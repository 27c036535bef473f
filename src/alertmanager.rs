//! Alertmanager's webhook payload (version 4), as documented and as captured from 0.25.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub version: String,
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: Status,
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: Status,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    /// `0001-01-01T00:00:00Z` while firing.
    pub ends_at: DateTime<Utc>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

impl Alert {
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map_or("unnamed alert", String::as_str)
    }

    pub fn severity(&self) -> &str {
        self.labels.get("severity").map_or("none", String::as_str)
    }

    pub fn is_firing(&self) -> bool {
        self.status == Status::Firing
    }
}

/// Why a body was refused; the text goes back to the sender in the 400 response.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON for an Alertmanager webhook: {0}")]
    Shape(String),
    #[error("unsupported webhook version {0:?}; this bot understands version \"4\"")]
    Version(String),
    #[error("webhook has an empty groupKey")]
    NoGroupKey,
    #[error("webhook carries no alerts")]
    NoAlerts,
}

impl Webhook {
    /// Parses and checks a body; used both at intake (to refuse bad input with a 400) and when
    /// processing what was stored.
    pub fn parse(body: &[u8]) -> Result<Webhook, PayloadError> {
        // The plain parser is about twice as fast; the path-tracking one only words the 400.
        let hook = match serde_json::from_slice::<Webhook>(body) {
            Ok(hook) => hook,
            Err(_) => return Err(Self::explain(body)),
        };
        if hook.version != "4" {
            return Err(PayloadError::Version(hook.version));
        }
        if hook.group_key.is_empty() {
            return Err(PayloadError::NoGroupKey);
        }
        if hook.alerts.is_empty() {
            return Err(PayloadError::NoAlerts);
        }
        Ok(hook)
    }

    /// Why a body does not parse, naming the offending field.
    fn explain(body: &[u8]) -> PayloadError {
        let mut de = serde_json::Deserializer::from_slice(body);
        let result: Result<Webhook, _> = serde_path_to_error::deserialize(&mut de);
        match result {
            Ok(_) => PayloadError::Shape("unreadable body".into()),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." || path == "?" || path.is_empty() {
                    PayloadError::Shape(inner.to_string())
                } else {
                    PayloadError::Shape(format!("at `{path}`: {inner}"))
                }
            }
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.is_firing())
    }

    /// The alert that speaks for the group: the first firing one, else the first.
    pub fn lead_alert(&self) -> &Alert {
        self.firing().next().unwrap_or(&self.alerts[0])
    }

    /// The `severity` label of the highest-ranked alert, firing ones first (ranks: `severity`).
    pub fn severity(&self) -> String {
        self.firing()
            .chain(self.alerts.iter())
            .map(|a| a.severity())
            .max_by_key(|s| crate::severity::Level::of(s))
            .unwrap_or("none")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_wrong_shapes_with_the_path() {
        let err = Webhook::parse(br#"{"version":"4","groupKey":"g","status":"firing","receiver":"r","alerts":[{"status":"weird"}]}"#).unwrap_err();
        assert!(err.to_string().contains("alerts[0].status"), "{err}");
        let err = Webhook::parse(b"{not json").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = Webhook::parse(
            br#"{"version":"3","groupKey":"g","status":"firing","receiver":"r","alerts":[]}"#,
        )
        .unwrap_err();
        assert!(matches!(err, PayloadError::Version(_)));
    }
}
