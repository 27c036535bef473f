//! `/flink exceptions <job>`: recent failures, each with its root cause, time, task, TaskManager
//! and pattern; the newest full trace as a file when it does not fit. Listed from the history
//! the bot keeps (`store::ExceptionArchive`) when it has one, so the first failure of a loop
//! shows even after Flink has dropped it; from Flink's own answer otherwise.

use serenity::all::CreateCommandOption;

use super::JobQuery;
use crate::diagnose::diagnose;
use crate::facts::history::{JobHistory, KeptFailure};
use crate::facts::root_cause::RootCause;
use crate::facts::Facts;
use crate::flink::types::{ExceptionEntry, Exceptions};
use crate::interact::jobs::KnownJob;
use crate::interact::reply::{File, Reply};
use crate::interact::InteractState;
use crate::message::{colors, Embed, Field};
use crate::render::helpers::human_time;

/// Entries shown; Flink keeps 16 by default and an embed has room for about this many.
const SHOWN: usize = 10;
/// A trace longer than this goes into a file instead of the embed.
const INLINE_TRACE: usize = 900;

pub fn option(clusters: &[String]) -> CreateCommandOption {
    super::job_subcommand(
        "exceptions",
        "Recent failures with their root causes",
        clusters,
    )
}

pub async fn answer(state: &InteractState, q: &JobQuery) -> Reply {
    let (job, client) = match super::job_and_client(state, q).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match client.exceptions(&job.id).await {
        Ok(ex) => {
            // Best effort: without the archive the answer is Flink's own.
            let kept = match &client.archive {
                Some(a) => a.record(&client.name, &job.id, &ex).await.ok(),
                None => None,
            };
            run(&job, &ex, kept.as_ref()).public(q.public)
        }
        Err(e) => Reply::text(format!(
            "Flink did not give the exceptions of `{}`: {}",
            job.name,
            super::flink_problem(&e)
        )),
    }
}

pub fn run(job: &KnownJob, ex: &Exceptions, kept: Option<&JobHistory>) -> Reply {
    let mut entries: Vec<&ExceptionEntry> = ex.history.entries.iter().collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    // What the bot kept includes Flink's answer (it was just merged in) and what Flink dropped.
    let kept = kept.filter(|k| !k.entries.is_empty());
    let mut rows: Vec<KeptFailure> = match kept {
        Some(k) => k.entries.iter().rev().cloned().collect(),
        None => entries.iter().map(|e| KeptFailure::from_entry(e)).collect(),
    };
    if rows.is_empty() {
        let text = match ex.legacy_root_exception.as_deref() {
            Some(trace) => format!(
                "No exception history for `{}`; Flink's root exception:\n```\n{}\n```",
                job.name,
                crate::message::truncate(trace, 1_500)
            ),
            None => format!("`{}` has no recorded exceptions.", job.name),
        };
        return Reply::text(text);
    }
    let total = rows.len();
    // The newest, and the first failure of all last however many came between.
    let first = (total > SHOWN).then(|| rows.pop().expect("more rows than shown"));
    rows.truncate(SHOWN - usize::from(first.is_some()));
    let mut fields: Vec<Field> = rows.iter().map(|f| field(f, "")).collect();
    if let Some(f) = &first {
        fields.push(field(f, "first failure · "));
    }
    let mut files = Vec::new();
    let description = match entries.first() {
        Some(newest) => newest_trace(job, newest, &mut files),
        None => "Flink no longer has these failures; the bot kept them.".to_string(),
    };
    let more = total.saturating_sub(fields.len());
    let beyond = match (kept, ex.history.entries.iter().map(|e| e.timestamp).min()) {
        (Some(k), Some(oldest)) => k.entries.iter().filter(|f| f.timestamp < oldest).count(),
        (Some(k), None) => k.entries.len(),
        (None, _) => 0,
    };
    let seen = kept.map_or(total as u64, |k| k.seen);
    Reply {
        embeds: vec![Embed {
            title: format!("Exceptions of {} ({seen} seen)", job.name),
            description,
            color: colors::CRITICAL,
            fields,
            footer: format!(
                "cluster {} · job {}{}{}{}",
                job.cluster,
                job.id,
                if more > 0 {
                    format!(" · {more} more not shown")
                } else {
                    String::new()
                },
                if beyond > 0 {
                    format!(" · {beyond} kept by the bot beyond Flink's own history")
                } else {
                    String::new()
                },
                if ex.history.truncated && beyond == 0 {
                    " · Flink dropped older entries"
                } else {
                    ""
                }
            ),
            ..Default::default()
        }],
        files,
        ephemeral: true,
        ..Default::default()
    }
}

