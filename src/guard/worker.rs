//! The worker: expires requests that waited too long, runs what is Ready, and after a restart
//! resumes what was Running. Only it moves a request to Running, and only after the audit
//! entry "executing" is written.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::{event, execute, Guard, Note, Run, SWEEP};

/// How often a running action's message is refreshed.
const PROGRESS: std::time::Duration = std::time::Duration::from_secs(5);
use crate::audit::EventKind;
use crate::guard::Request;

impl Guard {
    /// The worker: expires what waited too long, runs what is Ready, and after a restart
    /// resumes what was Running. One request at a time per sweep, in creation order.
    pub async fn run(self: Arc<Self>) {
        let mut first = true;
        loop {
            let woken = self.wake.notified();
            if let Err(e) = self.sweep(first).await {
                tracing::error!(error = %e, "guarded requests: sweep failed");
            }
            first = false;
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(SWEEP) => {}
            }
        }
    }

    async fn sweep(self: &Arc<Self>, after_restart: bool) -> Result<(), crate::store::StoreError> {
        let mut open: Vec<Request> = self.store.requests()?;
        open.retain(|r| !r.run.is_final());
        open.sort_by_key(|r| r.created_at);
        for r in open {
            match r.run {
                Run::Waiting | Run::Confirm => {
                    let _held = self.lock.lock().await;
                    let Ok(mut fresh) = self.load(&r.id) else {
                        continue;
                    };
                    if fresh.expire(Utc::now()) {
                        self.expired(&fresh).await;
                    }
                }
                Run::Ready => {
                    let me = self.clone();
                    tokio::spawn(async move { me.start(&r.id, false).await });
                }
                // Only a restart can leave a request Running with nobody running it.
                Run::Running { .. } if after_restart => {
                    let me = self.clone();
                    tokio::spawn(async move { me.start(&r.id, true).await });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Claims the request (Ready -> Running, or a resumed Running), runs it, records the result.
    async fn start(self: Arc<Self>, id: &str, resumed: bool) {
        let claimed = {
            let _held = self.lock.lock().await;
            let Ok(mut req) = self.load(id) else { return };
            if resumed {
                matches!(req.run, Run::Running { .. }).then_some(req)
            } else if req.run == Run::Ready {
                let detail = json!({"calls": req.plan.calls.iter().map(|c| c.to_string()).collect::<Vec<_>>(), "dry_run": req.approval.dry_run});
                if let Err(e) = self
                    .record(event(EventKind::Executing, &req, None).with_detail(detail))
                    .await
                {
                    tracing::error!(request = id, error = %e, "audit unavailable: the action does not run");
                    req.finish(
                        Err("not run: the audit log could not be written".into()),
                        Utc::now(),
                    );
                    let _ = self.save(&req).await;
                    return;
                }
                req.start(Utc::now());
                if self.save(&req).await.is_err() {
                    return;
                }
                Some(req)
            } else {
                None
            }
        };
        let Some(req) = claimed else { return };
        tracing::info!(request = %req.id, action = req.plan.kind.slug(), resumed, "running a guarded action");
        // While it runs, the message shows for how long (a savepoint of a big state takes minutes).
        let ticker = {
            let (me, id) = (self.clone(), req.id.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(PROGRESS);
                every.tick().await;
                loop {
                    every.tick().await;
                    if let Err(e) = me.show_again(&id).await {
                        tracing::warn!(request = %id, error = %e, "cannot queue a progress edit");
                    }
                }
            })
        };
        let (outcome, files) = execute::execute(&self, &req, resumed).await;
        ticker.abort();
        let _held = self.lock.lock().await;
        let Ok(mut req) = self.load(id) else { return };
        let kind = if outcome.is_ok() {
            EventKind::Succeeded
        } else {
            EventKind::Failed
        };
        let detail = match &outcome {
            Ok(r) => json!({ "result": r.to_string(), "done": r }),
            Err(e) => json!({ "reason": e }),
        };
        if let Err(e) = self
            .record(event(kind, &req, None).with_detail(detail))
            .await
        {
            tracing::error!(request = id, error = %e, "could not audit the result");
        }
        req.finish(outcome, Utc::now());
        // The result, the incident's state line and the files go out from one store job.
        let note = req.incident_id.as_ref().map(|incident| {
            let note: Note = self.store.incident_note(incident).unwrap_or_default();
            (incident.clone(), note.after(&req))
        });
        let note = note.as_ref().map(|(i, n)| (i.as_str(), n));
        if let Err(e) = self.save_with(&req, note, files).await {
            tracing::error!(request = id, error = %e.message, "could not store the result");
        }
    }

    pub(super) async fn expired(&self, req: &Request) {
        if let Err(e) = self.record(event(EventKind::Expired, req, None)).await {
            tracing::error!(request = %req.id, error = %e, "could not audit an expiry");
        }
        if let Err(e) = self.save(req).await {
            tracing::error!(request = %req.id, error = %e.message, "could not store an expiry");
        }
    }
}
