//! The cause of a failure where Flink keeps it when its REST answers stop at a generic message
//! ("An Exception occurred while triggering the checkpoint. IO-problem detected.", "Recovery is
//! suppressed ...", a task failure without a cause): the JobManager's and TaskManagers' logs.
//! Pure: log text in, cause out; reading the logs is `flink::logs`, deciding when is `enrich`.
//!
//! Flink's log4j layout (`%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n`, the same in 1.20
//! and 2.x) starts every record with a timestamp; the lines after it up to the next record are
//! its stack trace. A cluster's log holds every job's records, so a record counts only when it
//! names this failure (the job id, or the failing task with its attempt number).

use chrono::NaiveDateTime;
use serde::Serialize;

/// What the failure is, for the search.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// A record is about this failure when it contains one of these: the job id (JobManager
    /// logs), the failing task as the TaskManager logs it (`poison-map (1/1)#97`).
    pub mentions: Vec<String>,
    /// When the REST answers say the failure happened (epoch ms).
    pub at_ms: i64,
    /// Log timestamps carry no zone: the host's local time minus UTC, in ms (see [`clock_offset`]).
    pub offset_ms: i64,
    /// What REST already says (the innermost cause's class and message): a record whose cause
    /// is the same adds nothing and is passed over.
    pub known: Option<(String, String)>,
}

/// A record later than the failure by more than this is not its cause (the log and the REST
/// answer take their timestamps at slightly different moments).
const LATE_MS: i64 = 5_000;
/// A record earlier than the failure by more than this is not its cause either.
const EARLY_MS: i64 = 10 * 60 * 1000;
/// What Flink logs about a job while its tasks restart, never the cause of anything: checkpoints
/// triggered or declined while tasks are not running (lower case).
const RESTART_NOISE: &[&str] = &[
    "checkpoint was declined (tasks not ready)",
    "checkpoint coordinator is suspending",
    "not all required tasks are currently running",
    "received a checkpoint request for unknown task",
    // Logged when a failing job's checkpoint coordinator stops (seen on 2.3 under load).
    "periodic checkpoint scheduler is shut down",
];

/// Chat-sized: the longest message quoted from a log line.
const MESSAGE_CHARS: usize = 300;

/// The cause found in a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogCause {
    /// The record's time as logged (host's local time), e.g. "2026-12-07 05:19:56,736".
    pub logged_at: String,
    /// The same in epoch ms (UTC), with the offset applied.
    pub at_ms: i64,
    pub level: String,
    /// The record's own first line, e.g. "Failed to trigger or complete checkpoint 13 for job …".
    pub headline: String,
    /// The innermost exception of the record's trace (`Caused by:`), if it has one.
    pub class: Option<String>,
    /// Its message (first line), or the headline's when the record has no trace.
    pub message: String,
    /// A path or URI the cause names (`/data/checkpoints/…`, `s3://bucket/…`).
    pub path: Option<String>,
    /// The bucket (or container) of an object-store URI.
    pub bucket: Option<String>,
    /// Other records in the window with the same innermost cause (a failure that repeats).
    pub repeats: usize,
}

