//! What the bot answers in chat, chat-neutral, and the one way it becomes a Discord response.
//!
//! Two kinds of text reach people: a [`Refusal`] (written for them: what is wrong, what to do)
//! and everything else, which is internal. Internal errors are logged with their cause chain
//! and answered only "failed (ref …)", so a URL, path or token in an error never reaches chat.

use serenity::all::{
    CreateAllowedMentions, CreateAttachment, CreateInteractionResponse,
    CreateInteractionResponseMessage, EditInteractionResponse,
};

use crate::message::{Embed, Message};

/// A file attached to a reply (a full stack trace, a thread dump).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub content: String,
    pub embeds: Vec<Embed>,
    pub files: Vec<File>,
    /// Seen only by the person who asked (the default for questions).
    pub ephemeral: bool,
}

/// A user-facing "no": safe to show as is (no URLs, paths, tokens, internal errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    pub fn new(text: impl Into<String>) -> Refusal {
        Refusal(text.into())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Reply {
    pub fn text(content: impl Into<String>) -> Reply {
        Reply {
            content: content.into(),
            ephemeral: true,
            ..Default::default()
        }
    }

    pub fn embed(embed: Embed) -> Reply {
        Reply {
            embeds: vec![embed],
            ephemeral: true,
            ..Default::default()
        }
    }

    /// What the person who asked for an action is told, from a button or a command alike.
    pub fn requested(req: &crate::guard::Request) -> Reply {
        let place = if req.incident_id.is_some() {
            "in the incident's thread"
        } else {
            "on the request message"
        };
        Reply::text(if req.run == crate::guard::Run::Confirm {
            format!(
                "{}: {} Answer on the request {place}.",
                req.plan.summary,
                req.plan.confirm.clone().unwrap_or_default()
            )
        } else if req.approval.needed == 0 {
            format!("{}: starting now; follow it {place}.", req.plan.summary)
        } else {
            format!(
                "Requested: {}. It needs {} approval(s) from someone else; see the request {place}.",
                req.plan.summary, req.approval.needed
            )
        })
    }

    pub fn refusal(r: &Refusal) -> Reply {
        Reply::text(format!("⚠ {}", r.0))
    }

    /// Logs the error with its whole cause chain; the person sees only a reference to find it.
    pub fn internal(
        reference: &str,
        what: &str,
        error: &(dyn std::error::Error + 'static),
    ) -> Reply {
        let mut chain = error.to_string();
        let mut cur = error.source();
        while let Some(e) = cur {
            chain.push_str(": ");
            chain.push_str(&e.to_string());
            cur = e.source();
        }
        tracing::error!(reference, what, error = %chain, "interaction failed");
        Reply::text(format!(
            "{what} failed (ref {reference}). The bot's log has the details."
        ))
    }

    pub fn public(mut self, public: bool) -> Reply {
        self.ephemeral = !public;
        self
    }

    /// Cut to Discord's limits (content 2,000; each embed as pages are cut).
    pub fn fit(mut self) -> Reply {
        self.content = crate::message::truncate(&self.content, crate::message::limits::CONTENT);
        self.embeds.truncate(10);
        self.embeds = self
            .embeds
            .into_iter()
            .map(|embed| {
                Message {
                    embed,
                    ..Default::default()
                }
                .fit()
                .embed
            })
            .collect();
        self
    }

    fn embeds_for_discord(&self) -> Vec<serenity::all::CreateEmbed> {
        self.embeds
            .iter()
            .map(|e| {
                crate::deliver::discord::embed(&Message {
                    embed: e.clone(),
                    ..Default::default()
                })
            })
            .collect()
    }

    /// An immediate answer (type 4). Replies never ping anyone.
    pub fn into_response(self) -> CreateInteractionResponse {
        let r = self.fit();
        let mut m = CreateInteractionResponseMessage::new()
            .ephemeral(r.ephemeral)
            .allowed_mentions(CreateAllowedMentions::new())
            .embeds(r.embeds_for_discord());
        if !r.content.is_empty() {
            m = m.content(r.content.clone());
        }
        for f in r.files {
            m = m.add_file(CreateAttachment::bytes(f.bytes, f.name));
        }
        CreateInteractionResponse::Message(m)
    }

    /// The edit of a deferred answer's original response, with files attached.
    pub fn into_edit(self) -> (EditInteractionResponse, Vec<CreateAttachment>) {
        let r = self.fit();
        let edit = EditInteractionResponse::new()
            .content(r.content.clone())
            .embeds(r.embeds_for_discord())
            .allowed_mentions(CreateAllowedMentions::new());
        let files = r
            .files
            .into_iter()
            .map(|f| CreateAttachment::bytes(f.bytes, f.name))
            .collect();
        (edit, files)
    }
}

/// "Thinking…", shown while the answer is worked out (type 5); only its ephemerality can be set.
pub fn deferred(ephemeral: bool) -> CreateInteractionResponse {
    CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(ephemeral))
}
