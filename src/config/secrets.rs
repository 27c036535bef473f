//! Secrets come from the environment or from files (Kubernetes/Docker secrets), never from the
//! TOML file itself, and are held as `SecretString` so a stray `{:?}` prints `[REDACTED]`.

use std::collections::HashMap;
use std::path::Path;

use secrecy::SecretString;

use super::{ClusterConfig, Config, ConfigError};

#[derive(Debug, Clone)]
pub enum FlinkAuth {
    None,
    Basic {
        username: String,
        password: SecretString,
    },
    Bearer(SecretString),
}

/// Every secret the bot uses, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub webhook_bearer: Option<SecretString>,
    pub discord_token: Option<SecretString>,
    pub flink: HashMap<String, FlinkAuth>,
    /// Seals audit entries with HMAC-SHA256 when set (`audit.hmac_key_env` / `_file`).
    pub audit_hmac_key: Option<SecretString>,
}

impl Secrets {
    pub fn resolve(config: &Config, env: &HashMap<String, String>) -> Result<Secrets, ConfigError> {
        let webhook_bearer = read_secret(
            env,
            &config.server.bearer_token_env,
            config.server.bearer_token_file.as_deref(),
            "server.bearer_token_file",
        )?;
        let discord_token = read_secret(
            env,
            &config.discord.token_env,
            config.discord.token_file.as_deref(),
            "discord.token_file",
        )?;
        let mut flink = HashMap::new();
        for (i, cluster) in config.clusters.iter().enumerate() {
            flink.insert(cluster.name.clone(), cluster_auth(env, i, cluster)?);
        }
        let audit_hmac_key = read_secret(
            env,
            &config.audit.hmac_key_env,
            config.audit.hmac_key_file.as_deref(),
            "audit.hmac_key_file",
        )?;
        if let Some(key) = &audit_hmac_key {
            let len = secrecy::ExposeSecret::expose_secret(key).len();
            if len < super::policy::MIN_HMAC_KEY_BYTES {
                return Err(ConfigError::new(
                    "configuration",
                    format!(
                        "key `audit.hmac_key_env`/`audit.hmac_key_file`: the audit HMAC key has {len} bytes, at least {} are needed (e.g. `openssl rand -hex 32`)",
                        super::policy::MIN_HMAC_KEY_BYTES
                    ),
                ));
            }
        }
        Ok(Secrets {
            webhook_bearer,
            discord_token,
            flink,
            audit_hmac_key,
        })
    }
}

fn cluster_auth(
    env: &HashMap<String, String>,
    i: usize,
    c: &ClusterConfig,
) -> Result<FlinkAuth, ConfigError> {
    let password = read_optional(
        env,
        c.password_env.as_deref(),
        c.password_file.as_deref(),
        &format!("clusters[{i}].password"),
    )?;
    let token = read_optional(
        env,
        c.token_env.as_deref(),
        c.token_file.as_deref(),
        &format!("clusters[{i}].token"),
    )?;
    match (c.username.clone(), password, token) {
        (_, Some(_), Some(_)) => Err(ConfigError::new(
            "configuration",
            format!("key `clusters[{i}]`: configure either basic auth or a bearer token, not both"),
        )),
        (Some(username), Some(password), None) => Ok(FlinkAuth::Basic { username, password }),
        (_, None, Some(token)) => Ok(FlinkAuth::Bearer(token)),
        _ => Ok(FlinkAuth::None),
    }
}

pub(crate) fn read_optional(
    env: &HashMap<String, String>,
    env_name: Option<&str>,
    file: Option<&Path>,
    key: &str,
) -> Result<Option<SecretString>, ConfigError> {
    if let Some(name) = env_name {
        return match env.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim().to_string()))),
            _ => Err(ConfigError::new(
                "environment",
                format!("key `{key}_env` names ${name}, which is not set"),
            )),
        };
    }
    match file {
        Some(path) => read_file(path, &format!("{key}_file")).map(Some),
        None => Ok(None),
    }
}

/// A secret with a conventional environment variable that may simply be absent.
fn read_secret(
    env: &HashMap<String, String>,
    env_name: &str,
    file: Option<&Path>,
    file_key: &str,
) -> Result<Option<SecretString>, ConfigError> {
    if let Some(v) = env.get(env_name).filter(|v| !v.trim().is_empty()) {
        return Ok(Some(SecretString::from(v.trim().to_string())));
    }
    match file {
        Some(path) => read_file(path, file_key).map(Some),
        None => Ok(None),
    }
}

fn read_file(path: &Path, key: &str) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            path.display().to_string(),
            format!("key `{key}`: cannot read the secret file: {e}"),
        )
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ConfigError::new(
            path.display().to_string(),
            format!("key `{key}`: the secret file is empty"),
        ));
    }
    Ok(SecretString::from(text.to_string()))
}
