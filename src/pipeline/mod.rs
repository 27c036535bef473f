//! The pipeline: from what the store holds to a delivered message, one incident at a time.
//!
//! Work for the same Alertmanager group runs in order and is coalesced (a burst of repeats
//! becomes one edit); different groups run concurrently on `delivery.concurrency` workers. An entry
//! leaves the inbox only after its message is delivered and the incident is saved, so a crash at
//! any point means "deliver again after restart", never "lost". Refills (a later look at Flink
//! for a page that went out with facts missing) wait in the store's `due` tree the same way and
//! are fed to the workers by one scanning task, so they survive a restart too.
//!
//! It is also the one way out for everything else that goes to a Discord channel: a guarded
//! request's message, progress, result and files, and an incident's one-line state are outbox
//! items in the store (see `outbox.rs`), scanned like the inbox and delivered by the same
//! workers through the same client, buckets and retry decision (`pipeline/outbox.rs`). A note
//! waits in its incident's line, so each incident message has one writer.

mod digest;
mod outbox;
mod process;
mod queue;
mod topology;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::Config;
use crate::deliver::Sink;
use crate::enrich::Clusters;
use crate::render::Renderer;
use crate::store::{GroupId, Store};
use queue::{Queues, Work};

pub struct Pipeline {
    store: Store,
    clusters: Clusters,
    renderer: Renderer,
    sink: Sink,
    config: Config,
    /// Poked by intake after each durable write.
    wake: Arc<Notify>,
    /// Groups with work queued or being worked on, most severe first (see [`queue`]).
    queues: Mutex<Queues>,
    ready_signal: Notify,
    /// Wakes the workers kept for urgent pages when an urgent group becomes ready.
    urgent_signal: Notify,
    /// Storm detection and the digests waiting for an edit.
    digests: digest::Digests,
    /// Topology incidents (lost TaskManagers, unreachable clusters) waiting for an edit.
    boards: topology::Boards,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: Shutdown,
    /// Buttons and commands are answered, so an incident's state line can change.
    interactions: bool,
}

/// Set by [`Pipeline::stop`]: workers finish the work item they hold (delivered and recorded),
/// then take no more; what is left stays in the inbox for the next start.
#[derive(Default)]
struct Shutdown {
    stopping: AtomicBool,
    /// Work items being processed now; `idle` is notified when that drops to zero.
    busy: AtomicUsize,
    idle: Notify,
}

/// Held while a worker processes one work item.
struct Busy<'a>(&'a Shutdown);

