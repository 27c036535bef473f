//! A test's own copy of `harness.HealthyJob` (or another harness job), submitted through Flink's REST API (upload the
//! jar, run it, delete the upload) and cancelled when dropped, so tests that stop or cancel a job
//! never touch the shared harness jobs. The clusters' 12 slots are shared with every other test:
//! at most two own jobs run at once.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use flink_chatops::config::{ClusterConfig, FlinkAuth};
use flink_chatops::flink::FlinkClient;
use serde_json::{json, Value};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::required_env;

static SLOTS: Semaphore = Semaphore::const_new(2);

/// One of the two test clusters.
#[derive(Clone)]
pub struct Cluster {
    pub version: &'static str,
    pub url: String,
    pub jar: PathBuf,
    /// `file://...` as configured in Flink (`execution.checkpointing.savepoint-dir`).
    pub savepoint_dir: String,
    prefix: &'static str,
}

impl Cluster {
    pub fn get(version: &'static str) -> Cluster {
        let (prefix, jar) = match version {
            "2.3" => ("FLINK23", "FLINK_JOBS_JAR23"),
            _ => ("FLINK120", "FLINK_JOBS_JAR120"),
        };
        Cluster {
            version,
            url: required_env(&format!("{prefix}_URL")),
            jar: required_env(jar).into(),
            savepoint_dir: required_env(&format!("{prefix}_SAVEPOINT_DIR")),
            prefix,
        }
    }

    /// A test's own cluster (`private_cluster`) with the harness jar of its version.
    pub fn private(version: &'static str, url: &str, savepoint_dir: &str) -> Cluster {
        let jar = match version {
            "2.3" => "FLINK_JOBS_JAR23",
            _ => "FLINK_JOBS_JAR120",
        };
        Cluster {
            version,
            url: url.to_string(),
            jar: required_env(jar).into(),
            savepoint_dir: savepoint_dir.to_string(),
            prefix: "PRIVATE",
        }
    }

    /// A shared harness job, to read only.
    pub fn harness_job(&self, key: &str) -> String {
        required_env(&format!("{}_JOB_{key}", self.prefix))
    }

    /// The bot's view of this cluster; `savepoint_dir` unset so Flink's default is used.
    pub fn config(&self) -> ClusterConfig {
        ClusterConfig {
            name: format!("flink{}", self.version.replace('.', "")),
            rest_url: self.url.clone(),
            web_ui_url: None,
            savepoint_dir: None,
            username: None,
            password_env: None,
            password_file: None,
            token_env: None,
            token_file: None,
            user_packages: Vec::new(),
            operator: None,
        }
    }

    pub fn client(&self) -> FlinkClient {
        FlinkClient::new(
            &self.config(),
            FlinkAuth::None,
            reqwest::Client::new(),
            Duration::from_secs(10),
        )
        .unwrap()
        .with_action_timeout(Duration::from_secs(60))
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }
}

pub struct OwnJob {
    pub cluster: Cluster,
    pub id: String,
    /// One of the tests' two jobs at a time (`None`: see [`OwnJob::submit_unslotted`]).
    _slot: Option<SemaphorePermit<'static>>,
}

impl OwnJob {
    /// Submits a HealthyJob named `name` and waits until it runs with a completed checkpoint
    /// (a savepoint needs every task running; a checkpoint proves they are).
    pub async fn start(cluster: &Cluster, name: &str) -> OwnJob {
        OwnJob::start_with(cluster, name, &[]).await
    }

    /// Like [`OwnJob::start`], with more program arguments (e.g. `--snapshot-sleep-ms`).
    pub async fn start_with(cluster: &Cluster, name: &str, args: &[&str]) -> OwnJob {
        let mut program = vec!["--rate", "20"];
        program.extend_from_slice(args);
        let job = OwnJob::submit(cluster, "harness.HealthyJob", name, &program).await;
        job.wait_until("RUNNING with a completed checkpoint", |job, cps| {
            all_running(job) && cps["counts"]["completed"].as_i64().unwrap_or(0) >= 1
        })
        .await;
        job
    }

    /// Submits another harness job (`class`, e.g. `harness.SlowOperatorJob`) named `name` with
    /// `args`, and waits until all its tasks run (no checkpoint asked for).
    pub async fn start_class(cluster: &Cluster, class: &str, name: &str, args: &[&str]) -> OwnJob {
        let job = OwnJob::submit(cluster, class, name, args).await;
        job.wait_until("RUNNING", |job, _| all_running(job)).await;
        job
    }

    /// Like [`OwnJob::start_class`], restoring from `savepoint` (`savepointPath` of the run
    /// request); waits until all tasks run.
    pub async fn start_from_savepoint(
        cluster: &Cluster,
        class: &str,
        name: &str,
        args: &[&str],
        savepoint: &str,
    ) -> OwnJob {
        let job = OwnJob::submit_from(cluster, class, name, args, Some(savepoint)).await;
        job.wait_until("RUNNING", |job, _| all_running(job)).await;
        job
    }

