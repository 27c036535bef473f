//! A guarded request in chat: its message (what will run, who asked, approvals, expiry, then
//! progress and result), the Approve / Deny buttons while it waits, and the task that keeps the
//! message up to date from the guard's updates. Buttons are gone once it is decided, expired
//! or run, so a locked request cannot be clicked.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    ChannelId, CreateAllowedMentions, CreateAttachment, CreateMessage, CreateThread, EditMessage,
    MessageId,
};
use serenity::http::Http;
use tokio::sync::mpsc;

use crate::buttons::{encode_vote, Button, Style};
use crate::guard::{Guard, Request, Run, Update};
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
            footer: format!("request {} · audited", req.id),
            ..Default::default()
        },
        buttons,
        ..Default::default()
    }
    .fit()
}

/// Where a request from a button on the incident message `(channel, message)` is discussed:
/// a thread started from that message (one per incident; a thread's id is its message's id,
/// so a second request finds the first one's thread), else the channel itself.
pub async fn thread_for(http: &Http, channel: u64, message: u64, name: &str) -> u64 {
    let builder = CreateThread::new(crate::message::truncate(name, 100))
        .auto_archive_duration(serenity::all::AutoArchiveDuration::OneDay);
    match ChannelId::new(channel)
        .create_thread_from_message(http, MessageId::new(message), builder)
        .await
    {
        Ok(thread) => thread.id.get(),
        Err(e) => {
            tracing::debug!(error = %e, "thread exists or cannot be made; using the message's thread id");
            message
        }
    }
}

/// Posts the request's first message; falls back to `fallback` (the channel) when the thread
/// refuses it.
pub async fn post(http: &Http, guard: &Guard, req: &Request, fallback: u64) {
    let msg = message(req);
    for channel in [req.channel.0, fallback] {
        let builder = CreateMessage::new()
            .embed(crate::deliver::discord::embed(&msg))
            .components(crate::deliver::discord::components(&msg))
            .allowed_mentions(CreateAllowedMentions::new());
        match ChannelId::new(channel).send_message(http, builder).await {
            Ok(posted) => {
                if let Err(e) = guard
                    .set_message(
                        &req.id,
                        crate::chat::ChannelId(channel),
                        crate::chat::MessageId(posted.id.get()),
                    )
                    .await
                {
                    tracing::error!(request = %req.id, error = %e, "could not remember the request's message");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(request = %req.id, channel, error = %e, "posting the request failed")
            }
        }
    }
}

/// Keeps each request's message in step with the guard, and posts result files under it.
pub async fn follow(
    http: Arc<Http>,
    guard: Arc<Guard>,
    store: crate::store::Store,
    mut updates: mpsc::UnboundedReceiver<Update>,
) {
    while let Some(update) = updates.recv().await {
        let mut req = update.request;
        // A request that needs no approval may start before its message is posted.
        for _ in 0..20 {
            if req.message.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            match guard.get(&req.id) {
                Ok(fresh) if fresh.message.is_some() => {
                    req.message = fresh.message;
                    req.channel = fresh.channel;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let Some(message_id) = req.message else {
            tracing::warn!(request = %req.id, "request has no message to update");
            continue;
        };
        let msg = message(&req);
        let edit = EditMessage::new()
            .embed(crate::deliver::discord::embed(&msg))
            .components(crate::deliver::discord::components(&msg));
        if let Err(e) = ChannelId::new(req.channel.0)
            .edit_message(&*http, MessageId::new(message_id.0), edit)
            .await
        {
            tracing::warn!(request = %req.id, error = %e, "editing the request's message failed");
        }
        if req.run.is_final() {
            if let Some(incident) = &req.incident_id {
                note_on_incident(&http, &store, incident).await;
            }
        }
        if !update.files.is_empty() {
            let mut post = CreateMessage::new()
                .content(format!("Files for request {}:", req.id))
                .allowed_mentions(CreateAllowedMentions::new());
            for f in update.files {
                post = post.add_file(CreateAttachment::bytes(f.bytes, f.name));
            }
            if let Err(e) = ChannelId::new(req.channel.0)
                .send_message(&*http, post)
                .await
            {
                tracing::error!(request = %req.id, error = %e, "posting the result files failed");
            }
        }
    }
}

/// Replaces (or adds, first) the note field of the incident's message, keeping everything else
/// Discord shows: the pipeline renders the same note on its next edit.
async fn note_on_incident(http: &Http, store: &crate::store::Store, incident_id: &str) {
    let (incident, note) = {
        let store = store.clone();
        let id = incident_id.to_string();
        let read = tokio::task::spawn_blocking(move || {
            let inc = store
                .incident_by_id::<crate::incident::Incident>(&id)
                .ok()
                .flatten();
            let note = store
                .incident_note::<crate::guard::Note>(&id)
                .unwrap_or_default();
            (inc.filter(|i| i.id == id), note)
        })
        .await;
        match read {
            Ok(r) => r,
            Err(_) => return,
        }
    };
    let (Some(incident), Some(line)) = (incident, note.line()) else {
        return;
    };
    let Some(message_id) = incident.message_id else {
        return;
    };
    let channel = ChannelId::new(incident.channel_id);
    let current = match channel.message(http, MessageId::new(message_id)).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(incident = incident_id, error = %e, "cannot read the incident's message");
            return;
        }
    };
    let Some(embed) = current.embeds.into_iter().next() else {
        return;
    };
    let mut fields: Vec<(String, String, bool)> = embed
        .fields
        .into_iter()
        .filter(|f| f.name != crate::render::NOTE_FIELD)
        .map(|f| (f.name, f.value, f.inline))
        .collect();
    fields.insert(0, (crate::render::NOTE_FIELD.to_string(), line, false));
    fields.truncate(25);
    let mut e = serenity::all::CreateEmbed::new()
        .title(embed.title.unwrap_or_default())
        .description(embed.description.unwrap_or_default())
        .fields(fields);
    if let Some(c) = embed.colour {
        e = e.colour(c);
    }
    if let Some(u) = embed.url {
        e = e.url(u);
    }
    if let Some(f) = embed.footer {
        e = e.footer(serenity::all::CreateEmbedFooter::new(f.text));
    }
    if let Some(t) = embed.timestamp {
        e = e.timestamp(t);
    }
    // Only the embed: Discord keeps the message's buttons when `components` is not sent.
    if let Err(err) = channel
        .edit_message(
            http,
            MessageId::new(message_id),
            EditMessage::new().embed(e),
        )
        .await
    {
        tracing::warn!(incident = incident_id, error = %err, "cannot update the incident's message");
    }
}
