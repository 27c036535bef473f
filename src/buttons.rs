//! What an incident message offers: the button vocabulary, which buttons a message carries, and
//! the `custom_id` codec.
//!
//! A `custom_id` names an incident (or a request) by its opaque id and a verb, never a job,
//! cluster or other parameter: those are looked up in the store when the button is pressed, so
//! a forged `custom_id` can at most name something the bot already knows, and what runs is
//! still decided by the policy and the approvals.

use serde::Serialize;

use crate::action::{ActionKind, SavepointFormat};

/// The next steps a diagnosis can suggest, in the one vocabulary buttons use.
pub mod suggest {
    use super::Offer;
    use crate::action::{ActionKind, SavepointFormat};

    pub const STATUS: Offer = Offer::Status;
    pub const SAVEPOINT: Offer = Offer::Act(ActionKind::Savepoint {
        format: SavepointFormat::Canonical,
    });
    pub const STOP: Offer = Offer::Act(ActionKind::StopWithSavepoint {
        drain: false,
        format: SavepointFormat::Canonical,
    });
    pub const CANCEL: Offer = Offer::Act(ActionKind::Cancel);
    pub const THREAD_DUMP: Offer = Offer::Act(ActionKind::ThreadDump);
    /// Shown as the silence presets.
    pub const SILENCE: Offer = Offer::Act(ActionKind::Silence { minutes: 60 });
}

/// Silence presets offered as buttons (minutes).
pub const SILENCE_PRESETS: [u32; 3] = [60, 240, 1440];

/// One thing a button on an incident message does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Offer {
    /// Read-only answers about the incident's job, to whoever presses (ephemeral).
    Status,
    Exceptions,
    Checkpoints,
    /// A guarded action: a request that the policy and approvals decide.
    Act(ActionKind),
    /// Ends the silence made from this incident's message (its id is in the incident's note).
    Unsilence,
    /// Posts the resolved incident's timeline and postmortem draft into its thread (once).
    Timeline,
}

impl Offer {
    pub const READ_ONLY: [Offer; 3] = [Offer::Status, Offer::Exceptions, Offer::Checkpoints];

    /// The verb in the `custom_id`.
    pub fn slug(&self) -> String {
        match self {
            Offer::Status => "status".into(),
            Offer::Exceptions => "exceptions".into(),
            Offer::Checkpoints => "checkpoints".into(),
            Offer::Act(ActionKind::Silence { minutes }) => format!("silence{minutes}"),
            Offer::Unsilence => "unsilence".into(),
            Offer::Timeline => "timeline".into(),
            Offer::Act(kind) => kind.slug().into(),
        }
    }

    /// The key templates use with `{{press "…"}}`: the pattern vocabulary of `diagnose`.
    pub fn template_key(&self) -> String {
        match self {
            Offer::Act(ActionKind::StopWithSavepoint { .. }) => "stop_with_savepoint".into(),
            Offer::Act(ActionKind::ThreadDump) => "thread_dump".into(),
            Offer::Act(ActionKind::Silence { .. }) => "silence".into(),
            other => other.slug(),
        }
    }

    /// The label on the button, and the bold words templates use for it (`**Status**`).
    pub fn label(&self) -> String {
        match self {
            Offer::Status => "Status".into(),
            Offer::Exceptions => "Exceptions".into(),
            Offer::Checkpoints => "Checkpoints".into(),
            Offer::Act(kind) => kind.label(),
            Offer::Unsilence => "Unsilence".into(),
            Offer::Timeline => "Timeline".into(),
        }
    }

