//! Logs go to stderr (stdout carries console messages); `RUST_LOG` filters, default `info` with
//! serenity at `warn`: serenity's request span Debug-formats every message body, 7-9% of the
//! bot's CPU under load at `info` (BENCHMARKS.md).
//!
//! Two formats: `text` for people, with colours only when stderr is a terminal (escape codes in
//! files and journald are noise; `NO_COLOR` turns them off on a terminal too), and `json`, one
//! object per line for log shippers, with the event's fields at the top level and the enclosing
//! span's fields under `span`. Every line about an incident carries `incident` (as a field, or
//! from [`incident_span`]). Secrets are `SecretString`s and never reach a log field.

use std::io::IsTerminal;

/// `--log-format` / `FLINK_CHATOPS_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,serenity=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // When stderr is a file on a full disk, the fallback eprintln! for a failed write would
        // panic in whatever was logging (a request handler, the store's failure latch).
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(colours(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Colours only on a terminal, and not there either when `NO_COLOR` is set to anything.
fn colours(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The span that puts `incident = <id>` on every line logged while working on one incident.
pub fn incident_span(incident_id: &str) -> tracing::Span {
    tracing::info_span!("incident", incident = %incident_id)
}

#[cfg(test)]
mod tests {
    use super::colours;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(colours(true, Some("".into())));
        assert!(!colours(true, Some("1".into())));
        assert!(!colours(false, None));
    }
}
