//! The rules behind [`super::diagnose`], one function per stage of the precedence documented in
//! `mod.rs`. Message matching is case-insensitive and only ever looks at the message of the link
//! whose class is being judged (or, in stage 1, at the root's own message).

use crate::enrich::root_cause::{CauseLink, RootCause};
use crate::enrich::Facts;

use super::Pattern;
use Pattern::*;

pub(super) struct Finding {
    pub pattern: Pattern,
    pub title: String,
    pub evidence: String,
}

impl Finding {
    fn new(pattern: Pattern, title: impl Into<String>, evidence: impl Into<String>) -> Finding {
        Finding {
            pattern,
            title: title.into(),
            evidence: evidence.into(),
        }
    }
}

/// Java's own unchecked exceptions that almost always mean a bug in the job's code (or a record
/// the code did not expect).
const USER_CODE_CLASSES: &[&str] = &[
    "java.lang.NullPointerException",
    "java.lang.ClassCastException",
    "java.lang.ArithmeticException",
    "java.lang.IllegalArgumentException",
    "java.lang.IllegalStateException",
    "java.lang.IndexOutOfBoundsException",
    "java.lang.ArrayIndexOutOfBoundsException",
    "java.lang.StringIndexOutOfBoundsException",
    "java.lang.NumberFormatException",
    "java.lang.UnsupportedOperationException",
    "java.lang.NegativeArraySizeException",
    "java.lang.ArrayStoreException",
    "java.lang.StackOverflowError",
    "java.util.NoSuchElementException",
    "java.util.ConcurrentModificationException",
    "java.time.format.DateTimeParseException",
];

/// Linkage problems: a class missing from, or clashing in, the job jar. Weak, see stage 3.
const WEAK_USER_CODE_CLASSES: &[&str] = &[
    "ClassNotFoundException",
    "NoClassDefFoundError",
    "NoSuchMethodError",
    "NoSuchFieldError",
    "AbstractMethodError",
    "IncompatibleClassChangeError",
    "LinkageError",
];

/// Kafka client errors (also under Flink's shaded `org.apache.flink.kafka.shaded.` prefix) that
/// mean brokers, leaders or metadata are not reachable.
const KAFKA_UNAVAILABLE_CLASSES: &[&str] = &[
    "TimeoutException",
    "NetworkException",
    "DisconnectException",
    "UnknownTopicOrPartitionException",
    "LeaderNotAvailableException",
    "NotLeaderOrFollowerException",
    "NotLeaderForPartitionException",
    "BrokerNotAvailableException",
    "CoordinatorNotAvailableException",
    "NotEnoughReplicasException",
];

/// Throttling by a sink or source service (Kinesis, DynamoDB, AWS APIs in general).
const THROTTLING_CLASSES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "LimitExceededException",
    "TooManyRequestsException",
    "RequestLimitExceededException",
];

/// Flink's network stack and scheduler reporting a TaskManager (or its slots) gone.
const TASKMANAGER_LOST_CLASSES: &[&str] = &[
    "RemoteTransportException",
    "PartitionConnectionException",
    "NoResourceAvailableException",
    "RecipientUnreachableException",
];

fn simple(class: &str) -> &str {
    class.rsplit(['.', '$']).next().unwrap_or(class)
}

/// First line of a message, at most 160 characters: enough for evidence, short for chat.
pub(super) fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

fn describe(class: &str, message: &str) -> String {
    let message = first_line(message);
    if message.is_empty() {
        class.to_string()
    } else {
        format!("{class}: {message}")
    }
}

