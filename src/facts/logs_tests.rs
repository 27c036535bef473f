//! Table tests of `facts::logs` on logs captured from the test clusters (Flink 2.3.0 and 1.20.5):
//!
//! - `jm-*-checkpoint-storage.log`: the JobManager while `harness.CheckpointStorageJob`'s
//!   checkpoint folder was replaced by a plain file (every checkpoint then fails with
//!   "IO-problem detected." in REST); `harness-checkpoint-expiry`'s expiring checkpoints of the
//!   same seconds are in it too.
//! - `tm-*-task-failure.log`: the TaskManager while `harness-restart-loop` and
//!   `harness-serialization` failed, one task failure after the other.

use super::*;

const JM_23: &str = include_str!("testdata/logs/jm-2.3.0-checkpoint-storage.log");
const JM_120: &str = include_str!("testdata/logs/jm-1.20.5-checkpoint-storage.log");
const TM_23: &str = include_str!("testdata/logs/tm-2.3.0-task-failure.log");
const TM_120: &str = include_str!("testdata/logs/tm-1.20.5-task-failure.log");

const STORAGE_JOB_23: &str = "7a2536208dea25838693235352f90ca8";
const STORAGE_JOB_120: &str = "788a418e9c30ead1521754c3101d4daa";
const EXPIRY_JOB_23: &str = "3a69702d896634c9d2330ee9a3d1cedb";

