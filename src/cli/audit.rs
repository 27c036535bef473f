//! `flink-chatops audit list|show|verify|export`: reading the audit log from the command line.
//!
//! sled lets one process at a time open the store folder, so while the bot runs these read the
//! export file it keeps beside the head file (`audit::export`) instead; with the bot stopped
//! they read the store itself (`--source` chooses). Reading never writes an audit entry.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use secrecy::ExposeSecret;

use crate::audit::{read_heads, Break, Entry, Verifier};
use crate::config::{Config, Secrets};
use crate::store::{Store, StoreError};

/// Longest result or reason `audit list` shows on an entry's line (`show` has all of it).
const OUTCOME_CHARS: usize = 160;

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
    /// The published heads file as it is (to copy it off the machine, e.g. with kubectl exec).
    Heads,
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

/// Where the entries are read from.
#[derive(Clone, Copy, Default, ValueEnum)]
pub enum Source {
    /// The store when it can be opened (the bot is stopped), else the export file.
    #[default]
    Auto,
    /// The store folder itself: the bot must be stopped.
    Store,
    /// The export file the bot keeps beside the head file; readable while the bot runs.
    Export,
}

/// The log being read.
enum Log {
    Store(Box<Store>),
    Export(PathBuf),
}

pub async fn run(
    config_path: Option<PathBuf>,
    source: Source,
    command: AuditCommand,
    env: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref(), env.clone())?;
    let head_file = config.audit.head_file(&config.storage.path);
    let export = crate::audit::export::path_beside(&head_file);
    if let AuditCommand::Heads = command {
        let text = std::fs::read(&head_file).with_context(|| {
            format!(
                "reading the head file {} (key `audit.head_file`)",
                head_file.display()
            )
        })?;
        std::io::stdout().write_all(&text)?;
        return Ok(());
    }
    let log = match source {
        Source::Store => Log::Store(Box::new(open_store(&config.storage.path)?)),
        Source::Export => Log::Export(export),
        Source::Auto => match try_open(&config.storage.path) {
            Ok(store) => Log::Store(Box::new(store)),
            Err(Opening::Locked(_)) if export.exists() => {
                eprintln!(
                    "the store is in use (the bot is running): reading the audit export {}, which the bot keeps up to date",
                    export.display()
                );
                Log::Export(export)
            }
            // A copy of the head and export files, away from the store: verify that.
            Err(Opening::Missing(_)) if export.exists() => Log::Export(export),
            Err(e) => return Err(e.into_error()),
        },
    };
    match (command, log) {
        (AuditCommand::List { job, limit }, log) => {
            let entries = match log {
                Log::Store(store) => store.audit_recent(limit, job.as_deref())?,
                Log::Export(path) => {
                    let mut newest = std::collections::VecDeque::new();
                    for e in exported(&path)? {
                        let e = e?;
                        if job
                            .as_deref()
                            .is_none_or(|j| e.event.job_id.as_deref() == Some(j))
                        {
                            newest.push_back(e);
                            if newest.len() > limit {
                                newest.pop_front();
                            }
                        }
                    }
                    newest.into()
                }
            };
            if entries.is_empty() {
                println!(
                    "no audit entries{}",
                    job.map_or(String::new(), |j| format!(" for job {j}"))
                );
            }
            for e in entries {
                match e.event.outcome(OUTCOME_CHARS) {
                    Some(outcome) => println!("{}  -> {outcome}", e.line()),
                    None => println!("{}", e.line()),
                }
            }
        }
        (AuditCommand::Show { seq }, log) => {
            let found = match log {
                Log::Store(store) => store.audit_get(seq)?,
                Log::Export(path) => {
                    let mut found = None;
                    for e in exported(&path)? {
                        let e = e?;
                        if e.seq == seq {
                            found = Some(e);
                            break;
                        }
                    }
                    found
                }
            };
            let e = found.with_context(|| format!("there is no audit entry {seq}"))?;
            let value: serde_json::Value = serde_json::from_str(&e.to_json())?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        (AuditCommand::Verify, log) => {
            let secrets = Secrets::resolve(&config, env)?;
            let key = secrets
                .audit_hmac_key
                .as_ref()
                .map(|k| k.expose_secret().as_bytes());
            // The heads before the entries: the bot exports an entry before publishing its
            // head, so every head read here names an entry the file already has.
            let heads = read_heads(&head_file)?.unwrap_or_default();
            let (checked, what) = match log {
                Log::Store(store) => (store.audit_verify(&heads, key)?, "store".to_string()),
                Log::Export(path) => (
                    verify_export(&path, &heads, key)?,
                    format!("export {}", path.display()),
                ),
            };
            let summary = match checked {
                Ok(s) => s,
                Err(b) => bail!("audit log ({what}) broken at entry {}: {b}", b.seq()),
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
                "audit log intact: {} entries ({last}), {} published head(s) found in it, {}; read from the {what}",
                summary.entries,
                summary.heads_checked,
                if summary.keyed {
                    "HMAC-sealed"
                } else {
                    "SHA-256 (no HMAC key configured)"
                }
            );
        }
        (AuditCommand::Heads, _) => {} // answered above, without the store
        (
            AuditCommand::Export {
                format: Format::Jsonl,
            },
            log,
        ) => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            match log {
                Log::Store(store) => {
                    for raw in store.audit_raw()? {
                        out.write_all(&raw?)?;
                        out.write_all(b"\n")?;
                    }
                }
                Log::Export(path) => {
                    for line in lines(&path)? {
                        out.write_all(&line?)?;
                        out.write_all(b"\n")?;
                    }
                }
            }
            out.flush()?;
        }
    }
    Ok(())
}

