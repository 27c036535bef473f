//! deploy/systemd/flink-chatops.service: `systemd-analyze verify` finds nothing to say,
//! `systemd-analyze security` rates it hardened, and the overrides it sets are keys the bot
//! accepts. verify checks that ExecStart exists, so a copy points at the binary cargo built.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{bot, repo, run, text, tool};

const UNIT: &str = "deploy/systemd/flink-chatops.service";
const INSTALLED_AT: &str = "/usr/local/bin/flink-chatops";

fn systemd_analyze() -> PathBuf {
    tool("SYSTEMD_ANALYZE_BIN", "systemd-analyze", "systemd")
}

fn shipped() -> String {
    let unit = std::fs::read_to_string(repo(UNIT)).unwrap();
    assert!(
        unit.contains(&format!("ExecStart={INSTALLED_AT} serve")),
        "{UNIT} no longer runs {INSTALLED_AT}"
    );
    unit
}

/// The unit under its own name in a fresh directory, with the binary path swapped for cargo's.
fn copy(dir: &Path, unit: &str) -> PathBuf {
    let file = dir.join("flink-chatops.service");
    std::fs::write(&file, unit.replace(INSTALLED_AT, bot().to_str().unwrap())).unwrap();
    file
}

/// verify passes only if it exits 0 *and* says nothing: it reports unknown or unparsable
/// settings as warnings and still exits 0.
fn verify(file: &Path) -> (bool, String) {
    let out = run(
        &systemd_analyze(),
        &["verify", "--man=no", file.to_str().unwrap()],
    );
    let quiet = out.stdout.is_empty() && out.stderr.is_empty();
    (out.status.success() && quiet, text(&out))
}

fn exposure_at_most_2(file: &Path) -> (bool, String) {
    // The threshold is on systemd's 0-100 scale; the summary line shows it divided by 10.
    let out = run(
        &systemd_analyze(),
        &[
            "security",
            "--offline=yes",
            "--threshold=20",
            file.to_str().unwrap(),
        ],
    );
    let said = text(&out);
    let summary = said
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or("")
        .to_string();
    (out.status.success(), summary + "\n" + &said)
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = verify(&copy(dir.path(), &shipped()));
    assert!(ok, "systemd-analyze verify {UNIT}:\n{said}");
}

#[test]
fn systemd_analyze_verify_fails_a_broken_unit() {
    let unit = shipped();
    for broken in [
        unit.replace("Type=exec", "Type=exce"),
        unit.replace("ProtectSystem=strict", "ProtectSytem=strict"),
        unit.replace(
            &format!("ExecStart={INSTALLED_AT}"),
            "ExecStart=/nonexistent/flink-chatops",
        ),
    ] {
        assert_ne!(broken, unit);
        let dir = tempfile::tempdir().unwrap();
        let (ok, said) = verify(&copy(dir.path(), &broken));
        assert!(!ok, "a broken unit passed: {said}");
    }
}

#[test]
fn systemd_unit_is_hardened() {
    let unit = shipped();
    for line in [
        "DynamicUser=yes",
        "StateDirectory=flink-chatops",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(line), "{UNIT} lacks {line:?}");
    }
    let nofile: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .expect("LimitNOFILE")
        .parse()
        .unwrap();
    assert!(nofile >= 16_384, "LimitNOFILE={nofile}");
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = exposure_at_most_2(&copy(dir.path(), &unit));
    assert!(ok, "systemd-analyze security: {said}");
    // ... and the check can fail: without the hardening block the exposure is far higher.
    let bare: String = unit
        .lines()
        .filter(|l| {
            !l.starts_with("Protect")
                && !l.starts_with("Private")
                && !l.starts_with("Restrict")
                && !l.starts_with("SystemCall")
                && !l.starts_with("Capability")
                && !l.starts_with("DynamicUser")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = exposure_at_most_2(&copy(dir.path(), &bare));
    assert!(!ok, "the unhardened copy passed: {said}");
}

/// The unit's `Environment=` overrides, with its credentials in place, make a config the bot
/// accepts (the shipped example, with a channel set as an operator would).
#[test]
fn the_units_environment_is_accepted_by_check_config() {
    let unit = shipped();
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    let mut cmd = Command::new(bot());
    cmd.arg("check-config")
        .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
        .env_remove("FLINK_CHATOPS_WEBHOOK_TOKEN")
        .env(
            "FLINK_CHATOPS__DISCORD__DEFAULT_CHANNEL",
            "123456789012345678",
        );
    for cred in unit
        .lines()
        .filter_map(|l| l.strip_prefix("LoadCredential="))
    {
        let (name, _) = cred.split_once(':').unwrap();
        std::fs::write(creds.join(name), format!("token-for-{name}")).unwrap();
    }
    let mut vars = 0;
    for env in unit.lines().filter_map(|l| l.strip_prefix("Environment=")) {
        let (k, v) = env.split_once('=').unwrap();
        let v = v
            .replace("%d", creds.to_str().unwrap())
            .replace(
                "/etc/flink-chatops/flink-chatops.toml",
                repo("deploy/flink-chatops.example.toml").to_str().unwrap(),
            )
            .replace("/var/lib/flink-chatops", dir.path().to_str().unwrap());
        cmd.env(k, v);
        vars += 1;
    }
    assert!(vars >= 4, "{vars} Environment= lines");
    let out = cmd.output().unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("output discord"),
        "the Discord token credential is used: {said}"
    );
    assert!(!said.contains("token-for-"), "a secret was printed: {said}");
}
