//! Topology incidents: one message per lost TaskManager or unreachable cluster, with the job pages
//! that share that cause as its lines, instead of one page per job.
//!
//! When a TaskManager dies under ten jobs, Flink restarts each of them and each job's alerts
//! arrive separately, every page naming the same lost TaskManager; when a JobManager stops
//! answering, every job on it pages "unreachable". The channel needs one incident per machine:
//! "TaskManager `<id>` on `<host>` lost at 03:12 UTC: 10 jobs restarted, 8 running again, 2 still
//! restarting", the jobs as lines edited in place. Everything here is pure (the pipeline stores
//! the boards and lines and edits the message, like the storm digest's).
//!
//! Folding rules, and why:
//! - a job page joins the board of a TaskManager loss that the facts name for this very job
//!   (it is among the loss's affected jobs) and that happened within [`WINDOW_MS`] (restart
//!   alerts look 10 minutes back, so a loss older than that is not what they measure);
//! - unless the job's own newest failure came after the loss and is not a loss itself: its own
//!   exception after recovery is a different cause, and gets a page of its own;
//! - a job page whose every Flink call failed because the cluster did not answer (refused or
//!   unreachable, not merely slow) joins its cluster's board, if the cluster answered the bot
//!   before: one that never did since the bot started is more likely misconfigured than down,
//!   and each page says what could not be looked up;
//! - a page whose job's state is at risk (memory exhaustion: a savepoint first) keeps its own
//!   message and buttons, as in a storm.
//!
//! A board resolves when every one of its jobs runs again or its alert resolved.

use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::facts::Facts;
use crate::message::{colors, Embed, Message};
use crate::roster::Roster;

/// How long after a loss a job page still joins its board.
pub const WINDOW_MS: i64 = 10 * 60 * 1000;

/// What the jobs of a board have in common.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    TaskManager {
        cluster: String,
        id: String,
        host: String,
        lost_at_ms: i64,
        /// "no longer reachable" or "heartbeat timed out".
        how: String,
    },
    Cluster {
        cluster: String,
    },
}

impl Cause {
    /// Which board: the same TaskManager (or cluster) is one board, however the jobs name it.
    pub fn key(&self) -> String {
        match self {
            Cause::TaskManager { cluster, id, .. } => format!("tm\u{1f}{cluster}\u{1f}{id}"),
            Cause::Cluster { cluster } => format!("jm\u{1f}{cluster}"),
        }
    }
}

/// The topology incident a job page belongs to, if any (see the module's folding rules).
pub fn cause_of(facts: &Facts, now_ms: i64) -> Option<Cause> {
    let job = facts.job.as_ref()?;
    let cluster = facts.cluster.as_ref()?.name.clone();
    if let Some(loss) = &facts.task_manager_lost {
        let recent = now_ms - loss.lost_at_ms <= WINDOW_MS;
        let affected = loss.jobs.iter().any(|j| j.id == job.id);
        let own_failure_since = facts.root_cause.as_ref().is_some_and(|rc| {
            !rc.stale
                && !crate::facts::taskmanager::names_a_loss(rc)
                && rc.timestamp.is_some_and(|t| t > loss.lost_at_ms)
        });
        if recent && affected && !own_failure_since {
            return Some(Cause::TaskManager {
                cluster,
                id: loss.id.clone(),
                host: loss.host.clone(),
                lost_at_ms: loss.lost_at_ms,
                how: loss.how.to_string(),
            });
        }
    }
    let unreachable = job.state.is_none()
        && facts.cluster_answered_before
        && facts
            .missing
            .iter()
            .any(|m| m.starts_with("job state: unreachable"));
    unreachable.then_some(Cause::Cluster { cluster })
}

