//! The effectful half of topology incidents (the decisions are in `crate::topology`): putting a
//! job page on the board of its lost TaskManager or unreachable cluster, and keeping each
//! board's message up to date, the storm digest's way: lines in the store, one task that
//! rebuilds the message from them at most once per [`EDIT_EVERY`] per board.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::Pipeline;
use crate::alertmanager::Webhook;
use crate::deliver;
use crate::diagnose::Diagnosis;
use crate::facts::Facts;
use crate::incident::{Delivery, Incident};
use crate::severity::Level;
use crate::store::{Delivered, InboxEntry, LineChange};
use crate::topology::{self, Board, JobLine};

/// The least time between two edits of one board's message.
const EDIT_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
pub(super) struct Boards {
    dirty: std::sync::Mutex<BTreeSet<String>>,
    signal: tokio::sync::Notify,
    /// Held while a board is looked up and maybe opened: the ten jobs of one lost TaskManager
    /// arrive together, on different workers, and must open one board, not ten.
    opening: tokio::sync::Mutex<()>,
}

/// What a page needs to become a board line.
pub(super) struct OnBoard<'a> {
    pub key: &'a str,
    pub new_id: bool,
    pub batch: &'a [InboxEntry],
    pub hook: &'a Webhook,
    pub facts: &'a Facts,
    pub diagnosis: &'a Diagnosis,
}

impl Pipeline {
    /// Shows the incident as a line of its cause's board when the folding rules say so (and
    /// records the notifications); returns false when it needs a message of its own (an
    /// incident that leaves its board has its line removed first).
    pub(super) async fn to_board(&self, inc: &mut Incident, p: OnBoard<'_>) -> bool {
        let at_risk = p.diagnosis.pattern.state_at_risk();
        let now_ms = Utc::now().timestamp_millis();
        let board_key = match inc.board.clone() {
            Some(k) => {
                let board = self.store.board::<Board>(&k).ok().flatten();
                if board.is_some_and(|b| topology::stays(&b.cause, p.facts, at_risk)) {
                    k
                } else {
                    self.persist("a line leaving its board", || {
                        self.store.put_board_line::<JobLine>(&k, &inc.id, None)
                    })
                    .await;
                    tracing::info!(incident = %inc.id, board = %k, "leaves its topology incident for a page of its own");
                    inc.board = None;
                    self.board_changed(&k);
                    return false;
                }
            }
            None => {
                let Some(cause) = topology::cause_of(p.facts, now_ms) else {
                    return false;
                };
                if !topology::joins(Some(&cause), at_risk) {
                    return false;
                }
                let k = topology::board_key(inc.channel_id, &cause);
                self.current_board(&k, inc.channel_id, cause, now_ms).await;
                k
            }
        };
        let line = JobLine {
            incident_id: inc.id.clone(),
            job: p
                .facts
                .job
                .as_ref()
                .map(|j| j.name.clone().unwrap_or_else(|| j.id.clone()))
                .or_else(|| {
                    inc.job
                        .as_ref()
                        .map(|j| j.name.clone().unwrap_or_else(|| j.id.clone()))
                })
                .unwrap_or_else(|| "?".into()),
            job_id: p
                .facts
                .job
                .as_ref()
                .map(|j| j.id.clone())
                .or_else(|| inc.job.as_ref().map(|j| j.id.clone()))
                .unwrap_or_default(),
            state: p
                .facts
                .job
                .as_ref()
                .and_then(|j| j.state.clone())
                .unwrap_or_default(),
            restarts: p.facts.restarts,
            alert: p.hook.lead_alert().name().to_string(),
            firing_since_ms: inc.firing_since.timestamp_millis(),
            resolved: inc.is_resolved(),
        };
        // Written before the record that takes the notifications out of the inbox: after a crash
        // in between they are processed again and write the same line.
        self.persist("a topology line", || {
            self.store.put_board_line(&board_key, &inc.id, Some(&line))
        })
        .await;
        inc.board = Some(board_key.clone());
        inc.remember_job(p.facts);
        inc.saw(p.facts, &p.diagnosis.title, false);
        self.record(
            Delivered {
                group_key: p.key,
                incident_id: &inc.id,
                incident: &*inc,
                new_id: p.new_id,
                batch: p.batch,
                refill: None,
                digest: LineChange::Keep,
                shown: None,
            },
            "a topology line",
        )
        .await;
        tracing::info!(incident = %inc.id, board = %board_key, "a line of its topology incident");
        self.board_changed(&board_key);
        true
    }

