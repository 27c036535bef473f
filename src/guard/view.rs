//! A guarded request's message (pure): what will run, who asked, approvals, expiry, then
//! progress and result, and the Approve / Deny buttons while it waits. Buttons are gone once it
//! is decided, expired or run, so a locked request cannot be clicked. The footer names the
//! request, so a post that may already be out is found again after a crash.

use super::{Request, Run};
use crate::buttons::{encode_vote, Button, Style};
use crate::message::{colors, Embed, Field, Message};

/// The request's message (pure).
pub fn message(req: &Request) -> Message {
    let a = &req.approval;
    let mut fields = vec![Field::new("Requested by", a.requester.name.clone(), true)];
    if a.needed > 0 {
        let names: Vec<&str> = a.votes.iter().map(|v| v.by.name.as_str()).collect();
        fields.push(Field::new(
            "Approvals",
            format!(
                "{} of {}{}",
                a.votes.len(),
                a.needed,
                if names.is_empty() {
                    String::new()
                } else {
                    format!(": {}", names.join(", "))
                }
            ),
            true,
        ));
    }
    if req.run == Run::Waiting {
        fields.push(Field::new(
            "Expires",
            format!(
                "<t:{}:R> ({} UTC)",
                a.expires_at.timestamp(),
                a.expires_at.format("%H:%M")
            ),
            true,
        ));
    }
    if a.dry_run {
        fields.push(Field::new(
            "Mode",
            "dry run: approved and audited, never executed",
            false,
        ));
    }
    let (color, status) = match &req.run {
        Run::Confirm => (
            colors::WARNING,
            format!("{} must answer first", a.requester.name),
        ),
        Run::Waiting => (
            colors::WARNING,
            format!(
                "waiting for {} more approval(s)",
                a.needed as usize - a.votes.len()
            ),
        ),
        Run::Ready => (colors::INFO, "approved; starting".into()),
        Run::Running { since } => {
            let secs = (chrono::Utc::now() - *since).num_seconds().max(0);
            let took = crate::render::helpers::human_duration(secs);
            (colors::INFO, format!("running… ({took} so far)"))
        }
        Run::Succeeded { result, .. } => (colors::RESOLVED, format!("✅ {result}")),
        Run::Failed { reason, .. } => (colors::CRITICAL, format!("❌ {reason}")),
        Run::Denied { by, .. } => (colors::CRITICAL, format!("denied by {by}")),
        Run::Expired { .. } => (colors::CRITICAL, "expired before it was approved".into()),
    };
    fields.push(Field::new("Status", status, false));
    let buttons = if req.run == Run::Confirm {
        vec![
            Button {
                custom_id: crate::buttons::encode_answer(&req.id, true, &req.binding),
                label: "Dump anyway".into(),
                style: Style::Danger,
                key: "confirm".into(),
            },
            Button {
                custom_id: crate::buttons::encode_answer(&req.id, false, &req.binding),
                label: "Skip the struggling ones".into(),
                style: Style::Secondary,
                key: "skip".into(),
            },
        ]
    } else if req.run == Run::Waiting {
        vec![
            Button {
                custom_id: encode_vote(&req.id, true, &req.binding),
                label: "Approve".into(),
                style: Style::Success,
                key: "approve".into(),
            },
            Button {
                custom_id: encode_vote(&req.id, false, &req.binding),
                label: "Deny".into(),
                style: Style::Danger,
                key: "deny".into(),
            },
        ]
    } else if let (
        Run::Succeeded { .. },
        crate::action::ActionKind::Silence { .. },
        Some(incident),
    ) = (&req.run, &req.plan.kind, &req.incident_id)
    {
        let offer = crate::buttons::Offer::Unsilence;
        vec![Button {
            custom_id: crate::buttons::encode(incident, &offer),
            label: offer.label(),
            style: Style::Secondary,
            key: offer.template_key(),
        }]
    } else {
        Vec::new()
    };
    Message {
        embed: Embed {
            title: format!("{} — {}", req.plan.kind.label(), req.run.word()),
            description: req.plan.shown(),
            color,
            fields,
            footer: format!("{} · audited", crate::outbox::request_key(&req.id)),
            ..Default::default()
        },
        buttons,
        ..Default::default()
    }
    .fit()
}
