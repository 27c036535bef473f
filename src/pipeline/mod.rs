//! The pipeline: from what the store holds to a delivered message, one incident at a time.
//!
//! Work for the same Alertmanager group runs in order and is coalesced (a burst of repeats
//! becomes one edit); different groups run concurrently up to `delivery.concurrency`. An entry
//! leaves the inbox only after its message is delivered and the incident is saved, so a crash at
//! any point means "deliver again after restart", never "lost".

mod process;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::alertmanager::Webhook;
use crate::config::Config;
use crate::deliver::Sink;
use crate::enrich::Clusters;
use crate::render::Renderer;
use crate::store::{InboxEntry, Store};

pub struct Pipeline {
    store: Store,
    clusters: Clusters,
    renderer: Renderer,
    sink: Sink,
    config: Config,
    /// Poked by intake after each durable write.
    wake: Arc<Notify>,
    queues: Mutex<HashMap<String, GroupWork>>,
    permits: Arc<Semaphore>,
}

/// What is waiting for one group. Notifications come first; a refill only runs when no newer
/// notification is waiting (which would bring fresh facts anyway).
#[derive(Default)]
struct GroupWork {
    entries: Vec<InboxEntry>,
    refill: Option<process::Refill>,
}

enum Work {
    Notifications(Vec<InboxEntry>),
    Refill(process::Refill),
}

impl Pipeline {
    pub fn new(
        store: Store,
        clusters: Clusters,
        renderer: Renderer,
        sink: Sink,
        config: Config,
        wake: Arc<Notify>,
    ) -> Pipeline {
        let permits = Arc::new(Semaphore::new(config.delivery.concurrency));
        Pipeline {
            store,
            clusters,
            renderer,
            sink,
            config,
            wake,
            queues: Mutex::default(),
            permits,
        }
    }

    pub async fn run(self: Arc<Self>) {
        let mut last: Option<u64> = None;
        loop {
            // Register interest before scanning so a wake-up during the scan is not missed.
            let woken = self.wake.notified();
            match self.store.pending_after(last) {
                Ok(entries) => {
                    for entry in entries {
                        last = Some(entry.seq);
                        self.dispatch(entry);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the inbox; retrying"),
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    fn dispatch(self: &Arc<Self>, entry: InboxEntry) {
        match Webhook::parse(&entry.body) {
            Ok(hook) => self.enqueue(hook.group_key, |w| w.entries.push(entry)),
            Err(e) => {
                // Intake validated it, so only a foreign or corrupt record lands here; keep it
                // out of the way but visible in the log rather than retrying forever.
                tracing::error!(seq = entry.seq, error = %e, body = %String::from_utf8_lossy(&entry.body), "unreadable inbox entry");
                let _ = self.store.complete(&[entry]);
            }
        }
    }

    /// Adds work for a group and starts the group's worker unless it is already running.
    fn enqueue(self: &Arc<Self>, key: String, add: impl FnOnce(&mut GroupWork)) {
        let mut queues = self.queues.lock().expect("queue lock");
        let running = queues.contains_key(&key);
        add(queues.entry(key.clone()).or_default());
        drop(queues);
        if running {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _permit = me
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            while let Some(work) = me.next_work(&key) {
                match work {
                    Work::Notifications(batch) => me.process(&key, batch).await,
                    Work::Refill(refill) => me.refill(&key, refill).await,
                }
            }
        });
    }

    /// Takes the group's next work, or retires the group's worker when there is none.
    fn next_work(&self, key: &str) -> Option<Work> {
        let mut queues = self.queues.lock().expect("queue lock");
        let work = queues.get_mut(key)?;
        if !work.entries.is_empty() {
            work.refill = None;
            return Some(Work::Notifications(std::mem::take(&mut work.entries)));
        }
        if let Some(refill) = work.refill.take() {
            return Some(Work::Refill(refill));
        }
        queues.remove(key);
        None
    }
}
