//! `flink-chatops audit list|show|verify|export`: reading the audit log from the command line.
//!
//! These open the store folder itself, and sled lets one process at a time do that: stop the
//! bot first (a locked store is reported as such). Opening never writes an audit entry.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use secrecy::ExposeSecret;

use crate::audit::read_heads;
use crate::config::{Config, Secrets};
use crate::store::{Store, StoreError};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// The newest entries, oldest first, one line each.
    List {
        /// Only entries about this Flink job id.
        #[arg(long)]
        job: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One entry in full, as JSON.
    Show { seq: u64 },
    /// Check the whole chain and the published heads; non-zero exit naming the first break.
    Verify,
    /// Every entry exactly as stored, oldest first.
    Export {
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// One stored entry (JSON object) per line.
    Jsonl,
}

pub async fn run(
    config_path: Option<PathBuf>,
    command: AuditCommand,
    env: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref(), env.clone())?;
    let store = open_store(&config.storage.path)?;
    match command {
        AuditCommand::List { job, limit } => {
            let entries = store.audit_recent(limit, job.as_deref())?;
            if entries.is_empty() {
                println!(
                    "no audit entries{}",
                    job.map_or(String::new(), |j| format!(" for job {j}"))
                );
            }
            for e in entries {
                println!("{}", e.line());
            }
        }
        AuditCommand::Show { seq } => {
            let e = store
                .audit_get(seq)?
                .with_context(|| format!("there is no audit entry {seq}"))?;
            let value: serde_json::Value = serde_json::from_str(&e.to_json())?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        AuditCommand::Verify => {
            let secrets = Secrets::resolve(&config, env)?;
            let key = secrets
                .audit_hmac_key
                .as_ref()
                .map(|k| k.expose_secret().as_bytes());
            let head_file = config.audit.head_file(&config.storage.path);
            let heads = read_heads(&head_file)?.unwrap_or_default();
            let summary = match store.audit_verify(&heads, key)? {
                Ok(s) => s,
                Err(b) => bail!("audit log broken at entry {}: {b}", b.seq()),
            };
            if summary.entries > 0 && heads.is_empty() {
                bail!(
                    "the chain of {} entries is intact, but no heads were published at {} (key `audit.head_file`): a cut tail cannot be ruled out",
                    summary.entries,
                    head_file.display()
                );
            }
            let last = summary.last.map_or("empty".into(), |h| {
                format!("last #{} {}", h.seq, h.hash.short())
            });
            println!(
                "audit log intact: {} entries ({last}), {} published head(s) found in it, {}",
                summary.entries,
                summary.heads_checked,
                if summary.keyed {
                    "HMAC-sealed"
                } else {
                    "SHA-256 (no HMAC key configured)"
                }
            );
        }
        AuditCommand::Export {
            format: Format::Jsonl,
        } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for raw in store.audit_raw()? {
                out.write_all(&raw?)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

pub(super) fn open_store(path: &Path) -> anyhow::Result<Store> {
    if !path.join("db").exists() {
        bail!(
            "no store at {} (key `storage.path`): nothing has been recorded there",
            path.display()
        );
    }
    Store::open(path).map_err(|e| match &e {
        StoreError::Sled(sled::Error::Io(io))
            if io.to_string().contains("could not acquire lock") =>
        {
            anyhow::anyhow!(
                "the store at {} is in use by another process: stop the bot, then run this again",
                path.display()
            )
        }
        _ => anyhow::Error::new(e).context(format!("opening the store at {}", path.display())),
    })
}
