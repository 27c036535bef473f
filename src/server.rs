//! HTTP routes: the Alertmanager webhook, the probes and `/metrics`.
//!
//! `/healthz` touches nothing but the process: it answers as long as the runtime does.
//! `/readyz` never waits for the store longer than `storage.timeout_ms`, and reports the
//! gateway (see `readiness` for when a stopped gateway makes the bot unready).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::intake::{self, IntakeState};
use crate::readiness::GatewayHealth;

pub fn router(intake: Arc<IntakeState>, sink: &'static str, gateway: Arc<GatewayHealth>) -> Router {
    Router::new()
        .route("/alertmanager", post(intake::alertmanager))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(scrape))
        .route(
            "/readyz",
            get(move |state: State<Arc<IntakeState>>| readyz(state, sink, gateway.clone())),
        )
        .with_state(intake)
}

/// Ready when the store answers (and the gateway, if on, has not stopped for good while it is
/// the only way in); reports the backlog so an operator sees delivery falling behind, and the
/// gateway's state.
async fn readyz(
    State(state): State<Arc<IntakeState>>,
    sink: &'static str,
    gateway: Arc<GatewayHealth>,
) -> impl IntoResponse {
    let pending = state.store.pending_count();
    // A failed store is not asked again (sled keeps its error, or hangs): say why, at once.
    let result = match state.store.failure() {
        Some(reason) => Err(format!("storage failed: {reason}")),
        None => state.store.check().await.map_err(|e| e.to_string()),
    };
    let gateway = gateway.report();
    let gateway_error = gateway.as_ref().and_then(|(_, e)| e.clone());
    let degraded = gateway
        .as_ref()
        .is_some_and(|(part, _)| part["status"] == "down");
    let (code, mut body) = match (result, gateway_error) {
        (Err(error), _) | (Ok(()), Some(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unavailable", "error": error, "pending": pending }),
        ),
        (Ok(()), None) => (
            StatusCode::OK,
            json!({
                "status": if degraded { "degraded" } else { "ready" },
                "pending": pending,
                "output": sink,
            }),
        ),
    };
    if let Some((part, _)) = gateway {
        body["gateway"] = part;
    }
    (code, Json(body))
}

/// `GET /metrics` in the Prometheus text format.
pub async fn scrape(State(state): State<Arc<IntakeState>>) -> Response {
    // Counting the inbox walks it (sled keeps no count), so render off the async workers.
    let body = tokio::task::spawn_blocking(move || state.metrics.render(&state.store))
        .await
        .unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        body,
    )
        .into_response()
}
