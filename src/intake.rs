//! Intake: `POST /alertmanager`. Check the token, check the shape, store durably, then 200.
//!
//! The answer codes are chosen for Alertmanager's retry rules: only 2xx stops resending, 5xx is
//! retried with backoff, 4xx is not retried. So: 503 when storage fails (please retry), 400/401/413
//! for requests that will never succeed, 200 only once the body is on disk.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
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
    pub wake: Arc<Notify>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

pub async fn alertmanager(State(state): State<Arc<IntakeState>>, request: Request) -> Response {
    if let Some(expected) = &state.bearer {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| tokens_equal(g, expected.expose_secret())) {
            state.metrics.webhook(Outcome::Unauthorized);
            return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    let body: Body = request.into_body();
    let bytes = match to_bytes(body, state.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            state.metrics.webhook(Outcome::TooLarge);
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "body larger than {} bytes (server.max_body_bytes)",
                    state.max_body_bytes
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
    match state.store.accept(&bytes, &hook.group_key, now).await {
        Ok(accepted) => {
            state.wake.notify_one();
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

/// Constant time over fixed-length digests, so neither content nor length leaks through timing.
fn tokens_equal(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
}
