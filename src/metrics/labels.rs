//! Label values of the bot's metrics, decided apart from recording them: closed sets (webhook
//! and delivery outcomes, Flink call outcomes) and endpoint templates with ids cut out, so no
//! alert, job id or error text can become a label value and grow the series count.

use crate::flink::FlinkError;

/// What became of one request to `POST /alertmanager`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhook {
    Stored,
    Duplicate,
    /// 400: not JSON, not a v4 webhook.
    BadRequest,
    /// 401: bearer token missing or wrong.
    Unauthorized,
    /// 413: over `server.max_body_bytes`.
    TooLarge,
    /// 503: the store failed.
    Unavailable,
}

impl Webhook {
    pub(super) const ALL: [Webhook; 6] = [
        Webhook::Stored,
        Webhook::Duplicate,
        Webhook::BadRequest,
        Webhook::Unauthorized,
        Webhook::TooLarge,
        Webhook::Unavailable,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Webhook::Stored => "stored",
            Webhook::Duplicate => "duplicate",
            Webhook::BadRequest => "bad_request",
            Webhook::Unauthorized => "unauthorized",
            Webhook::TooLarge => "too_large",
            Webhook::Unavailable => "unavailable",
        }
    }
}

/// Outcome labels of one Discord request (`SendError::label`).
pub const DELIVERY_OUTCOMES: [&str; 5] =
    ["ok", "rate_limited", "not_found", "rejected", "transient"];

/// Outcome label of one Flink REST call.
pub fn flink_outcome<T>(result: &Result<T, FlinkError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(FlinkError::Timeout(_)) => "timeout",
        Err(FlinkError::Unreachable(_)) => "unreachable",
        Err(FlinkError::Status { .. }) => "http_error",
        Err(FlinkError::Decode(_)) => "decode_error",
    }
}
pub(super) const FLINK_OUTCOMES: [&str; 5] =
    ["ok", "timeout", "unreachable", "http_error", "decode_error"];
/// The endpoints enrichment calls, as [`endpoint`] names them.
pub(super) const FLINK_ENDPOINTS: [&str; 6] = [
    "/jobs/overview",
    "/jobs/:id",
    "/jobs/:id/exceptions",
    "/jobs/:id/checkpoints",
    "/jobs/:id/metrics",
    "/jobs/:id/vertices/:id/backpressure",
];

/// A REST path as an endpoint label: no query, and every segment that is not a plain word (ids of
/// jobs, vertices, TaskManagers, checkpoints, triggers all carry digits) replaced by `:id`
/// (`jobs/ab12/exceptions?x` -> `/jobs/:id/exceptions`), so no id becomes a label value.
pub fn endpoint(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let mut out = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if seg.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            out.push_str(seg);
        } else {
            out.push_str(":id");
        }
    }
    out
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn endpoints_drop_ids_and_queries() {
        for (path, want) in [
            ("jobs/overview", "/jobs/overview"),
            ("jobs/a3f1c9e2b7d64e0f9c1a2b3c4d5e6f70", "/jobs/:id"),
            (
                "jobs/7c2e5a9b/exceptions?maxExceptions=10",
                "/jobs/:id/exceptions",
            ),
            ("jobs/7c2e5a9b/checkpoints", "/jobs/:id/checkpoints"),
            (
                "jobs/7c2e5a9b/metrics?get=numRestarts,x",
                "/jobs/:id/metrics",
            ),
            (
                "jobs/7c2e5a9b/vertices/cbc357cc/backpressure",
                "/jobs/:id/vertices/:id/backpressure",
            ),
            ("/overview", "/overview"),
            (
                "jobs/abc1/checkpoints/details/42",
                "/jobs/:id/checkpoints/details/:id",
            ),
            (
                "taskmanagers/10.0.0.7:41234-a1b2c3/thread-dump",
                "/taskmanagers/:id/thread-dump",
            ),
            (
                "jobs/abc1/savepoints/0f9e8d7c6b5a4938",
                "/jobs/:id/savepoints/:id",
            ),
        ] {
            assert_eq!(endpoint(path), want, "{path}");
        }
        for ep in FLINK_ENDPOINTS {
            assert_eq!(
                endpoint(ep),
                ep,
                "the pre-created series use the same names"
            );
        }
    }

    #[test]
    fn outcomes_are_closed_sets() {
        let flink: [(Result<(), FlinkError>, &str); 5] = [
            (Ok(()), "ok"),
            (Err(FlinkError::Timeout(2000)), "timeout"),
            (
                Err(FlinkError::Unreachable("refused".into())),
                "unreachable",
            ),
            (
                Err(FlinkError::Status {
                    status: 404,
                    body: String::new(),
                }),
                "http_error",
            ),
            (Err(FlinkError::Decode("x".into())), "decode_error"),
        ];
        for (result, want) in flink {
            assert_eq!(flink_outcome(&result), want);
            assert!(FLINK_OUTCOMES.contains(&want));
        }
    }
}
