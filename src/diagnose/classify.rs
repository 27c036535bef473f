//! Classifying one exception: by its class (valid for any link of the chain, since the class is
//! the real exception) and by the root's own message. `m` is always a lower-cased message.

use crate::facts::root_cause::RootCause;

use super::Pattern;
use Pattern::*;

/// Java's own unchecked exceptions that almost always mean a bug in the job's code (or a record
/// the code did not expect). `IllegalStateException` and `UnsupportedOperationException` are left
/// out on purpose: Flink's runtime throws them itself (`Preconditions.checkState`, unsupported
/// features), so on their own they say nothing about whose code failed.
const USER_CODE_CLASSES: &[&str] = &[
    "java.lang.NullPointerException",
    "java.lang.ClassCastException",
    "java.lang.ArithmeticException",
    "java.lang.IllegalArgumentException",
    "java.lang.IndexOutOfBoundsException",
    "java.lang.ArrayIndexOutOfBoundsException",
    "java.lang.StringIndexOutOfBoundsException",
    "java.lang.NumberFormatException",
    "java.lang.NegativeArraySizeException",
    "java.lang.ArrayStoreException",
    "java.lang.StackOverflowError",
    "java.util.NoSuchElementException",
    "java.util.ConcurrentModificationException",
    "java.time.format.DateTimeParseException",
];

/// Linkage problems: a class missing from, or clashing in, the job jar. Weak, see stage 3.
pub(super) const WEAK_USER_CODE_CLASSES: &[&str] = &[
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

pub(super) fn simple(class: &str) -> &str {
    class.rsplit(['.', '$']).next().unwrap_or(class)
}

/// Rules decided by a link's class; usable on any link because the class is the real exception.
/// `m` is the same link's message, lower-cased, used only to refine the verdict.
pub(super) fn by_class(class: &str, m: &str) -> Option<(Pattern, &'static str)> {
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

pub(super) fn checkpoint(m: &str) -> (Pattern, &'static str) {
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
pub(super) fn by_root_message(m: &str) -> Option<(Pattern, &'static str)> {
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
pub(super) fn state_compat(rc: &RootCause, m: &str) -> Option<&'static str> {
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