/// Epoch ms of a log timestamp of the test clusters (they log in UTC).
fn ms(stamp: &str) -> i64 {
    NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S,%3f")
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

fn query(mention: &str, at: &str) -> LogQuery {
    LogQuery {
        mentions: vec![mention.to_string()],
        at_ms: ms(at),
        offset_ms: 0,
        known: None,
    }
}

struct Case {
    name: &'static str,
    log: &'static str,
    mention: String,
    at: &'static str,
    /// (logged_at, class, message starts with, path)
    want: Option<(&'static str, &'static str, &'static str, Option<String>)>,
}

#[test]
fn finds_the_cause_in_real_logs() {
    let cases = [
        Case {
            name: "2.3.0 JobManager: unwritable checkpoint directory",
            log: JM_23,
            mention: STORAGE_JOB_23.into(),
            at: "2026-12-07 05:19:56,800",
            want: Some((
                "2026-12-07 05:19:56,736",
                "java.nio.file.FileAlreadyExistsException",
                "/tmp/diag/ck23/7a2536208dea25838693235352f90ca8",
                Some(format!("/tmp/diag/ck23/{STORAGE_JOB_23}")),
            )),
        },
        Case {
            name: "1.20.5 JobManager: unwritable checkpoint directory",
            log: JM_120,
            mention: STORAGE_JOB_120.into(),
            at: "2026-12-07 05:19:56,900",
            want: Some((
                "2026-12-07 05:19:56,870",
                "java.nio.file.FileAlreadyExistsException",
                "/tmp/diag/ck120/788a418e9c30ead1521754c3101d4daa",
                Some(format!("/tmp/diag/ck120/{STORAGE_JOB_120}")),
            )),
        },
        Case {
            // Its records are 28 ms from the storage job's: only the job id tells them apart.
            name: "2.3.0 JobManager: the other job in the same seconds, an expired checkpoint",
            log: JM_23,
            mention: EXPIRY_JOB_23.into(),
            at: "2026-12-07 05:19:56,750",
            want: Some((
                "2026-12-07 05:19:56,708",
                "org.apache.flink.runtime.checkpoint.CheckpointException",
                "Checkpoint expired before completing.",
                None,
            )),
        },
        Case {
            name: "a job the log does not name",
            log: JM_23,
            mention: "00000000000000000000000000000000".into(),
            at: "2026-12-07 05:19:56,800",
            want: None,
        },
        Case {
            name: "a failure an hour after the log's records",
            log: JM_23,
            mention: STORAGE_JOB_23.into(),
            at: "2026-12-07 06:19:56,800",
            want: None,
        },
        Case {
            name: "a failure long before the log's records",
            log: JM_23,
            mention: STORAGE_JOB_23.into(),
            at: "2026-12-07 04:19:56,800",
            want: None,
        },
        Case {
            name: "2.3.0 TaskManager: the failing task and attempt from the exception history",
            log: TM_23,
            mention: task_mention(
                "Source: numbers-source -> poison-map -> discard-sink: Writer (1/1) - execution #97",
            ),
            at: "2026-12-07 05:20:32,170",
            want: Some((
                "2026-12-07 05:20:32,164",
                "java.lang.IllegalStateException",
                "harness restart loop: poison record ",
                None,
            )),
        },
        Case {
            name: "1.20.5 TaskManager: the other job's task, a chained cause",
            log: TM_120,
            mention: task_mention(
                "Source: numbers-source -> enrichment-cache -> discard-sink: Writer (1/1) - execution #113",
            ),
            at: "2026-12-07 05:20:32,330",
            want: Some((
                "2026-12-07 05:20:32,326",
                "java.io.NotSerializableException",
                "harness.LegacyHttpClient",
                None,
            )),
        },
    ];
    for c in cases {
        let got = find_cause(c.log, &query(&c.mention, c.at));
        match (&c.want, &got) {
            (None, None) => {}
            (Some((at, class, message, path)), Some(g)) => {
                assert_eq!(g.logged_at, *at, "{}: {g:?}", c.name);
                assert_eq!(g.class.as_deref(), Some(*class), "{}: {g:?}", c.name);
                assert!(g.message.starts_with(message), "{}: {g:?}", c.name);
                assert_eq!(&g.path, path, "{}: {g:?}", c.name);
                assert_eq!(g.at_ms, ms(at), "{}", c.name);
                assert!(
                    matches!(g.level.as_str(), "WARN" | "ERROR"),
                    "{}: {g:?}",
                    c.name
                );
            }
            _ => panic!("{}: want {:?}, got {got:?}", c.name, c.want),
        }
    }
}

#[test]
fn the_storage_failure_names_its_headline_and_repeats() {
    let got = find_cause(JM_23, &query(STORAGE_JOB_23, "2026-12-07 05:19:56,800")).unwrap();
    assert!(
        got.headline
            .starts_with("Failed to trigger or complete checkpoint 13 for job 7a25"),
        "{got:?}"
    );
    // Checkpoints 14 and 15 failed the same way within the excerpt.
    assert_eq!(got.repeats, 2, "{got:?}");
    assert_eq!(
        got.line(),
        format!("`java.nio.file.FileAlreadyExistsException`: /tmp/diag/ck23/{STORAGE_JOB_23}")
    );
}

/// Log4j's RollingFile appender rolls between two records: the failure's record ends up in
/// `.log.1`, the current `.log` starts after it. Split the real log the same way.
#[test]
fn a_rotated_log_is_read_with_its_predecessor() {
    let at = "2026-12-07 05:19:56,800";
    let cut = JM_23
        .find("2026-12-07 05:19:57,708 WARN")
        .expect("the record after the first failure");
    let (older, current) = JM_23.split_at(cut);
    // The current file alone starts after the failure's window opened: read the older one too.
    assert!(!reaches_back(current, ms(at), 0));
    let alone = find_cause(current, &query(STORAGE_JOB_23, at)).unwrap();
    assert_eq!(alone.logged_at, "2026-12-07 05:19:57,736", "a later repeat");
    let both = format!("{older}{current}");
    let got = find_cause(&both, &query(STORAGE_JOB_23, at)).unwrap();
    assert_eq!(got.logged_at, "2026-12-07 05:19:56,736");

    let files = [
        LogFile {
            name: "flink-chatops-standalonesession-0-vm.out".into(),
            size: 0,
            mtime_ms: ms(at),
        },
        LogFile {
            name: "flink-chatops-standalonesession-0-vm.log".into(),
            size: current.len() as u64,
            mtime_ms: ms("2026-12-07 05:20:00,000"),
        },
        LogFile {
            name: "flink-chatops-standalonesession-0-vm.log.2".into(),
            size: 9,
            mtime_ms: ms("2026-12-07 03:00:00,000"),
        },
        LogFile {
            name: "flink-chatops-standalonesession-0-vm.log.1".into(),
            size: older.len() as u64,
            mtime_ms: ms("2026-12-07 05:19:57,700"),
        },
    ];
    let names: Vec<String> = files_to_read(&files[..4], ms(at))
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(
        names,
        [
            "flink-chatops-standalonesession-0-vm.log",
            "flink-chatops-standalonesession-0-vm.log.1"
        ],
        "the current log, then the rotated one written since the window opened (not .log.2)"
    );
    assert!(files_to_read(&files[..1], ms(at)).is_empty(), "stdout only");
    assert_eq!(size(1536 * 1024), "1.5 MiB");
    assert_eq!(size(80 * 1024 + 5), "80 KiB");
}

/// A log larger than the read limit is read from its end: the tail starts mid-record. The
/// partial record is dropped (without its header neither its time nor its job is known), and a
/// failure whose header was cut off is not attributed; the repeats in the tail still are.
#[test]
fn a_log_larger_than_the_read_limit_is_searched_in_its_tail() {
    let at = "2026-12-07 05:19:56,900";
    // Cut inside the first failure's stack trace: its `Caused by:` is kept, its header is not.
    let first = JM_120
        .find("2026-12-07 05:19:56,870 WARN")
        .expect("the first failure");
    let caused_by = first + JM_120[first..].find("Caused by:").unwrap();
    let limit = JM_120.len() - (caused_by - 40);
    let tail = String::from_utf8_lossy(&JM_120.as_bytes()[JM_120.len() - limit..]);
    assert!(!tail.starts_with("2026-"), "the tail starts mid-record");
    let got = find_cause(&tail, &query(STORAGE_JOB_120, at)).unwrap();
    assert_eq!(
        got.logged_at, "2026-12-07 05:19:57,870",
        "the next failure, not the one whose header was cut off: {got:?}"
    );
    assert_eq!(
        got.class.as_deref(),
        Some("java.nio.file.FileAlreadyExistsException")
    );
    // A cut in the middle of a multi-byte character decodes to U+FFFD in the dropped line.
    let bytes = format!("\tat é.x\n{}", &JM_120[first..]).into_bytes();
    let text = String::from_utf8_lossy(&bytes[5..]);
    assert!(text.starts_with('\u{FFFD}'));
    assert_eq!(
        find_cause(&text, &query(STORAGE_JOB_120, at))
            .unwrap()
            .logged_at,
        "2026-12-07 05:19:56,870"
    );
}

#[test]
fn the_host_clock_offset_comes_from_the_file_time() {
    let last = "2026-12-07 05:20:32,500";
    // The test clusters log in UTC: the file was written when its last record was.
    assert_eq!(clock_offset(TM_23, ms(last)), 0);
    // A host one hour ahead of UTC (CET) logs 05:20 when it is 04:20 UTC.
    assert_eq!(clock_offset(TM_23, ms(last) - 3_600_000), 3_600_000);
    // India, UTC+5:30, with the file written a few seconds after the last line.
    assert_eq!(
        clock_offset(TM_23, ms(last) - 19_800_000 + 4_000),
        19_800_000
    );
    // A file last written a day later says nothing about the zone.
    assert_eq!(clock_offset(TM_23, ms(last) + 86_400_000), 0);
    assert_eq!(clock_offset("no records", 0), 0);
    // With the offset, a CET log's record is found at its UTC time.
    let mut q = query(STORAGE_JOB_23, "2026-12-07 04:19:56,800");
    q.offset_ms = 3_600_000;
    assert_eq!(
        find_cause(JM_23, &q).unwrap().at_ms,
        ms("2026-12-07 04:19:56,736")
    );
}

/// The storage errors the test clusters cannot produce (object stores, HDFS, a full disk),
/// written as Flink logs them, for the path and bucket they name.
#[test]
fn paths_and_buckets_named_by_storage_errors() {
    let cases = [
        (
            "Caused by: java.io.IOException: Mkdirs failed to create file:/data/flink/checkpoints/7a25/chk-12",
            Some("file:/data/flink/checkpoints/7a25/chk-12"),
            None,
        ),
        (
            "Caused by: java.nio.file.AccessDeniedException: s3a://prod-checkpoints/flink/7a25/chk-12/_metadata: PUT 0-byte object on flink/7a25/chk-12/_metadata: com.amazonaws.services.s3.model.AmazonS3Exception: Access Denied",
            Some("s3a://prod-checkpoints/flink/7a25/chk-12/_metadata"),
            Some("prod-checkpoints"),
        ),
        (
            "Caused by: java.io.FileNotFoundException: Bucket flink-state does not exist (gs://flink-state/checkpoints)",
            Some("gs://flink-state/checkpoints"),
            Some("flink-state"),
        ),
        (
            "Caused by: org.apache.hadoop.security.AccessControlException: Permission denied: user=flink, access=WRITE, inode=\"/flink/checkpoints\":hdfs:supergroup:drwxr-xr-x",
            Some("/flink/checkpoints"),
            None,
        ),
        (
            "Caused by: java.io.IOException: No space left on device",
            None,
            None,
        ),
    ];
    for (line, path, bucket) in cases {
        let log = format!(
            "2026-12-07 05:19:56,736 WARN  org.apache.flink.runtime.checkpoint.CheckpointFailureManager [] - Failed to trigger or complete checkpoint 13 for job {STORAGE_JOB_23}. (0 consecutive failed attempts so far)\norg.apache.flink.runtime.checkpoint.CheckpointException: An Exception occurred while triggering the checkpoint. IO-problem detected.\n\tat org.apache.flink.runtime.checkpoint.CheckpointCoordinator.getCheckpointException(CheckpointCoordinator.java:2356)\n{line}\n\tat x.Y.z(Y.java:1)\n"
        );
        let got = find_cause(&log, &query(STORAGE_JOB_23, "2026-12-07 05:19:57,000")).unwrap();
        assert_eq!(got.path.as_deref(), path, "{line}");
        assert_eq!(got.bucket.as_deref(), bucket, "{line}");
        assert_ne!(
            got.class.as_deref(),
            Some("org.apache.flink.runtime.checkpoint.CheckpointException"),
            "the innermost cause, not the generic wrapper: {line}"
        );
    }
}

#[test]
fn a_record_without_a_trace_is_the_cause_only_when_none_has_one() {
    let log = format!(
        "2026-12-07 05:19:56,000 WARN  a.B [] - Job {STORAGE_JOB_23}: could not write to s3://b/k\n\
         2026-12-07 05:19:50,000 ERROR a.B [] - Job {STORAGE_JOB_23} failed\n\
         java.lang.RuntimeException: boom\n\
         \tat a.B.c(B.java:1)\n"
    );
    let got = find_cause(&log, &query(STORAGE_JOB_23, "2026-12-07 05:19:56,000")).unwrap();
    assert_eq!(got.class.as_deref(), Some("java.lang.RuntimeException"));
    let plain = log.lines().next().unwrap();
    let got = find_cause(plain, &query(STORAGE_JOB_23, "2026-12-07 05:19:56,000")).unwrap();
    assert_eq!(got.class, None);
    assert_eq!(
        got.line(),
        format!("Job {STORAGE_JOB_23}: could not write to s3://b/k")
    );
    assert_eq!(got.bucket.as_deref(), Some("b"));
}

#[test]
fn task_names_as_the_task_manager_logs_them() {
    assert_eq!(
        task_mention("count-per-key (1/2) - execution #3"),
        "count-per-key (1/2)#3 ("
    );
    assert_eq!(task_mention("count-per-key (1/2)"), "count-per-key (1/2)");
    assert_eq!(task_mention("x - execution #y"), "x - execution #y");
}

#[test]
fn each_process_reads_its_own_files_of_a_shared_directory() {
    let list = |names: &[&str]| crate::flink::LogList {
        logs: names
            .iter()
            .map(|n| crate::flink::LogEntry {
                name: n.to_string(),
                size: 1,
                mtime: Some(1),
            })
            .collect(),
    };
    // What both test clusters' JobManagers and TaskManagers list (one log directory).
    let shared = list(&[
        "flink-chatops-taskexecutor-0-vm.out",
        "flink-chatops-taskexecutor-0-vm.log",
        "flink-chatops-standalonesession-0-vm.out",
        "flink-chatops-standalonesession-0-vm.log",
    ]);
    let names = |tm| -> Vec<String> {
        files_to_read(&files_of(&shared, tm), 0)
            .into_iter()
            .map(|f| f.name)
            .collect()
    };
    assert_eq!(names(false), ["flink-chatops-standalonesession-0-vm.log"]);
    assert_eq!(names(true), ["flink-chatops-taskexecutor-0-vm.log"]);
    // A TaskManager container lists only its own, whatever it is called.
    assert_eq!(files_of(&list(&["flink.log"]), true).len(), 1);
}

#[test]
fn the_excerpt_is_the_jobs_records_newest_within_the_cap() {
    let all = excerpt(JM_23, &[STORAGE_JOB_23.to_string()], usize::MAX);
    assert_eq!(all.dropped, 0);
    assert!(all.records > 10, "{}", all.records);
    assert!(
        all.text.lines().all(|l| !l.contains(EXPIRY_JOB_23)),
        "only this job's"
    );
    assert!(all.text.contains(&format!(
        "Caused by: java.nio.file.FileAlreadyExistsException: /tmp/diag/ck23/{STORAGE_JOB_23}"
    )));
    let small = excerpt(JM_23, &[STORAGE_JOB_23.to_string()], 4_000);
    assert!(small.text.len() <= 4_000);
    assert!(small.dropped > 0 && small.records > 0);
    assert!(
        all.text.ends_with(&small.text),
        "the newest records are kept"
    );
    // One record larger than the cap is cut at it.
    let tiny = excerpt(JM_23, &[STORAGE_JOB_23.to_string()], 10);
    assert_eq!((tiny.text.len(), tiny.records), (10, 1));
    assert_eq!(excerpt(JM_23, &["nothing".into()], 100).records, 0);
}

/// A record whose cause is the one REST already gave adds nothing: the next one that says more
/// is the cause, or none.
#[test]
fn what_rest_already_says_is_passed_over() {
    let mut q = query(
        &task_mention(
            "Source: numbers-source -> poison-map -> discard-sink: Writer (1/1) - execution #97",
        ),
        "2026-12-07 05:20:32,170",
    );
    let found = find_cause(TM_23, &q).unwrap();
    q.known = Some((found.class.clone().unwrap(), found.message.clone()));
    assert_eq!(find_cause(TM_23, &q), None);
}

/// What the 2.3.0 JobManager logged for a job whose tasks were restarting (a checkpoint declined
/// because its tasks were not ready, shipped from the TaskManager as a `SerializedThrowable`):
/// a consequence, never the cause.
#[test]
fn checkpoints_declined_while_tasks_restart_are_not_a_cause() {
    let job = "5d0c1f6a2b3c4d5e6f708192a3b4c5d6";
    let log = format!("2026-12-07 06:27:34,059 WARN  org.apache.flink.runtime.checkpoint.CheckpointFailureManager [] - Failed to trigger or complete checkpoint 2 for job {job}. (0 consecutive failed attempts so far)\n\
org.apache.flink.runtime.checkpoint.CheckpointException: Task name with subtask : Source: numbers-source -> poison-map -> discard-sink: Writer (1/1)#0 Failure reason: Checkpoint was declined (tasks not ready)\n\
\tat org.apache.flink.runtime.checkpoint.CheckpointCoordinator.receiveDeclineMessage(CheckpointCoordinator.java:1102)\n\
Caused by: org.apache.flink.util.SerializedThrowable: org.apache.flink.runtime.checkpoint.CheckpointException: Task name with subtask : Source: numbers-source -> poison-map -> discard-sink: Writer (1/1)#0 Failure reason: Checkpoint was declined (tasks not ready)\n\
\tat org.apache.flink.streaming.runtime.tasks.StreamTask.triggerCheckpointAsyncInMailbox(StreamTask.java:1265)\n");
    assert_eq!(
        find_cause(&log, &query(job, "2026-12-07 06:27:35,000")),
        None
    );
    // Another failure shipped the same way names its own class.
    let shipped = log.replace(
        "org.apache.flink.util.SerializedThrowable: org.apache.flink.runtime.checkpoint.CheckpointException: Task name with subtask : Source: numbers-source -> poison-map -> discard-sink: Writer (1/1)#0 Failure reason: Checkpoint was declined (tasks not ready)",
        "org.apache.flink.util.SerializedThrowable: java.io.IOException: No space left on device",
    );
    let got = find_cause(&shipped, &query(job, "2026-12-07 06:27:35,000")).unwrap();
    assert_eq!(got.line(), "`java.io.IOException`: No space left on device");
}

/// A failing job's checkpoint coordinator stopping its timer (2.3.0, seen in CI under load): a
/// consequence of the restart, never the cause.
#[test]
fn a_checkpoint_scheduler_shut_down_by_a_restart_is_not_a_cause() {
    let job = "5d0c1f6a2b3c4d5e6f708192a3b4c5d6";
    let log = format!("2026-12-07 07:31:25,282 WARN  org.apache.flink.runtime.checkpoint.CheckpointFailureManager [] - Failed to trigger or complete checkpoint 9 for job {job}. (0 consecutive failed attempts so far)\n\
org.apache.flink.runtime.checkpoint.CheckpointException: Periodic checkpoint scheduler is shut down.\n\
\tat org.apache.flink.runtime.checkpoint.CheckpointCoordinator.onTriggerFailure(CheckpointCoordinator.java:1045)\n");
    assert_eq!(
        find_cause(&log, &query(job, "2026-12-07 07:31:26,000")),
        None
    );
}
