//! Logs go to stderr (stdout carries console messages); `RUST_LOG` filters, default `info` with
//! serenity at `warn`: serenity's request span Debug-formats every message body, 7-9% of the
//! bot's CPU under load at `info` (BENCHMARKS.md).

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,serenity=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // When stderr is a file on a full disk, the fallback eprintln! for a failed write would
        // panic in whatever was logging (a request handler, the store's failure latch).
        .log_internal_errors(false)
        .try_init();
}