fn field(f: &KeptFailure, prefix: &str) -> Field {
    let rc = f.root_cause();
    Field::new(
        format!("{prefix}{} · {}", human_time(f.timestamp), pattern_of(&rc)),
        describe(&rc, f),
        false,
    )
}

/// The newest trace, inline when it fits, else as a file.
fn newest_trace(job: &KnownJob, newest: &ExceptionEntry, files: &mut Vec<File>) -> String {
    if newest.stacktrace.chars().count() > INLINE_TRACE {
        files.push(File {
            name: format!("exceptions-{}-newest.txt", &job.id[..job.id.len().min(8)]),
            bytes: newest.stacktrace.clone().into_bytes(),
        });
        "The newest full stack trace is attached.".to_string()
    } else {
        format!("```\n{}\n```", newest.stacktrace.trim())
    }
}

fn describe(rc: &RootCause, e: &KeptFailure) -> String {
    let mut s = format!("`{}`", rc.class);
    if !rc.message.is_empty() {
        s.push_str(&format!(": {}", crate::message::truncate(&rc.message, 300)));
    }
    if let Some(task) = &e.task {
        s.push_str(&format!("\nin {task}"));
    }
    match (&e.task_manager, &e.endpoint) {
        (Some(tm), Some(ep)) => s.push_str(&format!("\non TaskManager `{tm}` ({ep})")),
        (Some(tm), None) => s.push_str(&format!("\non TaskManager `{tm}`")),
        (None, Some(ep)) => s.push_str(&format!("\non {ep}")),
        (None, None) => {}
    }
    s
}

/// The pattern this failure alone would be diagnosed as.
fn pattern_of(rc: &RootCause) -> &'static str {
    let facts = Facts {
        root_cause: Some(rc.clone()),
        ..Default::default()
    };
    diagnose("", &facts).slug
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::history::{merge, KEPT};

    const FLAKY_23: &str =
        include_str!("../../diagnose/testdata/flink-2.3.0-exceptions-flaky.json");

    fn job() -> KnownJob {
        KnownJob {
            cluster: "prod".into(),
            id: "e0abb0f287d9108b8b1e7c25e70612e3".into(),
            name: "orders".into(),
            state: "RUNNING".into(),
            start_time_ms: 0,
            end_time_ms: -1,
        }
    }

    /// Flink's newest `flink_has` of a loop of `failures` (the real 2.3.0 entry, one second
    /// apart), and the bot's history after reading every 16.
    fn looped(failures: usize, flink_has: usize) -> (Exceptions, JobHistory) {
        let real: Exceptions = serde_json::from_str(FLAKY_23).unwrap();
        let all: Vec<ExceptionEntry> = (0..failures)
            .map(|i| ExceptionEntry {
                timestamp: 1_795_240_000_000 + i as i64 * 1000,
                ..real.history.entries[0].clone()
            })
            .collect();
        let mut kept = JobHistory::default();
        for end in (16..failures).step_by(16).chain([failures]) {
            merge(&mut kept, &all[end.saturating_sub(16)..end], false, KEPT);
        }
        let mut ex = real;
        ex.history.entries = all[failures - flink_has.min(failures)..].to_vec();
        (ex, kept)
    }

    #[test]
    fn lists_the_kept_history_with_its_first_failure() {
        // (name, failures, Flink has, kept given, fields, footer has, first failure shown)
        let cases = [
            ("a short loop, nothing kept", 3, 3, false, 3, "", false),
            ("a short loop, kept", 3, 3, true, 3, "", false),
            (
                "40 failures, Flink has 16",
                40,
                16,
                true,
                10,
                "24 kept by the bot beyond Flink's own history",
                true,
            ),
            (
                "40 failures, no archive",
                40,
                16,
                false,
                10,
                "6 more not shown",
                false,
            ),
            (
                "Flink lost them all (JobManager restart)",
                40,
                0,
                true,
                10,
                "40 kept by the bot",
                true,
            ),
        ];
        for (name, failures, flink_has, with_kept, fields, footer, first_shown) in cases {
            let (ex, kept) = looped(failures, flink_has);
            let reply = run(&job(), &ex, with_kept.then_some(&kept));
            let embed = &reply.embeds[0];
            assert_eq!(embed.fields.len(), fields, "{name}");
            assert!(embed.footer.contains(footer), "{name}: {}", embed.footer);
            let last = &embed.fields.last().unwrap().name;
            assert_eq!(
                last.starts_with("first failure · 2026-11-21 05:46:40 UTC"),
                first_shown,
                "{name}: {last}"
            );
        }
    }
}
