//! The interaction path: slash commands, autocomplete and button presses, whichever way Discord
//! delivers them (the gateway, or a signed `POST /discord/interactions`).
//!
//! verify (endpoint only) -> [`dispatch`] (the same for both ways in) -> an [`Answer`] that the
//! transport sends. Every answer is read-only here. Discord wants a first response within 3 s:
//! work that is done within [`FIRST_ANSWER_BUDGET`] is answered at once; anything slower is
//! deferred ("thinking…") and the original response is edited when the work is done, so a slow
//! or dead Flink still gets an answer saying so, never silence.

pub mod commands;
pub mod endpoint;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod jobs;
pub mod press;
pub mod register;
pub mod reply;
pub mod resolve;
pub mod verify;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serenity::all::{
    AutocompleteChoice, CommandInteraction, CreateAutocompleteResponse, CreateInteractionResponse,
    Interaction,
};
use serenity::http::Http;

use crate::config::Config;
use crate::enrich::Clusters;
use crate::store::Store;
use commands::{Command, JobQuery};
use jobs::{JobIndex, KnownJob};
use reply::{Refusal, Reply};

/// Work finished within this answers at once; slower work is deferred. Discord's limit is 3 s
/// from when it sent the interaction, which includes the network both ways.
pub const FIRST_ANSWER_BUDGET: Duration = Duration::from_millis(1_500);

/// A deferred answer that has not finished by then says so (the token lasts 15 min).
pub const DEFERRED_LIMIT: Duration = Duration::from_secs(30);

/// How long the job index (autocomplete, name lookups) is trusted.
pub const JOB_INDEX_TTL: Duration = Duration::from_secs(10);

pub struct InteractState {
    pub clusters: Clusters,
    pub cluster_names: Vec<String>,
    pub jobs: JobIndex,
    pub store: Store,
    /// serenity's HTTP client: interaction callbacks (gateway) and edits of deferred answers.
    pub http: Arc<Http>,
    /// Guarded actions (requests, approvals, runs); `None` when they are off.
    pub guard: Option<Arc<crate::guard::Guard>>,
    /// The story templates (`/flink timeline`); `None` if they did not load (logged).
    pub renderer: Option<Arc<crate::render::Renderer>>,
}

impl InteractState {
    pub fn new(
        config: &Config,
        clusters: Clusters,
        store: Store,
        http: Arc<Http>,
    ) -> InteractState {
        let mut cluster_names: Vec<String> =
            config.clusters.iter().map(|c| c.name.clone()).collect();
        cluster_names.sort();
        InteractState {
            jobs: JobIndex::new(clusters.clone(), JOB_INDEX_TTL),
            clusters,
            cluster_names,
            store,
            http,
            guard: None,
            renderer: crate::render::Renderer::new(config.responses.dir.as_deref())
                .map(Arc::new)
                .map_err(|e| tracing::error!(error = %e, "templates for /flink timeline"))
                .ok(),
        }
    }

    /// The one job `input` names, looking again at Flink once if the index does not know it
    /// (a job submitted seconds ago).
    pub async fn resolve(&self, input: &str, cluster: Option<&str>) -> Result<KnownJob, Refusal> {
        let (jobs, _) = self.jobs.fresh().await;
        match resolve::resolve(&jobs, input, cluster, &self.cluster_names) {
            Ok(job) => Ok(job),
            Err(first) => {
                self.jobs.refresh().await;
                let (jobs, unreachable) = self.jobs.fresh().await;
                resolve::resolve(&jobs, input, cluster, &self.cluster_names).map_err(|e| {
                    if unreachable.is_empty() {
                        e
                    } else {
                        Refusal::new(format!(
                            "{first} (cluster {} did not answer, so its jobs are unknown)",
                            unreachable.join(", ")
                        ))
                    }
                })
            }
        }
    }
}

/// What to send back for one interaction.
pub enum Answer {
    /// The whole answer, now.
    Now(CreateInteractionResponse),
    /// "Thinking…" now; the rest edits the original response when `rest` is done.
    Later {
        initial: CreateInteractionResponse,
        rest: BoxFuture<'static, Reply>,
    },
}

