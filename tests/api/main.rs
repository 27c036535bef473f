//! One integration-test binary (fast to link): every test talks to real components —
//! the bot on port 0, the real sled store, serenity's requests to a local recorder, real
//! Alertmanager processes and real Flink clusters started by tests/run.sh.

mod gateway_peer;
mod helpers;
mod payloads;
mod private_cluster;
mod process;
mod recorder;
#[path = "../support/mod.rs"]
mod support;

mod actions;
mod audit;
mod bottleneck;
mod config_check;
mod dashboard;
mod delivery;
mod diagnosis;
mod enrichment;
mod exception_history;
mod fleet;
mod gateway;
mod gateway_supervision;
mod guarded;
mod guarded_restart;
mod incident_cli;
mod intake;
mod interactions;
mod lifecycle;
mod log_cause;
mod message_limits;
mod metrics;
mod operations;
mod restart;
mod slow_flink;
mod storage;
mod store_ops;
mod storm;
mod taskmanager_lost;
mod timeline;
mod watermarks;
