//! flink-chatops: Alertmanager pages in, enriched Flink runbook guidance out to Discord.
//!
//! Two flows, one module per stage, both leaving through the same way out:
//! - a page: `intake` (durable write, then 2xx) -> `store` (sled inbox) -> `pipeline` (per
//!   incident) -> `enrich` (Flink REST) -> `diagnose` (failure pattern) -> `render`
//!   (handlebars) -> `deliver` (Discord via serenity, or the console);
//! - an action: `interact` (a button or `/flink` command, verified) -> `guard` (`policy`
//!   decides, `action` plans, `audit` first, one lock) -> `store` (the request and an `outbox`
//!   item, in one job) -> `pipeline` (the outbox, in the request's or incident's line) ->
//!   `deliver`; the guard's worker runs the plan and reports the same way.
//!
//! `startup` wires everything; `interact` only answers interactions and never writes a channel.

pub mod action;
#[cfg(unix)]
pub mod admin;
pub mod alertmanager;
pub mod audit;
pub mod buttons;
pub mod chat;
pub mod cli;
pub mod compose;
pub mod config;
pub mod deliver;
pub mod diagnose;
pub mod digest;
pub mod enrich;
pub mod facts;
pub mod flink;
pub mod guard;
pub mod healthcheck;
pub mod incident;
pub mod intake;
pub mod interact;
pub mod listen;
pub mod message;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod policy;
pub mod readiness;
pub mod render;
pub mod roster;
pub mod server;
pub mod severity;
pub mod silences;
pub mod startup;
pub mod store;
pub mod story;
pub mod telemetry;
pub mod topology;
