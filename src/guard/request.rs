//! One guarded request as the store keeps it, and its life (pure):
//! Waiting (for approvals) -> Ready -> Running -> Succeeded | Failed, or Denied | Expired.
//!
//! The plan is fixed when the request is made and never changes, and approvals are counted on
//! the request itself, so an approval counts for exactly the action, cluster, job and
//! parameters it was shown (`binding`, a digest of the plan, is also in the Approve button).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::done::Done;
use crate::action::Plan;
use crate::chat::{ChannelId, MessageId};
use crate::policy::{Actor, Approval, Progress, Refusal as PolicyRefusal};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    pub plan: Plan,
    pub binding: String,
    pub approval: Approval,
    pub run: Run,
    /// The incident whose message the request came from, if any.
    pub incident_id: Option<String>,
    /// The alert's labels (silences match on them).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Where the request's message goes when it has no incident (else: the incident's thread;
    /// where it went is the way out's record, see `outbox::Placed`).
    pub channel: ChannelId,
    /// The message of a request stored before the outbox (then in `channel`): the way out
    /// adopts it instead of posting a second one. Never written now.
    #[serde(default, rename = "message", skip_serializing)]
    pub legacy_message: Option<MessageId>,
    pub created_at: DateTime<Utc>,
    /// The message the request came from.
    #[serde(default)]
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "run", rename_all = "snake_case")]
pub enum Run {
    /// The plan asks the requester a question first (dump a struggling TaskManager?).
    Confirm,
    /// Approvals still needed.
    Waiting,
    /// Approved; the worker runs it next.
    Ready,
    /// Claimed by the worker (the audit entry "executing" is written before this is stored).
    Running {
        since: DateTime<Utc>,
    },
    Succeeded {
        /// What chat shows (also what requests stored before `done` existed have).
        result: String,
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        done: Option<Done>,
    },
    Failed {
        reason: String,
        at: DateTime<Utc>,
    },
    Denied {
        by: String,
        at: DateTime<Utc>,
    },
    Expired {
        at: DateTime<Utc>,
    },
}

impl Run {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Run::Succeeded { .. } | Run::Failed { .. } | Run::Denied { .. } | Run::Expired { .. }
        )
    }

    pub fn word(&self) -> &'static str {
        match self {
            Run::Confirm => "waiting for the requester to confirm",
            Run::Waiting => "waiting for approval",
            Run::Ready => "approved, starting",
            Run::Running { .. } => "running",
            Run::Succeeded { .. } => "done",
            Run::Failed { .. } => "failed",
            Run::Denied { .. } => "denied",
            Run::Expired { .. } => "expired",
        }
    }
}

/// What an approval click did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approved {
    /// Counted; `have` of `needed`.
    Counted { have: u8, needed: u8 },
    /// The last one needed: the request is Ready.
    Complete,
}

impl Request {
    /// A new request: Ready at once when it needs no approval.
    pub fn new(
        id: String,
        plan: Plan,
        approval: Approval,
        channel: ChannelId,
        now: DateTime<Utc>,
    ) -> Request {
        let run = match (approval.is_approved(), &plan.confirm) {
            (true, Some(_)) => Run::Confirm,
            (true, None) => Run::Ready,
            (false, _) => Run::Waiting,
        };
        Request {
            id,
            binding: plan.binding(),
            plan,
            approval,
            run,
            incident_id: None,
            labels: BTreeMap::new(),
            channel,
            legacy_message: None,
            created_at: now,
            link: None,
        }
    }

    /// Counts an approval given for `binding` (what the approver's button was made for).
    pub fn approve(
        &mut self,
        who: &Actor,
        binding: &str,
        now: DateTime<Utc>,
    ) -> Result<Approved, Refusal> {
        if !self.binding.starts_with(binding) || binding.len() < 8 {
            return Err(Refusal::Changed);
        }
        self.open(now)?;
        match self.approval.approve(who, now) {
            Ok(Progress::Approved) => {
                self.run = Run::Ready;
                Ok(Approved::Complete)
            }
            Ok(Progress::Waiting { have, needed }) => Ok(Approved::Counted { have, needed }),
            Err(e) => {
                self.sync_expiry(now);
                Err(Refusal::Policy(e))
            }
        }
    }

    pub fn deny(&mut self, who: &Actor, now: DateTime<Utc>) -> Result<(), Refusal> {
        self.open(now)?;
        self.approval.deny(who, now).map_err(|e| {
            self.sync_expiry(now);
            Refusal::Policy(e)
        })?;
        self.run = Run::Denied {
            by: who.name.clone(),
            at: now,
        };
        Ok(())
    }

    /// Waiting past the expiry -> Expired; true when it changed now (then audit it).
    pub fn expire(&mut self, now: DateTime<Utc>) -> bool {
        let unanswered = self.run == Run::Confirm && now >= self.approval.expires_at;
        let unapproved = self.run == Run::Waiting && self.approval.expire(now);
        (unanswered || unapproved) && {
            self.run = Run::Expired {
                at: self.approval.expires_at,
            };
            true
        }
    }

    fn sync_expiry(&mut self, _now: DateTime<Utc>) {
        if matches!(self.approval.state, crate::policy::State::Expired { .. })
            && self.run == Run::Waiting
        {
            self.run = Run::Expired {
                at: self.approval.expires_at,
            };
        }
    }

    fn open(&mut self, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.expire(now) {
            return Err(Refusal::Expired);
        }
        match self.run {
            Run::Waiting => Ok(()),
            Run::Expired { .. } => Err(Refusal::Expired),
            _ => Err(Refusal::Decided(self.run.word())),
        }
    }

    /// The requester's answer to the plan's question: `yes` runs it as planned, `no` leaves
    /// out the struggling TaskManagers the question was about.
    pub fn confirm(&mut self, who: &Actor, yes: bool) -> Result<(), Refusal> {
        if self.run != Run::Confirm {
            return Err(Refusal::Decided(self.run.word()));
        }
        if who.user != self.approval.requester.user {
            return Err(Refusal::NotRequester);
        }
        if !yes {
            if let crate::action::Effect::ThreadDumps {
                task_managers,
                struggling,
            } = &mut self.plan.effect
            {
                task_managers.retain(|tm| !struggling.contains(tm));
                let left: Vec<String> = task_managers.clone();
                self.plan.calls.retain(|c| {
                    !c.path.starts_with("/taskmanagers/")
                        || left.iter().any(|tm| c.path.contains(tm.as_str()))
                });
                struggling.clear();
            }
            self.plan.confirm = None;
            self.binding = self.plan.binding();
        }
        self.run = Run::Ready;
        Ok(())
    }

    /// Claims a Ready request for running; false if someone else did (or it is not Ready).
    pub fn start(&mut self, now: DateTime<Utc>) -> bool {
        if self.run == Run::Ready {
            self.run = Run::Running { since: now };
            true
        } else {
            false
        }
    }

    pub fn finish(&mut self, outcome: Result<Done, String>, now: DateTime<Utc>) {
        self.run = match outcome {
            Ok(done) => Run::Succeeded {
                result: done.to_string(),
                at: now,
                done: Some(done),
            },
            Err(reason) => Run::Failed { reason, at: now },
        };
    }
}

/// Why a click on a request's button was refused; the text is safe for chat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Policy(PolicyRefusal),
    #[error("this request expired: request it again")]
    Expired,
    #[error("this request is already {0}")]
    Decided(&'static str),
    #[error("this button does not match the request any more: request it again")]
    Changed,
    #[error("only the person who asked can answer this")]
    NotRequester,
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
