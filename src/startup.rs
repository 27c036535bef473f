//! Start-up in one place: config -> secrets -> store -> clients -> guarded actions ->
//! interactions -> pipeline -> HTTP server.
//! Shutdown in the reverse order: stop accepting, let deliveries in flight record, close the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::config::{Config, Secrets};
use crate::deliver::{console::ConsoleSink, discord::DiscordSink, Sink};
use crate::enrich::Clusters;
use crate::flink::FlinkClient;
use crate::intake::IntakeState;
use crate::listen::{self, Limits};
use crate::pipeline::Pipeline;
use crate::render::Renderer;
use crate::store::Store;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    pipeline: Arc<Pipeline>,
    store: Store,
    /// Set at shutdown: the gateway closes its connection (1000) and drops its receiver.
    stopping: tokio::sync::watch::Sender<bool>,
}

/// How long a shutdown waits for deliveries in flight to finish and record; what is not recorded
/// by then stays in the inbox and is delivered after the restart. Below systemd's 90 s default.
const DELIVERY_GRACE: Duration = Duration::from_secs(20);

/// How long a shutdown waits for the gateway's close handshake (it waits 1 s for the answer).
const GATEWAY_GRACE: Duration = Duration::from_secs(2);

/// Why the server stopped.
enum Stop {
    Signal,
    StoreRecoverable,
}

