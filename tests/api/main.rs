//! One integration-test binary (fast to link): every test talks to real components —
//! the bot on port 0, the real sled store, serenity's requests to a local recorder, real
//! Alertmanager processes and real Flink clusters started by tests/run.sh.

mod helpers;
mod payloads;
mod process;
mod recorder;

mod audit;
mod config_check;
mod delivery;
mod enrichment;
mod intake;
mod interactions;
mod lifecycle;
mod message_limits;
mod restart;
mod storage;
