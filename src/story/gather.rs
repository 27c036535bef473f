//! Reading an incident's story from the store (the effectful half of `story`): the incident,
//! its note, its requests, their audit entries, the job's kept exception history and the
//! incident message as last sent. Store reads only; used by the `incident` command, `/flink
//! timeline` and the Timeline button.

use crate::audit;
use crate::facts::history::JobHistory;
use crate::guard::{Note, Request};
use crate::incident::Incident;
use crate::message::Message;
use crate::store::{Store, StoreError};

use super::{assemble, Held, Shown, Story};

/// Newest audit entries read per job: far more than one incident's requests ever write.
const AUDIT_SCAN: usize = 5_000;

/// What the store holds about one incident, owned.
pub struct Sources {
    pub incident: Incident,
    pub note: Note,
    pub requests: Vec<Request>,
    pub audit: Vec<audit::Entry>,
    pub history: Option<JobHistory>,
    pub shown: Option<Message>,
}

impl Sources {
    pub fn story(&self) -> Story {
        assemble(&Held {
            incident: &self.incident,
            note: &self.note,
            requests: &self.requests,
            audit: &self.audit,
            history: self.history.as_ref(),
            shown: self.shown.as_ref().map(shown).unwrap_or_default(),
        })
    }
}

/// The incident's story, or `None` if the store does not know the incident.
pub async fn story(store: &Store, incident_id: &str) -> Result<Option<Story>, StoreError> {
    Ok(read(store, incident_id).await?.map(|s| s.story()))
}

pub async fn read(store: &Store, incident_id: &str) -> Result<Option<Sources>, StoreError> {
    // The store's synchronous reads block their thread up to the storage deadline: not on a
    // runtime worker that also answers interactions.
    let (s, id) = (store.clone(), incident_id.to_string());
    let read = tokio::task::spawn_blocking(move || read_records(&s, &id))
        .await
        .map_err(|e| StoreError::Failed(format!("story read: {e}")))??;
    let Some(mut sources) = read else {
        return Ok(None);
    };
    if let Some(job) = &sources.incident.job {
        let history = store
            .exception_archive()
            .await?
            .read(&job.cluster, &job.id)
            .await?;
        sources.history = Some(history).filter(|h| !h.entries.is_empty());
    }
    Ok(Some(sources))
}

/// Everything but the exception history (an async read of its own).
fn read_records(store: &Store, incident_id: &str) -> Result<Option<Sources>, StoreError> {
    let incident: Option<Incident> = store
        .incident_by_id(incident_id)?
        // The group's record may already be a newer incident of the same group.
        .filter(|i: &Incident| i.id == incident_id);
    let Some(incident) = incident else {
        return Ok(None);
    };
    let note: Note = store.incident_note(incident_id)?;
    let mut requests: Vec<Request> = store
        .requests::<Request>()?
        .into_iter()
        .filter(|r| r.incident_id.as_deref() == Some(incident_id))
        .collect();
    requests.sort_by_key(|r| r.created_at);
    let mut jobs: Vec<&str> = requests.iter().map(|r| r.plan.job_id.as_str()).collect();
    jobs.sort_unstable();
    jobs.dedup();
    let mut entries = Vec::new();
    for job in jobs {
        entries.extend(
            store
                .audit_recent(AUDIT_SCAN, Some(job))?
                .into_iter()
                .filter(|e| {
                    e.event
                        .request_id
                        .as_deref()
                        .is_some_and(|id| requests.iter().any(|r| r.id == id))
                }),
        );
    }
    let shown = store.shown(&crate::outbox::page_key(incident_id))?;
    Ok(Some(Sources {
        incident,
        note,
        requests,
        audit: entries,
        history: None,
        shown,
    }))
}

/// The diagnosis as the incident's message last showed it: the pattern its footer names and
/// its root cause field (both written by `render`), read back because the store keeps the
/// message, not the diagnosis.
pub fn shown(msg: &Message) -> Shown {
    let pattern = msg
        .embed
        .footer
        .split(" · ")
        .find_map(|part| part.strip_prefix("pattern "))
        .map(str::to_string);
    let root_cause = msg
        .embed
        .fields
        .iter()
        .find(|f| f.name == "Root cause")
        .map(|f| f.value.replace('\n', " "));
    Shown {
        pattern,
        root_cause,
    }
}

/// Every incident the store still has, newest first.
pub async fn list(store: &Store) -> Result<Vec<Incident>, StoreError> {
    let store = store.clone();
    let mut all: Vec<Incident> =
        tokio::task::spawn_blocking(move || store.incidents_where(|_: &Incident| true))
            .await
            .map_err(|e| StoreError::Failed(format!("incident scan: {e}")))??;
    all.sort_by_key(|i| std::cmp::Reverse(i.firing_since));
    Ok(all)
}

/// The incident with this id, if the store has it (not a newer one of its group).
pub async fn incident(store: &Store, id: &str) -> Result<Option<Incident>, StoreError> {
    let (store, wanted) = (store.clone(), id.to_string());
    let found = tokio::task::spawn_blocking(move || store.incident_by_id::<Incident>(&wanted))
        .await
        .map_err(|e| StoreError::Failed(format!("incident read: {e}")))??;
    Ok(found.filter(|i| i.id == id))
}
