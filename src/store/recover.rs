//! After the store failed: wait until its disk takes writes again.
//!
//! Why the bot then exits instead of reopening sled in-process: a failed sled handle cannot be
//! closed while a call is stuck inside it (the stuck call holds it, and with it the file lock a
//! reopen needs), and that stuck call spins a CPU until the process ends. A new process starts
//! clean, and sled recovers its log up to the last fdatasync, which is everything the bot ever
//! acknowledged. Exiting only once writes succeed keeps a supervisor (systemd `Restart=`) from
//! restarting into the same full disk in a tight loop; meanwhile webhooks get 503 and
//! Alertmanager keeps them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::thread::Health;

/// Written and synced as the test: room for sled to reopen and take new webhooks, with margin.
const PROBE_BYTES: usize = 8 * 1024 * 1024;
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// While failed, the reason is repeated this often so it is seen in a log tail.
const REMIND_EVERY: Duration = Duration::from_secs(60);

/// Resolves once the store has failed and a probe write in its folder then succeeds.
pub(super) async fn wait(health: Arc<Health>, dir: PathBuf) {
    health.wait_failed().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A thread of its own: the probe is blocking file I/O that may itself hang on a bad disk.
    let spawned = std::thread::Builder::new()
        .name("store-recovery".into())
        .spawn(move || {
            let mut reminded = Instant::now();
            loop {
                std::thread::sleep(PROBE_EVERY);
                match probe(&dir) {
                    Ok(()) => {
                        let _ = tx.send(());
                        return;
                    }
                    Err(e) if reminded.elapsed() >= REMIND_EVERY => {
                        reminded = Instant::now();
                        tracing::error!(reason = ?health.failure(), probe = %e, "store still failed; webhooks get 503 until the disk takes writes again");
                    }
                    Err(_) => {}
                }
            }
        });
    match spawned {
        Ok(_) => {
            let _ = rx.await;
        }
        // Without a probe, recovery is a restart by hand; the failure was logged already.
        Err(e) => {
            tracing::error!(error = %e, "cannot start the store recovery probe");
            std::future::pending::<()>().await
        }
    }
}

fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join("write-probe.tmp");
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&vec![0u8; PROBE_BYTES])?;
        file.sync_data()
    })();
    let _ = std::fs::remove_file(&path);
    result
}
