//! Intake: `POST /alertmanager`. Check the token, check the shape, store durably, then 200.
//!
//! The answer codes are chosen for Alertmanager's retry rules: only 2xx stops resending, 5xx is
//! retried with backoff, 4xx is not retried. So: 503 when storage fails (please retry), 400/401/413
//! for requests that will never succeed, 200 only once the body is on disk.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use crate::alertmanager::Webhook;
use crate::metrics::Webhook as Outcome;
use crate::store::{Accepted, Store};

pub struct IntakeState {
    pub store: Store,
    pub bearer: Option<SecretString>,
    pub max_body_bytes: usize,
    /// The whole body must arrive within this (`server.read_timeout_ms`), else 503.
    pub read_timeout: Duration,
    pub wake: Arc<Notify>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

pub async fn alertmanager(State(state): State<Arc<IntakeState>>, request: Request) -> Response {
    if let Some(expected) = &state.bearer {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        if !given.is_some_and(|g| tokens_equal(g, expected.expose_secret())) {
            state.metrics.webhook(Outcome::Unauthorized);
            return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    let bytes = match tokio::time::timeout(
        state.read_timeout,
        read_body(request.into_body(), state.max_body_bytes),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(BodyError::TooLarge)) => {
            state.metrics.webhook(Outcome::TooLarge);
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "body larger than {} bytes (server.max_body_bytes)",
                    state.max_body_bytes
                ),
            );
        }
        Ok(Err(BodyError::Malformed(e))) => {
            state.metrics.webhook(Outcome::BadRequest);
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("the request body could not be read: {e}"),
            );
        }
        // 5xx, not 408: Alertmanager drops a notification on any 4xx, and a slow network is
        // worth a retry.
        Err(_) => {
            state.metrics.webhook(Outcome::Unavailable);
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "the body did not arrive within {} ms (server.read_timeout_ms); retry",
                    state.read_timeout.as_millis()
                ),
            );
        }
    };
    let hook = match Webhook::parse(&bytes) {
        Ok(hook) => hook,
        Err(e) => {
            state.metrics.webhook(Outcome::BadRequest);
            return refuse(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let rank = crate::severity::Level::of(&hook.severity()).rank();
    // The pipeline is woken after the write and before the sync, so its reads and its Flink
    // calls overlap the sync. A new post still goes out only after a sync that covers this
    // entry (its posting mark's; sled writes its log in order). An edit of an existing message
    // may go out before the sync, as it always could when a scan for other entries found this
    // one early: if the bot dies before the sync, Alertmanager got no 200, sends the
    // notification again, and the edit is made again.
    let stored = match state
        .store
        .insert_ranked(&bytes, &hook.group_key, rank, now)
        .await
    {
        Ok(accepted) => {
            state.wake.notify_one();
            state.store.durable().await.map(|()| accepted)
        }
        Err(e) => Err(e),
    };
    match stored {
        Ok(accepted) => {
            let (status, seq, outcome) = match accepted {
                Accepted::Stored(seq) => ("stored", seq, Outcome::Stored),
                Accepted::Duplicate(seq) => ("duplicate", seq, Outcome::Duplicate),
            };
            state.metrics.webhook(outcome);
            (
                StatusCode::OK,
                Json(json!({ "status": status, "seq": seq })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store a webhook; answering 503 so Alertmanager retries");
            state.metrics.webhook(Outcome::Unavailable);
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable; retry later",
            )
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive
/// (RFC 9110 11.1; Prometheus' `authorization.type` may be written `bearer`).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

enum BodyError {
    TooLarge,
    /// Not a size problem: a broken chunked encoding, a connection cut mid-body.
    Malformed(axum::Error),
}

/// Collects the body, refusing it as soon as it grows past `limit`.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    // A Content-Length over the limit is refused before reading anything.
    if axum::body::HttpBody::size_hint(&body).lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Malformed)?;
        if out.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// Constant time over fixed-length digests, so neither content nor length leaks through timing.
fn tokens_equal(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let cases = [
            ("Bearer tok", Some("tok")),
            ("bearer tok", Some("tok")),
            ("BEARER tok", Some("tok")),
            ("Bearer  tok", Some("tok")),
            ("Basic dG9rOg==", None),
            ("Bearertok", None),
            ("tok", None),
        ];
        for (header, want) in cases {
            assert_eq!(bearer_token(header), want, "{header:?}");
        }
    }
}
