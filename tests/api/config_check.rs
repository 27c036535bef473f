//! `check-config` names the file, the key and the problem, and exits non-zero.

use std::process::Command;

fn check(config: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args(["check-config", "--config"])
        .arg(&file)
        .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    (
        out.status.success(),
        text.replace(&file.display().to_string(), "FILE"),
    )
}

#[test]
fn config_errors_name_the_file_and_the_key() {
    let (ok, text) = check("[server]\nlisten = \"not an address\"\n", &[]);
    assert!(!ok);
    assert!(
        text.contains("FILE") && text.contains("server.listen"),
        "{text}"
    );

    let (ok, text) = check(
        "[[clusters]]\nname = \"prod\"\nrest_url = \"ftp://x\"\n",
        &[],
    );
    assert!(!ok);
    assert!(text.contains("clusters[0].rest_url"), "{text}");

    let (ok, text) = check("[discord]\ndefault_chanel = 1\n", &[]);
    assert!(!ok);
    assert!(
        text.contains("default_chanel"),
        "unknown keys are named: {text}"
    );

    let (ok, text) = check("", &[("FLINK_CHATOPS__FLINK__CALL_TIMEOUT_MS", "soon")]);
    assert!(!ok);
    assert!(
        text.contains("environment") && text.contains("flink.call_timeout_ms"),
        "{text}"
    );

    let (ok, text) = check("[[clusters]]\nname = \"prod\"\nrest_url = \"http://flink:8081\"\ntoken_env = \"NO_SUCH_VAR_X\"\n", &[]);
    assert!(!ok);
    assert!(text.contains("NO_SUCH_VAR_X"), "{text}");

    let (ok, text) = check("", &[("FLINK_CHATOPS_DISCORD_TOKEN", "t")]);
    assert!(!ok);
    assert!(text.contains("discord.default_channel"), "{text}");

    let (ok, text) = check("[discord]\napplication_id = 1\npublic_key = \"abc\"\n", &[]);
    assert!(!ok);
    assert!(
        text.contains("FILE") && text.contains("discord.public_key") && text.contains("64 hex"),
        "{text}"
    );
    let key = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[42u8; 32])
            .verifying_key()
            .to_bytes(),
    );
    let (ok, text) = check(&format!("[discord]\npublic_key = \"{key}\"\n"), &[]);
    assert!(!ok);
    assert!(text.contains("discord.application_id"), "{text}");
    let (ok, text) = check("[discord]\ngateway = true\n", &[]);
    assert!(!ok);
    assert!(text.contains("discord.application_id"), "{text}");
    let (ok, text) = check("[discord]\ngateway_backoff_initial_ms = 0\n", &[]);
    assert!(!ok);
    assert!(
        text.contains("discord.gateway_backoff_initial_ms"),
        "{text}"
    );
    let (ok, text) = check(
        "[discord]\ngateway_backoff_initial_ms = 5000\ngateway_backoff_max_ms = 1000\n",
        &[],
    );
    assert!(!ok);
    assert!(text.contains("discord.gateway_backoff_max_ms"), "{text}");

    let (ok, text) = check(
        "[[clusters]]\nname = \"prod\"\nrest_url = \"http://flink:8081\"\n",
        &[("FLINK_CHATOPS__CLUSTERS__0__REST_URL", "http://other:8081")],
    );
    assert!(ok, "{text}");
    assert!(text.contains("config OK"), "{text}");
}

#[test]
fn secrets_are_never_printed() {
    let (ok, text) = check(
        "[discord]\ndefault_channel = 123\n",
        &[
            ("FLINK_CHATOPS_DISCORD_TOKEN", "sekret-discord-token"),
            ("FLINK_CHATOPS_WEBHOOK_TOKEN", "sekret-hook"),
        ],
    );
    assert!(ok, "{text}");
    assert!(!text.contains("sekret"), "{text}");
}

