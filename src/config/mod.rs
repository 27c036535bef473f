//! Configuration: embedded defaults, then an optional TOML file, then environment overrides.
//!
//! Every error names the file and the key so `check-config` can tell an operator exactly what to
//! fix. Secrets never live in this struct as plain strings: they are resolved by [`secrets`] into
//! `SecretString`s that do not print.

mod alertmanager;
mod discord;
mod operator;
pub mod policy;
pub mod retention;
pub mod secrets;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use alertmanager::AlertmanagerConfig;
pub use discord::{DiscordConfig, RouteConfig, DISCORD_API_BASE, GATEWAY_BUILT};
pub use operator::{is_k8s_name, OperatorConfig};
pub use policy::{AuditConfig, PolicyConfig, Principal};
pub use secrets::{FlinkAuth, Secrets};

/// Environment variables starting with this prefix override keys of the file: `__` separates
/// nesting levels, e.g. `FLINK_CHATOPS__SERVER__LISTEN=0.0.0.0:9000`.
pub const ENV_PREFIX: &str = "FLINK_CHATOPS__";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub flink: FlinkConfig,
    pub clusters: Vec<ClusterConfig>,
    pub discord: DiscordConfig,
    pub responses: ResponsesConfig,
    pub delivery: DeliveryConfig,
    pub alertmanager: AlertmanagerConfig,
    pub policy: PolicyConfig,
    pub audit: AuditConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest webhook body accepted, in bytes. Alertmanager caps groups itself (`max_alerts`),
    /// so anything beyond this is a misconfiguration or an attack.
    pub max_body_bytes: usize,
    /// Bearer token Alertmanager must send. Prefer the environment or a file (see README).
    pub bearer_token_env: String,
    pub bearer_token_file: Option<PathBuf>,
    /// A request's header must arrive within this, counted from when the connection is ready for
    /// one (so it is also how long a kept-alive connection may sit idle), and then its body
    /// within this again. Slow or silent clients are closed instead of holding a file.
    pub read_timeout_ms: u64,
    /// Connections served at once; more wait in the kernel's backlog. 0 = derived from the
    /// open-file limit (RLIMIT_NOFILE), leaving room for the store and outgoing connections.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub path: PathBuf,
    /// Deadline of each storage call (a write, its fsync, a read); past it the store counts as
    /// failed and the bot answers 503 until it is restarted (see the README, Durability).
    pub timeout_ms: u64,
    /// How long a resolved incident (with its notes, requests, digest line) and a quiet job's
    /// exception history are kept: "90d", "36h", or "forever". See `store::retention`.
    pub retention: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlinkConfig {
    /// Deadline for each single Flink REST call during enrichment.
    pub call_timeout_ms: u64,
    /// Cluster used when an alert names none (label `cluster_label`).
    pub default_cluster: Option<String>,
    /// Label naming the cluster; its value must be one of `clusters[].name`, never a URL.
    pub cluster_label: String,
    /// When a page went out with Flink facts missing, look again after this long (then twice and
    /// three times as long) and edit the message in place. 0 turns it off.
    pub refill_after_ms: u64,
    /// Deadline for calls that act (savepoint, stop, cancel, thread dump): longer than
    /// enrichment's, since a thread dump of a busy TaskManager takes seconds.
    pub action_timeout_ms: u64,
    /// How often each cluster is asked which jobs it runs (`crate::roster`), so that a cluster
    /// that stops answering is one incident listing all of them. 0 turns it off.
    pub roster_every_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub name: String,
    pub rest_url: String,
    /// Where humans open the Flink UI (defaults to `rest_url`).
    #[serde(default)]
    pub web_ui_url: Option<String>,
    #[serde(default)]
    pub savepoint_dir: Option<String>,
    /// Basic auth user; the password comes from `password_env` or `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Bearer token for the REST API from `token_env` or `token_file`.
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Package prefixes of the jobs' own code (`com.acme.`), to tell a job's bug from Flink's or
    /// a library's; when empty they are guessed from each stack trace (see `facts::frames`).
    #[serde(default)]
    pub user_packages: Vec<String>,
    /// The Flink Kubernetes Operator's `FlinkDeployment` that runs this cluster's job, when the
    /// JobManager's own configuration does not tell (see `action::operator`): stop and cancel
    /// are then answered with the operator's way instead of a REST call.
    #[serde(default)]
    pub operator: Option<OperatorConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponsesConfig {
    /// Directory of handlebars templates overriding the embedded ones (same file names).
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How many incidents are enriched and delivered at once.
    pub concurrency: usize,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// New posts in a channel within a minute after which further minor incidents go into the
    /// channel's storm digest (see `digest`); 0 turns digests off.
    pub digest_after: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            flink: FlinkConfig::default(),
            clusters: vec![ClusterConfig {
                name: "default".into(),
                rest_url: "http://localhost:8081".into(),
                web_ui_url: None,
                savepoint_dir: None,
                username: None,
                password_env: None,
                password_file: None,
                token_env: None,
                token_file: None,
                user_packages: Vec::new(),
                operator: None,
            }],
            discord: DiscordConfig::default(),
            responses: ResponsesConfig::default(),
            delivery: DeliveryConfig::default(),
            alertmanager: AlertmanagerConfig::default(),
            policy: PolicyConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9094)),
            max_body_bytes: 1024 * 1024,
            bearer_token_env: "FLINK_CHATOPS_WEBHOOK_TOKEN".into(),
            bearer_token_file: None,
            read_timeout_ms: 10_000,
            max_connections: 0,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: PathBuf::from("flink-chatops-data"),
            timeout_ms: 5_000,
            retention: retention::DEFAULT.into(),
        }
    }
}

