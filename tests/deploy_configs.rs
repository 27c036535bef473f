//! The shipped deployment files, checked by the real tools: `promtool` for the Prometheus alert
//! rules (syntax, lint, and their unit tests) and `amtool` for the Alertmanager configuration
//! (validity and routing); `hadolint` for the Dockerfile, `kubernetes-validate` for the
//! Kubernetes manifests and `systemd-analyze` for the unit file (modules below). The tools come
//! from `$PROMTOOL_BIN`, `$AMTOOL_BIN`, `$HADOLINT_BIN`, ... (exported by `tests/env/setup.sh`),
//! else from PATH. A missing tool is a failure, never a skip. Each validator is also shown a
//! deliberately broken copy, so a check that passes everything would fail here.

#[path = "deploy/container.rs"]
mod container;
#[path = "deploy/kubernetes.rs"]
mod kubernetes;
#[path = "deploy/systemd.rs"]
mod systemd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RULES: &str = "deploy/prometheus/flink-alerts.yml";
const RULE_TESTS: &str = "deploy/prometheus/flink-alerts.test.yml";
const BOT_RULES: &str = "deploy/prometheus/flink-chatops-alerts.yml";
const BOT_RULE_TESTS: &str = "deploy/prometheus/flink-chatops-alerts.test.yml";
const ALERTMANAGER: &str = "deploy/alertmanager/alertmanager.yml";
const TOKEN_PATH: &str = "/etc/alertmanager/flink-chatops.token";

pub(crate) fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `$ENV_VAR`, else `name` on PATH; panics with the way to get it otherwise.
pub(crate) fn tool(env_var: &str, name: &str, package: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "{env_var}={} does not exist", bin.display());
        return bin;
    }
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        panic!(
            "{name} not found: set {env_var} or put it on PATH. Run the README's test command, \
             tests/run.sh, which installs it (Debian package `{package}`) and exports {env_var}."
        )
    })
}

fn promtool() -> PathBuf {
    tool("PROMTOOL_BIN", "promtool", "prometheus")
}

fn amtool() -> PathBuf {
    tool("AMTOOL_BIN", "amtool", "prometheus-alertmanager")
}

/// The flink-chatops binary cargo built for these tests.
pub(crate) fn bot() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flink-chatops"))
}

pub(crate) fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The Alertmanager config as shipped, except that the bearer token file points at a temporary
/// file that exists (amtool versions differ in whether they open it).
fn alertmanager_copy(dir: &Path) -> PathBuf {
    let token = dir.join("flink-chatops.token");
    std::fs::write(&token, "test-token\n").unwrap();
    let shipped = std::fs::read_to_string(repo(ALERTMANAGER)).unwrap();
    assert!(
        shipped.contains(TOKEN_PATH),
        "{ALERTMANAGER} no longer uses {TOKEN_PATH}"
    );
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        shipped.replace(TOKEN_PATH, token.to_str().unwrap()),
    )
    .unwrap();
    config
}

#[test]
fn prometheus_rules_pass_promtool_check() {
    let out = run(&promtool(), &["check", "rules", RULES]);
    assert!(
        out.status.success(),
        "promtool check rules {RULES}:\n{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SUCCESS"),
        "{}",
        text(&out)
    );
}

#[test]
fn prometheus_rules_pass_their_unit_tests() {
    let out = run(&promtool(), &["test", "rules", RULE_TESTS]);
    assert!(
        out.status.success(),
        "promtool test rules {RULE_TESTS}:\n{}",
        text(&out)
    );
}

/// What the bot and the runbook library rely on, which promtool does not enforce.
#[test]
fn every_alert_rule_has_severity_annotations_and_a_template() {
    let rules = std::fs::read_to_string(repo(RULES)).unwrap();
    let blocks: Vec<&str> = rules.split("- alert:").skip(1).collect();
    assert!(
        blocks.len() >= 10,
        "expected the shipped alert rules in {RULES}"
    );
    for block in blocks {
        let name = block.split_whitespace().next().unwrap();
        for key in ["severity:", "summary:", "description:", "runbook_url:"] {
            assert!(block.contains(key), "{name} in {RULES} has no {key}");
        }
        let template = repo(&format!("responses/alerts/{name}.hbs"));
        assert!(
            template.is_file(),
            "{name} has no template {}",
            template.display()
        );
    }
}

