//! Retention: what the store forgets, and when (`storage.retention`, 90 days by default).
//!
//! A resolved incident is kept for the window after it resolved, then removed with its id
//! index entry, its note, its digest line and its finished requests; a job's exception history
//! goes once its newest failure is older than the window; a topology incident (a lost TaskManager
//! or cluster, `store/topology.rs`) goes with its job lines once it was opened before the window
//! and every job on it recovered. Never removed here: firing incidents,
//! anything still pending (inbox entries, a post in progress, a refill not yet done, a request
//! not finished), dead letters (`flink-chatops dead`), the audit log (append-only), and every
//! tree this file does not name (e.g. `outbox`). The `shown` records of a removed incident or
//! request (its message as last sent, its thread) go with it.
//!
//! [`decide`] is pure and table-tested; [`Store::prune`] walks the trees in small batches, each
//! one short job on the store thread, so webhooks and deliveries never wait behind a pass.
//! Every removal re-reads its record in the same job, so a record that changed since the scan
//! (a new notification for the group) is left alone.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::digests::line_key;
use super::{Store, StoreError};

/// Records read per store-thread job: a job stays well under a millisecond or two.
const BATCH: usize = 128;

/// Pause between two jobs of a pass, so other store work runs in between.
const PAUSE: Duration = Duration::from_millis(20);

/// With more entries than this waiting in the inbox, incidents are not removed in this pass
/// (checking that none of them is for a candidate's group would hold the store thread): a
/// backlog means a busy moment, and retention can wait an hour.
const PENDING_SCAN_MAX: usize = 2_000;

mod boards;
pub mod decide;

use decide::{IncidentAge, Verdict};

/// What one pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub incidents: usize,
    /// Id index entries of incidents a newer one of the same group had replaced.
    pub superseded: usize,
    pub notes: usize,
    pub requests: usize,
    pub digest_lines: usize,
    pub histories: usize,
    /// Topology incidents (boards), each with its job lines.
    pub boards: usize,
    /// Incidents past the window kept because something still waits on them.
    pub kept_pending: usize,
    /// The inbox was too long to check against: incidents were left for the next pass.
    pub deferred: bool,
}

/// The fields of an incident record retention reads (the record is `crate::incident::Incident`).
#[derive(Deserialize)]
struct IncidentView {
    id: String,
    #[serde(default)]
    channel_id: u64,
    firing_since: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
}

/// The fields of a request retention reads (`crate::guard::Request`).
#[derive(Deserialize)]
struct RequestView {
    run: RunView,
    incident_id: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RunView {
    run: String,
}

#[derive(Deserialize)]
struct HistoryView {
    #[serde(default)]
    entries: Vec<FailureView>,
    #[serde(default)]
    dropped_through_ms: Option<i64>,
}

#[derive(Deserialize)]
struct FailureView {
    timestamp: i64,
}

/// The trees a pass touches, cloned into each job.
#[derive(Clone)]
struct Trees {
    incidents: sled::Tree,
    ids: sled::Tree,
    notes: sled::Tree,
    requests: sled::Tree,
    lines: sled::Tree,
    inbox: sled::Tree,
    posting: sled::Tree,
    due: sled::Tree,
    history: sled::Tree,
    topology: sled::Tree,
    /// What the way out showed (see `outbox.rs`): goes with its incident or request.
    shown: sled::Tree,
}

impl Store {
    /// One retention pass: removes what [`decide`] says is past `window` at `now`, in batches.
    /// Durable when it returns.
    pub async fn prune(&self, now: DateTime<Utc>, window: Duration) -> Result<Pruned, StoreError> {
        self.prune_paced(now, window, PAUSE).await
    }

    /// [`Store::prune`] with another pause between jobs (the year benchmark runs passes
    /// back to back, with nothing else waiting for the store thread).
    pub async fn prune_paced(
        &self,
        now: DateTime<Utc>,
        window: Duration,
        pause: Duration,
    ) -> Result<Pruned, StoreError> {
        let cutoff_ms =
            now.timestamp_millis() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2);
        let (db, db2) = (self.db.clone(), self.db.clone());
        let t = Trees {
            incidents: self.incidents.clone(),
            ids: self.incident_ids.clone(),
            notes: self.notes.clone(),
            requests: self.requests.clone(),
            shown: self.shown.clone(),
            lines: self.digest_lines.clone(),
            inbox: self.inbox.clone(),
            posting: self.posting.clone(),
            due: self.due.clone(),
            history: self
                .thread
                .run("retention open", move || {
                    Ok(db.open_tree("exception_history")?)
                })
                .await?,
            topology: self
                .thread
                .run("retention open", move || Ok(db2.open_tree("topology")?))
                .await?,
        };
        let mut out = Pruned::default();
        // Incidents with a request still open: the request may still change its note.
        let open = std::sync::Arc::new(self.open_request_incidents(&t).await?);
        self.walk(
            pause,
            &t.incidents.clone(),
            move |t, batch, out| prune_incidents(t, batch, cutoff_ms, &open, out),
            &t,
            &mut out,
        )
        .await?;
        self.walk(
            pause,
            &t.ids.clone(),
            move |t, batch, out| prune_superseded(t, batch, cutoff_ms, out),
            &t,
            &mut out,
        )
        .await?;
        self.walk(
            pause,
            &t.requests.clone(),
            move |t, batch, out| prune_requests(t, batch, cutoff_ms, out),
            &t,
            &mut out,
        )
        .await?;
        self.walk(
            pause,
            &t.history.clone(),
            move |t, batch, out| prune_histories(t, batch, cutoff_ms, out),
            &t,
            &mut out,
        )
        .await?;
        self.walk(
            pause,
            &t.topology.clone(),
            move |t, batch, out| {
                out.boards += boards::prune(&t.topology, &t.posting, batch, cutoff_ms)?;
                Ok(())
            },
            &t,
            &mut out,
        )
        .await?;
        self.durable().await?;
        Ok(out)
    }