impl Default for FlinkConfig {
    fn default() -> Self {
        FlinkConfig {
            call_timeout_ms: 2_000,
            default_cluster: None,
            cluster_label: "flink_cluster".into(),
            refill_after_ms: 30_000,
            action_timeout_ms: 30_000,
            roster_every_ms: 60_000,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            concurrency: 32,
            retry_initial_ms: 500,
            retry_max_ms: 60_000,
            digest_after: 10,
        }
    }
}

/// A configuration problem, phrased for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {problem}")]
pub struct ConfigError {
    /// The file (or "environment" / "defaults") the bad value came from.
    pub source_name: String,
    pub problem: String,
}

impl ConfigError {
    fn new(source_name: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            source_name: source_name.into(),
            problem: problem.into(),
        }
    }
}

impl Config {
    /// Loads the file (if any), applies `FLINK_CHATOPS__*` overrides from `env`, and validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (source_name, mut value) = match file {
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::new(&name, format!("cannot read the file: {e}")))?;
                let value: toml::Table = toml::from_str(&text)
                    .map_err(|e| ConfigError::new(&name, format!("not valid TOML: {e}")))?;
                (name, value)
            }
            None => ("defaults".to_string(), toml::Table::new()),
        };
        let mut overridden = Vec::new();
        for (key, raw) in env {
            let Some(path) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
            set_path(&mut value, &parts, parse_env_value(&raw))
                .map_err(|p| ConfigError::new("environment", format!("{key}: {p}")))?;
            overridden.push(parts.join("."));
        }
        let described = if overridden.is_empty() {
            source_name.clone()
        } else {
            format!(
                "{source_name} (with environment overrides for {})",
                overridden.join(", ")
            )
        };
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(value)).map_err(|e| {
                let key = e.path().to_string();
                ConfigError::new(&described, format!("key `{key}`: {}", e.into_inner()))
            })?;
        config
            .validate()
            .map_err(|p| ConfigError::new(&described, p))?;
        Ok(config)
    }

    /// Cross-field checks that serde cannot express.
    fn validate(&self) -> Result<(), String> {
        if self.clusters.is_empty() {
            return Err("key `clusters`: at least one Flink cluster is needed".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.clusters.iter().enumerate() {
            if !seen.insert(c.name.as_str()) {
                return Err(format!(
                    "key `clusters[{i}].name`: duplicate cluster name {:?}",
                    c.name
                ));
            }
            if let Some(op) = &c.operator {
                for (key, value) in [("namespace", &op.namespace), ("deployment", &op.deployment)] {
                    if !is_k8s_name(value) {
                        return Err(format!(
                            "key `clusters[{i}].operator.{key}`: {value:?} is not a Kubernetes name (lower-case letters, digits, '-' and '.')"
                        ));
                    }
                }
            }
            for (key, url) in [
                ("rest_url", Some(&c.rest_url)),
                ("web_ui_url", c.web_ui_url.as_ref()),
            ] {
                if let Some(url) = url {
                    let parsed = reqwest::Url::parse(url).map_err(|e| {
                        format!("key `clusters[{i}].{key}`: {url:?} is not a URL: {e}")
                    })?;
                    if !matches!(parsed.scheme(), "http" | "https") {
                        return Err(format!(
                            "key `clusters[{i}].{key}`: only http and https are supported"
                        ));
                    }
                }
            }
            if let Some(j) = c.user_packages.iter().position(|p| p.trim().is_empty()) {
                return Err(format!(
                    "key `clusters[{i}].user_packages[{j}]`: an empty prefix would match every class"
                ));
            }
            if (c.password_env.is_some() || c.password_file.is_some()) && c.username.is_none() {
                return Err(format!(
                    "key `clusters[{i}].username`: a password is configured but no username"
                ));
            }
        }
        if let Some(name) = &self.flink.default_cluster {
            if !self.clusters.iter().any(|c| &c.name == name) {
                return Err(format!(
                    "key `flink.default_cluster`: no cluster is named {name:?}"
                ));
            }
        }
        for (i, r) in self.discord.routes.iter().enumerate() {
            if let Some(name) = &r.cluster {
                if !self.clusters.iter().any(|c| &c.name == name) {
                    return Err(format!(
                        "key `discord.routes[{i}].cluster`: no cluster is named {name:?}"
                    ));
                }
            }
        }
        reqwest::Url::parse(&self.discord.api_base)
            .map_err(|e| format!("key `discord.api_base`: not a URL: {e}"))?;
        if let Some(key) = &self.discord.public_key {
            crate::interact::verify::parse_public_key(key)
                .map_err(|e| format!("key `discord.public_key`: {e}"))?;
            if self.discord.application_id.is_none() {
                return Err("key `discord.application_id`: required when `discord.public_key` is set (answers to interactions are sent as the application)".into());
            }
        }
        self.discord.check_gateway_built(discord::GATEWAY_BUILT)?;
        if self.discord.gateway == Some(true) && self.discord.application_id.is_none() {
            return Err(
                "key `discord.application_id`: required when `discord.gateway` is on".into(),
            );
        }
        if self.discord.register_commands && self.discord.application_id.is_none() {
            return Err(
                "key `discord.application_id`: required when `discord.register_commands` is on"
                    .into(),
            );
        }
        if self.discord.max_request_age_secs == 0 {
            return Err("key `discord.max_request_age_secs`: must be at least 1".into());
        }
        // A zero wait would reconnect to a failing gateway as fast as it closes.
        if self.discord.gateway_backoff_initial_ms < 10 {
            return Err("key `discord.gateway_backoff_initial_ms`: must be at least 10".into());
        }
        if self.discord.gateway_backoff_max_ms < self.discord.gateway_backoff_initial_ms {
            return Err("key `discord.gateway_backoff_max_ms`: must be at least `discord.gateway_backoff_initial_ms`".into());
        }
        if self.discord.gateway_hello_timeout_ms < 100 {
            return Err("key `discord.gateway_hello_timeout_ms`: must be at least 100".into());
        }
        if self.server.max_body_bytes < 1024 {
            return Err("key `server.max_body_bytes`: must be at least 1024".into());
        }
        if self.server.read_timeout_ms == 0 {
            return Err("key `server.read_timeout_ms`: must be at least 1".into());
        }
        if self.storage.timeout_ms == 0 {
            return Err("key `storage.timeout_ms`: must be at least 1".into());
        }
        retention::parse(&self.storage.retention)
            .map_err(|e| format!("key `storage.retention`: {e}"))?;
        if self.delivery.concurrency == 0 {
            return Err("key `delivery.concurrency`: must be at least 1".into());
        }
        if self.flink.call_timeout_ms == 0 {
            return Err("key `flink.call_timeout_ms`: must be at least 1".into());
        }
        if self.flink.action_timeout_ms == 0 {
            return Err("key `flink.action_timeout_ms`: must be at least 1".into());
        }
        self.alertmanager.validate()?;
        self.policy.validate()?;
        self.audit.validate(&self.storage.path)?;
        Ok(())
    }

    /// `storage.retention` as a duration; `None` keeps everything ("forever").
    pub fn retention(&self) -> Option<std::time::Duration> {
        // Checked by `validate` when the config was loaded.
        retention::parse(&self.storage.retention).unwrap_or(None)
    }

    /// The cluster alerts fall back to: `flink.default_cluster`, else the first configured one.
    pub fn default_cluster(&self) -> &ClusterConfig {
        self.flink
            .default_cluster
            .as_ref()
            .and_then(|n| self.clusters.iter().find(|c| &c.name == n))
            .unwrap_or(&self.clusters[0])
    }
}

/// Environment values are TOML scalars when they parse as one (numbers, booleans, arrays),
/// strings otherwise, so `FLINK_CHATOPS__DISCORD__DEFAULT_CHANNEL=123` is a number.
fn parse_env_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// Sets `a.b.c` (or `clusters.0.rest_url`: a number indexes an array) inside `table`.
fn set_path(table: &mut toml::Table, parts: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = parts.split_first().ok_or("empty key")?;
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    if first == "clusters" && !table.contains_key("clusters") {
        // Overriding a field of the default cluster: materialise the defaults first.
        let defaults =
            toml::Value::try_from(DefaultClusterView::default()).map_err(|e| e.to_string())?;
        table.insert("clusters".into(), toml::Value::Array(vec![defaults]));
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in_value(entry, rest, value)
}

fn set_in_value(
    node: &mut toml::Value,
    parts: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => set_path(t, parts, value),
        toml::Value::Array(items) => {
            let (first, rest) = parts.split_first().ok_or("empty key")?;
            let index: usize = first
                .parse()
                .map_err(|_| format!("`{first}` should be an index into a list"))?;
            let item = items
                .get_mut(index)
                .ok_or_else(|| format!("there is no item {index} in the list"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_in_value(item, rest, value)
            }
        }
        _ => Err(format!("`{}` is not a table", parts.join("."))),
    }
}

/// The default cluster as it would be written in a file, so env overrides can patch it.
#[derive(serde::Serialize)]
struct DefaultClusterView {
    name: String,
    rest_url: String,
}

impl Default for DefaultClusterView {
    fn default() -> Self {
        let c = &Config::default().clusters[0];
        DefaultClusterView {
            name: c.name.clone(),
            rest_url: c.rest_url.clone(),
        }
    }
}