impl Application {
    /// Builds everything and binds the listener (port 0 picks a free port, for tests).
    pub async fn build(
        config: Config,
        env: &HashMap<String, String>,
    ) -> anyhow::Result<Application> {
        let secrets = Secrets::resolve(&config, env)?;
        let renderer = Renderer::new(config.responses.dir.as_deref())?;
        let mut clusters = clients(&config, &secrets)?;
        let limits = limits(&config)?;
        // sled recovers its log while opening: blocking work, kept off the runtime's threads.
        let (path, timeout) = (
            config.storage.path.clone(),
            Duration::from_millis(config.storage.timeout_ms),
        );
        let store = tokio::task::spawn_blocking(move || Store::open_with_timeout(&path, timeout))
            .await
            .context("opening the store")?
            .with_context(|| format!("opening the store at {}", config.storage.path.display()))?;
        let metrics =
            Arc::new(crate::metrics::Metrics::new(&store).context("creating the metrics")?);
        metrics.instrument(&mut clusters);
        let archive = store
            .exception_archive()
            .await
            .context("opening the store")?;
        clusters
            .values_mut()
            .for_each(|c| c.archive = Some(archive.clone()));
        // Resolved incidents past `storage.retention` go in small batches (store::retention).
        store.spawn_retention(config.retention());
        // `flink-chatops backup` and `dead` reach the running bot here (admin.rs).
        #[cfg(unix)]
        crate::admin::spawn(&config.storage.path, store.clone());
        check_output(&config, &secrets)?;
        let sink = match &secrets.discord_token {
            Some(token) => Sink::Discord(DiscordSink::new(token.clone(), &config.discord.api_base)),
            None => {
                tracing::warn!("no Discord token configured: messages go to the console");
                Sink::Console(ConsoleSink::default())
            }
        };
        let sink_name = sink.describe();
        let wake = Arc::new(Notify::new());
        let intake = Arc::new(IntakeState {
            store: store.clone(),
            bearer: secrets.webhook_bearer.clone(),
            max_body_bytes: config.server.max_body_bytes,
            read_timeout: limits.read_timeout,
            wake: wake.clone(),
            metrics: metrics.clone(),
        });
        if intake.bearer.is_none() {
            tracing::warn!(
                "no webhook bearer token configured: anyone who can reach the port can post alerts"
            );
        }
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| {
                format!(
                    "listening on {} (key `server.listen`)",
                    config.server.listen
                )
            })?;
        let guard = guarded_actions(
            &config,
            &secrets,
            env,
            clusters.clone(),
            store.clone(),
            wake.clone(),
        )?;
        tokio::spawn(guard.clone().run());
        let gateway = Arc::new(crate::readiness::GatewayHealth::new());
        let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
        let interactions = crate::interact::start(
            &config,
            &secrets,
            clusters.clone(),
            store.clone(),
            guard,
            gateway.clone(),
            stopping_rx,
        )?;
        if gateway.is_on() {
            metrics.register(gateway.collectors())?;
        }
        // Each cluster's jobs as it last answered, for the incident of a cluster that stops.
        if config.flink.roster_every_ms > 0 {
            let watch = crate::roster::watch::Watch::new(
                store.clone(),
                clusters.clone(),
                Duration::from_millis(config.flink.roster_every_ms),
            )
            .context("creating the roster metrics")?;
            metrics.register(watch.collectors())?;
            tokio::spawn(Arc::new(watch).run());
        }
        let pipeline = Arc::new(Pipeline::new(
            store.clone(),
            clusters,
            renderer,
            sink,
            config,
            wake,
            metrics,
        ));
        spawn_pipeline(pipeline.clone())?;
        let mut router = crate::server::router(intake, sink_name, gateway);
        if let Some(interactions) = interactions {
            router = router.merge(interactions);
        }
        Ok(Application {
            listener,
            router,
            limits,
            pipeline,
            store,
            stopping,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until SIGTERM/ctrl-c (then stops in order and returns Ok) or until the store has
    /// failed and its disk takes writes again (then returns an error, so the process exits
    /// non-zero and its supervisor restarts it: see `store::recover` for why not reopen here).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            listener,
            router,
            limits,
            pipeline,
            store,
            stopping,
        } = self;
        tracing::info!(addr = %listener.local_addr()?, max_connections = limits.max_connections, "listening");
        let stop = async {
            tokio::select! {
                _ = shutdown_signal() => Stop::Signal,
                _ = store.recoverable() => Stop::StoreRecoverable,
            }
        };
        // 1. Stop accepting; requests in progress finish (their answers depend on the store).
        match listen::serve(listener, router, limits, stop).await {
            Stop::Signal => {
                // The gateway says goodbye (Discord ends the session now, not after missed
                // heartbeats); its task drops its receiver when done, or had none.
                let _ = stopping.send(true);
                let _ = tokio::time::timeout(GATEWAY_GRACE, stopping.closed()).await;
                // 2. Deliveries in flight finish and record; 3. only then the store stops.
                if !pipeline.stop(DELIVERY_GRACE).await {
                    tracing::warn!(grace = ?DELIVERY_GRACE, "deliveries still in flight at shutdown; they are delivered again after the restart");
                }
                store.close().await?;
                tracing::info!("stopped; undelivered notifications stay in the store");
                Ok(())
            }
            Stop::StoreRecoverable => anyhow::bail!(
                "the store failed ({}) and its disk takes writes again: exiting so that the supervisor restarts the bot on the same store (everything acknowledged is in it)",
                store.failure().unwrap_or_default()
            ),
        }
    }
}