fn lines(path: &Path) -> anyhow::Result<impl Iterator<Item = std::io::Result<Vec<u8>>>> {
    crate::audit::export::read_lines(path)
        .with_context(|| format!("reading the audit export {}", path.display()))?
        .with_context(|| {
            format!(
                "no audit export at {}: the bot writes it beside the head file once its audit log is open",
                path.display()
            )
        })
}

/// The export's entries, parsed; an unreadable line is an error naming it.
fn exported(path: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Entry>>> {
    let shown = path.display().to_string();
    Ok(lines(path)?.enumerate().map(move |(i, line)| {
        let line = line.with_context(|| format!("reading {shown}"))?;
        Entry::from_json(&line).map_err(|reason| {
            anyhow::anyhow!(
                "{shown} line {}: not an audit entry ({reason}): run `audit verify`",
                i + 1
            )
        })
    }))
}

/// Walks the export file like [`Store::audit_verify`] walks the store.
fn verify_export(
    path: &Path,
    heads: &[crate::audit::Head],
    key: Option<&[u8]>,
) -> anyhow::Result<Result<crate::audit::Summary, Break>> {
    let mut v = Verifier::new(heads, key);
    for (expected, line) in (1..).zip(lines(path)?) {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let pushed = Entry::from_json(&line)
            .map_err(|reason| Break::Unreadable {
                seq: expected,
                reason,
            })
            .and_then(|e| v.push(&e));
        if let Err(b) = pushed {
            return Ok(Err(b));
        }
    }
    Ok(v.finish())
}

enum Opening {
    Missing(PathBuf),
    Locked(PathBuf),
    Other(anyhow::Error),
}

impl Opening {
    fn into_error(self) -> anyhow::Error {
        match self {
            Opening::Missing(path) => anyhow::anyhow!(
                "no store at {} (key `storage.path`): nothing has been recorded there",
                path.display()
            ),
            Opening::Locked(path) => anyhow::anyhow!(
                "the store at {} is in use by another process: stop the bot, then run this again",
                path.display()
            ),
            Opening::Other(e) => e,
        }
    }
}

fn try_open(path: &Path) -> Result<Store, Opening> {
    if !path.join("db").exists() {
        return Err(Opening::Missing(path.to_path_buf()));
    }
    Store::open(path).map_err(|e| match &e {
        StoreError::Sled(sled::Error::Io(io))
            if io.to_string().contains("could not acquire lock") =>
        {
            Opening::Locked(path.to_path_buf())
        }
        _ => Opening::Other(
            anyhow::Error::new(e).context(format!("opening the store at {}", path.display())),
        ),
    })
}

/// Opens the store for a command that needs it (the bot stopped), or says plainly why not.
pub(crate) fn open_store(path: &Path) -> anyhow::Result<Store> {
    try_open(path).map_err(Opening::into_error)
}
