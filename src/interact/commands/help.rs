//! `/flink help`: what the bot can answer, in one screen.

use serenity::all::{CommandOptionType, CreateCommandOption};

use crate::interact::reply::Reply;

pub fn option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::SubCommand,
        "help",
        "What this bot can do",
    )
}

pub fn run() -> Reply {
    Reply::text(
        "**/flink jobs** `[cluster]` — every job with state, uptime, restarts and last checkpoint; failing first\n\
         **/flink status** `job [cluster]` — the facts a page shows: state, root cause and pattern, checkpoints, restarts, backpressure\n\
         **/flink exceptions** `job [cluster]` — recent failures with root cause, time, task, TaskManager, pattern\n\
         **/flink checkpoints** `job [cluster]` — counts, last completed and failed, recent history\n\
         **/flink logs** `job [taskmanager] [cluster]` — the job's records of the JobManager's (or a TaskManager's) log, as a file\n\
         **/flink savepoint | stop | cancel | threaddump | silence** `job [cluster]` — request a guarded action: the request shows exactly what will run, the policy says who may approve, and it runs once approved
\
         **/flink audit** `[job]` — the newest audit log entries
\
         **/flink timeline** `[job or incident]` — an incident's timeline: alerts, Flink's failures, who did what and when
\
         `job` autocompletes (running and recently failed jobs) and accepts a name, an id or an id prefix. \
         Answers are visible only to you unless you set `public`.\n\
         Alert messages carry **Status**, **Exceptions** and **Checkpoints** buttons that answer the same about the alert's job.",
    )
}