/// The dispatcher: one interaction in, one answer out, whichever transport brought it.
pub async fn dispatch(state: Arc<InteractState>, interaction: Interaction) -> Answer {
    match interaction {
        Interaction::Ping(_) => Answer::Now(CreateInteractionResponse::Pong),
        Interaction::Autocomplete(cmd) => Answer::Now(autocomplete(&state, &cmd)),
        Interaction::Command(cmd) => command(state, cmd).await,
        Interaction::Component(c) => press::component(state, c).await,
        _ => Answer::Now(Reply::text("This kind of interaction is not supported.").into_response()),
    }
}

async fn command(state: Arc<InteractState>, cmd: CommandInteraction) -> Answer {
    let parsed = match commands::parse(&cmd.data) {
        Ok(c) => c,
        Err(r) => return Answer::Now(Reply::refusal(&r).into_response()),
    };
    tracing::info!(user = %cmd.user.id, command = ?parsed, "slash command");
    let reference = cmd.id.to_string();
    let channel = cmd.channel_id.get();
    let actor = press::actor(cmd.member.as_deref(), &cmd.user);
    let ephemeral = !matches!(
        &parsed,
        Command::Jobs { public: true, .. }
            | Command::Status(JobQuery { public: true, .. })
            | Command::Exceptions(JobQuery { public: true, .. })
            | Command::Checkpoints(JobQuery { public: true, .. })
            | Command::Logs(JobQuery { public: true, .. }, _)
            | Command::Timeline { public: true, .. }
    );
    within_budget(ephemeral, reference, async move {
        match parsed {
            Command::Jobs { cluster, public } => {
                commands::jobs::answer(&state, cluster.as_deref(), public).await
            }
            Command::Status(q) => commands::status::answer(&state, &q).await,
            Command::Exceptions(q) => commands::exceptions::answer(&state, &q).await,
            Command::Checkpoints(q) => commands::checkpoints::answer(&state, &q).await,
            Command::Logs(q, tm) => commands::logs::answer(&state, &q, tm.as_deref()).await,
            Command::Act(kind, q) => commands::act::answer(&state, kind, &q, actor, channel).await,
            Command::Audit { job } => commands::act::audit(&state, job.as_deref()).await,
            Command::Timeline { target, public } => {
                commands::timeline::answer(&state, target.as_deref(), public).await
            }
            Command::Help => commands::help::run(),
        }
    })
    .await
}

/// Autocomplete answers from memory only: it must be inside Discord's 3 s even with Flink down.
fn autocomplete(state: &InteractState, cmd: &CommandInteraction) -> CreateInteractionResponse {
    let mut response = CreateAutocompleteResponse::new();
    if let Some((partial, cluster)) = commands::autocomplete_input(&cmd.data) {
        let jobs = state.jobs.cached();
        let now = chrono::Utc::now().timestamp_millis();
        let choices = resolve::suggest(&jobs, &partial, cluster.as_deref(), now)
            .into_iter()
            .map(|(name, value)| AutocompleteChoice::new(name, value))
            .collect();
        response = response.set_choices(choices);
    }
    CreateInteractionResponse::Autocomplete(response)
}

/// Runs `work`; answers at once if it is done within the budget, else defers and lets the rest
/// edit the original response. A reply with files is always sent by the edit (an immediate
/// answer over the HTTP endpoint cannot carry files without multipart).
async fn within_budget(
    ephemeral: bool,
    reference: String,
    work: impl std::future::Future<Output = Reply> + Send + 'static,
) -> Answer {
    let mut task = tokio::spawn(work);
    let outcome = tokio::time::timeout(FIRST_ANSWER_BUDGET, &mut task).await;
    let finish = move |joined: Result<Reply, tokio::task::JoinError>| match joined {
        Ok(reply) => reply,
        Err(e) => Reply::internal(&reference, "Answering", &e),
    };
    match outcome {
        Ok(joined) => {
            let reply = finish(joined);
            if reply.files.is_empty() {
                Answer::Now(reply.into_response())
            } else {
                Answer::Later {
                    initial: reply::deferred(reply.ephemeral),
                    rest: futures::future::ready(reply).boxed(),
                }
            }
        }
        Err(_) => Answer::Later {
            initial: reply::deferred(ephemeral),
            rest: async move {
                match tokio::time::timeout(DEFERRED_LIMIT, task).await {
                    Ok(joined) => finish(joined),
                    Err(_) => Reply::text(
                        "Flink did not answer in time; try again in a moment, or open the Flink UI.",
                    ),
                }
            }
            .boxed(),
        },
    }
}

