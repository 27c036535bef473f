//! Alertmanager API v2 silences: create one for an alert, read it back, expire it. The base URL
//! comes from `alertmanager.url` only, like every other client here.
//!
//! Matchers: every label of the alert, matched exactly, minus `alertmanager.silence_ignore_labels`.
//! That is what Alertmanager's own "Silence" button pre-fills, and the labels are the alert's
//! identity (its fingerprint is a hash of them), so the silence covers exactly the alert that
//! paged: not the same alert on another job, not another alert on this job. A label whose value
//! changes while the problem stays (a pod name across restarts) belongs in the ignore list. Empty
//! values are left out, because `x=""` also matches every alert that lacks `x`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::secrets::read_optional;
use crate::config::{AlertmanagerConfig, ConfigError, FlinkAuth};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// The silence to create; `created_by` is the chat user, `comment` a link to the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
    #[serde(other)]
    Unknown,
}

/// A silence as Alertmanager reports it (`GET /api/v2/silence/:id`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub status: SilenceStatus,
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SilenceError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("no silence with that id")]
    NotFound,
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected response: {0}")]
    Decode(String),
    #[error("{0:?} is not a silence id")]
    BadId(String),
}

/// The alert's labels as matchers (see the module comment for the choice).
pub fn matchers_for(labels: &BTreeMap<String, String>, ignore: &[String]) -> Vec<Matcher> {
    labels
        .iter()
        .filter(|(name, value)| !value.is_empty() && !ignore.iter().any(|i| i == *name))
        .map(|(name, value)| Matcher {
            name: name.clone(),
            value: value.clone(),
            is_regex: false,
            is_equal: true,
        })
        .collect()
}

/// Alertmanager's silence ids are UUIDs; nothing else goes into a path.
pub fn is_silence_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Basic or bearer auth for Alertmanager from `alertmanager.*_env` / `*_file`.
pub fn auth(
    config: &AlertmanagerConfig,
    env: &HashMap<String, String>,
) -> Result<FlinkAuth, ConfigError> {
    let password = read_optional(
        env,
        config.password_env.as_deref(),
        config.password_file.as_deref(),
        "alertmanager.password",
    )?;
    let token = read_optional(
        env,
        config.token_env.as_deref(),
        config.token_file.as_deref(),
        "alertmanager.token",
    )?;
    match (config.username.clone(), password, token) {
        (_, Some(_), Some(_)) => Err(ConfigError {
            source_name: "configuration".into(),
            problem: "key `alertmanager`: configure either basic auth or a bearer token, not both"
                .into(),
        }),
        (Some(username), Some(password), None) => Ok(FlinkAuth::Basic { username, password }),
        (_, None, Some(token)) => Ok(FlinkAuth::Bearer(token)),
        _ => Ok(FlinkAuth::None),
    }
}

#[derive(Debug, Clone)]
pub struct SilenceClient {
    base: Url,
    auth: FlinkAuth,
    http: reqwest::Client,
    timeout: Duration,
    ignore_labels: Vec<String>,
}

impl SilenceClient {
    /// `None` when no `alertmanager.url` is configured (the silence action is then unavailable).
    pub fn new(
        config: &AlertmanagerConfig,
        auth: FlinkAuth,
        http: reqwest::Client,
    ) -> Result<Option<SilenceClient>, String> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let with_slash = format!("{}/", url.trim_end_matches('/'));
        let base = Url::parse(&with_slash).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        Ok(Some(SilenceClient {
            base,
            auth,
            http,
            timeout: Duration::from_millis(config.timeout_ms),
            ignore_labels: config.silence_ignore_labels.clone(),
        }))
    }

    /// A silence for the alert with these labels, from now for `minutes`.
    pub fn silence_for(
        &self,
        labels: &BTreeMap<String, String>,
        now: DateTime<Utc>,
        minutes: u32,
        created_by: &str,
        comment: &str,
    ) -> NewSilence {
        NewSilence {
            matchers: matchers_for(labels, &self.ignore_labels),
            starts_at: now,
            ends_at: now + chrono::Duration::minutes(i64::from(minutes)),
            created_by: created_by.to_string(),
            comment: comment.to_string(),
        }
    }

    /// `POST /api/v2/silences`; returns the new silence's id.
    pub async fn create(&self, silence: &NewSilence) -> Result<String, SilenceError> {
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "silenceID")]
            silence_id: String,
        }
        let body =
            serde_json::to_value(silence).map_err(|e| SilenceError::Decode(e.to_string()))?;
        let bytes = self
            .send(reqwest::Method::POST, "api/v2/silences", Some(body))
            .await?;
        let created: Created =
            serde_json::from_slice(&bytes).map_err(|e| SilenceError::Decode(e.to_string()))?;
        Ok(created.silence_id)
    }

    pub async fn get(&self, id: &str) -> Result<Silence, SilenceError> {
        let path = format!("api/v2/silence/{}", checked(id)?);
        let bytes = self.send(reqwest::Method::GET, &path, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| SilenceError::Decode(e.to_string()))
    }

    /// `DELETE /api/v2/silence/:id`. Expiring an expired silence is not an error (a second
    /// "Unsilence" click, or a retry after a lost answer).
    pub async fn expire(&self, id: &str) -> Result<(), SilenceError> {
        let path = format!("api/v2/silence/{}", checked(id)?);
        match self.send(reqwest::Method::DELETE, &path, None).await {
            Ok(_) => Ok(()),
            Err(e @ SilenceError::Status { .. }) => match self.get(id).await {
                Ok(s) if s.status.state == SilenceState::Expired => Ok(()),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>, SilenceError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| SilenceError::Decode(format!("bad path {path}: {e}")))?;
        let mut request = self.http.request(method, url).timeout(self.timeout);
        request = match &self.auth {
            FlinkAuth::None => request,
            FlinkAuth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            FlinkAuth::Bearer(token) => request.bearer_auth(token.expose_secret()),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let ms = self.timeout.as_millis() as u64;
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                SilenceError::Timeout(ms)
            } else {
                SilenceError::Unreachable(e.to_string())
            }
        };
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(classify)?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(SilenceError::NotFound);
        }
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            return Err(SilenceError::Status {
                status: status.as_u16(),
                body: text.trim().to_string(),
            });
        }
        Ok(bytes.to_vec())
    }
}

