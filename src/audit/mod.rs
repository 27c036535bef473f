//! The audit log's pure core: what an audit event says, how entries are sealed into a hash chain,
//! and how a chain is verified against the heads published outside the store.
//!
//! Every request, approval, denial, expiry, run, result, acknowledge and silence becomes one
//! [`AuditEvent`]. [`seal`] turns it into an [`Entry`] chained to the previous one; [`verify`]
//! finds the first place where a stored chain stops being the one that was written. Events carry
//! plain strings (the action's slug, snake_case kinds), so the on-disk chain never depends on a
//! Rust enum's layout or on the chat platform. No I/O here but files: the store appends
//! (`store::audit`), [`export`] copies the chain to a file auditors read while the bot runs, and
//! [`publish`] writes heads to a file.

mod chain;
pub mod export;
pub mod publish;
mod verify;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use chain::{seal, ChainHash, Entry, Head, Sealing};
pub use export::{ExportError, Exporter};
pub use publish::{read_heads, HeadFileError, Publisher};
pub use verify::{verify, Break, Summary, Verifier};

/// What happened. Serialized as snake_case strings: renaming a variant would change the chain's
/// meaning, so a variant's string never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Requested,
    Approved,
    Denied,
    Expired,
    Executing,
    Succeeded,
    Failed,
    Acknowledged,
    Silenced,
    Unsilenced,
    Refused,
    /// Written on a schedule while idle, so a published head proves that nothing happened.
    Heartbeat,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        EventKind::Requested,
        EventKind::Approved,
        EventKind::Denied,
        EventKind::Expired,
        EventKind::Executing,
        EventKind::Succeeded,
        EventKind::Failed,
        EventKind::Acknowledged,
        EventKind::Silenced,
        EventKind::Unsilenced,
        EventKind::Refused,
        EventKind::Heartbeat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Requested => "requested",
            EventKind::Approved => "approved",
            EventKind::Denied => "denied",
            EventKind::Expired => "expired",
            EventKind::Executing => "executing",
            EventKind::Succeeded => "succeeded",
            EventKind::Failed => "failed",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Silenced => "silenced",
            EventKind::Unsilenced => "unsilenced",
            EventKind::Refused => "refused",
            EventKind::Heartbeat => "heartbeat",
        }
    }
}

/// Who did it, as the chat knew them at that moment (the name is kept because ids alone are
/// unreadable in an export, and names change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRef {
    pub id: u64,
    pub name: String,
}

/// One audited step: who, what, on which cluster and job. `detail` holds what the step adds
/// (the savepoint location, the silence id, the refusal's text); keep secrets and URLs with
/// credentials out of it, the log is exported as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<ActorRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The action's slug: "savepoint", "stop", "cancel", "threaddump", "silence", "unsilence",
    /// "acknowledge".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event of this kind with nothing else set; fill in with the `with_*` methods.
    pub fn new(kind: EventKind) -> AuditEvent {
        AuditEvent {
            kind,
            actor: None,
            cluster: None,
            job_id: None,
            action: None,
            request_id: None,
            detail: serde_json::Value::Null,
        }
    }

    pub fn heartbeat() -> AuditEvent {
        AuditEvent::new(EventKind::Heartbeat)
    }

    pub fn with_actor(mut self, id: u64, name: impl Into<String>) -> Self {
        self.actor = Some(ActorRef {
            id,
            name: name.into(),
        });
        self
    }

    pub fn with_job(mut self, cluster: impl Into<String>, job_id: impl Into<String>) -> Self {
        self.cluster = Some(cluster.into());
        self.job_id = Some(job_id.into());
        self
    }

    pub fn with_action(mut self, slug: impl Into<String>) -> Self {
        self.action = Some(slug.into());
        self
    }

    pub fn with_request(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// What the step came to, for `audit list`: the action's result (a savepoint's location) or
    /// the reason it failed or was refused, from `detail`; cut to one line of at most `max`
    /// characters. Not for chat: a result may name a path.
    pub fn outcome(&self, max: usize) -> Option<String> {
        let value = self
            .detail
            .get("result")
            .or_else(|| self.detail.get("reason"))?;
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => return None,
            other => other.to_string(),
        };
        let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.chars().count() <= max {
            return Some(line);
        }
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        Some(format!("{cut}…"))
    }

    /// One line for `audit list` and `/flink audit`: kind, action, target, actor, request.
    pub fn summary(&self) -> String {
        let mut s = self.kind.as_str().to_string();
        if let Some(a) = &self.action {
            s.push(' ');
            s.push_str(a);
        }
        match (&self.cluster, &self.job_id) {
            (Some(c), Some(j)) => s.push_str(&format!(" {c}/{j}")),
            (Some(c), None) => s.push_str(&format!(" {c}")),
            (None, Some(j)) => s.push_str(&format!(" {j}")),
            (None, None) => {}
        }
        if let Some(a) = &self.actor {
            s.push_str(&format!(" by {} ({})", a.name, a.id));
        }
        if let Some(r) = &self.request_id {
            s.push_str(&format!(" [request {r}]"));
        }
        s
    }
}