/// Edits the original response of a deferred answer. Retries briefly: over the HTTP endpoint
/// the edit can reach Discord before Discord has taken the deferral.
pub async fn finish_deferred(http: Arc<Http>, token: String, rest: BoxFuture<'static, Reply>) {
    let reply = rest.await;
    for attempt in 1..=3 {
        let (edit, files) = reply.clone().into_edit();
        match http
            .edit_original_interaction_response(&token, &edit, files)
            .await
        {
            Ok(_) => return,
            Err(e) if attempt < 3 => {
                tracing::warn!(error = %e, attempt, "editing a deferred answer failed; retrying");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
            Err(e) => tracing::error!(error = %e, "could not deliver a deferred answer"),
        }
    }
}

/// Starts the interaction path as configured: the job index, the gateway client (on by default
/// when a token and an application id are set), and the HTTP endpoint's router when a public
/// key is set. `None` when interactions are off.
pub fn start(
    config: &Config,
    secrets: &crate::config::Secrets,
    clusters: Clusters,
    store: Store,
    guard: Arc<crate::guard::Guard>,
    gateway_health: Arc<crate::readiness::GatewayHealth>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<axum::Router>> {
    let d = &config.discord;
    let token = secrets.discord_token.as_ref();
    let Some(app_id) = d.application_id else {
        if token.is_some() {
            tracing::warn!(
                "buttons and slash commands are off: set `discord.application_id` to answer them"
            );
        }
        return Ok(None);
    };
    let gateway = d.gateway_on(token.is_some(), crate::config::GATEWAY_BUILT);
    if gateway && token.is_none() {
        anyhow::bail!("key `discord.gateway`: the gateway needs a Discord token");
    }
    if !gateway && d.public_key.is_none() {
        tracing::warn!("buttons and slash commands are off: neither the gateway nor `discord.public_key` is set");
        return Ok(None);
    }
    let http = Arc::new(register::http_client(token, &d.api_base, Some(app_id)));
    let mut state = InteractState::new(config, clusters.clone(), store.clone(), http.clone());
    state.guard = Some(guard);
    let state = Arc::new(state);
    state.jobs.refresh_in_background();
    if d.register_commands {
        let (http, guild, names) = (
            state.http.clone(),
            d.commands_guild,
            state.cluster_names.clone(),
        );
        tokio::spawn(async move {
            match register::register(&http, guild, &names).await {
                Ok(n) => tracing::info!(commands = n, ?guild, "slash commands registered"),
                Err(e) => tracing::error!(error = %e, "registering slash commands failed"),
            }
        });
    }
    // Without the feature, `gateway` is never on (`GATEWAY_BUILT`) and the health stays "off".
    #[cfg(not(feature = "gateway"))]
    let _ = (gateway_health, stopping);
    #[cfg(feature = "gateway")]
    if gateway {
        let http = register::http_client(token, &d.api_base, Some(app_id));
        gateway::spawn(state.clone(), http, d, gateway_health, stopping);
    }
    let router = match &d.public_key {
        Some(key) => {
            let verifier = verify::RequestVerifier::new(key, d.max_request_age_secs)
                .map_err(|e| anyhow::anyhow!("key `discord.public_key`: {e}"))?;
            tracing::info!("interactions: POST /discord/interactions on");
            Some(endpoint::router(endpoint::Endpoint { state, verifier }))
        }
        None => None,
    };
    Ok(router)
}