/// Rules decided by a link's class; usable on any link because the class is the real exception.
/// `m` is the same link's message, lower-cased, used only to refine the verdict.
fn by_class(class: &str, m: &str) -> Option<(Pattern, &'static str)> {
    let s = simple(class);
    if s == "OutOfMemoryError" {
        return Some(oom(m));
    }
    if s == "StateMigrationException" {
        return Some((
            IncompatibleState,
            "State is incompatible with the new program",
        ));
    }
    if class.starts_with("com.esotericsoftware.kryo") {
        return Some((
            Serialization,
            "Kryo could not (de)serialize a record or state",
        ));
    }
    if matches!(
        s,
        "NotSerializableException"
            | "InvalidClassException"
            | "StreamCorruptedException"
            | "OptionalDataException"
    ) {
        return Some((Serialization, "Java serialization failed"));
    }
    if class.contains("org.apache.kafka.") {
        if s == "SerializationException" || s == "RecordDeserializationException" {
            return Some((Serialization, "Kafka record could not be (de)serialized"));
        }
        if KAFKA_UNAVAILABLE_CLASSES.contains(&s) {
            return Some(if m.contains("metadata") {
                (
                    KafkaUnavailable,
                    "Kafka metadata unavailable (brokers unreachable or topic missing)",
                )
            } else if s == "UnknownTopicOrPartitionException" {
                (
                    KafkaUnavailable,
                    "Kafka topic or partition unknown to the brokers",
                )
            } else {
                (KafkaUnavailable, "Kafka brokers unavailable or too slow")
            });
        }
    }
    if s == "CheckpointException" {
        return Some(checkpoint(m));
    }
    if THROTTLING_CLASSES.contains(&s) {
        return Some((SinkThrottled, "Requests throttled by an external service"));
    }
    if TASKMANAGER_LOST_CLASSES.contains(&s)
        || (s == "PartitionNotFoundException" && class.contains("flink"))
    {
        return Some(if s == "NoResourceAvailableException" {
            (
                TaskmanagerLost,
                "Not enough TaskManager slots to run the job",
            )
        } else {
            (
                TaskmanagerLost,
                "Lost a TaskManager (or the connection to it)",
            )
        });
    }
    if class == "java.util.concurrent.TimeoutException" {
        return Some(if m.contains("heartbeat of taskmanager") {
            (TaskmanagerLost, "TaskManager heartbeat timed out")
        } else {
            (Timeout, "An operation timed out")
        });
    }
    if matches!(
        s,
        "AskTimeoutException" | "SocketTimeoutException" | "RpcTimeoutException"
    ) {
        return Some((Timeout, "An operation timed out"));
    }
    if USER_CODE_CLASSES.contains(&class) {
        return Some((UserCodeBug, "Exception thrown by the job's code"));
    }
    None
}

fn oom(m: &str) -> (Pattern, &'static str) {
    if m.starts_with("direct buffer memory") {
        (DirectOom, "Direct (off-heap) memory exhausted")
    } else if m.starts_with("metaspace") || m.starts_with("compressed class space") {
        (MetaspaceOom, "Metaspace exhausted (class loading)")
    } else if m.starts_with("gc overhead limit exceeded") {
        (HeapOom, "Heap exhausted (GC overhead limit exceeded)")
    } else if m.contains("native thread") {
        (HeapOom, "JVM out of memory: cannot create more threads")
    } else if m.contains("direct buffer memory") {
        (DirectOom, "Direct (off-heap) memory exhausted")
    } else if m.contains("metaspace") {
        (MetaspaceOom, "Metaspace exhausted (class loading)")
    } else {
        (HeapOom, "Heap memory exhausted")
    }
}

fn checkpoint(m: &str) -> (Pattern, &'static str) {
    if m.contains("expired") || m.contains("timed out") || m.contains("timeout") {
        (CheckpointTimeout, "Checkpoints expire before completing")
    } else {
        (CheckpointDeclined, "Checkpoints are declined or fail")
    }
}

/// "HTTP 429", "status code: 429", "status line [HTTP/1.1 429 Too Many Requests]".
fn mentions_http_429(m: &str) -> bool {
    let bytes = m.as_bytes();
    m.match_indices("429").any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 3).copied();
        let alone = !before.is_some_and(|b| b.is_ascii_digit())
            && !after.is_some_and(|b| b.is_ascii_digit());
        alone && (m.contains("http") || m.contains("status"))
    })
}

/// Rules on the root's own message: only for phrases that name the failure unambiguously.
fn by_root_message(m: &str) -> Option<(Pattern, &'static str)> {
    if m.contains("exceeded checkpoint tolerable failure threshold")
        || (m.contains("checkpoint")
            && (m.contains("expired before completing") || m.contains("declined")))
    {
        return Some(checkpoint(m));
    }
    if m.contains("heartbeat of taskmanager") {
        return Some((TaskmanagerLost, "TaskManager heartbeat timed out"));
    }
    if (m.contains("taskmanager with id") && m.contains("no longer reachable"))
        || m.contains("has no more allocated slots")
        || m.contains("lost connection to task manager")
        || m.contains("remote task manager was lost")
        || m.contains("taskexecutor is shutting down")
        || m.contains("released on a lost node")
    {
        return Some((
            TaskmanagerLost,
            "Lost a TaskManager (or the connection to it)",
        ));
    }
    if m.contains("broker may not be available")
        || m.contains("fetching topic metadata")
        || m.contains("not present in metadata")
        || m.contains("failed to fetch metadata")
    {
        return Some((
            KafkaUnavailable,
            "Kafka metadata unavailable (brokers unreachable or topic missing)",
        ));
    }
    if m.contains("rate exceeded")
        || m.contains("too many requests")
        || m.contains("reduce your request rate")
        || m.contains("es_rejected_execution_exception")
        || m.contains("throttl")
        || mentions_http_429(m)
    {
        return Some((SinkThrottled, "Requests throttled by an external service"));
    }
    if m.contains("not null, however, a null value is being written") {
        return Some((UserCodeBug, "NULL written into a NOT NULL column"));
    }
    if m.contains("could not deserialize")
        || m.contains("could not serialize")
        || m.contains("is not serializable")
    {
        return Some((Serialization, "Serialization failed"));
    }
    None
}

