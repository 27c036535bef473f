//! One request's approval: Pending -> Approved | Denied | Expired, and nothing after that.
//!
//! The rule (who may approve, how many) is copied into the approval when it is requested, so
//! what the approvers were shown is what counts, and a stored approval means the same after a
//! restart with an edited config. Serializable: the caller keeps it in the store and writes it
//! back after every transition.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{allowed, decide_request, Actor, Policy, Principal, Refusal};

/// A person as recorded in an approval (roles are not kept: they matter only at the click).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub user: crate::chat::UserId,
    pub name: String,
}

impl From<&Actor> for Person {
    fn from(a: &Actor) -> Person {
        Person {
            user: a.user,
            name: a.name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub by: Person,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum State {
    Pending,
    Approved { at: DateTime<Utc> },
    Denied { by: Person, at: DateTime<Utc> },
    Expired { at: DateTime<Utc> },
}

impl State {
    fn word(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved { .. } => "approved",
            State::Denied { .. } => "denied",
            State::Expired { .. } => "expired",
        }
    }
}

/// What an accepted approval changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Counted; more approvers are needed.
    Waiting { have: u8, needed: u8 },
    /// That was the last one needed: the action may run now (exactly once, the caller's job).
    Approved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub action: String,
    pub requester: Person,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub needed: u8,
    pub approvers: Vec<Principal>,
    pub votes: Vec<Vote>,
    pub dry_run: bool,
    pub state: State,
}

impl Approval {
    /// A new request, if the policy lets `requester` make it. One that needs no approval is
    /// `Approved` at once.
    pub fn request(
        policy: &Policy,
        action: &str,
        requester: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Approval, Refusal> {
        let decision = decide_request(policy, action, requester, now)?;
        let rule = policy
            .rule(&decision.action)
            .expect("decided on a known rule");
        Ok(Approval {
            action: decision.action,
            requester: requester.into(),
            requested_at: now,
            expires_at: decision.expires_at,
            needed: decision.approvals_needed,
            approvers: rule.approvers.clone(),
            votes: Vec::new(),
            dry_run: decision.dry_run,
            state: if decision.approvals_needed == 0 {
                State::Approved { at: now }
            } else {
                State::Pending
            },
        })
    }

    pub fn is_pending(&self) -> bool {
        self.state == State::Pending
    }

    pub fn is_approved(&self) -> bool {
        matches!(self.state, State::Approved { .. })
    }

    /// Counts `who`'s approval. Refused: after a decision or expiry (an expired request becomes
    /// `Expired` here, so the caller must store and audit it), by someone the rule does not
    /// name, by the requester, or twice by the same person.
    pub fn approve(&mut self, who: &Actor, now: DateTime<Utc>) -> Result<Progress, Refusal> {
        self.check_open(now)?;
        if who.user == self.requester.user {
            return Err(Refusal::OwnRequest {
                action: self.action.clone(),
            });
        }
        if !allowed(&self.approvers, who) {
            return Err(Refusal::NotAnApprover {
                action: self.action.clone(),
                allowed: self.approvers.clone(),
            });
        }
        if self.votes.iter().any(|v| v.by.user == who.user) {
            return Err(Refusal::AlreadyApproved {
                action: self.action.clone(),
            });
        }
        self.votes.push(Vote {
            by: who.into(),
            at: now,
        });
        let have = self.votes.len() as u8;
        if have >= self.needed {
            self.state = State::Approved { at: now };
            Ok(Progress::Approved)
        } else {
            Ok(Progress::Waiting {
                have,
                needed: self.needed,
            })
        }
    }

    /// Ends the request. The requester may withdraw it; otherwise only someone who could approve
    /// it may deny it.
    pub fn deny(&mut self, who: &Actor, now: DateTime<Utc>) -> Result<(), Refusal> {
        self.check_open(now)?;
        if who.user != self.requester.user && !allowed(&self.approvers, who) {
            return Err(Refusal::NotAnApprover {
                action: self.action.clone(),
                allowed: self.approvers.clone(),
            });
        }
        self.state = State::Denied {
            by: who.into(),
            at: now,
        };
        Ok(())
    }

    /// Moves a pending request past its expiry to `Expired`; true when it did so now (the timer
    /// and the restart sweep call this, and audit a `true`).
    pub fn expire(&mut self, now: DateTime<Utc>) -> bool {
        if self.is_pending() && now >= self.expires_at {
            self.state = State::Expired {
                at: self.expires_at,
            };
            true
        } else {
            false
        }
    }

    fn check_open(&mut self, now: DateTime<Utc>) -> Result<(), Refusal> {
        self.expire(now);
        match &self.state {
            State::Pending => Ok(()),
            State::Expired { at } => Err(Refusal::Expired {
                action: self.action.clone(),
                at: *at,
            }),
            other => Err(Refusal::Decided {
                action: self.action.clone(),
                state: other.word(),
            }),
        }
    }
}
