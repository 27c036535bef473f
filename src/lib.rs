//! flink-chatops: Alertmanager pages in, enriched Flink runbook guidance out to Discord.
//!
//! The flow, one module per stage:
//! `intake` (durable write, then 2xx) -> `store` (sled) -> `pipeline` (per incident) ->
//! `enrich` (Flink REST) -> `diagnose` (failure pattern) -> `render` (handlebars) ->
//! `deliver` (Discord via serenity, or the console).

pub mod action;
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
pub mod render;
pub mod server;
pub mod severity;
pub mod silences;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod topology;
