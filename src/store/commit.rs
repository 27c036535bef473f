//! Group commit: every writer asks for durability, one task fsyncs for all of them at once.
//!
//! The disk does ~7,500 fsyncs/s for one writer; paying one flush per webhook would cap intake
//! there. Writers that arrive while a flush is running are served together by the next one, so
//! the cost of a flush is shared by everyone who was waiting for it.

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl Committer {
    pub fn start(db: sled::Db) -> Committer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(db, rx));
        Committer { tx }
    }

    /// Resolves once a flush that started after this call has completed.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(tx)
            .map_err(|_| StoreError::Flush("the commit task has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Flush("the commit task has stopped".into()))?
            .map_err(StoreError::Flush)
    }
}

async fn run(db: sled::Db, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let db = db.clone();
        // sled's flush_async is unreliable in 0.34; the blocking flush on a worker thread is not.
        let result = tokio::task::spawn_blocking(move || db.flush().map(|_| ()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = &result {
            tracing::error!(error = %e, "storage flush failed; answering 503 so Alertmanager retries");
        }
        for waiter in batch.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }
}