/// Restoring state that the new program cannot read: the root itself says so, or the root is a
/// state-compatibility cause under a restore step in the chain.
fn state_compat(rc: &RootCause, m: &str) -> Option<&'static str> {
    if m.contains("failed to rollback to checkpoint/savepoint")
        || m.contains("cannot map checkpoint/savepoint state")
    {
        return Some("Savepoint/checkpoint state does not fit the new program");
    }
    if m.contains("incompatible") && (m.contains("serializer") || m.contains("state")) {
        return Some("State is incompatible with the new program");
    }
    let restoring = rc.chain.iter().any(|l| {
        let lm = l.message.to_lowercase();
        lm.starts_with("failed to rollback to checkpoint/savepoint")
            || lm.contains("could not restore")
            || lm.contains("exception while creating streamoperatorstatecontext")
            || lm.contains("failed when trying to restore")
    });
    let compat_cause = matches!(
        simple(&rc.class),
        "InvalidClassException" | "StateMigrationException" | "KryoException"
    ) || m.contains("incompatible")
        || m.contains("serialversionuid")
        || m.contains("serializer");
    (restoring && compat_cause).then_some("State could not be restored by the new program")
}

/// The links above the root, innermost first.
fn chain_above_root(rc: &RootCause) -> impl Iterator<Item = (usize, &CauseLink)> {
    let n = rc.chain.len().saturating_sub(1);
    rc.chain[..n].iter().enumerate().rev()
}

/// Stage 1: the root cause's class, then its own message.
pub(super) fn by_root(rc: &RootCause) -> Option<Finding> {
    let m = rc.message.to_lowercase();
    let evidence = || format!("root cause {}", describe(&rc.class, &rc.message));
    if let Some(title) = state_compat(rc, &m) {
        return Some(Finding::new(IncompatibleState, title, evidence()));
    }
    let (pattern, title) = by_class(&rc.class, &m).or_else(|| by_root_message(&m))?;
    Some(Finding::new(pattern, title, evidence()))
}

/// Stage 2: the classes of the chain above the root, innermost first.
pub(super) fn by_chain(rc: &RootCause) -> Option<Finding> {
    let total = rc.chain.len();
    chain_above_root(rc).find_map(|(i, link)| {
        let (pattern, title) = by_class(&link.class, &link.message.to_lowercase())?;
        Some(Finding::new(
            pattern,
            title,
            format!(
                "{} (cause {} of {}; root cause {})",
                describe(&link.class, &link.message),
                i + 1,
                total,
                describe(&rc.class, &rc.message)
            ),
        ))
    })
}

/// Stage 3: linkage errors at the root.
pub(super) fn by_weak_root(rc: &RootCause) -> Option<Finding> {
    WEAK_USER_CODE_CLASSES
        .contains(&simple(&rc.class))
        .then(|| {
            Finding::new(
                UserCodeBug,
                "Class missing or clashing in the job jar",
                format!("root cause {}", describe(&rc.class, &rc.message)),
            )
        })
}

/// Stage 4: labels attached by Flink failure enrichers.
pub(super) fn by_failure_labels(rc: &RootCause) -> Option<Finding> {
    let labels = &rc.failure_labels;
    let named = labels.iter().find_map(|(k, v)| {
        let key = k.to_lowercase();
        let pattern = matches!(key.as_str(), "pattern" | "failure_pattern")
            .then(|| Pattern::from_slug(&v.to_lowercase()))
            .flatten()?;
        Some((pattern, format!("failure label {k}={v}")))
    });
    if let Some((pattern, evidence)) = named {
        return Some(Finding::new(
            pattern,
            "Failure classified by a failure enricher",
            evidence,
        ));
    }
    labels.iter().find_map(|(k, v)| {
        let key = k.to_lowercase();
        (matches!(
            key.as_str(),
            "type" | "failure_type" | "failuretype" | "category"
        ) && v.eq_ignore_ascii_case("user"))
        .then(|| {
            Finding::new(
                UserCodeBug,
                "Failure classified as a user error",
                format!(
                    "failure label {k}={v}; root cause {}",
                    describe(&rc.class, &rc.message)
                ),
            )
        })
    })
}

