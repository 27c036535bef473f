//! `[alertmanager]`: where silences made from chat go, and how the bot authenticates there.

use std::path::PathBuf;

use serde::Deserialize;

/// The Alertmanager the bot creates silences in (API v2). No `url`: no silence action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerConfig {
    pub url: Option<String>,
    pub timeout_ms: u64,
    /// Labels left out of a silence's matchers (every other label of the alert must match
    /// exactly), e.g. `pod` so the silence survives a pod restart.
    pub silence_ignore_labels: Vec<String>,
    /// Basic auth user; the password comes from `password_env` or `password_file`.
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Bearer token from `token_env` or `token_file`.
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            url: None,
            timeout_ms: 5_000,
            silence_ignore_labels: Vec::new(),
            username: None,
            password_env: None,
            password_file: None,
            token_env: None,
            token_file: None,
        }
    }
}

impl AlertmanagerConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.url {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| format!("key `alertmanager.url`: {url:?} is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err("key `alertmanager.url`: only http and https are supported".into());
            }
        }
        if self.timeout_ms == 0 {
            return Err("key `alertmanager.timeout_ms`: must be at least 1".into());
        }
        if (self.password_env.is_some() || self.password_file.is_some()) && self.username.is_none()
        {
            return Err(
                "key `alertmanager.username`: a password is configured but no username".into(),
            );
        }
        Ok(())
    }
}