    /// Makes sure the cause has a current board: a new one when there is none, or when the last
    /// one is over and old (`topology::opens_anew`; its message stays as it was).
    async fn current_board(&self, key: &str, channel: u64, cause: topology::Cause, now_ms: i64) {
        let _opening = self.boards.opening.lock().await;
        let current = self.store.board::<Board>(key).ok().flatten();
        let lines: Vec<JobLine> = self.store.board_lines(key).unwrap_or_default();
        if !topology::opens_anew(current.as_ref(), &lines, now_ms) {
            return;
        }
        let board = Board::new(channel, cause, now_ms);
        self.persist("a new topology incident", || {
            for old in &lines {
                self.store
                    .put_board_line::<JobLine>(key, &old.incident_id, None)?;
            }
            self.store.put_board(key, &board)
        })
        .await;
        tracing::warn!(board = %key, incident = %board.id, "topology incident: jobs of this cause become lines of one message");
    }

    fn board_changed(&self, key: &str) {
        self.boards
            .dirty
            .lock()
            .expect("board lock")
            .insert(key.to_string());
        self.boards.signal.notify_one();
    }

    /// Keeps the boards' messages up to date, forever.
    pub(super) async fn edit_boards(self: Arc<Self>) {
        match self.store.board_keys() {
            Ok(keys) => self.boards.dirty.lock().expect("board lock").extend(keys),
            Err(e) => tracing::error!(error = %e, "cannot list topology incidents"),
        }
        loop {
            let keys = std::mem::take(&mut *self.boards.dirty.lock().expect("board lock"));
            if keys.is_empty() {
                self.boards.signal.notified().await;
                continue;
            }
            for key in keys {
                if let Err(e) = self.edit_board(&key).await {
                    tracing::error!(error = %e, board = %key, "cannot update the topology incident");
                }
            }
            tokio::time::sleep(EDIT_EVERY).await;
        }
    }

    async fn edit_board(&self, key: &str) -> anyhow::Result<()> {
        let Some(mut board) = self.store.board::<Board>(key)? else {
            return Ok(());
        };
        let lines: Vec<JobLine> = self.store.board_lines(key)?;
        if lines.is_empty() && board.message_id.is_none() {
            return Ok(());
        }
        // A cluster's board also lists the jobs of its last answer (`crate::roster`).
        let roster = match &board.cause {
            topology::Cause::Cluster { cluster } => self
                .store
                .roster::<crate::roster::Roster>(cluster)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, cluster, "cannot read the cluster's roster");
                    None
                }),
            topology::Cause::TaskManager { .. } => None,
        };
        let message = topology::render(&board, &lines, roster.as_ref());
        let delivery = board
            .message_id
            .map_or(Delivery::Post, |message_id| Delivery::Edit { message_id });
        let possibly_sent = self.before_post(&board.id, delivery).await;
        // A machine lost under running jobs is urgent until they all run again.
        let rank = if topology::is_resolved(&lines) {
            Level::Info.rank()
        } else {
            Level::High.rank()
        };
        let id = deliver::deliver(
            &self.via(rank),
            board.channel,
            delivery,
            &message,
            &deliver::Tag::incident(&board.id),
            possibly_sent,
        )
        .await
        .map_err(|u| anyhow::anyhow!("{}", u.reason))?;
        // A worker may have opened a newer board of this cause meanwhile: never write over it.
        if let Ok(Some(current)) = self.store.board::<Board>(key) {
            if current.id != board.id {
                return Ok(());
            }
        }
        board.message_id = Some(id);
        self.persist("the topology incident", || {
            self.store.put_board(key, &board)?;
            self.store.clear_posting(&board.id)
        })
        .await;
        Ok(())
    }
}
