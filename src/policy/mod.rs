//! The approvals policy: who may request which action, who may approve it, how many distinct
//! approvers it needs and for how long a request stays open. Pure: the caller passes `now`,
//! records the outcome in the audit log and runs (or does not run) the action.
//!
//! Discord lets guild admins change who can use a command, so the bot decides from the roles in
//! the interaction itself, here. Refusals are [`Refusal`]s: text safe to show in chat that says
//! what is wrong and who to ask.

mod approval;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

pub use crate::config::policy::{PolicyConfig, Principal, ResolvedRule as Rule, ACTIONS};
pub use approval::{Approval, Person, Progress, State, Vote};

/// Whoever clicked or typed, as the chat reported them: the user and the roles they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: crate::chat::UserId,
    pub roles: Vec<crate::chat::RoleId>,
    pub name: String,
}

/// The compiled policy, one rule per action slug.
#[derive(Debug, Clone)]
pub struct Policy {
    dry_run: bool,
    rules: BTreeMap<String, Rule>,
}

/// A request the policy accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: String,
    /// 0: run now; otherwise wait for this many distinct approvers other than the requester.
    pub approvals_needed: u8,
    /// Approvals given at or after this instant do not count.
    pub expires_at: DateTime<Utc>,
    /// Go through the flow and the audit log, but never call Flink or Alertmanager.
    pub dry_run: bool,
}

impl Policy {
    /// Compiles a validated config (`Config::load` validated it).
    pub fn new(config: &PolicyConfig) -> Policy {
        let rules = ACTIONS
            .iter()
            .filter_map(|(slug, _, _)| config.resolve(slug))
            .map(|r| (r.action.clone(), r))
            .collect();
        Policy {
            dry_run: config.dry_run,
            rules,
        }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn rule(&self, action: &str) -> Option<&Rule> {
        self.rules.get(action)
    }

    /// One line per action for `check-config`, saying plainly who can do what.
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = ACTIONS
            .iter()
            .filter_map(|(slug, _, _)| self.rules.get(*slug))
            .map(|r| {
                if r.requesters.is_empty() {
                    return format!(
                        "{}: nobody may request it (name a role in policy.actions.{}.requesters or policy.requesters)",
                        r.action, r.action
                    );
                }
                let approval = match r.approvals {
                    0 => "runs without approval".to_string(),
                    n => format!(
                        "{n} approval(s) from {}, within {} min",
                        list(&r.approvers),
                        r.expiry_minutes
                    ),
                };
                format!(
                    "{}: requested by {}; {approval}",
                    r.action,
                    list(&r.requesters)
                )
            })
            .collect();
        if self.dry_run {
            lines.push("dry run: actions are approved and audited but never executed".into());
        }
        lines
    }
}

fn list(ps: &[Principal]) -> String {
    ps.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `actor` may request `action` now, and what it takes to run it.
pub fn decide_request(
    policy: &Policy,
    action: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let rule = policy.rule(action).ok_or_else(|| Refusal::UnknownAction {
        action: action.chars().take(40).collect(),
    })?;
    if rule.requesters.is_empty() {
        return Err(Refusal::NobodyMayRequest {
            action: rule.action.clone(),
        });
    }
    if !allowed(&rule.requesters, actor) {
        return Err(Refusal::NotARequester {
            action: rule.action.clone(),
            allowed: rule.requesters.clone(),
        });
    }
    Ok(Decision {
        action: rule.action.clone(),
        approvals_needed: rule.approvals,
        expires_at: now + Duration::minutes(i64::from(rule.expiry_minutes)),
        dry_run: policy.dry_run,
    })
}

fn allowed(principals: &[Principal], actor: &Actor) -> bool {
    principals
        .iter()
        .any(|p| p.matches(actor.user, &actor.roles))
}

/// Why the bot will not do what was asked, in words fit for the chat channel: no URLs, paths or
/// internal errors, and where possible who to ask instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no action called {action:?}")]
    UnknownAction { action: String },
    #[error("nobody may request {action} yet: the bot's policy names no one for it (an admin sets policy.actions.{action}.requesters)")]
    NobodyMayRequest { action: String },
    #[error("you are not allowed to request {action}: ask {}", who(allowed))]
    NotARequester {
        action: String,
        allowed: Vec<Principal>,
    },
    #[error("you are not allowed to approve {action}: ask {}", who(allowed))]
    NotAnApprover {
        action: String,
        allowed: Vec<Principal>,
    },
    #[error("you cannot approve your own {action} request: it needs someone else")]
    OwnRequest { action: String },
    #[error("you have already approved this {action}: it needs another person")]
    AlreadyApproved { action: String },
    #[error("this {action} request expired at {} UTC: request it again", at.format("%H:%M"))]
    Expired { action: String, at: DateTime<Utc> },
    #[error("this {action} request was already {state}")]
    Decided { action: String, state: &'static str },
}

fn who(allowed: &[Principal]) -> String {
    let names: Vec<String> = allowed.iter().map(Principal::mention).collect();
    match names.as_slice() {
        [] => "an admin to name someone in the bot's policy".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
