//! A pressed button: on an incident message (a read-only answer, or a guarded request), or on a
//! request's message (Approve / Deny). The presser is taken from this very interaction (the
//! member's roles as Discord sent them), and the policy decides the rest.

use std::sync::Arc;

use serenity::all::{ComponentInteraction, Member, User};

use super::commands::{self, JobQuery};
use super::reply::{Refusal, Reply};
use super::{within_budget, Answer, InteractState};
use crate::action::ActionKind;
use crate::buttons::{self, Offer, Pressed};
use crate::guard::{Approved, RequestTarget};
use crate::incident::Incident;
use crate::policy::Actor;

pub async fn component(state: Arc<InteractState>, c: ComponentInteraction) -> Answer {
    let reference = c.id.to_string();
    match buttons::decode(&c.data.custom_id) {
        None => gone(),
        Some(Pressed::Incident { incident_id, offer }) => {
            let incident = match find_incident(&state, &incident_id).await {
                Ok(Some(inc)) => inc,
                Ok(None) => return gone(),
                Err(e) => {
                    return Answer::Now(
                        Reply::internal(&reference, "Looking up the incident", &e).into_response(),
                    )
                }
            };
            tracing::info!(user = %c.user.id, incident = %incident.id, button = %offer.slug(), "button");
            match offer {
                Offer::Unsilence => {
                    let note: crate::guard::Note =
                        state.store.incident_note(&incident.id).unwrap_or_default();
                    let Some(silence_id) = note.silence_id else {
                        return Answer::Now(
                            Reply::text("There is no silence from this incident to end.")
                                .into_response(),
                        );
                    };
                    let actor = actor(c.member.as_ref(), &c.user);
                    let kind = ActionKind::Unsilence { silence_id };
                    within_budget(true, reference, async move {
                        request(&state, &c, incident, kind, actor).await
                    })
                    .await
                }
                Offer::Timeline => {
                    within_budget(true, reference, async move {
                        commands::timeline::post_to_thread(&state, &incident).await
                    })
                    .await
                }
                Offer::Act(kind) => {
                    let actor = actor(c.member.as_ref(), &c.user);
                    within_budget(true, reference, async move {
                        request(&state, &c, incident, kind, actor).await
                    })
                    .await
                }
                read_only => {
                    let Some(job) = incident.job else {
                        return gone();
                    };
                    let q = JobQuery {
                        job: format!("{}/{}", job.cluster, job.id),
                        cluster: None,
                        public: false,
                    };
                    within_budget(true, reference, async move {
                        match read_only {
                            Offer::Exceptions => commands::exceptions::answer(&state, &q).await,
                            Offer::Checkpoints => commands::checkpoints::answer(&state, &q).await,
                            _ => commands::status::answer(&state, &q).await,
                        }
                    })
                    .await
                }
            }
        }
        Some(Pressed::Answer { request_id, yes }) => {
            let Some(guard) = state.guard.clone() else {
                return gone();
            };
            let actor = actor(c.member.as_ref(), &c.user);
            within_budget(true, reference, async move {
                match guard.confirm(&request_id, &actor, yes).await {
                    Ok(_) if yes => Reply::text("Confirmed: every TaskManager is dumped."),
                    Ok(_) => Reply::text("Confirmed: the struggling TaskManagers are left out."),
                    Err(r) => Reply::refusal(&Refusal::new(r.message)),
                }
            })
            .await
        }
        Some(Pressed::Vote {
            request_id,
            approve,
            binding,
        }) => {
            let Some(guard) = state.guard.clone() else {
                return gone();
            };
            let actor = actor(c.member.as_ref(), &c.user);
            within_budget(true, reference, async move {
                let result = if approve {
                    guard
                        .approve(&request_id, &binding, &actor)
                        .await
                        .map(|(_, p)| match p {
                            Approved::Complete => {
                                "Approved: it runs now. Progress and result show on the request."
                                    .to_string()
                            }
                            Approved::Counted { have, needed } => {
                                format!("Approval counted ({have} of {needed}).")
                            }
                        })
                } else {
                    guard
                        .deny(&request_id, &actor)
                        .await
                        .map(|_| "Denied: it will not run.".to_string())
                };
                match result {
                    Ok(text) => Reply::text(text),
                    Err(r) => Reply::refusal(&Refusal::new(r.message)),
                }
            })
            .await
        }
    }
}

/// A guarded request from a button on an incident's message; discussed in a thread on it.
async fn request(
    state: &InteractState,
    c: &ComponentInteraction,
    incident: Incident,
    kind: ActionKind,
    actor: Actor,
) -> Reply {
    let Some(guard) = state.guard.clone() else {
        return Reply::text("Actions are not enabled on this bot.");
    };
    let (cluster, job_id) = match &incident.job {
        Some(j) => (j.cluster.clone(), j.id.clone()),
        None if !kind.changes_job() && kind != ActionKind::ThreadDump => (
            state.cluster_names.first().cloned().unwrap_or_default(),
            String::new(),
        ),
        None => {
            return Reply::text("This alert names no Flink job, so there is nothing to act on.")
        }
    };
    let channel = c.channel_id.get();
    let link = c.guild_id.map(|g| {
        format!(
            "https://discord.com/channels/{g}/{channel}/{}",
            c.message.id
        )
    });
    // The request's message goes into the incident's thread; the way out starts it if needed.
    let target = RequestTarget {
        cluster,
        job_id,
        incident_id: Some(incident.id.clone()),
        labels: incident.labels.clone(),
        channel: crate::chat::ChannelId(channel),
        link,
    };
    match guard.request(&actor, kind, target).await {
        Ok(req) => Reply::requested(&req),
        Err(r) => Reply::refusal(&Refusal::new(r.message)),
    }
}

async fn find_incident(
    state: &InteractState,
    id: &str,
) -> Result<Option<Incident>, crate::store::StoreError> {
    let store = state.store.clone();
    let wanted = id.to_string();
    let found = tokio::task::spawn_blocking(move || store.incident_by_id::<Incident>(&wanted))
        .await
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))??;
    // The group's record may already be a newer incident: an old message's buttons are stale.
    Ok(found.filter(|inc| inc.id == id))
}

/// Who pressed: user id, display name and the roles Discord sent with this interaction.
pub fn actor(member: Option<&Member>, user: &User) -> Actor {
    let name = member
        .and_then(|m| m.nick.clone())
        .or_else(|| user.global_name.clone())
        .unwrap_or_else(|| user.name.clone());
    Actor {
        user: crate::chat::UserId(user.id.get()),
        roles: member
            .map(|m| {
                m.roles
                    .iter()
                    .map(|r| crate::chat::RoleId(r.get()))
                    .collect()
            })
            .unwrap_or_default(),
        name,
    }
}

fn gone() -> Answer {
    Answer::Now(Reply::text("This button is no longer valid.").into_response())
}
