//! `[policy]` and `[audit]`: who may request and approve which action, and where the audit log's
//! heads and key come from. The rules themselves are applied by `crate::policy`.
//!
//! Resolution, per action: its own `requesters`/`approvers`, else `policy.requesters` /
//! `policy.approvers`, else the built-in default. Built-in: nobody may request anything but
//! `acknowledge` (anyone may) until the policy names someone, and approvers default to whoever
//! may request. A policy that can never be satisfied (approvals needed, nobody to give them) is
//! refused at start-up with the key to fix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chat::{RoleId, UserId};

/// Every action the policy governs: slug, distinct approvals needed by default, and whether
/// anyone may request it when the policy names no one.
pub const ACTIONS: [(&str, u8, bool); 7] = [
    ("savepoint", 1, false),
    ("stop", 2, false),
    ("cancel", 2, false),
    ("threaddump", 0, false),
    ("silence", 0, false),
    ("unsilence", 0, false),
    ("acknowledge", 0, true),
];

pub const DEFAULT_EXPIRY_MINUTES: u32 = 15;
const MAX_APPROVALS: u8 = 10;
const MAX_EXPIRY_MINUTES: u32 = 24 * 60;

/// Who a rule names: `"role:<id>"`, `"user:<id>"` or `"@everyone"` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Principal {
    Everyone,
    Role(RoleId),
    User(UserId),
}

impl Principal {
    pub fn matches(&self, user: UserId, roles: &[RoleId]) -> bool {
        match self {
            Principal::Everyone => true,
            Principal::Role(r) => roles.contains(r),
            Principal::User(u) => *u == user,
        }
    }

    /// Who to ask, as chat shows it: Discord renders `<@&id>` / `<@id>` as the role's or user's
    /// name (and replies are sent without pinging).
    pub fn mention(&self) -> String {
        match self {
            Principal::Everyone => "anyone".into(),
            Principal::Role(r) => format!("someone with role <@&{r}>"),
            Principal::User(u) => format!("<@{u}>"),
        }
    }
}

impl TryFrom<String> for Principal {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("{s:?} is not \"role:<id>\", \"user:<id>\" or \"@everyone\"");
        if s == "@everyone" {
            return Ok(Principal::Everyone);
        }
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        let id: u64 = id.parse().ok().filter(|id| *id > 0).ok_or_else(bad)?;
        match kind {
            "role" => Ok(Principal::Role(RoleId(id))),
            "user" => Ok(Principal::User(UserId(id))),
            _ => Err(bad()),
        }
    }
}

