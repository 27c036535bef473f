//! deploy/kubernetes/: validated against the Kubernetes schemas (`kubernetes-validate --strict`,
//! which rejects unknown fields too), shaped for a single-writer store, and its ConfigMap's
//! config and templates accepted by the bot itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

use super::{bot, repo, run, text, tool};

const DIR: &str = "deploy/kubernetes";

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn validate(files: &[PathBuf]) -> (bool, String) {
    let bin = tool(
        "KUBERNETES_VALIDATE_BIN",
        "kubernetes-validate",
        "kubernetes-validate (PyPI)",
    );
    let mut args = vec!["--strict", "--quiet"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = run(&bin, &args);
    (out.status.success(), text(&out))
}

/// Every document of every manifest, by kind.
fn resources() -> Vec<Value> {
    let mut out = Vec::new();
    for file in manifests() {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v = <Value as serde::Deserialize>::deserialize(doc).unwrap();
            if !v.is_null() {
                out.push(v);
            }
        }
    }
    out
}

fn find<'a>(all: &'a [Value], kind: &str, name: &str) -> &'a Value {
    all.iter()
        .find(|r| r["kind"] == kind && r["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {DIR}"))
}

#[test]
fn kubernetes_manifests_pass_kubernetes_validate() {
    let files = manifests();
    assert!(files.len() >= 4, "{files:?}");
    let (ok, said) = validate(&files);
    assert!(ok, "kubernetes-validate --strict {DIR}/*.yaml:\n{said}");
}

#[test]
fn kubernetes_validate_fails_a_broken_manifest() {
    let shipped = std::fs::read_to_string(repo(&format!("{DIR}/statefulset.yaml"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, broken) in [
        shipped.replace("containerPort: 9094", "containerPort: \"9094\""),
        shipped.replace("readinessProbe:", "readynessProbe:"),
    ]
    .into_iter()
    .enumerate()
    {
        assert_ne!(broken, shipped);
        let file = dir.path().join(format!("broken-{i}.yaml"));
        std::fs::write(&file, broken).unwrap();
        let (ok, said) = validate(&[file]);
        assert!(!ok, "broken copy {i} passed: {said}");
    }
}

#[test]
fn one_replica_owns_the_store_and_is_probed_and_sized() {
    let all = resources();
    let sts = find(&all, "StatefulSet", "flink-chatops");
    assert_eq!(sts["spec"]["replicas"], 1, "sled is single-writer");
    let claims = sts["spec"]["volumeClaimTemplates"].as_sequence().unwrap();
    assert_eq!(claims.len(), 1);
    let pod = &sts["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    let data = mounts
        .iter()
        .find(|m| m["name"] == claims[0]["metadata"]["name"])
        .unwrap();
    assert_eq!(data["mountPath"], "/data");

    let svc = find(&all, "Service", "flink-chatops");
    assert_eq!(
        svc["spec"]["selector"],
        sts["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], c["ports"][0]["name"]);
    // What the pod mounts exists: the Secret's keys and the ConfigMaps' items.
    let secret = find(&all, "Secret", "flink-chatops");
    for key in ["webhook-token", "discord-token"] {
        assert!(secret["stringData"][key].is_string(), "Secret has no {key}");
    }
    let responses = find(&all, "ConfigMap", "flink-chatops-responses");
    for v in pod["volumes"].as_sequence().unwrap() {
        for item in v["configMap"]["items"].as_sequence().into_iter().flatten() {
            let key = item["key"].as_str().unwrap();
            assert!(
                responses["data"][key].is_string(),
                "item {key} is not in the ConfigMap"
            );
        }
    }
}

/// The ConfigMap's flink-chatops.toml passes `check-config`, and its template override is what
/// `render` uses, once the pod's paths are pointed at a temporary directory.
#[test]
fn the_configmap_config_and_templates_are_accepted_by_the_bot() {
    let all = resources();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let secrets = root.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let secret = find(&all, "Secret", "flink-chatops");
    for (k, v) in secret["stringData"].as_mapping().unwrap() {
        std::fs::write(secrets.join(k.as_str().unwrap()), v.as_str().unwrap()).unwrap();
    }
    let responses = root.join("responses");
    let sts = find(&all, "StatefulSet", "flink-chatops");
    let cm = find(&all, "ConfigMap", "flink-chatops-responses");
    for v in sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
    {
        for item in v["configMap"]["items"].as_sequence().into_iter().flatten() {
            let path = responses.join(item["path"].as_str().unwrap());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(
                &path,
                cm["data"][item["key"].as_str().unwrap()].as_str().unwrap(),
            )
            .unwrap();
        }
    }
    let toml = find(&all, "ConfigMap", "flink-chatops")["data"]["flink-chatops.toml"]
        .as_str()
        .unwrap()
        .replace("/etc/flink-chatops/secrets", secrets.to_str().unwrap())
        .replace("/etc/flink-chatops/responses", responses.to_str().unwrap())
        .replace("/data/store", root.join("store").to_str().unwrap());
    let config = root.join("flink-chatops.toml");
    std::fs::write(&config, toml).unwrap();

    let bot_cmd = |args: &[&str]| {
        Command::new(bot())
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("FLINK_CHATOPS_DISCORD_TOKEN")
            .env_remove("FLINK_CHATOPS_WEBHOOK_TOKEN")
            .output()
            .unwrap()
    };
    let out = bot_cmd(&["check-config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("output discord"),
        "{}",
        text(&out)
    );
    let fixture = repo("tests/data/am-FlinkJobUnstable-firing.json");
    let out = bot_cmd(&["render", "--alert", fixture.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Escalate in #flink-oncall"),
        "the override is not used: {}",
        text(&out)
    );
    assert!(Path::new(&secrets).join("webhook-token").is_file());
}