    /// Runs `step` over `tree`'s keys, [`BATCH`] at a time, one store-thread job per batch.
    async fn walk<F>(
        &self,
        pause: Duration,
        tree: &sled::Tree,
        step: F,
        t: &Trees,
        out: &mut Pruned,
    ) -> Result<(), StoreError>
    where
        F: Fn(&Trees, Vec<(sled::IVec, sled::IVec)>, &mut Pruned) -> Result<(), StoreError>
            + Send
            + Sync
            + Clone
            + 'static,
    {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let (tree, t, step, from) = (tree.clone(), t.clone(), step.clone(), after.clone());
            let (done, last, part) = self
                .thread
                .run("retention", move || {
                    let range = match &from {
                        Some(a) => tree.range::<&[u8], _>((
                            std::ops::Bound::Excluded(&a[..]),
                            std::ops::Bound::Unbounded,
                        )),
                        None => tree.range::<&[u8], _>(..),
                    };
                    let batch = range.take(BATCH).collect::<Result<Vec<_>, _>>()?;
                    let done = batch.len() < BATCH;
                    let last = batch.last().map(|(k, _)| k.to_vec());
                    let mut part = Pruned::default();
                    step(&t, batch, &mut part)?;
                    Ok((done, last, part))
                })
                .await?;
            out.add(&part);
            if done || last.is_none() {
                return Ok(());
            }
            after = last;
            tokio::time::sleep(pause).await;
        }
    }

    async fn open_request_incidents(&self, t: &Trees) -> Result<HashSet<String>, StoreError> {
        let requests = t.requests.clone();
        self.thread
            .run("retention requests", move || {
                let mut open = HashSet::new();
                for item in requests.iter().values() {
                    let v = item?;
                    // An unreadable request counts as open: never remove what cannot be read.
                    match serde_json::from_slice::<RequestView>(&v) {
                        Ok(r) if !decide::request_is_open(&r.run.run) => {}
                        Ok(r) => open.extend(r.incident_id),
                        Err(_) => {}
                    }
                }
                Ok(open)
            })
            .await
    }

    /// Starts the retention task: a pass a minute after start, then every hour. `None` (the
    /// config says "forever") starts nothing.
    pub fn spawn_retention(&self, window: Option<Duration>) -> Option<tokio::task::JoinHandle<()>> {
        let window = window?;
        let store = self.clone();
        Some(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if store.failure().is_some() {
                    return;
                }
                match store.prune(Utc::now(), window).await {
                    Ok(p) => tracing::info!(?p, window_secs = window.as_secs(), "retention pass"),
                    Err(e) => {
                        tracing::warn!(error = %e, "retention pass failed; trying again in an hour")
                    }
                }
            }
        }))
    }
}

impl Pruned {
    fn add(&mut self, o: &Pruned) {
        self.incidents += o.incidents;
        self.superseded += o.superseded;
        self.notes += o.notes;
        self.requests += o.requests;
        self.digest_lines += o.digest_lines;
        self.histories += o.histories;
        self.boards += o.boards;
        self.kept_pending += o.kept_pending;
        self.deferred |= o.deferred;
    }
}

/// Group keys with an entry in the inbox, or `None` when there are too many to check.
fn pending_groups(inbox: &sled::Tree) -> Result<Option<HashSet<String>>, StoreError> {
    let mut groups = HashSet::new();
    for (n, item) in inbox.iter().values().enumerate() {
        if n >= PENDING_SCAN_MAX {
            return Ok(None);
        }
        let v = item?;
        groups.insert(super::inbox::decode_header(&v)?.1.to_string());
    }
    Ok(Some(groups))
}

/// Incident ids with a refill due (the due key ends with the incident id).
fn due_incidents(due: &sled::Tree) -> Result<HashSet<Vec<u8>>, StoreError> {
    due.iter()
        .keys()
        .map(|k| Ok(k?.get(8..).unwrap_or_default().to_vec()))
        .collect()
}

