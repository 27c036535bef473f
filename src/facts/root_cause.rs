//! Finding the real root cause in what Flink reports (pure functions).
//!
//! Flink's newest exception is often a wrapper: "Recovery is suppressed by ..." when the restart
//! strategy gives up, or a `JobException` around the task failure. The on-call engineer needs the
//! innermost `Caused by` of the failure that actually happened.

use std::collections::BTreeMap;

use serde::Serialize;

use super::frames::{self, Frame, Origin};
use crate::flink::types::{ExceptionEntry, Exceptions};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseLink {
    pub class: String,
    pub message: String,
    /// The link's stack, top first, with `... n more` filled in from the enclosing link (what
    /// the JVM means by it). Not shown to templates: `RootCause::origin` says what matters.
    #[serde(skip)]
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootCause {
    /// Fully qualified class of the innermost cause, e.g. `java.io.FileNotFoundException`.
    pub class: String,
    pub message: String,
    /// Every link from the outermost wrapper to the root, in order.
    pub chain: Vec<CauseLink>,
    pub failure_labels: BTreeMap<String, String>,
    pub task: Option<String>,
    pub task_manager: Option<String>,
    /// Epoch milliseconds of the failure.
    pub timestamp: Option<i64>,
    /// True when the newest entry was a wrapper and the cause came from its concurrent failures.
    pub unwrapped: bool,
    /// True when the failure happened long before the alert started: shown, but not used to
    /// diagnose (an old failure must not explain a new alert).
    pub stale: bool,
    /// Whose code threw the root, and the job's top frame in its stack (see `facts::frames`).
    pub origin: Origin,
    /// The checkpoint or savepoint a failed restore tried, from Flink's "Failed to rollback to
    /// checkpoint/savepoint <path>.": such a job never restored, so `latest.restored` is null.
    pub restore_source: Option<String>,
}

impl RootCause {
    /// Short class name, e.g. `FileNotFoundException`.
    pub fn simple_class(&self) -> &str {
        self.class.rsplit(['.', '$']).next().unwrap_or(&self.class)
    }

    /// Decides `origin` again with the job's packages as configured (`clusters[].user_packages`);
    /// with none configured, they are guessed from the trace.
    pub fn locate(&mut self, user_packages: &[String]) {
        self.origin = locate(&self.chain, &self.class, user_packages);
    }
}

fn restore_source(chain: &[CauseLink]) -> Option<String> {
    const SAID: &str = "Failed to rollback to checkpoint/savepoint ";
    chain.iter().rev().find_map(|l| {
        let rest = &l.message[l.message.find(SAID)? + SAID.len()..];
        let path = rest.split_whitespace().next()?.trim_end_matches('.');
        (!path.is_empty()).then(|| path.to_string())
    })
}

fn locate(chain: &[CauseLink], class: &str, user_packages: &[String]) -> Origin {
    let packages = frames::job_packages(chain.iter().map(|l| l.frames.as_slice()), user_packages);
    let root_frames = chain.last().map(|l| l.frames.as_slice()).unwrap_or(&[]);
    frames::origin(class, root_frames, &packages)
}

/// The root cause of the newest failure, from `exceptionHistory` (2.x and 1.20) or, when the
/// history is empty, from 1.20's legacy `root-exception`.
pub fn root_cause(exceptions: &Exceptions) -> Option<RootCause> {
    let newest = exceptions
        .history
        .entries
        .iter()
        .max_by_key(|e| e.timestamp);
    if let Some(entry) = newest {
        return Some(from_entry(entry));
    }
    let legacy = exceptions.legacy_root_exception.as_deref()?;
    let chain = parse_chain(legacy);
    let root = chain.last()?.clone();
    Some(RootCause {
        origin: locate(&chain, &root.class, &[]),
        restore_source: restore_source(&chain),
        class: root.class,
        message: root.message,
        chain,
        failure_labels: BTreeMap::new(),
        task: exceptions.legacy_all.first().and_then(|e| e.task.clone()),
        task_manager: None,
        timestamp: exceptions.timestamp,
        unwrapped: false,
        stale: false,
    })
}

pub fn from_entry(entry: &ExceptionEntry) -> RootCause {
    let mut source = entry;
    let mut unwrapped = false;
    if is_wrapper(entry) {
        if let Some(inner) = entry.concurrent.iter().max_by_key(|e| e.timestamp) {
            source = inner;
            unwrapped = true;
        }
    }
    let mut chain = parse_chain(&source.stacktrace);
    if chain.is_empty() {
        chain.push(CauseLink {
            class: source.exception_name.clone(),
            message: String::new(),
            frames: Vec::new(),
        });
    }
    let root = chain.last().cloned().expect("chain is not empty");
    let mut failure_labels = entry.failure_labels.clone();
    failure_labels.extend(source.failure_labels.clone());
    RootCause {
        origin: locate(&chain, &root.class, &[]),
        restore_source: restore_source(&chain),
        class: root.class,
        message: root.message,
        chain,
        failure_labels,
        task: source.task_name.clone(),
        task_manager: source
            .task_manager_id
            .clone()
            .or_else(|| source.endpoint.clone()),
        timestamp: Some(source.timestamp),
        unwrapped,
        stale: false,
    }
}

/// The restart strategy's verdict wraps the failure that caused it.
fn is_wrapper(entry: &ExceptionEntry) -> bool {
    let first = entry.stacktrace.lines().next().unwrap_or("");
    first.contains("Recovery is suppressed by")
        || (entry.exception_name.ends_with("JobException") && !entry.concurrent.is_empty())
}

/// Splits a Java stack trace into its top exception and its top-level `Caused by` links, each
/// with its frames. Indented `Caused by` lines belong to `Suppressed:` blocks and are not part of
/// the chain; neither are the (more deeply indented) frames of those blocks.
pub fn parse_chain(stacktrace: &str) -> Vec<CauseLink> {
    let mut chain: Vec<CauseLink> = Vec::new();
    let mut in_message = false;
    for (i, line) in stacktrace.lines().enumerate() {
        let header = if i == 0 {
            Some(line)
        } else {
            line.strip_prefix("Caused by: ")
        };
        if let Some(header) = header {
            if header.trim().is_empty() {
                continue;
            }
            chain.push(split_header(header));
            in_message = true;
            continue;
        }
        let trimmed = line.trim_start();
        let is_frame = trimmed.starts_with("at ")
            || trimmed.starts_with("... ")
            || trimmed.starts_with("Suppressed: ")
            || trimmed.starts_with("Caused by: ");
        if is_frame || line.is_empty() {
            in_message = false;
            if top_level(line) {
                add_frame(&mut chain, trimmed);
            }
        } else if in_message {
            // A multi-line exception message continues until the first frame.
            if let Some(last) = chain.last_mut() {
                last.message.push('\n');
                last.message.push_str(line);
            }
        }
    }
    chain
}

/// A line of the chain's own links: one tab (or up to four spaces) deep, not a suppressed block's.
fn top_level(line: &str) -> bool {
    let indent = line.len() - line.trim_start().len();
    line.starts_with('\t') && indent == 1 || !line.starts_with('\t') && (1..=4).contains(&indent)
}

/// Adds an `at` frame to the newest link, or fills in `... n more` from the enclosing link: the
/// JVM prints that when the last n frames are the same as the enclosing trace's last n.
fn add_frame(chain: &mut [CauseLink], trimmed: &str) {
    let n = chain.len();
    if let Some(frame) = Frame::parse(trimmed) {
        if let Some(last) = chain.last_mut() {
            last.frames.push(frame);
        }
    } else if let Some(more) = trimmed
        .strip_prefix("... ")
        .and_then(|r| r.strip_suffix(" more"))
        .and_then(|c| c.trim().parse::<usize>().ok())
    {
        if n >= 2 {
            let enclosing = &chain[n - 2].frames;
            let tail = enclosing[enclosing.len().saturating_sub(more)..].to_vec();
            chain[n - 1].frames.extend(tail);
        }
    }
}

/// `java.io.IOException: msg: more` -> (`java.io.IOException`, `msg: more`).
fn split_header(header: &str) -> CauseLink {
    match header.split_once(": ") {
        Some((class, message)) if looks_like_class(class) => CauseLink {
            class: class.trim().to_string(),
            message: message.trim().to_string(),
            frames: Vec::new(),
        },
        _ => CauseLink {
            class: header.trim().to_string(),
            message: String::new(),
            frames: Vec::new(),
        },
    }
}

fn looks_like_class(s: &str) -> bool {
    !s.is_empty() && !s.contains(' ') && s.chars().all(|c| c.is_alphanumeric() || "._$".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = "org.apache.flink.runtime.JobException: Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=2, backoffTimeMS=1000)\n\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(ExecutionFailureHandler.java:213)\nCaused by: java.lang.RuntimeException: harness: could not snapshot enrichment cache\n\tat harness.NestedFailureJob$Nested.map(NestedFailureJob.java:53)\nCaused by: java.io.IOException: Failed to serialize operator state for key 2 (simulated; looks like: java.lang.OutOfMemoryError: Java heap space)\n\t... 22 more\nCaused by: java.io.NotSerializableException: com.example.payments.LegacyHttpClient\n\t... 22 more\n";

    #[test]
    fn the_root_is_the_last_caused_by_not_a_look_alike_in_a_message() {
        let chain = parse_chain(NESTED);
        assert_eq!(chain.len(), 4);
        assert_eq!(chain[0].class, "org.apache.flink.runtime.JobException");
        let root = chain.last().unwrap();
        assert_eq!(root.class, "java.io.NotSerializableException");
        assert_eq!(root.message, "com.example.payments.LegacyHttpClient");
    }

    #[test]
    fn suppressed_causes_and_multiline_messages() {
        let trace = "java.lang.RuntimeException: outer\nsecond line\n\tat a.b(C.java:1)\n\tSuppressed: java.lang.IllegalStateException: x\n\t\tat d.e(F.java:2)\n\tCaused by: java.lang.Error: suppressed cause\nCaused by: java.lang.ArithmeticException\n\t... 3 more";
        let chain = parse_chain(trace);
        assert_eq!(chain.len(), 2, "{chain:?}");
        assert_eq!(chain[0].message, "outer\nsecond line");
        assert_eq!(chain[1].class, "java.lang.ArithmeticException");
        assert_eq!(chain[1].message, "");
    }

    #[test]
    fn wrapper_entries_are_unwrapped_through_concurrent_exceptions() {
        let json = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/flink-2.3.0-exceptions-nested-failed.json"
        ))
        .unwrap();
        let ex: Exceptions = serde_json::from_str(&json).unwrap();
        let rc = root_cause(&ex).unwrap();
        assert!(rc.unwrapped);
        assert_eq!(rc.class, "java.io.NotSerializableException");
        assert_eq!(rc.simple_class(), "NotSerializableException");
        assert!(rc.task.unwrap().contains("nested-map"));
    }
}
