//! Guarded actions: request -> approvals -> run -> result, every step in the audit log first.
//!
//! Chat-neutral: the interaction path calls [`Guard::request`], [`Guard::approve`] and
//! [`Guard::deny`] and shows what comes back. Every change of a request is stored together
//! with an outbox item (see `outbox.rs`) that has the way out show it, in one store job: what a
//! request reports in chat (its message, progress, result, files, the incident's state line)
//! never travels only in memory, and reaches Discord through the same delivery path as pages.
//!
//! Exactly once: every transition happens under one lock, read from the store, changed, written
//! back and made durable before the lock is released, so twenty clicks at once see one
//! transition each and only one of them can make a request Ready; only the worker moves Ready
//! to Running, and it writes the audit entry "executing" before that. Fail closed: when an
//! audit entry cannot be written, the step does not happen.

pub mod done;
pub mod execute;
mod note;
pub mod request;
pub mod view;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio::sync::{Mutex, Notify};

use crate::action::{plan, ActionKind, Refusal};
use crate::audit::{AuditEvent, EventKind};
use crate::chat::ChannelId;
use crate::config::ClusterConfig;
use crate::enrich::Clusters;
pub use crate::outbox::Attachment;
use crate::outbox::Post;
use crate::policy::{Actor, Approval, Policy};
use crate::silences::SilenceClient;
use crate::store::{AuditLog, Store, With};
pub use done::Done;
pub use note::{silence_id_in, Note};
pub use request::{Approved, Request, Run};

/// What a request is about.
#[derive(Debug, Clone)]
pub struct RequestTarget {
    pub cluster: String,
    pub job_id: String,
    pub incident_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Where the request's message goes when it has no incident (whose thread it goes to).
    pub channel: ChannelId,
    /// A link to the message the request came from (a silence's comment carries it).
    pub link: Option<String>,
}

pub struct Guard {
    store: Store,
    audit: AuditLog,
    policy: Policy,
    clusters: Clusters,
    cluster_configs: Vec<ClusterConfig>,
    silences: Option<SilenceClient>,
    lock: Mutex<()>,
    wake: Notify,
    /// Wakes the way out after an outbox item is durable.
    out: Arc<Notify>,
}

/// How often the worker looks for expired and runnable requests without being woken.
pub(crate) const SWEEP: Duration = Duration::from_secs(2);

impl Guard {
    pub fn new(
        store: Store,
        audit: AuditLog,
        policy: Policy,
        clusters: Clusters,
        cluster_configs: Vec<ClusterConfig>,
        silences: Option<SilenceClient>,
        out: Arc<Notify>,
    ) -> Arc<Guard> {
        Arc::new(Guard {
            store,
            audit,
            policy,
            clusters,
            cluster_configs,
            silences,
            lock: Mutex::new(()),
            wake: Notify::new(),
            out,
        })
    }

    /// Wakes the way out after an item queued outside the guard is durable (the Timeline
    /// button's story), so it goes now rather than at the next scan.
    pub fn wake_out(&self) {
        self.out.notify_one();
    }

    pub fn silences_available(&self) -> bool {
        self.silences.is_some()
    }

    /// Policy first (who may ask), then the job as it is now, then the exact plan; audited and
    /// stored before anything is shown.
    pub async fn request(
        &self,
        actor: &Actor,
        kind: ActionKind,
        target: RequestTarget,
    ) -> Result<Request, Refusal> {
        let now = Utc::now();
        let slug = kind.slug();
        let approval = Approval::request(&self.policy, slug, actor, now)
            .map_err(|e| Refusal::new("policy", e.to_string()))?;
        let cluster = self
            .cluster_configs
            .iter()
            .find(|c| c.name == target.cluster)
            .ok_or_else(|| {
                Refusal::new(
                    "unknown_cluster",
                    format!("no cluster is named {}", target.cluster),
                )
            })?;
        let snapshot = if kind.changes_job() || kind == ActionKind::ThreadDump {
            let client = self
                .clusters
                .get(&cluster.name)
                .ok_or_else(|| Refusal::new("unknown_cluster", "that cluster has no client"))?;
            client
                .job_snapshot(&target.job_id, kind == ActionKind::ThreadDump)
                .await
                .map_err(|e| {
                    Refusal::new(
                        "flink_unavailable",
                        format!(
                            "cannot check the job first ({}), so nothing was requested",
                            e.brief()
                        ),
                    )
                })?
        } else {
            crate::action::JobSnapshot {
                id: target.job_id.clone(),
                ..Default::default()
            }
        };
        let id = format!(
            "{:016x}{:08x}",
            self.store.next_id().map_err(internal)?,
            rand_suffix()
        );
        let plan = plan(&kind, cluster, &snapshot, &id)?;
        let mut req = Request::new(id, plan, approval, target.channel, now);
        req.incident_id = target.incident_id;
        req.labels = target.labels;
        req.link = target.link;
        let detail = json!({ "plan": req.plan.shown(), "binding": req.binding, "approvals_needed": req.approval.needed, "expires_at": req.approval.expires_at });
        self.record(event(EventKind::Requested, &req, Some(actor)).with_detail(detail))
            .await?;
        if req.run == Run::Ready {
            self.record(
                event(EventKind::Approved, &req, None)
                    .with_detail(json!({"reason": "no approval needed"})),
            )
            .await?;
        }
        let _held = self.lock.lock().await;
        self.save(&req).await?;
        self.wake.notify_one();
        Ok(req)
    }