impl LogCause {
    /// "`java.nio.file.FileAlreadyExistsException`: /ck/7a25…": the cause as one line.
    pub fn line(&self) -> String {
        match &self.class {
            Some(c) if self.message.is_empty() => format!("`{c}`"),
            Some(c) => format!("`{c}`: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// One log record: its header and the lines after it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record<'a> {
    /// The header line as logged.
    line: &'a str,
    logged_at: &'a str,
    at: NaiveDateTime,
    level: &'a str,
    message: &'a str,
    body: Vec<&'a str>,
}

/// The record header, if `line` starts one.
fn header(line: &str) -> Option<Record<'_>> {
    let stamp = line.get(..23)?;
    let at = NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S,%3f").ok()?;
    let rest = line[23..].trim_start();
    let (level, rest) = rest.split_once(' ')?;
    if !matches!(
        level,
        "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR" | "FATAL"
    ) {
        return None;
    }
    // "<logger> [<mdc>] - <message>": the message follows the first " - ".
    let message = rest.split_once(" - ").map(|(_, m)| m).unwrap_or(rest);
    Some(Record {
        line,
        logged_at: stamp,
        at,
        level,
        message,
        body: Vec::new(),
    })
}

/// The records of `text`. Lines before the first header (a tail that starts mid-record) are
/// dropped: without their header, neither their time nor their job is known.
fn records(text: &str) -> Vec<Record<'_>> {
    let mut out: Vec<Record<'_>> = Vec::new();
    for line in text.lines() {
        match header(line) {
            Some(r) => out.push(r),
            None => {
                if let Some(last) = out.last_mut() {
                    last.body.push(line);
                }
            }
        }
    }
    out
}

/// The host's offset to UTC, from the newest timestamp of a log and the time the file was last
/// written (`mtime` of `/jobmanager/logs`): they are the same moment, one in local time. Rounded
/// to a quarter hour (every zone is a multiple); 0 when they are too far apart to be a zone.
pub fn clock_offset(text: &str, mtime_ms: i64) -> i64 {
    const QUARTER_HOUR: i64 = 15 * 60 * 1000;
    let Some(last) = text.lines().rev().find_map(header) else {
        return 0;
    };
    let diff = last.at.and_utc().timestamp_millis() - mtime_ms;
    let rounded = (diff as f64 / QUARTER_HOUR as f64).round() as i64 * QUARTER_HOUR;
    if rounded.abs() <= 14 * 60 * 60 * 1000 && (diff - rounded).abs() < 5 * 60 * 1000 {
        rounded
    } else {
        0
    }
}

/// An exception line of a trace: `Caused by: a.b.C: msg` or a trace's first line `a.b.C: msg`.
/// Returns the class and the message.
fn exception_line(line: &str) -> Option<(&str, &str)> {
    let line = line.strip_prefix("Caused by: ").unwrap_or(line);
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (class, message) = match line.split_once(": ") {
        Some((c, m)) => (c, m),
        None => (line.trim_end(), ""),
    };
    let looks_like_class = class.contains('.')
        && !class.contains(' ')
        && class
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || "_$".contains(c)))
        && class
            .rsplit(['.', '$'])
            .next()
            .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_uppercase()));
    looks_like_class.then_some((class, message.trim()))
}

/// The exceptions of a record's trace, outermost first (suppressed ones, indented, left out).
/// Flink's `SerializedThrowable` (an exception shipped from a TaskManager) stands for the class
/// its message starts with.
fn trace<'a>(r: &Record<'a>) -> Vec<(&'a str, &'a str)> {
    r.body
        .iter()
        .filter_map(|l| exception_line(l))
        .map(|(c, m)| match c.ends_with(".SerializedThrowable") {
            true => exception_line(m).unwrap_or((c, m)),
            false => (c, m),
        })
        .collect()
}

fn is_restart_noise(r: &Record<'_>) -> bool {
    let said = |s: &str| {
        let s = s.to_lowercase();
        RESTART_NOISE.iter().any(|n| s.contains(n))
    };
    said(r.message) || trace(r).last().is_some_and(|(_, m)| said(m))
}

fn about(r: &Record<'_>, mentions: &[String]) -> bool {
    mentions
        .iter()
        .filter(|m| !m.is_empty())
        .any(|m| r.message.contains(m.as_str()) || r.body.iter().any(|l| l.contains(m.as_str())))
}

fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// The first meaningful cause of the failure in `text`: among the WARN/ERROR records that name
/// it and were logged between ten minutes before and a few seconds after it, the one nearest to
/// it, a record with a stack trace before one without; its innermost `Caused by:`.
pub fn find_cause(text: &str, q: &LogQuery) -> Option<LogCause> {
    let all = records(text);
    let to_ms = |r: &Record<'_>| r.at.and_utc().timestamp_millis() - q.offset_ms;
    let candidates: Vec<&Record<'_>> = all
        .iter()
        .filter(|r| matches!(r.level, "WARN" | "ERROR" | "FATAL"))
        .filter(|r| {
            let at = to_ms(r);
            at <= q.at_ms + LATE_MS && at >= q.at_ms - EARLY_MS
        })
        .filter(|r| about(r, &q.mentions))
        .filter(|r| !is_restart_noise(r))
        .filter(|r| match (&q.known, trace(r).last()) {
            // The same class and message (compared on their first 200 characters: REST and
            // the log may cut a long message differently).
            (Some((class, message)), Some((c, m))) => {
                let head = |s: &str| s.trim().chars().take(200).collect::<String>();
                !(class == c && head(message) == head(m))
            }
            _ => true,
        })
        .collect();
    let best = candidates
        .iter()
        .min_by_key(|r| (trace(r).is_empty(), (to_ms(r) - q.at_ms).abs()))?;
    let chain = trace(best);
    let (class, message) = match chain.last() {
        Some((c, m)) => (Some(c.to_string()), clip(m)),
        None => (None, clip(best.message)),
    };
    // The path: the innermost cause's message first, then outer causes, then the headline.
    let texts = chain
        .iter()
        .rev()
        .map(|(_, m)| *m)
        .chain(std::iter::once(best.message));
    let path = texts.into_iter().find_map(named_path);
    let bucket = path.as_deref().and_then(bucket_of);
    let repeats = candidates
        .iter()
        .filter(|r| !std::ptr::eq(**r, *best))
        .filter(|r| trace(r).last().map(|(c, _)| *c) == class.as_deref())
        .count();
    Some(LogCause {
        logged_at: best.logged_at.to_string(),
        at_ms: to_ms(best),
        level: best.level.to_string(),
        headline: clip(best.message),
        class,
        message,
        path,
        bucket,
        repeats,
    })
}

/// Object stores whose URI authority is a bucket (or container).
const BUCKET_SCHEMES: &[&str] = &[
    "s3", "s3a", "s3n", "s3p", "gs", "oss", "cos", "cosn", "obs", "wasb", "wasbs", "abfs", "abfss",
];

/// The first path or URI in a message: `scheme://…`, `file:/…` or an absolute path.
fn named_path(message: &str) -> Option<String> {
    message
        .split(|c: char| c.is_whitespace() || "'\"`,;()[]<>".contains(c))
        .map(|t| t.trim_end_matches(['.', ':']))
        .find(|t| {
            let uri = t
                .split_once("://")
                .is_some_and(|(s, rest)| is_scheme(s) && !rest.is_empty());
            let file = t.starts_with("file:/") && t.len() > 6;
            let absolute = t.starts_with('/') && t.len() > 1 && !t.starts_with("//");
            uri || file || absolute
        })
        .map(str::to_string)
}

fn is_scheme(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
}

fn bucket_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    if !BUCKET_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return None;
    }
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    Some(authority.to_string())
}

/// The task as a TaskManager logs it, from the exception history's `taskName`: Flink names the
/// attempt ` - execution #97` there and `#97 (<attempt id>)` in the TaskManager's records (the
/// ` (` keeps `#9` from matching `#97`).
pub fn task_mention(task_name: &str) -> String {
    match task_name.rsplit_once(" - execution #") {
        Some((task, attempt)) if attempt.chars().all(|c| c.is_ascii_digit()) => {
            format!("{task}#{attempt} (")
        }
        _ => task_name.to_string(),
    }
}

/// A log file as `/jobmanager/logs` and `/taskmanagers/:id/logs` list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub name: String,
    pub size: u64,
    pub mtime_ms: i64,
}