    /// Submits without waiting for any state (a job that fails fast is RUNNING only briefly).
    pub async fn submit(cluster: &Cluster, class: &str, name: &str, args: &[&str]) -> OwnJob {
        OwnJob::submit_from(cluster, class, name, args, None).await
    }

    /// Like [`OwnJob::submit`], without taking one of the tests' two job permits: for a job on a
    /// test's own cluster that is meant to wait for a slot (it takes none while it waits).
    pub async fn submit_unslotted(
        cluster: &Cluster,
        class: &str,
        name: &str,
        args: &[&str],
    ) -> OwnJob {
        OwnJob::run_jar(cluster, class, name, args, None, None).await
    }

    async fn submit_from(
        cluster: &Cluster,
        class: &str,
        name: &str,
        args: &[&str],
        savepoint: Option<&str>,
    ) -> OwnJob {
        let slot = SLOTS.acquire().await.unwrap();
        OwnJob::run_jar(cluster, class, name, args, savepoint, Some(slot)).await
    }

    async fn run_jar(
        cluster: &Cluster,
        class: &str,
        name: &str,
        args: &[&str],
        savepoint: Option<&str>,
        slot: Option<SemaphorePermit<'static>>,
    ) -> OwnJob {
        let mut program = vec!["--name", name];
        program.extend_from_slice(args);
        let http = reqwest::Client::new();
        let jar_id = upload(&http, cluster).await;
        let mut request = json!({
            "entryClass": class,
            "parallelism": 1,
            "programArgsList": program,
        });
        if let Some(path) = savepoint {
            request["savepointPath"] = json!(path);
        }
        let run: Value = http
            .post(format!("{}/jars/{jar_id}/run", cluster.url))
            .json(&request)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // The job has its own copy of the jar now; the upload is not needed any more.
        let _ = http
            .delete(format!("{}/jars/{jar_id}", cluster.url))
            .send()
            .await;
        let id = run["jobid"]
            .as_str()
            .unwrap_or_else(|| panic!("running {name} on Flink {}: {run}", cluster.version))
            .to_string();
        OwnJob {
            cluster: cluster.clone(),
            id,
            _slot: slot,
        }
    }

    /// Polls the job and its checkpoints until `done` holds (generous: CPU is shared).
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Value, &Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let job = self.cluster.get_json(&format!("/jobs/{}", self.id)).await;
            let cps = self
                .cluster
                .get_json(&format!("/jobs/{}/checkpoints", self.id))
                .await;
            if done(&job, &cps) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {} on Flink {} not {what} after 180 s: state {}",
                self.id,
                self.cluster.version,
                job["state"]
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn wait_for_state(&self, state: &str) {
        self.wait_until(state, |job, _| job["state"] == state).await;
    }

    /// Savepoint folders of this job (`savepoint-<first 6 of the job id>-<random>`).
    pub fn savepoints_on_disk(&self) -> Vec<PathBuf> {
        let dir = local_path(&self.cluster.savepoint_dir);
        let prefix = format!("savepoint-{}-", &self.id[..6]);
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect();
        found.sort();
        found
    }
}

impl Drop for OwnJob {
    /// Cancel whatever state the test left the job in (a no-op once it ended), and remove its
    /// savepoints. Runs on its own thread and runtime: `drop` cannot await.
    fn drop(&mut self) {
        let url = format!("{}/jobs/{}?mode=cancel", self.cluster.url, self.id);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = reqwest::Client::new()
                    .patch(url)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
            });
        })
        .join();
        for dir in self.savepoints_on_disk() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `POST /jars/upload` with a multipart body built by hand (the crate's reqwest has no
/// multipart feature, and one form field does not justify it). Returns the jar id.
pub async fn upload(http: &reqwest::Client, cluster: &Cluster) -> String {
    let jar = std::fs::read(&cluster.jar)
        .unwrap_or_else(|e| panic!("reading {}: {e}", cluster.jar.display()));
    let boundary = "flink-chatops-test-boundary-7f3a9c";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"harness-jobs.jar\"\r\nContent-Type: application/x-java-archive\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&jar);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let answer: Value = http
        .post(format!("{}/jars/upload", cluster.url))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = answer["filename"]
        .as_str()
        .unwrap_or_else(|| panic!("jar upload to Flink {}: {answer}", cluster.version));
    file.rsplit('/').next().unwrap().to_string()
}

fn all_running(job: &Value) -> bool {
    job["state"] == "RUNNING"
        && job["vertices"]
            .as_array()
            .is_some_and(|v| v.iter().all(|v| v["status"] == "RUNNING"))
}

/// `file:/x`, `file:///x` -> `/x`.
pub fn local_path(url: &str) -> PathBuf {
    let path = url.strip_prefix("file:").unwrap_or(url);
    PathBuf::from(format!("/{}", path.trim_start_matches('/')))
}
