//! Issue 11 (items 1 and 3) end to end on real Flink 2.3.0 and 1.20.5: a job that throws its own
//! exception class from its own code (`com.acme.billing.InvoiceJob`, not a `harness` package) is
//! paged as a code bug naming its frame; a job started from a savepoint names that savepoint.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::actions::own_job::{local_path, upload, Cluster, OwnJob};
use crate::helpers::*;

/// Pages `alert` for `job` through a fresh bot and returns the recorded message's text and footer.
async fn page(c: &Cluster, alert: &str, job: &str) -> (String, String) {
    let cluster = c.config().name;
    let app = spawn_app(AppOptions {
        clusters: vec![(cluster.clone(), c.url.clone())],
        ..Default::default()
    })
    .await;
    let labels =
        json!({"alertname": alert, "severity": "warning", "flink_cluster": cluster, "job_id": job});
    let page = app.first_page(labels).await;
    let footer = page.embed()["footer"]["text"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (page.text(), footer)
}

/// Polls `path` until `done` holds for its answer (generous: CPU is shared).
async fn poll(c: &Cluster, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let answer = c.get_json(path).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "Flink {}: {what} not seen after 180 s: {answer}",
            c.version
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The frame of the `throw` in the job's source, as the JVM prints it.
fn throw_frame() -> String {
    let source = include_str!("../jobs/src/com/acme/billing/InvoiceParser.java");
    let line = source
        .lines()
        .position(|l| l.contains("throw new SchemaException"))
        .expect("the throw in InvoiceParser.java")
        + 1;
    format!("com.acme.billing.InvoiceParser.parse(InvoiceParser.java:{line})")
}

async fn own_exception_is_paged_as_a_code_bug_at_its_frame(version: &'static str) {
    let c = Cluster::get(version);
    let name = format!("billing-invoices-{}", version.replace('.', ""));
    let job = OwnJob::start_class(
        &c,
        "com.acme.billing.InvoiceJob",
        &name,
        &["--fail-after-ms", "1500"],
    )
    .await;
    poll(
        &c,
        "the SchemaException in the history",
        &format!("/jobs/{}/exceptions", job.id),
        |ex| {
            ex["exceptionHistory"]["entries"]
                .as_array()
                .is_some_and(|e| {
                    e.iter()
                        .any(|e| e["exceptionName"] == "com.acme.billing.SchemaException")
                })
        },
    )
    .await;

    let (text, footer) = page(&c, "FlinkJobUnstable", &job.id).await;
    assert!(
        footer.contains("pattern user_code_bug"),
        "Flink {version}: {footer}\n{text}"
    );
    let frame = throw_frame();
    assert!(
        text.contains("`com.acme.billing.SchemaException`: invoice "),
        "the root cause: {text}"
    );
    assert!(
        text.contains(&format!("thrown at `{frame}`")),
        "the root cause field names the frame {frame}:\n{text}"
    );
    assert!(
        text.contains(&format!("Thrown at `{frame}`."))
            && text.contains(&format!("Open `{frame}`")),
        "the runbook names the frame:\n{text}"
    );
    assert!(!text.contains("Enrichment unavailable"), "{text}");
}

#[tokio::test]
async fn flink_2_3_own_exception_is_a_code_bug_at_its_frame() {
    own_exception_is_paged_as_a_code_bug_at_its_frame("2.3").await;
}

#[tokio::test]
async fn flink_1_20_own_exception_is_a_code_bug_at_its_frame() {
    own_exception_is_paged_as_a_code_bug_at_its_frame("1.20").await;
}

/// Takes a savepoint of `job` (Flink's REST API, the cluster's default directory), returns its path.
async fn savepoint(c: &Cluster, job: &OwnJob) -> String {
    let trigger: Value = reqwest::Client::new()
        .post(format!("{}/jobs/{}/savepoints", c.url, job.id))
        .json(&json!({"cancel-job": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = trigger["request-id"]
        .as_str()
        .unwrap_or_else(|| panic!("savepoint trigger: {trigger}"));
    let done = poll(
        c,
        "the savepoint",
        &format!("/jobs/{}/savepoints/{id}", job.id),
        |s| s["status"]["id"] == "COMPLETED",
    )
    .await;
    done["operation"]["location"]
        .as_str()
        .unwrap_or_else(|| panic!("savepoint failed: {done}"))
        .to_string()
}

/// A copy of a savepoint that outlives the job it was taken from (an `OwnJob` removes its own
/// savepoints when dropped), so the two jobs never hold two of the tests' slots at once.
/// Savepoints are relocatable: their metadata points into their own directory. Removed on drop.
struct SavepointCopy {
    dir: PathBuf,
}

impl SavepointCopy {
    fn of(location: &str, name: &str) -> SavepointCopy {
        let from = local_path(location);
        let dir = from.with_file_name(name);
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&from, &dir);
        SavepointCopy { dir }
    }

    fn uri(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

impl Drop for SavepointCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn a_job_restored_from_a_savepoint_says_so(version: &'static str) {
    let c = Cluster::get(version);
    let tag = version.replace('.', "");
    let first = OwnJob::start(&c, &format!("restore-source-{tag}")).await;
    let taken = savepoint(&c, &first).await;
    let copy = SavepointCopy::of(&taken, &format!("savepoint-restore-test-{tag}"));
    drop(first);
    let second = OwnJob::start_from_savepoint(
        &c,
        "harness.HealthyJob",
        &format!("restore-copy-{tag}"),
        &[],
        &copy.uri(),
    )
    .await;
    let cps = poll(
        &c,
        "latest.restored",
        &format!("/jobs/{}/checkpoints", second.id),
        |cp| cp["latest"]["restored"]["is_savepoint"] == true,
    )
    .await;
    let restored = &cps["latest"]["restored"];
    let path = restored["external_path"].as_str().unwrap_or("").to_string();
    assert!(
        path.ends_with(&format!("/savepoint-restore-test-{tag}")),
        "restored from the copy: {cps}"
    );
    let id = restored["id"].as_i64().unwrap();

    let (text, footer) = page(&c, "FlinkJobUnstable", &second.id).await;
    assert!(footer.contains("pattern restart_loop"), "{footer}\n{text}");
    let named = format!("savepoint `{path}` (id {id}) at ");
    assert!(
        text.contains(&format!("restored from {named}")),
        "Flink {version}: the checkpoint field names the savepoint:\n{text}"
    );
    assert!(
        text.contains(&format!("This run started from {named}")),
        "Flink {version}: the runbook names the savepoint:\n{text}"
    );
    for line in text.lines().filter(|l| l.contains("savepoint `")) {
        assert!(
            !line.contains("http"),
            "no Flink URL beside the savepoint: {line}"
        );
    }
    drop(second);
    drop(copy);
}

#[tokio::test]
async fn flink_2_3_a_job_restored_from_a_savepoint_says_so() {
    a_job_restored_from_a_savepoint_says_so("2.3").await;
}

#[tokio::test]
async fn flink_1_20_a_job_restored_from_a_savepoint_says_so() {
    a_job_restored_from_a_savepoint_says_so("1.20").await;
}

/// A program that cannot take the savepoint's state (InvoiceJob has no `count-per-key`, whose
/// state HealthyJob's savepoint holds) fails before it restores anything: `latest.restored` stays
/// null, and the page names the savepoint from Flink's "Failed to rollback to ..." instead.
async fn a_failed_restore_names_the_savepoint_to_roll_back_from(version: &'static str) {
    let c = Cluster::get(version);
    let tag = version.replace('.', "");
    let first = OwnJob::start(&c, &format!("unmapped-source-{tag}")).await;
    let taken = savepoint(&c, &first).await;
    let copy = SavepointCopy::of(&taken, &format!("savepoint-unmapped-test-{tag}"));
    drop(first);

    let name = format!("unmapped-copy-{tag}");
    let http = reqwest::Client::new();
    let jar = upload(&http, &c).await;
    // Flink answers the run with an error (the JobMaster could not start), but keeps the job.
    let _ = http
        .post(format!("{}/jars/{jar}/run", c.url))
        .json(
            &json!({"entryClass": "com.acme.billing.InvoiceJob", "parallelism": 1,
                      "programArgsList": ["--name", name], "savepointPath": copy.uri()}),
        )
        .send()
        .await
        .unwrap();
    let _ = http.delete(format!("{}/jars/{jar}", c.url)).send().await;
    let jobs = poll(&c, "the FAILED job", "/jobs/overview", |o| {
        o["jobs"].as_array().is_some_and(|j| {
            j.iter()
                .any(|j| j["name"] == name.as_str() && j["state"] == "FAILED")
        })
    })
    .await;
    let job = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name.as_str())
        .unwrap()["jid"]
        .as_str()
        .unwrap()
        .to_string();
    let cps = c.get_json(&format!("/jobs/{job}/checkpoints")).await;
    assert!(
        cps["latest"]["restored"].is_null(),
        "nothing restored: {cps}"
    );

    let (text, footer) = page(&c, "FlinkJobNotRunning", &job).await;
    assert!(
        footer.contains("pattern incompatible_state"),
        "{footer}\n{text}"
    );
    let uri = copy.uri();
    let path = uri.replacen("file://", "file:", 1);
    assert!(
        text.contains(&format!("from the same savepoint or checkpoint (`{path}`)")),
        "Flink {version}: the rollback step names {path}:\n{text}"
    );
    drop(copy);
}

#[tokio::test]
async fn flink_2_3_a_failed_restore_names_the_savepoint_to_roll_back_from() {
    a_failed_restore_names_the_savepoint_to_roll_back_from("2.3").await;
}

#[tokio::test]
async fn flink_1_20_a_failed_restore_names_the_savepoint_to_roll_back_from() {
    a_failed_restore_names_the_savepoint_to_roll_back_from("1.20").await;
}
