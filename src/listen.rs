//! Accepting connections: a limit below the open-file limit, read deadlines, and a graceful stop.
//!
//! `axum::serve` has neither timeouts nor a limit, so 1,100 connections that send half a header
//! and stop took every file a bot with systemd's 1,024 may open, and with it every webhook and
//! `/healthz`, silently. Here each connection holds a permit (the limit, derived from
//! RLIMIT_NOFILE unless configured), hyper closes a connection whose request header has not
//! arrived within `server.read_timeout_ms` (counted from when it is ready for one, so an idle
//! kept-alive connection is closed after that long too), and reaching the limit is logged.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// File descriptors kept for everything but inbound connections: sled's files and stdio (64),
/// and per delivery worker its Flink calls (up to 4 at once) and its Discord connection.
fn reserved_files(concurrency: usize) -> u64 {
    64 + 5 * concurrency as u64
}

/// The derived limit never exceeds this: a webhook receiver sees a handful of connections, and
/// each costs memory.
const DERIVED_CAP: u64 = 1_024;

/// How many connections to serve at once: `server.max_connections`, or derived from the soft
/// open-file limit; either way below it, with room for the store and outgoing connections.
pub fn connection_limit(
    configured: usize,
    open_files: u64,
    concurrency: usize,
) -> Result<usize, String> {
    let reserve = reserved_files(concurrency);
    let room = open_files.saturating_sub(reserve);
    if configured == 0 {
        if room < 16 {
            return Err(format!(
                "the open-file limit ({open_files}) leaves fewer than 16 connections once {reserve} files are kept for the store and outgoing calls (delivery.concurrency): raise it (systemd LimitNOFILE=) or set key `server.max_connections`"
            ));
        }
        return Ok(room.min(DERIVED_CAP) as usize);
    }
    if configured as u64 > room {
        return Err(format!(
            "key `server.max_connections`: {configured} is not below the open-file limit ({open_files}) minus {reserve} files kept for the store and outgoing calls; lower it or raise the limit (systemd LimitNOFILE=)"
        ));
    }
    Ok(configured)
}

/// The process's soft RLIMIT_NOFILE (unlimited counts as `u64::MAX`).
pub fn open_file_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and touches nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(if limit.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        limit.rlim_cur
    })
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub read_timeout: Duration,
    /// How long a stop waits for requests in progress before giving up on them.
    pub drain: Duration,
}

/// Logs at most once per period, counting what it did not log.
struct Throttle {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(suppressed since the last line)` when a line may be logged now.
    fn allow(&mut self) -> Option<u64> {
        if self.last.is_some_and(|t| t.elapsed() < self.period) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Serves `router` until `stop` resolves; then stops accepting, lets requests in progress finish
/// (at most `limits.drain`) and returns what `stop` returned.
pub async fn serve<T>(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    stop: impl Future<Output = T>,
) -> T {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closing_rx) = watch::channel(false);
    let mut at_limit = Throttle::new(Duration::from_secs(10));
    let mut accept_failed = Throttle::new(Duration::from_secs(10));
    tokio::pin!(stop);
    let reason = loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if let Some(suppressed) = at_limit.allow() {
                    tracing::warn!(
                        limit = limits.max_connections,
                        times_since_last_line = suppressed,
                        "connection limit reached (server.max_connections): new connections wait until one closes"
                    );
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                    reason = &mut stop => break reason,
                }
            }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            reason = &mut stop => break reason,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE and friends: the connection stays in the backlog; try again shortly.
                if let Some(suppressed) = accept_failed.allow() {
                    tracing::warn!(error = %e, times_since_last_line = suppressed, "cannot accept a connection");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let stopping = tokio::select! {
                _ = conn.as_mut() => false,
                _ = closing.wait_for(|c| *c) => true,
            };
            if stopping {
                // Finish the request in progress, if any, then close.
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        });
    };
    drop(listener);
    let _ = closing.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(drain = ?limits.drain, "requests still in progress at shutdown were cut off");
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::connection_limit;

    #[test]
    fn the_connection_limit_stays_below_the_open_file_limit() {
        // (configured, open files, delivery.concurrency) -> limit or an error naming the key
        let cases: &[(usize, u64, usize, Result<usize, &str>)] = &[
            (0, 1_024, 32, Ok(800)),              // systemd's default soft limit
            (0, 1_048_576, 32, Ok(1_024)),        // capped
            (0, u64::MAX, 32, Ok(1_024)),         // unlimited
            (0, 512, 32, Ok(288)),                // the rest is kept for the store and calls
            (0, 200, 32, Err("open-file limit")), // too low to serve anything
            (100, 1_024, 32, Ok(100)),
            (900, 1_024, 32, Err("server.max_connections")),
            (5_000, 1_048_576, 32, Ok(5_000)), // configured beyond the cap is allowed
        ];
        for (configured, files, concurrency, want) in cases {
            let got = connection_limit(*configured, *files, *concurrency);
            match (want, &got) {
                (Ok(n), Ok(m)) => assert_eq!(n, m, "{configured} {files} {concurrency}"),
                (Err(part), Err(e)) => assert!(e.contains(part), "{e}"),
                _ => panic!("{configured} {files} {concurrency}: want {want:?}, got {got:?}"),
            }
        }
    }
}
