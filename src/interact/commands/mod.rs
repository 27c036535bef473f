//! `/flink` and its subcommands, one module each in the shape of serenity's example e14:
//! `option()` registers the subcommand, a pure `run()` turns facts into a reply, and a small
//! `answer()` fetches the facts (bounded by the Flink deadline) and calls `run()`.

pub mod act;
pub mod checkpoints;
pub mod exceptions;
pub mod help;
pub mod jobs;
pub mod logs;
pub mod status;
pub mod timeline;

use serenity::all::{
    CommandData, CommandOptionType, CreateCommand, CreateCommandOption, ResolvedOption,
    ResolvedValue,
};

use super::reply::Refusal;

pub const NAME: &str = "flink";

/// A parsed `/flink …` invocation. `job` is what was typed (or the autocomplete value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Jobs {
        cluster: Option<String>,
        public: bool,
    },
    Status(JobQuery),
    Exceptions(JobQuery),
    Checkpoints(JobQuery),
    /// `/flink logs`: the job's log records; the TaskManager's id, or the JobManager's.
    Logs(JobQuery, Option<String>),
    /// A guarded action on a job.
    Act(crate::action::ActionKind, JobQuery),
    Audit {
        job: Option<String>,
    },
    /// An incident's timeline: by incident id, by job, or the newest.
    Timeline {
        target: Option<String>,
        public: bool,
    },
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    pub job: String,
    pub cluster: Option<String>,
    /// Post the answer to the channel instead of only to the asker.
    pub public: bool,
}

/// The whole `/flink` command as Discord registers it.
pub fn register(clusters: &[String]) -> CreateCommand {
    let mut options = vec![
        jobs::option(clusters),
        status::option(clusters),
        exceptions::option(clusters),
        checkpoints::option(clusters),
        logs::option(clusters),
    ];
    options.extend(act::options(clusters));
    options.push(act::audit_option());
    options.push(timeline::option());
    options.push(help::option());
    CreateCommand::new(NAME)
        .description("Flink jobs: status, exceptions, checkpoints, and guarded actions")
        .set_options(options)
}

/// The `job` option: free text with autocomplete.
pub fn job_option() -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, "job", "Job name or id")
        .required(true)
        .set_autocomplete(true)
        .max_length(100)
}

/// The `cluster` option, with the configured names as choices (Discord allows 25).
pub fn cluster_option(clusters: &[String]) -> CreateCommandOption {
    let mut o = CreateCommandOption::new(
        CommandOptionType::String,
        "cluster",
        "Flink cluster (default: any)",
    );
    for c in clusters.iter().take(25) {
        o = o.add_string_choice(c, c);
    }
    o
}

pub fn public_option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::Boolean,
        "public",
        "Post the answer in the channel (default: only you see it)",
    )
}

/// A subcommand with the usual job/cluster/public options.
pub fn job_subcommand(name: &str, description: &str, clusters: &[String]) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::SubCommand, name, description)
        .add_sub_option(job_option())
        .add_sub_option(cluster_option(clusters))
        .add_sub_option(public_option())
}

/// Reads the resolved options of a `/flink` interaction.
pub fn parse(data: &CommandData) -> Result<Command, Refusal> {
    if data.name != NAME {
        return Err(Refusal::new(format!("unknown command `/{}`", data.name)));
    }
    let options = data.options();
    let Some(sub) = options.first() else {
        return Err(Refusal::new("choose a subcommand: try `/flink help`"));
    };
    let ResolvedValue::SubCommand(opts) = &sub.value else {
        return Err(Refusal::new("choose a subcommand: try `/flink help`"));
    };
    let text = |name: &str| -> Option<String> {
        opts.iter()
            .find(|o| o.name == name)
            .and_then(|o| match &o.value {
                ResolvedValue::String(s) => Some(s.to_string()),
                ResolvedValue::Autocomplete { value, .. } => Some(value.to_string()),
                _ => None,
            })
    };
    let public = flag(opts, "public");
    let query = || -> Result<JobQuery, Refusal> {
        Ok(JobQuery {
            job: text("job").ok_or_else(|| Refusal::new("the `job` option is required"))?,
            cluster: text("cluster"),
            public,
        })
    };
    Ok(match sub.name {
        "jobs" => Command::Jobs {
            cluster: text("cluster"),
            public,
        },
        "status" => Command::Status(query()?),
        "exceptions" => Command::Exceptions(query()?),
        "checkpoints" => Command::Checkpoints(query()?),
        "logs" => Command::Logs(query()?, text("taskmanager")),
        "help" => Command::Help,
        "audit" => Command::Audit { job: text("job") },
        "timeline" => Command::Timeline {
            target: text("job"),
            public,
        },
        sub @ ("savepoint" | "stop" | "cancel" | "threaddump" | "silence") => {
            let hours = opts
                .iter()
                .find(|o| o.name == "hours")
                .and_then(|o| match o.value {
                    ResolvedValue::Integer(h) => Some(h),
                    _ => None,
                });
            let kind = act::kind(sub, text("format").as_deref(), flag(opts, "drain"), hours)
                .expect("listed above");
            Command::Act(kind, query()?)
        }
        other => {
            return Err(Refusal::new(format!(
                "unknown subcommand `{other}`: try `/flink help`"
            )))
        }
    })
}

