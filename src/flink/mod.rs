//! A small client for the parts of Flink's REST API the bot reads (and, in `actions`, the calls
//! that act), for 1.20 and 2.x alike.

pub mod actions;
mod breaker;
mod client;
mod logs;
mod lookups;
mod rescales;
pub mod types;

pub use client::{FlinkClient, FlinkError};
pub use logs::{LogEntry, LogList, LogTail};
