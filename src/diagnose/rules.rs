//! The rules behind [`super::diagnose`], one function per stage of the precedence documented in
//! `mod.rs`. Message matching is case-insensitive and only ever looks at the message of the link
//! whose class is being judged (or, in stage 1, at the root's own message).

use crate::facts::frames::Owner;
use crate::facts::root_cause::{CauseLink, RootCause};
use crate::facts::Facts;

use super::classify::{
    by_class, by_root_message, checkpoint, simple, state_compat, WEAK_USER_CODE_CLASSES,
};
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

/// Stage 5: the root was thrown by the job's own code (its own class, or a JDK exception whose
/// top frame outside the JDK is the job's; see `facts::frames`).
pub(super) fn by_origin(rc: &RootCause) -> Option<Finding> {
    (rc.origin.thrown_by == Owner::Job).then(|| {
        let at = rc
            .origin
            .job_frame
            .as_deref()
            .map(|f| format!(", thrown at {f}"))
            .unwrap_or_default();
        Finding::new(
            UserCodeBug,
            "Exception thrown by the job's code",
            format!("root cause {}{at}", describe(&rc.class, &rc.message)),
        )
    })
}

/// Stage 6: what the alert measures, with the facts that go with it.
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
        "FlinkWatermarkNotStarted" => (WatermarkStall, "Watermark never started for an input"),
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
    if let Some(w) = &facts.watermark {
        out.push(format!("lowest watermark {}", w.line()));
    }
    if let Some(bp) = &facts.backpressure {
        out.push(bp.evidence());
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

/// Stage 7: facts alone.
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
        bp.evidence(),
    ))
}

/// Stage 8.
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
