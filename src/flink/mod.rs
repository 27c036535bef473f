//! A small client for the parts of Flink's REST API the bot reads, for 1.20 and 2.x alike.

pub mod actions;
mod client;
pub mod types;

pub use client::{FlinkClient, FlinkError};
