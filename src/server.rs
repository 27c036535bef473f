//! HTTP routes: the Alertmanager webhook and the probes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::intake::{self, IntakeState};

pub fn router(intake: Arc<IntakeState>, sink: &'static str) -> Router {
    Router::new()
        .route("/alertmanager", post(intake::alertmanager))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(crate::metrics::scrape))
        .route(
            "/readyz",
            get(move |state: State<Arc<IntakeState>>| readyz(state, sink)),
        )
        .with_state(intake)
}

/// Ready when the store answers; reports the backlog so an operator sees delivery falling behind.
async fn readyz(State(state): State<Arc<IntakeState>>, sink: &'static str) -> impl IntoResponse {
    match state.store.check() {
        Ok(()) => (
            StatusCode::OK,
            Json(
                json!({ "status": "ready", "pending": state.store.pending_count(), "output": sink }),
            ),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": e.to_string() })),
        ),
    }
}
