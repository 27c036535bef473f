//! flink-chatops: Alertmanager pages in, enriched Flink runbook guidance out to Discord.
//!
//! The flow, one module per stage:
//! `intake` (durable write, then 2xx) -> `store` (sled) -> `pipeline` (per incident) ->
//! `enrich` (Flink REST) -> `diagnose` (failure pattern) -> `render` (handlebars) ->
//! `deliver` (Discord via serenity, or the console).

pub mod alertmanager;
pub mod config;
pub mod diagnose;
pub mod enrich;
pub mod flink;
pub mod incident;
pub mod message;
pub mod render;
pub mod store;