/// Whether a job already on the board of `cause` stays there with this newer page: unless its
/// state is now at risk, or (for a lost TaskManager) its own newest failure came after the loss
/// and is not a loss (its own exception after recovery). A page that no longer sees the loss
/// (it left Flink's window) stays: the board is where its alert is followed to the end.
pub fn stays(cause: &Cause, facts: &Facts, state_at_risk: bool) -> bool {
    if state_at_risk {
        return false;
    }
    match cause {
        Cause::TaskManager { lost_at_ms, .. } => !facts.root_cause.as_ref().is_some_and(|rc| {
            !rc.stale
                && !crate::facts::taskmanager::names_a_loss(rc)
                && rc.timestamp.is_some_and(|t| t > *lost_at_ms)
        }),
        Cause::Cluster { .. } => true,
    }
}

/// Whether the page becomes a line of its cause's board rather than a message of its own.
pub fn joins(cause: Option<&Cause>, state_at_risk: bool) -> bool {
    cause.is_some() && !state_at_risk
}

/// One topology incident in one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Board {
    /// Named in the footer, and the first post's nonce (25 characters at most).
    pub id: String,
    pub channel: u64,
    pub cause: Cause,
    pub opened_ms: i64,
    pub message_id: Option<u64>,
}

impl Board {
    /// A new board; its id differs from any earlier board's of the same cause (a cluster down
    /// again next week gets a message of its own, found again by its own id after a crash).
    pub fn new(channel: u64, cause: Cause, now_ms: i64) -> Board {
        Board {
            id: format!(
                "t{}",
                hex::encode(&Sha256::digest(format!("{channel}\n{}\n{now_ms}", cause.key()))[..12])
            ),
            channel,
            cause,
            opened_ms: now_ms,
            message_id: None,
        }
    }
}

/// One job of a board, as its newest page saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLine {
    pub incident_id: String,
    /// The job's name, else its id.
    pub job: String,
    /// The job's id ("" in lines kept before it was recorded): which job of the cluster's roster
    /// this line is.
    #[serde(default)]
    pub job_id: String,
    /// Flink's state at the newest page ("" when the cluster did not answer).
    pub state: String,
    pub restarts: Option<i64>,
    pub alert: String,
    pub firing_since_ms: i64,
    /// The job's alert resolved.
    pub resolved: bool,
}

impl JobLine {
    /// Running again, or no longer alerting.
    pub fn recovered(&self) -> bool {
        self.resolved || self.state == "RUNNING"
    }
}

/// Whether a page of this cause opens a new board instead of joining `board`: only once every
/// job of it recovered and the board is older than the window (the jobs of one loss arrive over
/// minutes, some already running again, and all belong on one board).
pub fn opens_anew(board: Option<&Board>, lines: &[JobLine], now_ms: i64) -> bool {
    match board {
        None => true,
        Some(b) => is_resolved(lines) && now_ms - b.opened_ms > WINDOW_MS,
    }
}

/// Where the boards of `cause` in `channel` are kept (one at a time: the current one).
pub fn board_key(channel: u64, cause: &Cause) -> String {
    format!("{channel}\u{1f}{}", cause.key())
}

/// A board is over when every job on it recovered; a job of the same cause after that opens a
/// new one.
pub fn is_resolved(lines: &[JobLine]) -> bool {
    !lines.is_empty() && lines.iter().all(JobLine::recovered)
}

/// Room the lines may take in the description (Discord allows 4,096).
const LINES_BUDGET: usize = 3_400;

