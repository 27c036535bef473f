//! Every sled call runs on one store thread, under a deadline, and the first failure is latched.
//!
//! After an I/O error (a full disk) sled 0.34 keeps that error forever, and some calls do not
//! even return it: a read that splits a node (`Tree::len`, an iteration) spins in
//! `Log::reserve_inner` for good, reproduced on a 4 MiB tmpfs. Run on a runtime thread that froze
//! the whole server. So no caller touches sled itself: each call is a job for the store thread,
//! and the caller waits at most `storage.timeout_ms`. A call that does not return in time, or an
//! I/O error, marks the store failed; from then on every call fails at once without touching
//! sled, so at most the one stuck call holds a thread (and a CPU), never a runtime worker.

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use super::StoreError;

type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting for the store thread; when full the thread is stuck or far behind.
const QUEUE: usize = 4_096;

#[derive(Clone)]
pub(crate) struct StoreThread {
    jobs: SyncSender<Job>,
    health: Arc<Health>,
    timeout: Duration,
}

#[derive(Default)]
pub(crate) struct Health {
    failure: Mutex<Option<String>>,
    failed: Notify,
}

impl Health {
    pub(crate) fn failure(&self) -> Option<String> {
        // Poison-tolerant: the reason is a plain value, valid whatever panicked holding it.
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the store failed (the first reason wins) and says so loudly, once.
    pub(crate) fn fail(&self, reason: String) {
        {
            let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            if failure.is_some() {
                return;
            }
            *failure = Some(reason.clone());
        }
        self.failed.notify_waiters();
        tracing::error!(
            %reason,
            "STORE FAILED: webhooks and /readyz answer 503 from now on; the bot exits once the disk takes writes again, so that its supervisor restarts it on the same store"
        );
    }

    /// Resolves once the store has failed.
    pub(crate) async fn wait_failed(&self) {
        loop {
            let notified = self.failed.notified();
            if self.failure().is_some() {
                return;
            }
            notified.await;
        }
    }
}

impl StoreThread {
    pub(crate) fn start(timeout: Duration) -> Result<StoreThread, StoreError> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                for job in rx {
                    // A panicking call loses its answer (the caller sees an error), not the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .map_err(|e| StoreError::Failed(format!("cannot start the store thread: {e}")))?;
        Ok(StoreThread {
            jobs,
            health: Arc::default(),
            timeout,
        })
    }

    pub(crate) fn health(&self) -> &Arc<Health> {
        &self.health
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `op` on the store thread; the caller's task waits at most the deadline.
    pub(crate) async fn run<T, F>(&self, what: &'static str, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(op, move |r| {
            let _ = tx.send(r);
        })?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(result)) => self.observe(result),
            Ok(Err(_)) => Err(StoreError::Failed("the store thread has stopped".into())),
            Err(_) => Err(self.timed_out(what)),
        }
    }

    /// Like [`StoreThread::run`] for synchronous callers: blocks the calling thread at most the deadline.
    pub(crate) fn run_blocking<T, F>(&self, what: &'static str, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.submit(op, move |r| {
            let _ = tx.send(r);
        })?;
        match rx.recv_timeout(self.timeout) {
            Ok(result) => self.observe(result),
            Err(RecvTimeoutError::Disconnected) => {
                Err(StoreError::Failed("the store thread has stopped".into()))
            }
            Err(RecvTimeoutError::Timeout) => Err(self.timed_out(what)),
        }
    }

    /// Fails at once when the store has failed; sled is never called again after that.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match self.health.failure() {
            Some(reason) => Err(StoreError::Failed(reason)),
            None => Ok(()),
        }
    }

    fn submit<T, F>(
        &self,
        op: F,
        reply: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    {
        self.check()?;
        let health = self.health.clone();
        let job: Job = Box::new(move || {
            // Jobs queued behind a stuck call find the store failed and never reach sled.
            let result = match health.failure() {
                Some(reason) => Err(StoreError::Failed(reason)),
                None => op(),
            };
            reply(result);
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Failed(
                "the store thread is behind by more than 4096 calls".into(),
            )),
            Err(TrySendError::Disconnected(_)) => {
                Err(StoreError::Failed("the store thread has stopped".into()))
            }
        }
    }

    /// An I/O error from sled is permanent (sled keeps it): latch it.
    fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result {
            if e.is_fatal() {
                self.health.fail(e.to_string());
            }
        }
        result
    }

    pub(crate) fn timed_out(&self, what: &str) -> StoreError {
        let reason = format!(
            "a storage call ({what}) did not return within {} ms (storage.timeout_ms)",
            self.timeout.as_millis()
        );
        self.health.fail(reason.clone());
        StoreError::Failed(reason)
    }
}
