//! `POST /discord/interactions`, for applications whose Interactions Endpoint URL points here.
//!
//! Discord sends invalid signatures on purpose and removes an endpoint that accepts one, so
//! every request is verified before anything is parsed: 401 on a missing, bad or stale
//! signature, 413 past the body limit, 400 for a body that is not an interaction.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use serenity::all::Interaction;

use super::verify::RequestVerifier;
use super::{dispatch, finish_deferred, Answer, InteractState};

/// Interactions are small (a command with its options); Discord's own payloads stay far below.
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct Endpoint {
    pub state: Arc<InteractState>,
    pub verifier: RequestVerifier,
}

pub fn router(endpoint: Endpoint) -> Router {
    Router::new()
        .route("/discord/interactions", post(interactions))
        .with_state(endpoint)
}

async fn interactions(State(ep): State<Endpoint>, request: Request) -> Response {
    let (parts, body): (_, Body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let signature = header("x-signature-ed25519");
    let timestamp = header("x-signature-timestamp");
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_big {
                refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("body larger than {MAX_BODY} bytes"),
                )
            } else {
                refuse(StatusCode::BAD_REQUEST, "the body could not be read")
            };
        }
    };
    let now = chrono::Utc::now().timestamp();
    if let Err(why) = ep
        .verifier
        .check(signature.as_deref(), timestamp.as_deref(), &bytes, now)
    {
        tracing::warn!(reason = %why, "refused an interaction request");
        return refuse(StatusCode::UNAUTHORIZED, "invalid request signature");
    }
    let interaction: Interaction = match serde_json::from_slice(&bytes) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "signed interaction body is not an interaction");
            return refuse(StatusCode::BAD_REQUEST, &format!("not an interaction: {e}"));
        }
    };
    let token = interaction_token(&interaction);
    match dispatch(ep.state.clone(), interaction).await {
        Answer::Now(response) => Json(response).into_response(),
        Answer::Later { initial, rest } => {
            if let Some(token) = token {
                tokio::spawn(finish_deferred(ep.state.http.clone(), token, rest));
            }
            Json(initial).into_response()
        }
    }
}

pub fn interaction_token(i: &Interaction) -> Option<String> {
    match i {
        Interaction::Command(c) | Interaction::Autocomplete(c) => Some(c.token.clone()),
        Interaction::Component(c) => Some(c.token.clone()),
        Interaction::Modal(m) => Some(m.token.clone()),
        _ => None,
    }
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
}