/// The board's message: the cause and the count, then one line per job, those not yet
/// recovered first; for a cluster, then the other jobs it ran when it last answered (`roster`).
pub fn render(board: &Board, lines: &[JobLine], roster: Option<&Roster>) -> Message {
    let total = lines.len();
    let running = lines.iter().filter(|l| l.recovered()).count();
    let over = is_resolved(lines);
    let (title, head) = match &board.cause {
        Cause::TaskManager {
            id,
            host,
            lost_at_ms,
            how,
            cluster,
        } => (
            format!(
                "{}TaskManager lost on {cluster}: {total} job(s)",
                if over { "[RESOLVED] " } else { "" }
            ),
            format!(
                "TaskManager `{id}` on `{host}` lost at {} ({how}): **{total} job(s) restarted, {running} running again, {} still restarting.**",
                hhmm(*lost_at_ms),
                total - running
            ),
        ),
        Cause::Cluster { cluster } => (
            format!(
                "{}Cluster {cluster} unreachable: {total} job(s)",
                if over { "[RESOLVED] " } else { "" }
            ),
            format!(
                "The JobManager of cluster `{cluster}` does not answer since {}: **{total} job(s) alerting, {running} running again.**",
                hhmm(board.opened_ms)
            ),
        ),
    };
    let mut description = format!(
        "{head}\nEach job alerting for this cause is a line here instead of a page of its own; a job that fails for a reason of its own gets its own page.\n\n"
    );
    let mut sorted: Vec<&JobLine> = lines.iter().collect();
    sorted.sort_by_key(|l| (l.recovered(), l.job.clone()));
    let mut shown = 0;
    let mut used = 0;
    for l in &sorted {
        let text = line_text(l);
        if used + text.len() > LINES_BUDGET {
            break;
        }
        used += text.len();
        description.push_str(&text);
        shown += 1;
    }
    if shown < sorted.len() {
        description.push_str(&format!("… and {} more, all kept.", sorted.len() - shown));
    }
    if let (Cause::Cluster { .. }, Some(roster)) = (&board.cause, roster) {
        description.push_str(&quiet_jobs(roster, lines));
    }
    Message {
        embed: Embed {
            title,
            description,
            color: if over {
                colors::RESOLVED
            } else {
                colors::WARNING
            },
            footer: format!("flink-chatops topology incident · incident {}", board.id),
            ..Default::default()
        },
        ..Default::default()
    }
    .fit()
}

/// Room the roster's quiet jobs may take (after the lines' budget and the head).
const QUIET_BUDGET: usize = 400;

/// The jobs of the cluster's last answer that have no line: down as well, with no alert (yet).
fn quiet_jobs(roster: &Roster, lines: &[JobLine]) -> String {
    let has_line = |id: &str, name: &str| {
        lines
            .iter()
            .any(|l| l.job_id == id || (l.job_id.is_empty() && l.job == name))
    };
    let quiet: Vec<String> = roster
        .jobs
        .iter()
        .filter(|j| !has_line(&j.id, &j.name))
        .map(|j| format!("`{}` ({})", j.name, j.state))
        .collect();
    let mut text = format!(
        "\n\nWhen it last answered, at {}, the cluster ran {} job(s)",
        hhmm(roster.at_ms),
        roster.jobs.len()
    );
    if quiet.is_empty() {
        text.push_str(", all of them listed above.");
        return text;
    }
    text.push_str(&format!(
        "; {} of them with no alert here (yet): ",
        quiet.len()
    ));
    let mut used = 0;
    let mut listed = 0;
    for q in &quiet {
        if used + q.len() > QUIET_BUDGET {
            break;
        }
        text.push_str(if listed == 0 { "" } else { ", " });
        text.push_str(q);
        used += q.len() + 2;
        listed += 1;
    }
    if listed < quiet.len() {
        text.push_str(&format!(" … and {} more", quiet.len() - listed));
    }
    text.push('.');
    text
}

fn line_text(l: &JobLine) -> String {
    let mark = if l.recovered() { "✅" } else { "🔴" };
    let state = match (l.resolved, l.state.as_str()) {
        (true, _) => "alert resolved".to_string(),
        (false, "") => "state unknown".to_string(),
        (false, s) => format!("**{s}**"),
    };
    let restarts = l
        .restarts
        .map(|r| format!(" · {r} restart(s)"))
        .unwrap_or_default();
    format!(
        "{mark} `{}` · {state}{restarts} · {} since {} · `{}`\n",
        l.job,
        l.alert,
        hhmm(l.firing_since_ms),
        l.incident_id
    )
}

fn hhmm(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| "?".into(), |t| t.format("%H:%M UTC").to_string())
}

#[cfg(test)]
#[path = "topology_tests.rs"]
mod tests;