fn prune_incidents(
    t: &Trees,
    batch: Vec<(sled::IVec, sled::IVec)>,
    cutoff_ms: i64,
    open: &HashSet<String>,
    out: &mut Pruned,
) -> Result<(), StoreError> {
    let mut candidates = Vec::new();
    for (k, v) in batch {
        // An unreadable record is left for someone to look at, never removed blind.
        let Ok(i) = serde_json::from_slice::<IncidentView>(&v) else {
            continue;
        };
        let age = IncidentAge {
            resolved_ms: i.resolved_at.map(|t| t.timestamp_millis()),
            pending: false,
        };
        if decide::incident(age, cutoff_ms) == Verdict::Remove {
            candidates.push((k, v, i));
        }
    }
    if candidates.is_empty() {
        return Ok(());
    }
    let Some(groups) = pending_groups(&t.inbox)? else {
        out.deferred = true;
        return Ok(());
    };
    let due = due_incidents(&t.due)?;
    for (k, v, i) in candidates {
        let pending = groups.contains(String::from_utf8_lossy(&k).as_ref())
            || t.posting.contains_key(i.id.as_bytes())?
            || due.contains(i.id.as_bytes())
            || open.contains(&i.id);
        let age = IncidentAge {
            resolved_ms: i.resolved_at.map(|t| t.timestamp_millis()),
            pending,
        };
        if decide::incident(age, cutoff_ms) != Verdict::Remove {
            out.kept_pending += 1;
            continue;
        }
        // Only the record that was read: a newer one (a new notification) stays.
        if t.incidents
            .compare_and_swap(&k, Some(&v), None as Option<&[u8]>)?
            .is_err()
        {
            continue;
        }
        out.incidents += 1;
        t.ids.remove(i.id.as_bytes())?;
        if t.notes.remove(i.id.as_bytes())?.is_some() {
            out.notes += 1;
        }
        forget_shown(t, &i.id)?;
        if t.lines.remove(line_key(i.channel_id, &i.id))?.is_some() {
            out.digest_lines += 1;
        }
    }
    Ok(())
}

fn prune_superseded(
    t: &Trees,
    batch: Vec<(sled::IVec, sled::IVec)>,
    cutoff_ms: i64,
    out: &mut Pruned,
) -> Result<(), StoreError> {
    let mut due: Option<HashSet<Vec<u8>>> = None;
    for (id, group) in batch {
        let current = match t.incidents.get(&group)? {
            Some(v) => match serde_json::from_slice::<IncidentView>(&v) {
                Ok(i) => Some(i),
                Err(_) => continue,
            },
            None => None,
        };
        if current
            .as_ref()
            .is_some_and(|c| c.id.as_bytes() == id.as_ref())
        {
            continue; // the group's current incident: decided by `prune_incidents`
        }
        let due = match &mut due {
            Some(d) => d,
            None => due.insert(due_incidents(&t.due)?),
        };
        let pending = t.posting.contains_key(&id)? || due.contains(id.as_ref());
        let started = current.map(|c| c.firing_since.timestamp_millis());
        if !decide::superseded(started, cutoff_ms, pending) {
            continue;
        }
        t.ids.remove(&id)?;
        out.superseded += 1;
        if t.notes.remove(&id)?.is_some() {
            out.notes += 1;
        }
        forget_shown(t, &String::from_utf8_lossy(&id))?;
    }
    Ok(())
}

fn prune_requests(
    t: &Trees,
    batch: Vec<(sled::IVec, sled::IVec)>,
    cutoff_ms: i64,
    out: &mut Pruned,
) -> Result<(), StoreError> {
    for (k, v) in batch {
        let Ok(r) = serde_json::from_slice::<RequestView>(&v) else {
            continue;
        };
        let incident_gone = match &r.incident_id {
            Some(id) => !t.ids.contains_key(id.as_bytes())?,
            None => true,
        };
        let created = r.created_at.timestamp_millis();
        if decide::request(&r.run.run, created, cutoff_ms, incident_gone)
            && t.requests
                .compare_and_swap(&k, Some(&v), None as Option<&[u8]>)?
                .is_ok()
        {
            out.requests += 1;
            t.shown
                .remove(crate::outbox::request_key(&String::from_utf8_lossy(&k)).as_bytes())?;
        }
    }
    Ok(())
}

/// The way out's records of an incident that is removed: its message as last sent, its thread,
/// its posted story.
fn forget_shown(t: &Trees, incident_id: &str) -> Result<(), StoreError> {
    use crate::outbox::{page_key, story_key, thread_key};
    for key in [
        page_key(incident_id),
        thread_key(incident_id),
        story_key(incident_id),
    ] {
        t.shown.remove(key.as_bytes())?;
    }
    Ok(())
}

fn prune_histories(
    t: &Trees,
    batch: Vec<(sled::IVec, sled::IVec)>,
    cutoff_ms: i64,
    out: &mut Pruned,
) -> Result<(), StoreError> {
    for (k, v) in batch {
        let Ok(h) = serde_json::from_slice::<HistoryView>(&v) else {
            continue;
        };
        let newest = h
            .entries
            .iter()
            .map(|e| e.timestamp)
            .chain(h.dropped_through_ms)
            .max();
        if decide::history(newest, cutoff_ms)
            && t.history
                .compare_and_swap(&k, Some(&v), None as Option<&[u8]>)?
                .is_ok()
        {
            out.histories += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