impl From<Principal> for String {
    fn from(p: Principal) -> String {
        p.to_string()
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Everyone => f.write_str("@everyone"),
            Principal::Role(r) => write!(f, "role:{r}"),
            Principal::User(u) => write!(f, "user:{u}"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Run the whole flow (requests, approvals, audit) but never call Flink or Alertmanager.
    pub dry_run: bool,
    /// Who may request actions that do not name their own requesters.
    pub requesters: Option<Vec<Principal>>,
    /// Who may approve actions that do not name their own approvers.
    pub approvers: Option<Vec<Principal>>,
    /// Per action slug (see [`ACTIONS`]).
    pub actions: BTreeMap<String, ActionPolicyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionPolicyConfig {
    pub requesters: Option<Vec<Principal>>,
    pub approvers: Option<Vec<Principal>>,
    /// Distinct approvers needed, never counting the requester.
    pub approvals: Option<u8>,
    pub expiry_minutes: Option<u32>,
}

/// One action's rule after defaults are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedRule {
    pub action: String,
    pub requesters: Vec<Principal>,
    pub approvers: Vec<Principal>,
    pub approvals: u8,
    pub expiry_minutes: u32,
}

impl PolicyConfig {
    /// The rule for a known action slug; `None` for anything else.
    pub fn resolve(&self, action: &str) -> Option<ResolvedRule> {
        let &(slug, approvals, open) = ACTIONS.iter().find(|(s, _, _)| *s == action)?;
        let own = self.actions.get(slug).cloned().unwrap_or_default();
        let requesters = own
            .requesters
            .or_else(|| self.requesters.clone())
            .unwrap_or_else(|| {
                if open {
                    vec![Principal::Everyone]
                } else {
                    Vec::new()
                }
            });
        let approvers = own
            .approvers
            .or_else(|| self.approvers.clone())
            .unwrap_or_else(|| requesters.clone());
        Some(ResolvedRule {
            action: slug.to_string(),
            requesters,
            approvers,
            approvals: own.approvals.unwrap_or(approvals),
            expiry_minutes: own.expiry_minutes.unwrap_or(DEFAULT_EXPIRY_MINUTES),
        })
    }

    /// Cross-field checks; the message names the key to change.
    pub fn validate(&self) -> Result<(), String> {
        for slug in self.actions.keys() {
            let Some(rule) = self.resolve(slug) else {
                let known: Vec<&str> = ACTIONS.iter().map(|a| a.0).collect();
                return Err(format!(
                    "key `policy.actions.{slug}`: unknown action (known: {})",
                    known.join(", ")
                ));
            };
            let key = format!("policy.actions.{slug}");
            if rule.approvals > MAX_APPROVALS {
                return Err(format!(
                    "key `{key}.approvals`: at most {MAX_APPROVALS} distinct approvers can be required"
                ));
            }
            if !(1..=MAX_EXPIRY_MINUTES).contains(&rule.expiry_minutes) {
                return Err(format!(
                    "key `{key}.expiry_minutes`: must be between 1 and {MAX_EXPIRY_MINUTES}"
                ));
            }
        }
        for (slug, _, _) in ACTIONS {
            let rule = self.resolve(slug).expect("a known action");
            if rule.approvals == 0 || rule.requesters.is_empty() {
                continue;
            }
            let own = self.actions.get(slug).and_then(|a| a.approvers.as_ref());
            let key = if own.is_none() && self.approvers.is_some() {
                "policy.approvers".to_string()
            } else {
                format!("policy.actions.{slug}.approvers")
            };
            let open = rule
                .approvers
                .iter()
                .any(|p| !matches!(p, Principal::User(_)));
            let users = rule.approvers.len();
            if !open && users < rule.approvals as usize {
                return Err(format!(
                    "key `{key}`: {slug} needs {} distinct approvers but only {users} user(s) may approve and none by role: it could never run",
                    rule.approvals
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// JSONL file the chain's head is appended to after every entry. Default: beside the store
    /// folder, `<storage.path>.audit-head.jsonl`. Keep it outside the store folder (checked).
    pub head_file: Option<PathBuf>,
    /// A heartbeat entry (and head) this often while running, so a quiet log is provably quiet.
    /// 0 turns it off.
    pub heartbeat_secs: u64,
    /// HMAC key for sealing entries: from this environment variable, or from `hmac_key_file`.
    pub hmac_key_env: String,
    pub hmac_key_file: Option<PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            head_file: None,
            heartbeat_secs: 3600,
            hmac_key_env: "FLINK_CHATOPS_AUDIT_KEY".into(),
            hmac_key_file: None,
        }
    }
}

/// Shortest HMAC key accepted, in bytes (`openssl rand -hex 32` gives 64).
pub const MIN_HMAC_KEY_BYTES: usize = 32;

impl AuditConfig {
    /// Where heads are published for the store at `storage`.
    pub fn head_file(&self, storage: &Path) -> PathBuf {
        self.head_file.clone().unwrap_or_else(|| {
            let mut name = storage
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| "flink-chatops-data".into());
            name.push(".audit-head.jsonl");
            storage.with_file_name(name)
        })
    }

    pub fn validate(&self, storage: &Path) -> Result<(), String> {
        let head = self.head_file(storage);
        if head.starts_with(storage) {
            return Err(format!(
                "key `audit.head_file`: {} is inside the store folder ({}); published heads must live outside it to show a cut tail",
                head.display(),
                storage.display()
            ));
        }
        Ok(())
    }
}
