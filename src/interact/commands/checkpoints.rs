//! `/flink checkpoints <job>`: counts, the last completed and last failed checkpoint, history.

use serenity::all::CreateCommandOption;

use super::JobQuery;
use crate::facts::checkpoint_facts;
use crate::flink::types::Checkpoints;
use crate::interact::jobs::KnownJob;
use crate::interact::reply::Reply;
use crate::interact::InteractState;
use crate::message::{colors, Embed, Field};
use crate::render::helpers::{human_bytes, human_duration, human_duration_ms, human_time};

pub fn option(clusters: &[String]) -> CreateCommandOption {
    super::job_subcommand(
        "checkpoints",
        "Checkpoint counts, last completed and failed, recent history",
        clusters,
    )
}

pub async fn answer(state: &InteractState, q: &JobQuery) -> Reply {
    let (job, client) = match super::job_and_client(state, q).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match client.checkpoints(&job.id).await {
        Ok(c) => run(&job, &c, chrono::Utc::now().timestamp_millis()).public(q.public),
        Err(e) => Reply::text(format!(
            "Flink did not give the checkpoints of `{}`: {}",
            job.name,
            super::flink_problem(&e)
        )),
    }
}

pub fn run(job: &KnownJob, c: &Checkpoints, now_ms: i64) -> Reply {
    let f = checkpoint_facts(c, now_ms);
    let mut fields = vec![Field::new(
        "Counts",
        format!(
            "{} completed · {} failed · {} in progress · {} restored",
            f.completed, f.failed, f.in_progress, f.restored
        ),
        false,
    )];
    let (color, last) = match &f.last_completed {
        Some(l) => (
            if l.age_secs > 30 * 60 {
                colors::WARNING
            } else {
                colors::RESOLVED
            },
            format!(
                "#{} {} ago ({}), took {}, {}{}{}",
                l.id,
                human_duration(l.age_secs),
                human_time(l.completed_at_ms),
                human_duration_ms(l.duration_ms),
                human_bytes(l.size_bytes as f64),
                if l.is_savepoint { ", savepoint" } else { "" },
                l.path
                    .as_ref()
                    .map(|p| format!("\n`{p}`"))
                    .unwrap_or_default()
            ),
        ),
        None => (colors::CRITICAL, "none completed".to_string()),
    };
    fields.push(Field::new("Last completed", last, false));
    // "Roll back from the same savepoint" needs to know which one this run started from.
    if let Some(r) = &f.last_restored {
        fields.push(Field::new("Restored from", r.summary.clone(), false));
    }
    if let Some(failed) = &f.last_failed {
        fields.push(Field::new(
            "Last failed",
            format!(
                "#{}{}: {}",
                failed.id,
                failed
                    .failed_at_ms
                    .map(|t| format!(" at {}", human_time(t)))
                    .unwrap_or_default(),
                failed.message.as_deref().unwrap_or("no reason given")
            ),
            false,
        ));
    }
    let history: Vec<String> = c
        .history
        .iter()
        .take(10)
        .map(|h| {
            format!(
                "#{:<6} {:<11} {:>8} {:>10}",
                h.id,
                h.status,
                human_duration_ms(h.end_to_end_duration),
                human_bytes(h.checkpointed_size.max(h.state_size) as f64)
            )
        })
        .collect();
    if !history.is_empty() {
        fields.push(Field::new(
            "Recent history",
            format!("```\n{}\n```", history.join("\n")),
            false,
        ));
    }
    Reply::embed(Embed {
        title: format!("Checkpoints of {}", job.name),
        color,
        fields,
        footer: format!("cluster {} · job {}", job.cluster, job.id),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> KnownJob {
        KnownJob {
            cluster: "default".into(),
            id: "0123".into(),
            name: "billing".into(),
            state: "RUNNING".into(),
            start_time_ms: 0,
            end_time_ms: -1,
        }
    }

    /// Real `/jobs/:id/checkpoints` answers of a job started from a savepoint, both versions.
    #[test]
    fn the_answer_names_the_savepoint_the_run_started_from() {
        for path in [
            "src/facts/testdata/checkpoints-restored-savepoint-2.3.0.json",
            "src/facts/testdata/checkpoints-restored-savepoint-1.20.5.json",
        ] {
            let c: Checkpoints = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            let reply = run(&job(), &c, 0);
            let text = format!("{reply:?}");
            assert!(text.contains("Restored from"), "{path}: {text}");
            assert!(text.contains("savepoint `"), "{path}: {text}");
        }
        let fresh: Checkpoints = serde_json::from_slice(
            &std::fs::read("src/facts/testdata/checkpoints-fresh-2.3.0.json").unwrap(),
        )
        .unwrap();
        assert!(!format!("{:?}", run(&job(), &fresh, 0)).contains("Restored from"));
    }
}