fn flag(opts: &[ResolvedOption<'_>], name: &str) -> bool {
    opts.iter()
        .find(|o| o.name == name)
        .is_some_and(|o| matches!(o.value, ResolvedValue::Boolean(true)))
}

/// The query's job and its cluster's client, or the reply that says why there is none.
pub async fn job_and_client<'a>(
    state: &'a crate::interact::InteractState,
    q: &JobQuery,
) -> Result<
    (
        crate::interact::jobs::KnownJob,
        &'a crate::flink::FlinkClient,
    ),
    super::reply::Reply,
> {
    let job = state
        .resolve(&q.job, q.cluster.as_deref())
        .await
        .map_err(|r| super::reply::Reply::refusal(&r))?;
    match state.clusters.get(&job.cluster) {
        Some(client) => Ok((job, client)),
        None => Err(super::reply::Reply::text(format!(
            "cluster `{}` has no client",
            job.cluster
        ))),
    }
}

/// A Flink failure in words fit for chat: the kind of problem, never the URL or body.
pub fn flink_problem(e: &crate::flink::FlinkError) -> String {
    e.brief()
}

/// What an autocomplete request asks for: the partial job text and the chosen cluster, if any.
pub fn autocomplete_input(data: &CommandData) -> Option<(String, Option<String>)> {
    let focused = data.autocomplete()?;
    if focused.name != "job" {
        return None;
    }
    let cluster = data.options().first().and_then(|sub| match &sub.value {
        ResolvedValue::SubCommand(opts) => {
            opts.iter()
                .find(|o| o.name == "cluster")
                .and_then(|o| match &o.value {
                    ResolvedValue::String(s) => Some(s.to_string()),
                    _ => None,
                })
        }
        _ => None,
    });
    Some((focused.value.to_string(), cluster))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: serde_json::Value) -> CommandData {
        serde_json::from_value(v).unwrap()
    }

    fn sub(name: &str, options: serde_json::Value) -> CommandData {
        data(json!({"id": "1", "name": "flink", "type": 1,
            "options": [{"name": name, "type": 1, "options": options}]}))
    }

    #[test]
    fn parses_each_subcommand() {
        assert_eq!(
            parse(&sub(
                "status",
                json!([
                {"name": "job", "type": 3, "value": "prod/abc"},
                {"name": "public", "type": 5, "value": true}])
            )),
            Ok(Command::Status(JobQuery {
                job: "prod/abc".into(),
                cluster: None,
                public: true
            }))
        );
        assert_eq!(
            parse(&sub(
                "jobs",
                json!([{"name": "cluster", "type": 3, "value": "prod"}])
            )),
            Ok(Command::Jobs {
                cluster: Some("prod".into()),
                public: false
            })
        );
        assert_eq!(parse(&sub("help", json!([]))), Ok(Command::Help));
        assert!(parse(&sub("checkpoints", json!([])))
            .unwrap_err()
            .0
            .contains("`job` option is required"));
        assert!(parse(&sub("reboot", json!([])))
            .unwrap_err()
            .0
            .contains("unknown subcommand"));
    }

    #[test]
    fn autocomplete_reads_the_focused_job_and_the_cluster() {
        let d = data(
            json!({"id": "1", "name": "flink", "type": 1, "options": [{"name": "status", "type": 1, "options": [
            {"name": "cluster", "type": 3, "value": "prod"},
            {"name": "job", "type": 3, "value": "ord", "focused": true}]}]}),
        );
        assert_eq!(
            autocomplete_input(&d),
            Some(("ord".into(), Some("prod".into())))
        );
    }

    #[test]
    fn registration_fits_discord_rules() {
        let clusters: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let v = serde_json::to_value(register(&clusters)).unwrap();
        assert_eq!(v["name"], "flink");
        let subs = v["options"].as_array().unwrap();
        assert_eq!(subs.len(), 13);
        for s in subs {
            for o in s["options"].as_array().into_iter().flatten() {
                assert!(o["choices"].as_array().is_none_or(|c| c.len() <= 25));
                // serenity always sends `choices: []`, which Discord accepts with autocomplete.
                let has_choices = o["choices"].as_array().is_some_and(|c| !c.is_empty());
                assert!(!(o["autocomplete"] == true && has_choices), "{o}");
            }
        }
    }
}