    pub fn from_slug(slug: &str) -> Option<Offer> {
        let canonical = SavepointFormat::Canonical;
        Some(match slug {
            "status" => Offer::Status,
            "exceptions" => Offer::Exceptions,
            "checkpoints" => Offer::Checkpoints,
            "savepoint" => Offer::Act(ActionKind::Savepoint { format: canonical }),
            "stop" => Offer::Act(ActionKind::StopWithSavepoint {
                drain: false,
                format: canonical,
            }),
            "cancel" => Offer::Act(ActionKind::Cancel),
            "threaddump" => Offer::Act(ActionKind::ThreadDump),
            "acknowledge" => Offer::Act(ActionKind::Acknowledge),
            "unsilence" => Offer::Unsilence,
            "timeline" => Offer::Timeline,
            s => {
                let minutes: u32 = s.strip_prefix("silence")?.parse().ok()?;
                SILENCE_PRESETS
                    .contains(&minutes)
                    .then_some(Offer::Act(ActionKind::Silence { minutes }))?
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    Primary,
    Secondary,
    Success,
    Danger,
}

/// One button as rendering decides it; delivery turns it into a Discord component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Button {
    pub custom_id: String,
    pub label: String,
    pub style: Style,
    /// The key templates name it by (`{{press "savepoint" …}}`).
    pub key: String,
}

/// What this deployment can do from a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Available {
    /// Buttons are answered at all (interactions are on).
    pub answers: bool,
    /// Guarded actions can be requested (an audit log and a policy exist).
    pub actions: bool,
    /// Silences can be created (an Alertmanager is configured).
    pub silence: bool,
    /// Actions nobody may request under the policy in force (bit `i`: the `i`-th of
    /// `config::policy::ACTIONS`): a page does not offer a button that can only be refused.
    pub closed: u8,
}

impl Available {
    /// What this deployment can do, as configured: buttons are answered when interactions can
    /// arrive (an application id, and the gateway or the endpoint); guarded actions then too (the
    /// audit log and the guard always run), each only if the policy lets someone request it;
    /// silences when an Alertmanager is configured.
    pub fn from_config(config: &crate::config::Config) -> Available {
        let d = &config.discord;
        let answers = d.application_id.is_some()
            && (d.gateway_on(true, crate::config::GATEWAY_BUILT) || d.public_key.is_some());
        let policy = crate::policy::Policy::new(&config.policy);
        let closed = crate::config::policy::ACTIONS
            .iter()
            .enumerate()
            .filter(|(_, (slug, _, _))| policy.rule(slug).is_none_or(|r| r.requesters.is_empty()))
            .fold(0u8, |bits, (i, _)| bits | (1 << i));
        Available {
            answers,
            actions: answers,
            silence: answers && config.alertmanager.url.is_some(),
            closed,
        }
    }

    /// Someone may request `kind` under the policy.
    pub fn open(&self, kind: &ActionKind) -> bool {
        crate::config::policy::ACTIONS
            .iter()
            .position(|(slug, _, _)| *slug == kind.slug())
            .is_none_or(|i| self.closed & (1 << i) == 0)
    }
}

/// What the incident's page is about, for choosing its buttons.
pub struct Page<'a> {
    pub incident_id: &'a str,
    pub has_job: bool,
    /// The job is run by the Flink Kubernetes Operator: stop and cancel answer with its command.
    pub operated: bool,
    pub resolved: bool,
    /// The diagnosis's next steps (`Pattern::actions`).
    pub suggested: &'a [Offer],
}

/// The buttons an incident message carries. Nothing when buttons are not answered; read-only
/// ones when the job is known; while firing, the guarded actions the pattern suggests plus
/// Acknowledge (and silences when an Alertmanager is configured). A resolved page keeps only
/// the read-only ones, and adds Timeline (its story, posted into its thread).
pub fn for_incident(page: &Page<'_>, available: Available) -> Vec<Button> {
    if !available.answers {
        return Vec::new();
    }
    let mut offers: Vec<Offer> = Vec::new();
    if page.has_job {
        offers.extend(Offer::READ_ONLY);
    }
    if available.actions && !page.resolved {
        offers.push(Offer::from_slug("acknowledge").expect("known"));
        let silence = |o: &Offer| matches!(o, Offer::Act(ActionKind::Silence { .. }));
        for suggested in page.suggested {
            // Status is among the read-only ones; silences come as presets, below.
            let acts_on_job = matches!(suggested, Offer::Act(_)) && !silence(suggested);
            if acts_on_job && page.has_job {
                offers.push(suggested.clone());
            }
        }
        if available.silence && page.suggested.iter().any(silence) {
            offers.extend(SILENCE_PRESETS.map(|m| Offer::Act(ActionKind::Silence { minutes: m })));
        }
    }
    if page.resolved {
        offers.push(Offer::Timeline);
    }
    offers
        .into_iter()
        .filter(|o| match o {
            Offer::Act(kind) => available.open(kind),
            _ => true,
        })
        .take(25)
        .map(|offer| Button {
            custom_id: encode(page.incident_id, &offer),
            label: match &offer {
                // Pressing it calls nothing: the answer is the operator's command to paste.
                Offer::Act(k) if page.operated && k.is_destructive() => {
                    format!("{} (operator command)", offer.label())
                }
                _ => offer.label(),
            },
            style: match &offer {
                Offer::Status => Style::Primary,
                Offer::Act(k) if page.operated && k.is_destructive() => Style::Secondary,
                Offer::Act(k) if k.is_destructive() => Style::Danger,
                Offer::Act(_) => Style::Secondary,
                _ => Style::Secondary,
            },
            key: offer.template_key(),
        })
        .collect()
}

const PREFIX: &str = "fc1";
const REQUEST_PREFIX: &str = "fc1r";

/// `fc1:<incident id>:<verb>`; Discord allows 100 characters, incident ids are 24.
pub fn encode(incident_id: &str, offer: &Offer) -> String {
    format!("{PREFIX}:{incident_id}:{}", offer.slug())
}

/// The Approve / Deny buttons of a request: `fc1r:<request id>:approve:<binding prefix>`.
pub fn encode_vote(request_id: &str, approve: bool, binding: &str) -> String {
    let verb = if approve { "approve" } else { "deny" };
    format!(
        "{REQUEST_PREFIX}:{request_id}:{verb}:{}",
        &binding[..binding.len().min(16)]
    )
}

/// The requester's answer to a request's question: `fc1r:<request id>:yes|no:<binding prefix>`.
pub fn encode_answer(request_id: &str, yes: bool, binding: &str) -> String {
    let verb = if yes { "yes" } else { "no" };
    format!(
        "{REQUEST_PREFIX}:{request_id}:{verb}:{}",
        &binding[..binding.len().min(16)]
    )
}

/// What a pressed button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pressed {
    Incident {
        incident_id: String,
        offer: Offer,
    },
    Vote {
        request_id: String,
        approve: bool,
        binding: String,
    },
    /// The requester's answer to the request's question.
    Answer {
        request_id: String,
        yes: bool,
    },
}

/// Decodes a `custom_id`; `None` for anything this version did not write.
pub fn decode(custom_id: &str) -> Option<Pressed> {
    let parts: Vec<&str> = custom_id.split(':').collect();
    let id_ok = |id: &str| {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    match parts.as_slice() {
        [PREFIX, id, verb] if id_ok(id) => Some(Pressed::Incident {
            incident_id: id.to_string(),
            offer: Offer::from_slug(verb)?,
        }),
        [REQUEST_PREFIX, id, verb @ ("approve" | "deny"), binding]
            if id_ok(id) && id_ok(binding) =>
        {
            Some(Pressed::Vote {
                request_id: id.to_string(),
                approve: *verb == "approve",
                binding: binding.to_string(),
            })
        }
        [REQUEST_PREFIX, id, verb @ ("yes" | "no"), binding] if id_ok(id) && id_ok(binding) => {
            Some(Pressed::Answer {
                request_id: id.to_string(),
                yes: *verb == "yes",
            })
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "buttons_tests.rs"]
mod tests;
