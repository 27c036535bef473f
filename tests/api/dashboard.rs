//! The shipped Grafana dashboard against a live bot: every metric its queries read is one the bot
//! exports, it shows every `flink_chatops_` metric, and a real Prometheus scraping the bot
//! answers each of its queries with series and evaluates the bot's alert rules without error.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::*;
use crate::metrics::{sample_names, scrape, FAMILIES};

const DASHBOARD: &str = "deploy/grafana/flink-chatops.json";

/// Words that are never metric names: binary operators, modifiers and aggregation operators
/// (which may be followed by `by (...)` instead of their argument).
const NOT_METRICS: [&str; 19] = [
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];

/// Metric names a PromQL expression reads: identifiers that are not functions, keywords, label
/// lists (`by (...)`), label matchers (`{...}`), ranges (`[5m]`), numbers or `$variables`.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let skip_group = |i: &mut usize, open: char, close: char| {
        let mut depth = 0;
        while *i < chars.len() {
            if chars[*i] == open {
                depth += 1;
            } else if chars[*i] == close {
                depth -= 1;
                if depth == 0 {
                    *i += 1;
                    return;
                }
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            skip_group(&mut i, '{', '}');
        } else if c == '[' {
            skip_group(&mut i, '[', ']');
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
        } else if c == '$' || c.is_ascii_digit() || c == '.' {
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.{}".contains(chars[i])) {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            let call = j < chars.len() && chars[j] == '(';
            let label_list = [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ];
            if call && label_list.contains(&word.as_str()) {
                i = j;
                skip_group(&mut i, '(', ')');
            } else if !call && !NOT_METRICS.contains(&word.as_str()) {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[test]
fn promql_metric_names_are_found() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.99, sum by (le) (rate(flink_chatops_page_latency_seconds_bucket{instance=~"$instance"}[$__rate_interval])))"#
        ),
        ["flink_chatops_page_latency_seconds_bucket"]
    );
    assert_eq!(
        metric_names("sum without (outcome) (rate(a_total[5m])) / on (job) group_left b > 0.5 and c unless d"),
        ["a_total", "b", "c", "d"]
    );
}

#[tokio::test]
async fn the_dashboard_queries_only_metrics_the_bot_exports_and_shows_them_all() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DASHBOARD);
    let text = std::fs::read_to_string(&path).unwrap();
    let dashboard: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"));
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "{} panels", panels.len());
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    assert!(queries.len() >= panels.len() - 2, "every graph has a query");

    let app = spawn_app(AppOptions::default()).await;
    let exported = sample_names(&scrape(&app).await);
    let problems = dashboard_problems(&dashboard, &exported);
    assert!(problems.is_empty(), "{DASHBOARD}:\n{}", problems.join("\n"));
    // The check bites: a misspelt metric and a metric no panel shows are both reported.
    let broken: Value = serde_json::from_str(&text.replace(
        "flink_chatops_delivery_gave_up_total",
        "flink_chatops_delivery_given_up_total",
    ))
    .unwrap();
    let problems = dashboard_problems(&broken, &exported).join("\n");
    assert!(
        problems.contains("queries flink_chatops_delivery_given_up_total"),
        "{problems}"
    );
    assert!(
        problems.contains("nothing of flink_chatops_delivery_gave_up_total"),
        "{problems}"
    );
}

/// Queries that read no metric or one the bot does not export, and bot metrics no query shows.
fn dashboard_problems(dashboard: &Value, exported: &BTreeSet<String>) -> Vec<String> {
    let mut queries = Vec::new();
    exprs(dashboard, &mut queries);
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for q in &queries {
        let names = metric_names(q);
        if names.is_empty() {
            problems.push(format!("a query reads no metric: {q}"));
        }
        for name in names {
            if !exported.contains(&name) {
                problems.push(format!(
                    "queries {name}, which the bot does not export ({q})"
                ));
            }
            used.insert(name);
        }
    }
    for family in FAMILIES {
        if !used.iter().any(|u| u.starts_with(family)) {
            problems.push(format!("shows nothing of {family}"));
        }
    }
    problems
}

/// A real Prometheus (Debian's, beside promtool) that scrapes the bot every second and loads the
/// bot's alert rules; killed on drop.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(bot_addr: &str) -> Prometheus {
        let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
        let dir = tempfile::tempdir().unwrap();
        let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/prometheus/flink-chatops-alerts.yml");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: ['{}']\nscrape_configs:\n  - job_name: flink-chatops\n    static_configs: [{{targets: ['{bot_addr}']}}]\n",
                rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start Prometheus `{bin}` ({e}): run tests/run.sh, which installs it (Debian package `prometheus`)")
            });
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The result vector of an instant query; panics if Prometheus refuses the query.
    async fn query(&self, q: &str) -> Vec<Value> {
        let r: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", q)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["status"], "success", "{q}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

/// The story an SRE follows: Prometheus scrapes the bot, every dashboard query returns series,
/// and the bot's rules evaluate without error against the real scrape.
#[tokio::test]
async fn a_real_prometheus_scrapes_the_bot_and_answers_every_dashboard_query() {
    let app = spawn_app(AppOptions::default()).await;
    let prom = Prometheus::start(&app.addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = reqwest::get(format!("{}/-/ready", prom.url)).await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            let up = prom
                .query(r#"count_over_time(up{job="flink-chatops"}[1m]) >= 5 and up{job="flink-chatops"} == 1"#)
                .await;
            if !up.is_empty() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape the bot 5 times"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DASHBOARD))
            .unwrap();
    let mut queries = Vec::new();
    exprs(&serde_json::from_str(&text).unwrap(), &mut queries);
    for q in queries {
        // What Grafana substitutes before it sends the query.
        let q = q
            .replace("$__rate_interval", "10s")
            .replace("$__range", "1m")
            .replace("$instance", ".*");
        let result = prom.query(&q).await;
        assert!(!result.is_empty(), "no series for the dashboard query {q}");
    }

    let rules: Value = reqwest::get(format!("{}/api/v1/rules", prom.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "flink-chatops", "{rules}");
    let rules = group["rules"].as_array().unwrap();
    assert!(rules.len() >= 8, "{rules:?}");
    for rule in rules {
        assert_eq!(rule["health"], "ok", "{rule}");
        // A healthy idle bot fires none of its own alerts (beyond pending `for` windows).
        assert_ne!(rule["state"], "firing", "{rule}");
    }
}