/// Stage 5: what the alert measures, with the facts that go with it.
pub(super) fn by_alert(alert: &str, facts: &Facts) -> Option<Finding> {
    let state = facts
        .job
        .as_ref()
        .and_then(|j| j.state.as_deref())
        .unwrap_or("");
    let (pattern, title) = match alert {
        "FlinkCheckpointFailing" | "FlinkCheckpointTooOld" => {
            return Some(by_checkpoints(alert, facts))
        }
        "FlinkWatermarkStalled" => (WatermarkStall, "Watermark is not advancing"),
        "FlinkDataSkew" => (DataSkew, "One subtask does most of the work (data skew)"),
        "FlinkKafkaLagGrowing" => (Backpressure, "Job is falling behind its Kafka input"),
        "FlinkBackpressureHigh" => (
            Backpressure,
            "Backpressure: a downstream operator cannot keep up",
        ),
        "FlinkHighGCPressure" | "FlinkHeapUsageHigh" => (
            HeapOom,
            "Heap pressure on a TaskManager (no OutOfMemoryError yet)",
        ),
        "FlinkTaskManagerLost" => (TaskmanagerLost, "A TaskManager left the cluster"),
        "FlinkJobUnstable" => (RestartLoop, "Job is restarting repeatedly"),
        "FlinkJobNotRunning" if state == "RESTARTING" => {
            (RestartLoop, "Job is restarting repeatedly")
        }
        _ => return None,
    };
    let mut evidence = vec![format!("alert {alert}")];
    evidence.extend(context(facts));
    Some(Finding::new(pattern, title, evidence.join("; ")))
}

/// Facts worth quoting next to an alert-based verdict.
fn context(facts: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(bp) = &facts.backpressure {
        out.push(format!(
            "backpressure {} ({:.0}%) at {}",
            bp.level,
            bp.ratio * 100.0,
            bp.vertex
        ));
    }
    if let Some(r) = facts.restarts.filter(|r| *r > 0) {
        out.push(format!("{r} restarts"));
    }
    if let Some(rc) = &facts.root_cause {
        out.push(format!(
            "newest failure {} (no known pattern)",
            describe(&rc.class, &rc.message)
        ));
    }
    out
}

fn by_checkpoints(alert: &str, facts: &Facts) -> Finding {
    let cp = facts.checkpoints.as_ref();
    let failed = cp.and_then(|c| c.last_failed.as_ref());
    if let Some((f, msg)) = failed.and_then(|f| f.message.as_deref().map(|m| (f, m))) {
        let (pattern, title) = checkpoint(&msg.to_lowercase());
        return Finding::new(
            pattern,
            title,
            format!("last failed checkpoint #{}: {}", f.id, first_line(msg)),
        );
    }
    let counts = cp
        .map(|c| format!("; {} failed, {} in progress", c.failed, c.in_progress))
        .unwrap_or_default();
    if alert == "FlinkCheckpointTooOld" || cp.is_some_and(|c| c.in_progress > 0) {
        Finding::new(
            CheckpointTimeout,
            "Checkpoints are not completing",
            format!("alert {alert}{counts}"),
        )
    } else {
        Finding::new(
            CheckpointDeclined,
            "Checkpoints are failing (no reason reported)",
            format!("alert {alert}{counts}"),
        )
    }
}

/// Stage 6: facts alone.
pub(super) fn by_facts(facts: &Facts) -> Option<Finding> {
    let state = facts
        .job
        .as_ref()
        .and_then(|j| j.state.as_deref())
        .unwrap_or("");
    if matches!(state, "RESTARTING" | "FAILING") {
        let mut evidence = vec![format!("job state {state}")];
        evidence.extend(context(facts));
        return Some(Finding::new(
            RestartLoop,
            "Job is restarting repeatedly",
            evidence.join("; "),
        ));
    }
    let bp = facts
        .backpressure
        .as_ref()
        .filter(|bp| bp.level.eq_ignore_ascii_case("high"))?;
    Some(Finding::new(
        Backpressure,
        "Backpressure: a downstream operator cannot keep up",
        format!(
            "backpressure {} ({:.0}%) at {}",
            bp.level,
            bp.ratio * 100.0,
            bp.vertex
        ),
    ))
}

/// Stage 7.
pub(super) fn unknown(facts: &Facts) -> Finding {
    match &facts.root_cause {
        Some(rc) => Finding::new(
            Unknown,
            "Unrecognised failure",
            format!("root cause {}", describe(&rc.class, &rc.message)),
        ),
        None => Finding::new(Unknown, "No failure pattern recognised", ""),
    }
}