/// The files worth reading for a failure at `at_ms`, newest first: the process's current log
/// (the newest `*.log` of its listing), then its rotated predecessors (`*.log.1`, `*.log.2`, …) that were still written at or after
/// the failure's window opened (a rotation right after the failure leaves the cause there).
/// `.out` files (stdout) and anything else are left out.
pub fn files_to_read(files: &[LogFile], at_ms: i64) -> Vec<LogFile> {
    let current = files
        .iter()
        .filter(|f| f.name.ends_with(".log"))
        .max_by_key(|f| f.mtime_ms);
    let Some(current) = current else {
        return Vec::new();
    };
    let mut rotated: Vec<(u32, &LogFile)> = files
        .iter()
        .filter_map(|f| {
            let n = f.name.strip_prefix(&format!("{}.", current.name))?;
            Some((n.parse::<u32>().ok()?, f))
        })
        .filter(|(_, f)| f.mtime_ms >= at_ms - EARLY_MS)
        .collect();
    rotated.sort_by_key(|(n, _)| *n);
    std::iter::once(current.clone())
        .chain(rotated.into_iter().map(|(_, f)| f.clone()))
        .collect()
}

/// Whether a tail that starts with `text` reaches back far enough for a failure at `at_ms`
/// (its first record is at or before the window's start); else the older file is read too.
pub fn reaches_back(text: &str, at_ms: i64, offset_ms: i64) -> bool {
    text.lines()
        .find_map(header)
        .is_some_and(|r| r.at.and_utc().timestamp_millis() - offset_ms <= at_ms - EARLY_MS)
}

/// The records of a log that name the job, as `/flink logs` attaches them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    pub text: String,
    pub records: usize,
    /// Older records left out to stay within the size cap.
    pub dropped: usize,
}

/// Every record of `text` that names one of `mentions` (any level, with its stack trace), in
/// log order; when they exceed `max_bytes`, the newest that fit (a record larger than the cap
/// alone is cut at it, on a character boundary).
pub fn excerpt(text: &str, mentions: &[String], max_bytes: usize) -> Excerpt {
    let matching: Vec<String> = records(text)
        .into_iter()
        .filter(|r| about(r, mentions))
        .map(|r| {
            let mut s = String::from(r.line);
            for l in &r.body {
                s.push('\n');
                s.push_str(l);
            }
            s.push('\n');
            s
        })
        .collect();
    let mut kept: Vec<String> = Vec::new();
    let mut used = 0;
    for r in matching.iter().rev() {
        if used + r.len() > max_bytes {
            if kept.is_empty() {
                let mut cut = max_bytes.min(r.len());
                while !r.is_char_boundary(cut) {
                    cut -= 1;
                }
                kept.push(r[..cut].to_string());
            }
            break;
        }
        used += r.len();
        kept.push(r.clone());
    }
    kept.reverse();
    Excerpt {
        records: kept.len(),
        dropped: matching.len() - kept.len(),
        text: kept.concat(),
    }
}

/// The log files of one process from a listing that may hold both kinds: a standalone cluster
/// on one host writes them into one directory, and each process lists the whole directory.
/// A TaskManager's listing without TaskManager-like names is all its own.
pub fn files_of(list: &crate::flink::LogList, task_manager: bool) -> Vec<LogFile> {
    let is_tm = |name: &str| name.contains("taskexecutor") || name.contains("taskmanager");
    let all = list.logs.iter().map(|e| LogFile {
        name: e.name.clone(),
        size: e.size,
        mtime_ms: e.mtime.unwrap_or(0),
    });
    let tm: Vec<LogFile> = all.clone().filter(|f| is_tm(&f.name)).collect();
    match task_manager {
        false => all.filter(|f| !is_tm(&f.name)).collect(),
        true if tm.is_empty() => all.collect(),
        true => tm,
    }
}

/// What the page says about the logs, when it looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFacts {
    pub cause: Option<LogCause>,
    /// Where the cause was read: "the JobManager's log `x.log` (last 1.0 MiB of 2.2 MiB)".
    pub read_from: Option<String>,
    /// Why no cause is shown: what was read and found nothing, or what could not be read.
    pub not_found: Option<String>,
}

/// "1.0 MiB", "80 KiB", "12 B": sizes of what was read, for the page.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{} KiB", b / 1024),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
