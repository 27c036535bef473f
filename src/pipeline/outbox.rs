//! `impl Pipeline` (the type is in `pipeline/mod.rs`): delivering outbox items, the work for
//! Discord that is not a page (see `outbox.rs`).
//!
//! The same path as a page: the sink's client and rate-limit buckets, [`deliver::deliver`] and
//! [`deliver::attempt`] around it (429s waited out, failures backed off, what never heals given
//! up), a posting mark before a first post and a look for it in the channel after a crash, so a
//! message is never posted twice. An item leaves the outbox only after Discord took it (or after
//! Discord said it never will, which is logged as an error), in the same store job that records
//! where the message is.

use std::collections::HashSet;
use std::sync::Arc;

use tracing::Instrument;

use super::{Pipeline, URGENT};
use crate::deliver::{self, Tag};
use crate::guard::{Note, Request};
use crate::incident::{Delivery, Incident};
use crate::message::{limits, Message};
use crate::outbox::{self, Attachment, Placed, Post};

impl Pipeline {
    /// Delivers one line's outbox items in order. Several items that show the same request
    /// become one write: the request is read when it is shown, so it is at least as new as
    /// every item that was queued before.
    pub(super) async fn post_outbox(self: &Arc<Self>, seqs: Vec<u64>) {
        let mut shown_requests = HashSet::new();
        let mut shown_notes = HashSet::new();
        for seq in seqs {
            let item: Post = match self.store.outbox_item(seq) {
                Ok(Some(item)) => item,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, seq, "cannot read an outbox item; it stays queued");
                    continue;
                }
            };
            let done = match item {
                Post::Request { id } => {
                    if shown_requests.insert(id.clone()) {
                        self.show_request(&id)
                            .instrument(tracing::info_span!("request", request = %id))
                            .await
                    } else {
                        Done::default()
                    }
                }
                Post::Files { request_id, files } => {
                    self.post_files(&request_id, &files)
                        .instrument(tracing::info_span!("request", request = %request_id))
                        .await
                }
                Post::Story { incident_id } => {
                    self.post_story(&incident_id)
                        .instrument(crate::telemetry::incident_span(&incident_id))
                        .await
                }
                Post::Note { incident_id, .. } => {
                    if shown_notes.insert(incident_id.clone()) {
                        self.show_note(&incident_id)
                            .instrument(crate::telemetry::incident_span(&incident_id))
                            .await
                    } else {
                        Done::default()
                    }
                }
            };
            self.persist("an outbox item", || {
                self.store
                    .outbox_done(seq, done.shown.clone(), done.mark.clone())
            })
            .await;
        }
    }

    /// Posts the request's message once (in its incident's thread, else its channel), or edits
    /// it to show the request as it is now.
    async fn show_request(&self, id: &str) -> Done {
        let req: Request = match self.store.request(id) {
            Ok(Some(r)) => r,
            Ok(None) => return Done::default(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the request to show it");
                return Done::default();
            }
        };
        let key = outbox::request_key(id);
        let placed: Option<Placed> = self.store.shown(&key).ok().flatten().or_else(|| {
            req.legacy_message.map(|m| Placed {
                channel: req.channel.0,
                message_id: m.0,
            })
        });
        let msg = crate::guard::view::message(&req);
        let tag = Tag {
            nonce: outbox::nonce('r', id),
            mark: key.clone(),
        };
        let via = self.via(URGENT);
        let shown = match placed {
            Some(p) => {
                let delivery = Delivery::Edit {
                    message_id: p.message_id,
                };
                deliver::deliver(&via, p.channel, delivery, &msg, &tag, false)
                    .await
                    .map(|message_id| Placed {
                        channel: p.channel,
                        message_id,
                    })
            }
            None => {
                let channel = self.request_channel(&req).await;
                let mut result = self.first_post(channel, &msg, &tag).await;
                if result.is_err() && channel != req.channel.0 {
                    // A thread the bot may not write in: the request still has to be seen.
                    tracing::warn!(
                        thread = channel,
                        "cannot post in the incident's thread; posting in the channel"
                    );
                    result = self.first_post(req.channel.0, &msg, &tag).await;
                }
                result
            }
        };
        match shown {
            Ok(placed) => {
                tracing::info!(
                    channel = placed.channel,
                    message_id = placed.message_id,
                    run = req.run.word(),
                    "request shown"
                );
                Done {
                    shown: vec![(key, json(&placed))],
                    mark: Some(tag.nonce),
                }
            }
            Err(u) => {
                tracing::error!(reason = %u.reason, "REQUEST MESSAGE NOT DELIVERED: Discord will not take it");
                Done {
                    shown: vec![],
                    mark: Some(tag.nonce),
                }
            }
        }
    }

    /// A first post of a message that is not a page, with its posting mark on disk first.
    async fn first_post(
        &self,
        channel: u64,
        msg: &Message,
        tag: &Tag,
    ) -> Result<Placed, deliver::Undeliverable> {
        let possibly_sent = self.before_post(&tag.nonce, Delivery::Post).await;
        deliver::deliver(
            &self.via(URGENT),
            channel,
            Delivery::Post,
            msg,
            tag,
            possibly_sent,
        )
        .await
        .map(|message_id| Placed {
            channel,
            message_id,
        })
    }

    /// Where a request's message goes: the thread on its incident's message (started once, and
    /// remembered), else the channel the request was made in.
    async fn request_channel(&self, req: &Request) -> u64 {
        match &req.incident_id {
            Some(incident_id) => self
                .incident_thread(incident_id)
                .await
                .unwrap_or(req.channel.0),
            None => req.channel.0,
        }
    }

    /// The thread on the incident's message (started once, and remembered); `None` when there
    /// is no message to start it on (a digest line, an incident the store no longer has).
    /// A thread Discord will not start leaves the incident message's own channel.
    async fn incident_thread(&self, incident_id: &str) -> Option<u64> {
        let key = outbox::thread_key(incident_id);
        if let Ok(Some(thread)) = self.store.shown::<u64>(&key) {
            return Some(thread);
        }
        let incident: Option<Incident> = self
            .store
            .incident_by_id(incident_id)
            .ok()
            .flatten()
            .filter(|i: &Incident| i.id == incident_id);
        // A digest line has no message of its own to start a thread on.
        let (channel, message_id, name) = incident.and_then(|i| {
            let name = format!(
                "{} · {}",
                i.job
                    .as_ref()
                    .and_then(|j| j.name.clone())
                    .unwrap_or_else(|| "incident".into()),
                i.id
            );
            i.message_id.map(|m| (i.channel_id, m, name))
        })?;
        let mut possibly_sent = false;
        let started = deliver::attempt(&self.via(URGENT), "thread", &mut possibly_sent, |_| {
            self.sink.thread(channel, message_id, &name)
        })
        .await;
        match started {
            Ok(thread) => {
                if let Err(e) = self.store.put_shown(&key, &thread) {
                    tracing::warn!(error = %e, "cannot remember the incident's thread");
                }
                Some(thread)
            }
            Err(u) => {
                tracing::warn!(reason = %u.reason, "cannot start the incident's thread; posting in its channel");
                Some(channel)
            }
        }
    }

    /// Posts the incident's story (timeline and postmortem draft) as a Markdown file into its
    /// thread, once: a story already posted (its `shown` record) is not posted again, and a
    /// post that may have reached Discord before a crash is looked for first (posting mark).
    async fn post_story(&self, incident_id: &str) -> Done {
        let key = outbox::story_key(incident_id);
        if let Ok(Some(placed)) = self.store.shown::<Placed>(&key) {
            tracing::info!(
                message_id = placed.message_id,
                "the story is already posted"
            );
            return Done::default();
        }
        let story = match crate::story::gather::story(&self.store, incident_id).await {
            Ok(Some(story)) => story,
            Ok(None) => {
                tracing::warn!("the incident is no longer in the store; no story to post");
                return Done::default();
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the incident's story; not posted");
                return Done::default();
            }
        };
        let Some(channel) = self.incident_thread(incident_id).await else {
            tracing::warn!("the incident has no message to post its story under");
            return Done::default();
        };
        let file = Attachment {
            name: crate::story::markdown::file_name(incident_id),
            bytes: crate::story::markdown::document(&self.renderer, &story).into_bytes(),
            note: None,
        };
        let text = outbox::story_text(incident_id);
        let nonce = outbox::nonce('s', incident_id);
        let mut possibly_sent = self.before_post(&nonce, Delivery::Post).await;
        let sent = deliver::attempt(&self.via(URGENT), "story", &mut possibly_sent, |possibly| {
            let (text, file, nonce) = (&text, &file, &nonce);
            async move {
                if possibly {
                    if let Some(found) = self.sink.find_posted(channel, text).await? {
                        tracing::warn!(
                            message_id = found,
                            "the story had reached Discord; not posting again"
                        );
                        return Ok(found);
                    }
                }
                self.sink
                    .post_files(channel, text, std::slice::from_ref(file), nonce)
                    .await
            }
        })
        .await;
        match sent {
            Ok(message_id) => {
                tracing::info!(channel, message_id, "incident story posted");
                Done {
                    shown: vec![(
                        key,
                        json(&Placed {
                            channel,
                            message_id,
                        }),
                    )],
                    mark: Some(nonce),
                }
            }
            Err(u) => {
                tracing::error!(reason = %u.reason, "INCIDENT STORY NOT DELIVERED: Discord will not take it");
                Done {
                    shown: vec![],
                    mark: Some(nonce),
                }
            }
        }
    }

    /// Posts the result's files once, where the request's message is.
    async fn post_files(&self, request_id: &str, files: &[Attachment]) -> Done {
        let placed: Option<Placed> = self
            .store
            .shown(&outbox::request_key(request_id))
            .ok()
            .flatten();
        let channel = match placed {
            Some(p) => p.channel,
            None => match self.store.request::<Request>(request_id) {
                Ok(Some(req)) => self.request_channel(&req).await,
                _ => return Done::default(),
            },
        };
        let (files, text) = files_text(request_id, files);
        let nonce = outbox::nonce('f', request_id);
        let mark = outbox::files_key(request_id);
        let mut possibly_sent = self.before_post(&nonce, Delivery::Post).await;
        let sent = deliver::attempt(&self.via(URGENT), "files", &mut possibly_sent, |possibly| {
            let (text, files, nonce, mark) = (&text, files, &nonce, &mark);
            async move {
                if possibly {
                    if let Some(found) = self.sink.find_posted(channel, mark).await? {
                        tracing::warn!(
                            message_id = found,
                            "the files had reached Discord; not posting again"
                        );
                        return Ok(found);
                    }
                }
                self.sink.post_files(channel, text, files, nonce).await
            }
        })
        .await;
        match sent {
            Ok(message_id) => tracing::info!(channel, message_id, "result files posted"),
            Err(u) => {
                tracing::error!(reason = %u.reason, "RESULT FILES NOT DELIVERED: Discord will not take them")
            }
        }
        Done {
            shown: vec![],
            mark: Some(nonce),
        }
    }

    /// Edits the incident's message to show its current one-line state. The message is the one
    /// the pipeline last sent (kept in the store), so nothing is read back from Discord and the
    /// pipeline, which runs this in the incident's line, stays its only writer.
    async fn show_note(&self, incident_id: &str) -> Done {
        let incident: Option<Incident> = self
            .store
            .incident_by_id(incident_id)
            .ok()
            .flatten()
            .filter(|i: &Incident| i.id == incident_id);
        let Some((inc, message_id)) = incident.and_then(|i| i.message_id.map(|m| (i, m))) else {
            // A digest line: the next page of its own shows the note.
            return Done::default();
        };
        let key = outbox::page_key(incident_id);
        let page: Option<Message> = self.store.shown(&key).ok().flatten();
        let Some(page) = page else {
            tracing::info!("no copy of the incident's message (sent by an older version); its next edit shows the note");
            return Done::default();
        };
        let note: Note = self.store.incident_note(incident_id).unwrap_or_default();
        let msg = crate::render::with_note(page, note.line());
        let delivery = Delivery::Edit { message_id };
        let sent = deliver::deliver(
            &self.via(URGENT),
            inc.channel_id,
            delivery,
            &msg,
            &Tag::incident(incident_id),
            false,
        )
        .await;
        match sent {
            Ok(shown) => {
                if shown != message_id {
                    tracing::warn!(
                        message_id = shown,
                        "the incident's message was re-posted with its note"
                    );
                }
                Done {
                    shown: vec![(key, json(&msg))],
                    mark: None,
                }
            }
            Err(u) => {
                tracing::error!(reason = %u.reason, "cannot show the incident's state line");
                Done::default()
            }
        }
    }
}