impl Shutdown {
    /// `None` once stopping; counted before the check so `stop` cannot miss an item starting.
    fn begin(&self) -> Option<Busy<'_>> {
        self.busy.fetch_add(1, Ordering::SeqCst);
        let busy = Busy(self);
        (!self.stopping.load(Ordering::SeqCst)).then_some(busy)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Workers that take only urgent (`high` and `critical`) groups, on top of `delivery.concurrency`.
const URGENT_WORKERS: usize = 2;
const URGENT: u8 = crate::severity::Level::High as u8;

/// Coalescing bound: at most this many notifications of one group are folded into one delivery.
const MAX_BATCH: usize = 1_000;

/// How many due refills one scan hands to the workers; how often the due tree is scanned.
const DUE_BATCH: usize = 256;
/// Inbox entries queued per scan: a backlog is read in steps, never as one allocation.
const SCAN_BATCH: usize = 4_096;
const DUE_POLL: Duration = Duration::from_millis(500);

impl Pipeline {
    pub fn new(
        store: Store,
        clusters: Clusters,
        renderer: Renderer,
        sink: Sink,
        config: Config,
        wake: Arc<Notify>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Pipeline {
        let interactions = crate::buttons::Available::from_config(&config).answers;
        Pipeline {
            interactions,
            store,
            clusters,
            renderer,
            sink,
            config,
            wake,
            queues: Mutex::default(),
            ready_signal: Notify::new(),
            urgent_signal: Notify::new(),
            digests: Default::default(),
            boards: Default::default(),
            shutdown: Shutdown::default(),
            metrics,
        }
    }

    /// Stops taking work and waits, at most `grace`, until the items in progress are delivered
    /// and recorded. Returns whether they all were.
    pub async fn stop(&self, grace: Duration) -> bool {
        let s = &self.shutdown;
        s.stopping.store(true, Ordering::SeqCst);
        tokio::time::timeout(grace, async {
            loop {
                // Created before the check: notify_waiters reaches it even before it is polled.
                let idle = s.idle.notified();
                if s.busy.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await
        .is_ok()
    }

    /// Starts `delivery.concurrency` workers, then feeds them from the inbox forever.
    pub async fn run(self: Arc<Self>) {
        for _ in 0..self.config.delivery.concurrency {
            tokio::spawn(self.clone().work(0));
        }
        // In a storm every worker can be waiting on Discord's rate limit with a warning; these
        // take only high and critical pages, so one never waits for a worker to come free.
        for _ in 0..URGENT_WORKERS {
            tokio::spawn(self.clone().work(URGENT));
        }
        tokio::spawn(self.clone().scan_due());
        tokio::spawn(self.clone().edit_digests());
        tokio::spawn(self.clone().edit_boards());
        let mut last: Option<u64> = None;
        let mut last_post: Option<u64> = None;
        loop {
            // Register interest before scanning so a wake-up during the scan is not missed.
            let woken = self.wake.notified();
            let mut full = false;
            match self
                .store
                .outbox_after::<crate::outbox::Post>(last_post, SCAN_BATCH)
            {
                Ok(posts) => {
                    full = posts.len() == SCAN_BATCH;
                    for (seq, post) in posts {
                        last_post = Some(seq);
                        // People wait on these (is my cancel approved?): they go with urgent pages.
                        let group = GroupId::of(&post.line());
                        self.enqueue(group, URGENT, |w| w.push_post(seq));
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the outbox; retrying"),
            }
            match self.store.pending_after(last, SCAN_BATCH) {
                Ok(pending) => {
                    full |= pending.len() == SCAN_BATCH;
                    for p in pending {
                        last = Some(p.seq);
                        self.enqueue(p.group, p.rank, |w| w.push_seq(p.seq));
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the inbox; retrying"),
            }
            if full {
                // More behind it: scan on (in batches, so a backlog is never read in one go).
                continue;
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// Hands refills to the workers as they fall due. The cursor only moves forward, so each is
    /// handed over once per process; after a restart everything still in the tree is due again.
    async fn scan_due(self: Arc<Self>) {
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            match self.store.due_until(cursor.as_deref(), now, DUE_BATCH) {
                Ok(due) if !due.is_empty() => {
                    for item in due {
                        cursor = Some(item.key.clone());
                        // Refills only improve a page that is out: they go after new pages.
                        let group = GroupId::of(&item.group_key);
                        self.enqueue(group, 0, |w| w.push_refill(item));
                    }
                    // A full batch may have more behind it: look again at once.
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot read due refills; retrying"),
            }
            tokio::time::sleep(DUE_POLL).await;
        }
    }

    /// One worker: takes a ready group (of at least rank `min`) and runs its work until there
    /// is none left.
    async fn work(self: Arc<Self>, min: u8) {
        loop {
            let group = self.next_ready(min).await;
            loop {
                let Some(_busy) = self.shutdown.begin() else {
                    return;
                };
                let Some(work) = self.next_work(group) else {
                    break;
                };
                match work {
                    Work::Notifications(seqs) => match self.store.group_work(&seqs) {
                        Ok(batches) => {
                            for batch in batches {
                                self.process(batch).await;
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot read queued notifications; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            // Put them back in front; this worker still holds the group.
                            self.queues
                                .lock()
                                .expect("queue lock")
                                .put_back(group, seqs);
                        }
                    },
                    Work::Posts(seqs) => self.post_outbox(seqs).await,
                    Work::Refill(refill) => {
                        let key = refill.group_key.clone();
                        self.refill(&key, refill).await
                    }
                }
            }
        }
    }

    async fn next_ready(&self, min: u8) -> GroupId {
        let signal = if min > 0 {
            &self.urgent_signal
        } else {
            &self.ready_signal
        };
        loop {
            let taken = self
                .queues
                .lock()
                .expect("queue lock")
                .take_ready_at_least(min);
            if let Some(group) = taken {
                return group;
            }
            // A notify_one without a waiter leaves a permit, so a push between the check above
            // and this wait is not lost.
            signal.notified().await;
        }
    }

    /// Adds work of `rank` (severity) for a group and wakes a worker if the group became ready.
    fn enqueue(&self, group: GroupId, rank: u8, add: impl FnOnce(&mut queue::GroupWork)) {
        if self
            .queues
            .lock()
            .expect("queue lock")
            .add(group, rank, add)
        {
            self.ready_signal.notify_one();
        }
        // Also when an already waiting group turned urgent (a spare permit costs one look).
        if rank >= URGENT {
            self.urgent_signal.notify_one();
        }
    }

    /// Takes the group's next work, or forgets the group when there is none.
    fn next_work(&self, group: GroupId) -> Option<Work> {
        self.queues
            .lock()
            .expect("queue lock")
            .next_work(group, MAX_BATCH)
    }
}