#[test]
fn the_shipped_example_config_is_valid() {
    let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args([
            "check-config",
            "--config",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/deploy/flink-chatops.example.toml"
            ),
        ])
        .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn render_previews_a_saved_webhook_on_the_console() {
    let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args([
            "render",
            "--alert",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/am-FlinkJobUnstable-firing.json"
            ),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("# [FIRING] FlinkJobUnstable — ad-attribution"),
        "{text}"
    );
    assert!(
        text.contains("https://runbooks.example.internal/flink/FlinkJobUnstable"),
        "{text}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_flink-chatops"))
        .args(["render", "--alert", "/no/such/file.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file.json"));
}

#[test]
fn check_config_validates_the_policy_and_says_who_may_do_what() {
    let cases = [
        (
            "[policy.actions.cancel]\napprovals = 11\n",
            "key `policy.actions.cancel.approvals`",
        ),
        (
            "[policy.actions.cancel]\nrequesters = [\"role:1\"]\napprovers = [\"rol:2\"]\n",
            "policy.actions.cancel.approvers[0]",
        ),
        ("[policy.actions.reboot]\n", "key `policy.actions.reboot`: unknown action"),
        (
            "[policy]\nrequesters = [\"role:1\"]\n[policy.actions.stop]\napprovers = [\"user:5\"]\n",
            "key `policy.actions.stop.approvers`: stop needs 2 distinct approvers",
        ),
        (
            "[audit]\nhead_file = \"flink-chatops-data/heads.jsonl\"\n",
            "key `audit.head_file`",
        ),
    ];
    for (config, want) in cases {
        let (ok, text) = check(config, &[]);
        assert!(!ok, "{config}: {text}");
        assert!(
            text.contains("FILE") && text.contains(want),
            "{config}: {text}"
        );
    }
    let (ok, text) = check("", &[("FLINK_CHATOPS_AUDIT_KEY", "too-short")]);
    assert!(!ok);
    assert!(
        text.contains("at least 32") && !text.contains("too-short"),
        "{text}"
    );

    // The safe default is spelled out: nothing but acknowledge until a role is named.
    let (ok, text) = check("", &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("policy: cancel: nobody may request it (name a role in policy.actions.cancel.requesters"),
        "{text}"
    );
    assert!(
        text.contains("policy: acknowledge: requested by @everyone"),
        "{text}"
    );
    let (ok, text) = check(
        "[policy]\nrequesters = [\"role:10\"]\napprovers = [\"role:20\"]\n",
        &[(
            "FLINK_CHATOPS_AUDIT_KEY",
            "0123456789abcdef0123456789abcdef",
        )],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "policy: cancel: requested by role:10; 2 approval(s) from role:20, within 15 min"
        ),
        "{text}"
    );
    assert!(text.contains("entries HMAC-sealed"), "{text}");
    assert!(
        !text.contains("0123456789abcdef"),
        "the key is never printed: {text}"
    );
}

#[test]
fn an_operator_deployment_must_be_a_kubernetes_name() {
    let cluster = "[[clusters]]\nname = \"prod\"\nrest_url = \"http://flink:8081\"\n";
    let (ok, text) = check(
        &format!(
            "{cluster}operator = {{ namespace = \"flink\", deployment = \"orders; rm -rf x\" }}\n"
        ),
        &[],
    );
    assert!(!ok);
    assert!(
        text.contains("clusters[0].operator.deployment") && text.contains("Kubernetes name"),
        "{text}"
    );
    let (ok, text) = check(
        &format!("{cluster}operator = {{ namespace = \"flink\" }}\n"),
        &[],
    );
    assert!(!ok);
    assert!(text.contains("deployment"), "{text}");
    let (ok, text) = check(
        &format!("{cluster}operator = {{ namespace = \"flink\", deployment = \"orders\" }}\n"),
        &[],
    );
    assert!(ok, "{text}");
}
