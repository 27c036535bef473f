//! What an incident message offers: the button vocabulary, which buttons a message carries, and
//! the `custom_id` codec.
//!
//! A `custom_id` names an incident by its opaque id and a verb, never a job, cluster or any
//! parameter: the job and cluster are looked up in the store when the button is pressed, so a
//! forged `custom_id` can at most name another incident the bot already knows.

use serde::Serialize;

/// Read-only answers about the incident's job, given to whoever presses (ephemeral).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Offer {
    Status,
    Exceptions,
    Checkpoints,
}

impl Offer {
    pub const ALL: [Offer; 3] = [Offer::Status, Offer::Exceptions, Offer::Checkpoints];

    pub fn slug(self) -> &'static str {
        match self {
            Offer::Status => "status",
            Offer::Exceptions => "exceptions",
            Offer::Checkpoints => "checkpoints",
        }
    }

    /// The label on the button, and the bold word templates use for it (`**Status**`).
    pub fn label(self) -> &'static str {
        match self {
            Offer::Status => "Status",
            Offer::Exceptions => "Exceptions",
            Offer::Checkpoints => "Checkpoints",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Offer> {
        Offer::ALL.into_iter().find(|o| o.slug() == slug)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    Primary,
    Secondary,
    Danger,
}

/// One button as rendering decides it; delivery turns it into a Discord component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Button {
    pub custom_id: String,
    pub label: String,
    pub style: Style,
    pub offer: Offer,
}

/// The buttons an incident message carries. Only a message about a known job has any: every
/// answer is about that job. Resolved incidents keep the same read-only set.
pub fn for_incident(incident_id: &str, has_job: bool) -> Vec<Button> {
    if !has_job {
        return Vec::new();
    }
    Offer::ALL
        .into_iter()
        .map(|offer| Button {
            custom_id: encode(incident_id, offer),
            label: offer.label().to_string(),
            style: if offer == Offer::Status {
                Style::Primary
            } else {
                Style::Secondary
            },
            offer,
        })
        .collect()
}

const PREFIX: &str = "fc1";

/// `fc1:<incident id>:<verb>`; Discord allows 100 characters, incident ids are 24.
pub fn encode(incident_id: &str, offer: Offer) -> String {
    format!("{PREFIX}:{incident_id}:{}", offer.slug())
}

/// What a pressed button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pressed {
    pub incident_id: String,
    pub offer: Offer,
}

/// Decodes a `custom_id`; `None` for anything this version did not write.
pub fn decode(custom_id: &str) -> Option<Pressed> {
    let mut parts = custom_id.splitn(3, ':');
    if parts.next()? != PREFIX {
        return None;
    }
    let incident_id = parts.next()?;
    let offer = Offer::from_slug(parts.next()?)?;
    let valid = !incident_id.is_empty()
        && incident_id.len() <= 64
        && incident_id.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| Pressed {
        incident_id: incident_id.to_string(),
        offer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        for offer in Offer::ALL {
            let id = encode("0123456789abcdef01234567", offer);
            assert!(id.len() <= 100);
            assert_eq!(
                decode(&id),
                Some(Pressed {
                    incident_id: "0123456789abcdef01234567".into(),
                    offer
                })
            );
        }
        for bad in [
            "",
            "fc1",
            "fc1::status",
            "fc1:abc:reboot",
            "fc2:abc:status",
            "fc1:a/b:status",
            "fc1:abc:status:extra",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn no_job_no_buttons() {
        assert!(for_incident("abc", false).is_empty());
        let b = for_incident("abc", true);
        assert_eq!(
            b.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(),
            ["Status", "Exceptions", "Checkpoints"]
        );
    }
}
