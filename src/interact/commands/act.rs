//! `/flink savepoint|stop|cancel|threaddump|silence <job>`: the guarded actions as commands.
//! They make the same request as the buttons on a page; its message is posted in the channel
//! the command was given in, and the policy and approvals decide the rest.

use serenity::all::{CommandOptionType, CreateCommandOption};

use super::JobQuery;
use crate::action::{ActionKind, SavepointFormat};
use crate::guard::RequestTarget;
use crate::interact::reply::{Refusal, Reply};
use crate::interact::InteractState;
use crate::policy::Actor;

/// The subcommands, each with the job options and its own parameters.
pub fn options(clusters: &[String]) -> Vec<CreateCommandOption> {
    let format = || {
        CreateCommandOption::new(
            CommandOptionType::String,
            "format",
            "Savepoint format (default: canonical)",
        )
        .add_string_choice("canonical (portable)", "canonical")
        .add_string_choice("native (faster, tied to the state backend)", "native")
    };
    vec![
        super::job_subcommand(
            "savepoint",
            "Take a savepoint (needs approval as the policy says)",
            clusters,
        )
        .add_sub_option(format()),
        super::job_subcommand(
            "stop",
            "Stop the job with a savepoint (needs approvals)",
            clusters,
        )
        .add_sub_option(format())
        .add_sub_option(CreateCommandOption::new(
            CommandOptionType::Boolean,
            "drain",
            "Drain: emit final watermarks and flush (default: no)",
        )),
        super::job_subcommand(
            "cancel",
            "Cancel the job without a savepoint (needs approvals)",
            clusters,
        ),
        super::job_subcommand(
            "threaddump",
            "Thread dumps of the JobManager and the job's TaskManagers",
            clusters,
        ),
        super::job_subcommand(
            "silence",
            "Silence the job's alerts in Alertmanager",
            clusters,
        )
        .add_sub_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "hours",
                "How long (default 1 h)",
            )
            .add_int_choice("1 h", 1)
            .add_int_choice("4 h", 4)
            .add_int_choice("24 h", 24),
        ),
    ]
}

/// Builds the action from the subcommand and its options (pure).
pub fn kind(
    sub: &str,
    format: Option<&str>,
    drain: bool,
    hours: Option<i64>,
) -> Option<ActionKind> {
    let format = if format == Some("native") {
        SavepointFormat::Native
    } else {
        SavepointFormat::Canonical
    };
    Some(match sub {
        "savepoint" => ActionKind::Savepoint { format },
        "stop" => ActionKind::StopWithSavepoint { drain, format },
        "cancel" => ActionKind::Cancel,
        "threaddump" => ActionKind::ThreadDump,
        "silence" => ActionKind::Silence {
            minutes: (hours.unwrap_or(1).clamp(1, 24) * 60) as u32,
        },
        _ => return None,
    })
}

pub async fn answer(
    state: &InteractState,
    kind: ActionKind,
    q: &JobQuery,
    actor: Actor,
    channel: u64,
) -> Reply {
    let Some(guard) = state.guard.clone() else {
        return Reply::text("Actions are not enabled on this bot.");
    };
    let job = match state.resolve(&q.job, q.cluster.as_deref()).await {
        Ok(job) => job,
        Err(r) => return Reply::refusal(&r),
    };
    // From a command there is no alert: a silence matches every alert about this job.
    let labels = [("job_id".to_string(), job.id.clone())]
        .into_iter()
        .collect();
    // A job with an open incident: the request goes into that incident's thread, where the
    // people on it look, as one made from the incident's buttons does.
    let incident_id = open_incident(state, &job.cluster, &job.id).await;
    let target = RequestTarget {
        cluster: job.cluster.clone(),
        job_id: job.id.clone(),
        incident_id,
        labels,
        channel: crate::chat::ChannelId(channel),
        link: None,
    };
    match guard.request(&actor, kind, target).await {
        Ok(req) => Reply::requested(&req),
        Err(r) => Reply::refusal(&Refusal::new(r.message)),
    }
}

/// The newest open incident about this job that has a message of its own.
async fn open_incident(state: &InteractState, cluster: &str, job_id: &str) -> Option<String> {
    let (cluster, job_id) = (cluster.to_string(), job_id.to_string());
    let found = state
        .store
        .incidents_where(move |i: &crate::incident::Incident| {
            !i.is_resolved()
                && i.message_id.is_some()
                && i.job
                    .as_ref()
                    .is_some_and(|j| j.id == job_id && j.cluster == cluster)
        });
    match found {
        Ok(incidents) => incidents
            .into_iter()
            .max_by_key(|i| i.firing_since)
            .map(|i| i.id),
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for the job's open incident");
            None
        }
    }
}

/// `/flink audit [job]`: the newest audit entries.
pub fn audit_option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::SubCommand,
        "audit",
        "The newest audit log entries",
    )
    .add_sub_option(
        CreateCommandOption::new(CommandOptionType::String, "job", "Only this job (id)")
            .set_autocomplete(true),
    )
}

pub async fn audit(state: &InteractState, job: Option<&str>) -> Reply {
    let job_id = match job {
        Some(j) => match state.resolve(j, None).await {
            Ok(k) => Some(k.id),
            Err(r) => return Reply::refusal(&r),
        },
        None => None,
    };
    let store = state.store.clone();
    let entries =
        tokio::task::spawn_blocking(move || store.audit_recent(15, job_id.as_deref())).await;
    match entries {
        Ok(Ok(entries)) if entries.is_empty() => {
            Reply::text("The audit log has no entries for that yet.")
        }
        Ok(Ok(entries)) => {
            let lines: Vec<String> = entries.iter().map(|e| e.line()).collect();
            Reply::text(format!(
                "```\n{}\n```",
                crate::message::truncate(&lines.join("\n"), 1_900)
            ))
        }
        Ok(Err(e)) => Reply::internal("audit", "Reading the audit log", &e),
        Err(e) => Reply::internal("audit", "Reading the audit log", &e),
    }
}
