//! A small Flink cluster of a test's own (one JobManager, one TaskManager of two slots), for
//! tests that must kill a TaskManager or fill a job's exception history: the shared clusters
//! serve every other test at the same time. Started from `$FLINK23_HOME` / `$FLINK120_HOME` with
//! a private `FLINK_CONF_DIR`, free ports and private pid/log/scratch dirs (the pattern of
//! `write_cluster_conf` in tests/env/setup.sh), a short heartbeat timeout so a loss shows within
//! seconds. Every process it started is SIGKILLed when it is dropped, whatever the outcome.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::actions::own_job::Cluster;
use crate::helpers::{free_port, required_env};

/// At most two private clusters at once (about 1.8 GB and a burst of CPU each, beside the
/// shared clusters and every other test).
static RUNNING: Semaphore = Semaphore::const_new(2);

pub struct PrivateCluster {
    pub version: &'static str,
    pub url: String,
    home: PathBuf,
    dir: tempfile::TempDir,
    _running: SemaphorePermit<'static>,
}

impl PrivateCluster {
    /// Starts the cluster (`version` "2.3" or "1.20") and waits until its TaskManager is
    /// registered.
    pub async fn start(version: &'static str) -> PrivateCluster {
        PrivateCluster::start_with(version, "").await
    }

    /// Like [`PrivateCluster::start`], with more lines of `config.yaml` (the adaptive
    /// scheduler, the keys the Kubernetes operator writes).
    pub async fn start_with(version: &'static str, extra_conf: &str) -> PrivateCluster {
        let home = PathBuf::from(required_env(match version {
            "2.3" => "FLINK23_HOME",
            _ => "FLINK120_HOME",
        }));
        let running = RUNNING.acquire().await.unwrap();
        let dir = tempfile::Builder::new()
            .prefix("chatops-test-cluster-")
            .tempdir()
            .unwrap();
        let rest = free_port();
        let cluster = PrivateCluster {
            version,
            url: format!("http://127.0.0.1:{rest}"),
            home,
            dir,
            _running: running,
        };
        cluster.write_conf(rest, free_port(), extra_conf);
        cluster.daemon("jobmanager.sh");
        cluster.daemon("taskmanager.sh");
        cluster
            .wait_until("a registered TaskManager", |o| o["taskmanagers"] == 1)
            .await;
        cluster
    }

    /// This cluster as the harness-job helpers see it (`OwnJob`).
    pub fn as_cluster(&self) -> Cluster {
        let savepoints = self.dir.path().join("savepoints");
        Cluster::private(
            self.version,
            &self.url,
            &format!("file://{}", savepoints.display()),
        )
    }

    /// The bot's name for it.
    pub fn name(&self) -> String {
        format!("private{}", self.version.replace('.', ""))
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Where its processes write their logs (what `/jobmanager/logs` lists).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// SIGKILLs the newest TaskManager process (what a container OOM kill or a node loss does).
    pub fn kill_task_manager(&self) {
        let pid = *self
            .pids("taskexecutor")
            .last()
            .expect("a TaskManager was started");
        kill(pid);
    }

    /// SIGKILLs the JobManager (a whole cluster stops answering).
    pub fn kill_job_manager(&self) {
        for pid in self.pids("standalonesession") {
            kill(pid);
        }
    }

    pub fn start_task_manager(&self) {
        self.daemon("taskmanager.sh");
    }

    /// Polls `/overview` until `done` holds (generous: CPU is shared).
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/overview", self.url)).await {
                if let Ok(o) = r.json::<Value>().await {
                    if done(&o) {
                        return o;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "private Flink {} cluster: no {what} after 180 s (logs in {})",
                self.version,
                self.dir.path().join("log").display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn daemon(&self, script: &str) {
        let status = Command::new(self.home.join("bin").join(script))
            .arg("start")
            .env("FLINK_CONF_DIR", self.dir.path().join("conf"))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("{script} start: {e}"));
        assert!(status.success(), "{script} start: {status}");
    }

    /// Pids the daemon scripts recorded, oldest first (`kind`: standalonesession, taskexecutor).
    fn pids(&self, kind: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir(self.dir.path().join("pid")) else {
            return out;
        };
        for f in dir.flatten() {
            if f.file_name().to_string_lossy().contains(kind) {
                let text = std::fs::read_to_string(f.path()).unwrap_or_default();
                out.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
            }
        }
        out
    }

    fn write_conf(&self, rest: u16, rpc: u16, extra_conf: &str) {
        let d = self.dir.path();
        for sub in ["conf", "pid", "log", "tmp", "blob", "web-upload", "web-tmp"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::create_dir_all(d.join("savepoints")).unwrap();
        let shipped = self.home.join("conf");
        for f in std::fs::read_dir(&shipped).unwrap().flatten() {
            let name = f.file_name();
            if name != "config.yaml" && name != "flink-conf.yaml" {
                std::fs::copy(f.path(), d.join("conf").join(&name)).unwrap();
            }
        }
        // Keep the shipped JVM flags (the --add-opens list Flink needs on Java 17).
        let shipped_conf = std::fs::read_to_string(shipped.join("config.yaml")).unwrap();
        let opts = shipped_conf
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("all:"))
            .map(str::trim)
            .filter(|o| o.contains("--add-opens"))
            .expect("env.java.opts.all in the shipped conf/config.yaml");
        let p = |sub: &str| d.join(sub).display().to_string();
        let conf = format!(
            "env.java.opts.all: {opts}
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: {rpc}
jobmanager.bind-host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: {rest}
blob.server.port: 0
taskmanager.rpc.port: 0
taskmanager.data.port: 0
jobmanager.memory.process.size: 768m
taskmanager.memory.process.size: 1024m
taskmanager.memory.managed.size: 32m
taskmanager.numberOfTaskSlots: 2
parallelism.default: 1
# A lost TaskManager shows within seconds instead of the default 50 s.
heartbeat.interval: 1000
heartbeat.timeout: 5000
cluster.registration.error-delay: 500
env.pid.dir: {pid}
env.log.dir: {log}
io.tmp.dirs: {tmp}
blob.storage.directory: {blob}
web.upload.dir: {upload}
web.tmpdir: {webtmp}
state.backend.type: hashmap
execution.checkpointing.dir: file://{checkpoints}
execution.checkpointing.savepoint-dir: file://{savepoints}
",
            pid = p("pid"),
            log = p("log"),
            tmp = p("tmp"),
            blob = p("blob"),
            upload = p("web-upload"),
            webtmp = p("web-tmp"),
            checkpoints = p("checkpoints"),
            savepoints = p("savepoints"),
        );
        std::fs::write(d.join("conf").join("config.yaml"), conf + extra_conf).unwrap();
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let conf = self.dir.path().join("conf");
        for pid in self
            .pids("taskexecutor")
            .into_iter()
            .chain(self.pids("standalonesession"))
        {
            // Only a process of this cluster: a recorded pid may have been reused since.
            if runs_with(pid, &conf) {
                kill(pid);
            }
        }
    }
}

fn runs_with(pid: u32, conf: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(&*conf.to_string_lossy()))
        .unwrap_or(false)
}

fn kill(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}
