//! The one line an incident's message shows about the people on it and what they did:
//! acknowledged by, silenced until, the last action and how it ended (pure).

use super::{Request, Run};
use crate::action::ActionKind;

/// What an incident's message says about the people on it, one line under its title.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub acknowledged_by: Option<String>,
    pub silenced_until: Option<String>,
    /// The silence made from chat, for Unsilence.
    #[serde(default)]
    pub silence_id: Option<String>,
    pub last_action: Option<String>,
}

impl Note {
    /// "acknowledged by Ana · silenced until 04:00 UTC · Savepoint: done (03:12 UTC)"
    pub fn line(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.acknowledged_by
                .as_ref()
                .map(|a| format!("acknowledged by {a}")),
            self.silenced_until
                .as_ref()
                .map(|s| format!("silenced until {s}")),
            self.last_action.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    /// Folds a finished request into the note (pure).
    pub fn after(mut self, req: &Request) -> Note {
        let at = chrono::Utc::now().format("%H:%M UTC");
        match (&req.plan.kind, &req.run) {
            (ActionKind::Acknowledge, Run::Succeeded { .. }) => {
                self.acknowledged_by = Some(req.approval.requester.name.clone())
            }
            (
                ActionKind::Silence { minutes },
                Run::Succeeded {
                    at, result, done, ..
                },
            ) => {
                let until = *at + chrono::Duration::minutes(i64::from(*minutes));
                self.silenced_until = Some(until.format("%H:%M UTC").to_string());
                // Requests stored before the outcome was typed carry only its text.
                self.silence_id = match done {
                    Some(d) => d.silence_id().map(str::to_string),
                    None => silence_id_in(result),
                };
            }
            (ActionKind::Unsilence { .. }, Run::Succeeded { .. }) => {
                self.silenced_until = None;
                self.silence_id = None;
            }
            (kind, Run::Succeeded { .. }) => {
                self.last_action = Some(format!("{}: done ({at})", kind.label()))
            }
            (kind, Run::Failed { .. }) => {
                self.last_action = Some(format!("{}: failed ({at})", kind.label()))
            }
            _ => {}
        }
        self
    }
}

/// The id in a silence's result text ("… (silence <id>)"), for requests stored before the
/// outcome was typed.
pub fn silence_id_in(result: &str) -> Option<String> {
    let id = result.rsplit("(silence ").next()?.strip_suffix(')')?;
    crate::silences::is_silence_id(id).then(|| id.to_string())
}