#[test]
fn alertmanager_config_passes_amtool_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = alertmanager_copy(dir.path());
    let out = run(&amtool(), &["check-config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "amtool check-config {ALERTMANAGER}:\n{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SUCCESS"),
        "{}",
        text(&out)
    );
}

#[test]
fn alertmanager_routes_flink_alerts_to_the_bot_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let config = alertmanager_copy(dir.path());
    let file = format!("--config.file={}", config.display());
    let route = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", file.as_str()];
        args.extend_from_slice(labels);
        let out = run(&amtool(), &args);
        assert!(
            out.status.success(),
            "amtool config routes test {labels:?}:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for alert in [
        "FlinkJobUnstable",
        "FlinkCheckpointFailing",
        "FlinkTaskManagerLost",
    ] {
        let labels = [
            format!("alertname={alert}"),
            "flink_cluster=prod".into(),
            "job_name=orders".into(),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        assert_eq!(route(&labels), "flink-chatops", "{alert}");
    }
    assert_eq!(route(&["alertname=NodeDown", "instance=db-1"]), "blackhole");
}

#[test]
fn bot_rules_pass_promtool_check() {
    let out = run(&promtool(), &["check", "rules", BOT_RULES]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("SUCCESS"),
        "promtool check rules {BOT_RULES}:\n{}",
        text(&out)
    );
}

/// Among them: a stuck backlog and a failing delivery fire, a draining backlog and 429s do not.
#[test]
fn bot_rules_pass_their_unit_tests() {
    let tests = std::fs::read_to_string(repo(BOT_RULE_TESTS)).unwrap();
    for case in [
        "FlinkChatopsBacklogStuck",
        "FlinkChatopsDeliveryFailing",
        "FlinkChatopsGatewayDown",
    ] {
        assert!(
            tests.contains(&format!("name: {case}")),
            "{BOT_RULE_TESTS} lost {case}"
        );
    }
    let out = run(&promtool(), &["test", "rules", BOT_RULE_TESTS]);
    assert!(
        out.status.success(),
        "promtool test rules {BOT_RULE_TESTS}:\n{}",
        text(&out)
    );
}

/// The unit tests bite: with a stuck-backlog threshold ten times higher they fail.
#[test]
fn bot_rule_tests_fail_on_a_broken_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(repo(BOT_RULES)).unwrap();
    let broken = rules.replace(
        "oldest_pending_age_seconds > 600",
        "oldest_pending_age_seconds > 6000",
    );
    assert_ne!(broken, rules);
    std::fs::write(dir.path().join("flink-chatops-alerts.yml"), broken).unwrap();
    std::fs::copy(repo(BOT_RULE_TESTS), dir.path().join("t.yml")).unwrap();
    let out = run(
        &promtool(),
        &["test", "rules", dir.path().join("t.yml").to_str().unwrap()],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("name: FlinkChatopsBacklogStuck"),
        "{}",
        text(&out)
    );
}

/// The bot's own alerts carry `component: flink-chatops` and reach people without the bot.
#[test]
fn bot_alerts_are_routed_to_people_not_to_the_bot() {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo(BOT_RULES)).unwrap()).unwrap();
    let mut names = Vec::new();
    for rule in rules["groups"][0]["rules"].as_sequence().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        assert_eq!(
            rule["labels"]["component"].as_str(),
            Some("flink-chatops"),
            "{name}"
        );
        assert!(rule["labels"]["severity"].is_string(), "{name}");
        for key in ["summary", "description", "runbook_url"] {
            assert!(rule["annotations"][key].is_string(), "{name} has no {key}");
        }
        names.push(name.to_string());
    }
    let dir = tempfile::tempdir().unwrap();
    let config = alertmanager_copy(dir.path());
    let file = format!("--config.file={}", config.display());
    names.dedup();
    for name in names {
        let alert = format!("alertname={name}");
        let out = run(
            &amtool(),
            &[
                "config",
                "routes",
                "test",
                &file,
                &alert,
                "component=flink-chatops",
                "instance=bot:9094",
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "sre-pager",
            "{name}: {}",
            text(&out)
        );
    }
}
