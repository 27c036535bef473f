//! `/flink exceptions <job>`: recent failures, each with its root cause, time, task, TaskManager
//! and pattern; the newest full trace as a file when it does not fit.

use serenity::all::CreateCommandOption;

use super::JobQuery;
use crate::diagnose::diagnose;
use crate::enrich::root_cause::{from_entry, RootCause};
use crate::enrich::Facts;
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
    let job = match state.resolve(&q.job, q.cluster.as_deref()).await {
        Ok(job) => job,
        Err(r) => return Reply::refusal(&r),
    };
    let Some(client) = state.clusters.get(&job.cluster) else {
        return Reply::text(format!("cluster `{}` has no client", job.cluster));
    };
    match client.exceptions(&job.id).await {
        Ok(ex) => run(&job, &ex).public(q.public),
        Err(e) => Reply::text(format!(
            "Flink did not give the exceptions of `{}`: {}",
            job.name,
            super::flink_problem(&e)
        )),
    }
}

pub fn run(job: &KnownJob, ex: &Exceptions) -> Reply {
    let mut entries: Vec<&ExceptionEntry> = ex.history.entries.iter().collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    if entries.is_empty() {
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
    let fields = entries
        .iter()
        .take(SHOWN)
        .map(|e| {
            let rc = from_entry(e);
            Field::new(
                format!("{} · {}", human_time(e.timestamp), pattern_of(&rc)),
                describe(&rc, e),
                false,
            )
        })
        .collect();
    let newest = entries[0];
    let mut files = Vec::new();
    let description = if newest.stacktrace.chars().count() > INLINE_TRACE {
        files.push(File {
            name: format!("exceptions-{}-newest.txt", &job.id[..job.id.len().min(8)]),
            bytes: newest.stacktrace.clone().into_bytes(),
        });
        "The newest full stack trace is attached.".to_string()
    } else {
        format!("```\n{}\n```", newest.stacktrace.trim())
    };
    let more = entries.len().saturating_sub(SHOWN);
    Reply {
        embeds: vec![Embed {
            title: format!("Exceptions of {} ({} recent)", job.name, entries.len()),
            description,
            color: colors::CRITICAL,
            fields,
            footer: format!(
                "cluster {} · job {}{}{}",
                job.cluster,
                job.id,
                if more > 0 {
                    format!(" · {more} older not shown")
                } else {
                    String::new()
                },
                if ex.history.truncated {
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

fn describe(rc: &RootCause, e: &ExceptionEntry) -> String {
    let mut s = format!("`{}`", rc.class);
    if !rc.message.is_empty() {
        s.push_str(&format!(": {}", crate::message::truncate(&rc.message, 300)));
    }
    if let Some(task) = &e.task_name {
        s.push_str(&format!("\nin {task}"));
    }
    match (&e.task_manager_id, &e.endpoint) {
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