    /// Counts an approval given on the button made for `binding`.
    pub async fn approve(
        &self,
        id: &str,
        binding: &str,
        actor: &Actor,
    ) -> Result<(Request, Approved), Refusal> {
        let _held = self.lock.lock().await;
        let mut req = self.load(id)?;
        let now = Utc::now();
        match req.approve(actor, binding, now) {
            Ok(progress) => {
                let detail = json!({"votes": req.approval.votes.len(), "needed": req.approval.needed, "binding": req.binding});
                self.record(event(EventKind::Approved, &req, Some(actor)).with_detail(detail))
                    .await?;
                self.save(&req).await?;
                if progress == Approved::Complete {
                    self.wake.notify_one();
                }
                Ok((req, progress))
            }
            Err(e) => {
                if matches!(req.run, Run::Expired { .. }) {
                    self.expired(&req).await;
                }
                let _ = self
                    .record(
                        event(EventKind::Refused, &req, Some(actor))
                            .with_detail(json!({"reason": e.to_string()})),
                    )
                    .await;
                Err(Refusal::new("approval", e.to_string()))
            }
        }
    }

    /// The requester's answer to the plan's question (see [`Request::confirm`]).
    pub async fn confirm(&self, id: &str, actor: &Actor, yes: bool) -> Result<Request, Refusal> {
        let _held = self.lock.lock().await;
        let mut req = self.load(id)?;
        req.confirm(actor, yes)
            .map_err(|e| Refusal::new("confirm", e.to_string()))?;
        let detail = json!({"confirmed": yes, "calls": req.plan.calls.iter().map(|c| c.to_string()).collect::<Vec<_>>()});
        self.record(event(EventKind::Approved, &req, Some(actor)).with_detail(detail))
            .await?;
        self.save(&req).await?;
        self.wake.notify_one();
        Ok(req)
    }

    pub async fn deny(&self, id: &str, actor: &Actor) -> Result<Request, Refusal> {
        let _held = self.lock.lock().await;
        let mut req = self.load(id)?;
        req.deny(actor, Utc::now())
            .map_err(|e| Refusal::new("approval", e.to_string()))?;
        self.record(event(EventKind::Denied, &req, Some(actor)))
            .await?;
        self.save(&req).await?;
        Ok(req)
    }

    pub fn get(&self, id: &str) -> Result<Request, Refusal> {
        self.load(id)
    }

    pub(crate) fn load(&self, id: &str) -> Result<Request, Refusal> {
        self.store
            .request(id)
            .map_err(internal)?
            .ok_or_else(|| Refusal::new("unknown_request", "this request is no longer known"))
    }

    /// Stores the request and has the way out show it, in one store job; durable on return.
    pub(crate) async fn save(&self, req: &Request) -> Result<(), Refusal> {
        self.save_with(req, None, Vec::new()).await
    }

    /// [`Guard::save`], plus the incident's new note (and the post that shows it) and the
    /// result's files, all in the same store job.
    pub(crate) async fn save_with(
        &self,
        req: &Request,
        note: Option<(&str, &Note)>,
        files: Vec<Attachment>,
    ) -> Result<(), Refusal> {
        let value = serde_json::to_vec(req)
            .map_err(|e| internal(crate::store::StoreError::Corrupt(e.to_string())))?;
        let mut posts = vec![Post::Request { id: req.id.clone() }];
        if !files.is_empty() {
            posts.push(Post::Files {
                request_id: req.id.clone(),
                files,
            });
        }
        let with = match note {
            Some((incident, note)) => {
                let note = serde_json::to_vec(note)
                    .map_err(|e| internal(crate::store::StoreError::Corrupt(e.to_string())))?;
                posts.push(Post::Note {
                    incident_id: incident.to_string(),
                    group_key: self.group_of(incident),
                });
                With::RequestAndNote {
                    id: req.id.clone(),
                    value,
                    incident: incident.to_string(),
                    note,
                }
            }
            None => With::Request {
                id: req.id.clone(),
                value,
            },
        };
        self.store.post(with, &posts).map_err(internal)?;
        self.store.durable().await.map_err(internal)?;
        self.out.notify_one();
        Ok(())
    }

    /// Has the way out show the request again (a running action's elapsed time).
    pub(crate) async fn show_again(&self, id: &str) -> Result<(), crate::store::StoreError> {
        self.store
            .post(With::Nothing, &[Post::Request { id: id.to_string() }])?;
        self.store.durable().await?;
        self.out.notify_one();
        Ok(())
    }

    /// The Alertmanager group an incident belongs to (its pages' line).
    fn group_of(&self, incident_id: &str) -> String {
        self.store
            .incident_group(incident_id)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    pub(crate) async fn record(&self, e: AuditEvent) -> Result<(), Refusal> {
        self.audit
            .record(e, Utc::now().timestamp_millis())
            .await
            .map(|_| ())
            .map_err(|e| {
                tracing::error!(error = %e, "audit log write failed; refusing");
                Refusal::new(
                    "audit_unavailable",
                    "the audit log cannot be written, so nothing was done",
                )
            })
    }
}

pub(crate) fn event(kind: EventKind, req: &Request, actor: Option<&Actor>) -> AuditEvent {
    let mut e = AuditEvent::new(kind)
        .with_job(req.plan.cluster.clone(), req.plan.job_id.clone())
        .with_action(req.plan.kind.slug())
        .with_request(req.id.clone());
    if let Some(a) = actor {
        e = e.with_actor(a.user.0, a.name.clone());
    }
    e
}

fn internal(e: crate::store::StoreError) -> Refusal {
    tracing::error!(error = %e, "guarded request storage failed");
    Refusal::new("storage", "the bot's store failed; nothing was done")
}

/// A few bits that differ between two stores that happen to hand out the same sequence.
fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    t ^ std::process::id()
}