/// What a delivered outbox item changes in the store besides leaving the outbox.
#[derive(Default)]
struct Done {
    shown: Vec<(String, Vec<u8>)>,
    mark: Option<String>,
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The files Discord takes in one message and the text above them: what each file is, and any
/// that were cut or left out (pure).
fn files_text<'a>(request_id: &str, files: &'a [Attachment]) -> (&'a [Attachment], String) {
    let mut text = format!("{}:", outbox::files_key(request_id));
    let mut total = 0usize;
    let mut fit = 0;
    for f in files.iter().take(limits::FILES) {
        if total + f.bytes.len() > limits::FILE_BYTES {
            break;
        }
        total += f.bytes.len();
        fit += 1;
    }
    for f in &files[..fit] {
        if let Some(note) = &f.note {
            text.push_str(&format!("\n- {}: {note}", f.name));
        }
    }
    if fit < files.len() {
        let left: Vec<&str> = files[fit..].iter().map(|f| f.name.as_str()).collect();
        text.push_str(&format!(
            "\n- not attached (over Discord's {} files or {} MiB): {}",
            limits::FILES,
            limits::FILE_BYTES / (1024 * 1024),
            left.join(", ")
        ));
    }
    (
        &files[..fit],
        crate::message::truncate(&text, limits::CONTENT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: usize) -> Attachment {
        Attachment {
            name: name.into(),
            bytes: vec![b'x'; size],
            note: None,
        }
    }

    #[test]
    fn files_past_discords_limits_are_named_not_sent() {
        let files: Vec<Attachment> = (0..12).map(|i| file(&format!("tm{i}.txt"), 10)).collect();
        let (sent, text) = files_text("r1", &files);
        assert_eq!(sent.len(), 10);
        assert!(text.starts_with("Files for request r1:"), "{text}");
        assert!(text.contains("tm10.txt, tm11.txt"), "{text}");

        let big = vec![file("a", 6 << 20), file("b", 6 << 20)];
        let (sent, text) = files_text("r1", &big);
        assert_eq!(sent.len(), 1);
        assert!(
            text.contains("not attached") && text.ends_with(": b"),
            "{text}"
        );
    }
}
