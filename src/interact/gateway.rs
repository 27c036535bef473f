//! Interactions over the gateway: serenity's client connects out to Discord (no public URL, no
//! privileged intents), and each INTERACTION_CREATE goes to the same dispatcher as the HTTP
//! endpoint; the answer goes back through the interaction callback.

use std::sync::Arc;

use serenity::all::{ClientBuilder, Context, EventHandler, GatewayIntents, Interaction, Ready};
use serenity::async_trait;
use serenity::http::Http;

use super::endpoint::interaction_token;
use super::{dispatch, finish_deferred, Answer, InteractState};

struct Handler {
    state: Arc<InteractState>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "gateway connected");
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let (id, token) = match (&interaction, interaction_token(&interaction)) {
            (Interaction::Command(c) | Interaction::Autocomplete(c), Some(t)) => (c.id, t),
            (Interaction::Component(c), Some(t)) => (c.id, t),
            _ => return,
        };
        let http = self.state.http.clone();
        let (initial, rest) = match dispatch(self.state.clone(), interaction).await {
            Answer::Now(r) => (r, None),
            Answer::Later { initial, rest } => (initial, Some(rest)),
        };
        if let Err(e) = http
            .create_interaction_response(id, &token, &initial, vec![])
            .await
        {
            tracing::error!(error = %e, "could not answer an interaction");
            return;
        }
        if let Some(rest) = rest {
            finish_deferred(http, token, rest).await;
        }
    }
}

/// Connects and runs until the process ends; serenity reconnects by itself.
pub async fn run(state: Arc<InteractState>, http: Http) {
    let handler = Handler { state };
    let client = ClientBuilder::new_with_http(http, GatewayIntents::empty())
        .event_handler(handler)
        .await;
    match client {
        Ok(mut client) => {
            if let Err(e) = client.start().await {
                tracing::error!(error = %e, "the gateway connection ended");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot start the gateway client"),
    }
}