/// The guarded-action service: the audit log (verified at start, loudly), the policy, the
/// Alertmanager client for silences.
/// Runs whether or not interactions are on: requests that were waiting expire, and a run cut by
/// a restart is resumed and reported.
fn guarded_actions(
    config: &Config,
    secrets: &Secrets,
    env: &HashMap<String, String>,
    clusters: Clusters,
    store: Store,
    out: Arc<Notify>,
) -> anyhow::Result<Arc<crate::guard::Guard>> {
    let head_file = config.audit.head_file(&config.storage.path);
    let audit = crate::store::AuditLog::open(
        store.clone(),
        secrets.audit_hmac_key.clone(),
        head_file.clone(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "opening the audit head file {} (key `audit.head_file`): {e}",
            head_file.display()
        )
    })?;
    match audit.verify() {
        Ok(Ok(summary)) => tracing::info!(?summary, "audit log verified"),
        Ok(Err(broken)) => {
            tracing::error!(%broken, "THE AUDIT LOG DOES NOT VERIFY; run `flink-chatops audit verify`")
        }
        Err(e) => tracing::error!(error = %e, "the audit log could not be verified"),
    }
    if config.audit.heartbeat_secs > 0 {
        audit.spawn_heartbeat(Duration::from_secs(config.audit.heartbeat_secs));
    }
    let auth = crate::silences::auth(&config.alertmanager, env)?;
    let http = reqwest::Client::builder().build()?;
    let silences = crate::silences::SilenceClient::new(&config.alertmanager, auth, http)
        .map_err(|e| anyhow::anyhow!("key `alertmanager.url`: {e}"))?;
    let policy = crate::policy::Policy::new(&config.policy);
    Ok(crate::guard::Guard::new(
        store,
        audit,
        policy,
        clusters,
        config.clusters.clone(),
        silences,
        out,
    ))
}

/// Connection limit and read deadline from `[server]`, checked against the open-file limit.
fn limits(config: &Config) -> anyhow::Result<Limits> {
    let open_files = listen::open_file_limit().context("reading the open-file limit")?;
    let max_connections = listen::connection_limit(
        config.server.max_connections,
        open_files,
        config.delivery.concurrency,
    )
    .map_err(anyhow::Error::msg)?;
    let read_timeout = Duration::from_millis(config.server.read_timeout_ms);
    Ok(Limits {
        max_connections,
        read_timeout,
        // A request in progress may read its body and wait for the store once each.
        drain: read_timeout + Duration::from_millis(config.storage.timeout_ms) * 2,
    })
}

/// Runs the pipeline on its own thread at a lower CPU priority.
///
/// Acknowledging comes first: Alertmanager's retry clock is ticking and an unacknowledged page is
/// one that may be lost, while delivery is paced by Discord's rate limits anyway. When both are
/// CPU-bound (an alert storm on a small machine), the kernel gives intake the cores and delivery
/// drains the durable backlog right after; when the machine is idle it makes no difference.
fn spawn_pipeline(pipeline: Arc<Pipeline>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("pipeline".into())
        .spawn(move || {
            lower_priority();
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(pipeline.run()),
                Err(e) => tracing::error!(error = %e, "cannot start the delivery runtime"),
            }
        })
        .context("starting the delivery thread")?;
    Ok(())
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux a nice value is per thread; threads this one starts inherit it.
    // SAFETY: plain system calls on the calling thread, no memory is shared.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
    if rc != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot lower the delivery thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// With a Discord token, messages need somewhere to go.
pub fn check_output(config: &Config, secrets: &Secrets) -> anyhow::Result<()> {
    if secrets.discord_token.is_some() && config.discord.default_channel.is_none() {
        anyhow::bail!(
            "key `discord.default_channel`: a Discord token is set but no default channel (set it, or FLINK_CHATOPS__DISCORD__DEFAULT_CHANNEL)"
        );
    }
    Ok(())
}

/// One Flink client per configured cluster, sharing a connection pool.
pub fn clients(config: &Config, secrets: &Secrets) -> anyhow::Result<Clusters> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(config.flink.call_timeout_ms))
        .build()?;
    let timeout = Duration::from_millis(config.flink.call_timeout_ms);
    config
        .clusters
        .iter()
        .map(|c| {
            let auth = secrets
                .flink
                .get(&c.name)
                .cloned()
                .unwrap_or(crate::config::FlinkAuth::None);
            FlinkClient::new(c, auth, http.clone(), timeout)
                .map(|client| {
                    let action = Duration::from_millis(config.flink.action_timeout_ms);
                    (c.name.clone(), client.with_action_timeout(action))
                })
                .map_err(|e| anyhow::anyhow!("cluster {}: {e}", c.name))
        })
        .collect()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: no new connections; waiting for deliveries in flight");
}