fn checked(id: &str) -> Result<&str, SilenceError> {
    if is_silence_id(id) {
        Ok(id)
    } else {
        Err(SilenceError::BadId(id.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        [
            ("alertname", "FlinkJobUnstable"),
            ("job_name", "orders"),
            ("flink_cluster", "prod"),
            ("pod", "jm-7d9f"),
            ("empty", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn matchers_are_the_labels_exactly_minus_ignored_and_empty_ones() {
        let m = matchers_for(&labels(), &["pod".to_string()]);
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["alertname", "flink_cluster", "job_name"]);
        assert!(m.iter().all(|m| m.is_equal && !m.is_regex));
        assert_eq!(
            serde_json::to_value(&m[0]).unwrap(),
            serde_json::json!({"name": "alertname", "value": "FlinkJobUnstable", "isRegex": false, "isEqual": true})
        );
    }

    #[test]
    fn silence_ids_are_uuids() {
        assert!(is_silence_id("6f5b2c1e-8f3a-4d2b-9c1e-0a1b2c3d4e5f"));
        for bad in [
            "",
            "../silences",
            "6f5b2c1e-8f3a-4d2b-9c1e-0a1b2c3d4e5",
            "6f5b2c1e/8f3a-4d2b-9c1e-0a1b2c3d4e5f",
        ] {
            assert!(!is_silence_id(bad), "{bad}");
        }
    }

    #[test]
    fn auth_comes_from_env_or_nothing() {
        let env = HashMap::from([("AM_TOKEN".to_string(), "t0k".to_string())]);
        let cfg = AlertmanagerConfig {
            token_env: Some("AM_TOKEN".into()),
            ..Default::default()
        };
        assert!(matches!(auth(&cfg, &env).unwrap(), FlinkAuth::Bearer(_)));
        assert!(matches!(
            auth(&AlertmanagerConfig::default(), &env).unwrap(),
            FlinkAuth::None
        ));
        let missing = AlertmanagerConfig {
            token_env: Some("NOPE".into()),
            ..Default::default()
        };
        assert!(auth(&missing, &env)
            .unwrap_err()
            .problem
            .contains("alertmanager.token_env"));
    }

    #[test]
    fn config_keys_are_checked_and_named() {
        let load = |text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("bot.toml");
            std::fs::write(&file, text).unwrap();
            crate::config::Config::load(Some(&file), Vec::new())
        };
        let defaults = load("").unwrap();
        assert_eq!(defaults.flink.action_timeout_ms, 30_000);
        assert!(defaults.alertmanager.url.is_none());
        let ok =
            load("[alertmanager]\nurl = \"http://am:9093\"\nsilence_ignore_labels = [\"pod\"]\n")
                .unwrap();
        assert_eq!(ok.alertmanager.silence_ignore_labels, ["pod"]);
        for (text, key) in [
            ("[alertmanager]\nurl = \"ftp://am\"\n", "alertmanager.url"),
            ("[alertmanager]\nurl = \"not a url\"\n", "alertmanager.url"),
            (
                "[alertmanager]\npassword_env = \"X\"\n",
                "alertmanager.username",
            ),
            ("[alertmanager]\nurll = \"http://am\"\n", "urll"),
            (
                "[flink]\naction_timeout_ms = 0\n",
                "flink.action_timeout_ms",
            ),
        ] {
            let err = load(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
