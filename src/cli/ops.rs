//! `flink-chatops backup|restore|dead`: operating the store.
//!
//! With the bot running, `backup` and `dead` go through its admin socket (`admin.rs`), since
//! sled lets one process open the store; with the bot stopped they open the store themselves.
//! `restore` needs the bot stopped, and never overwrites a store (`--force` moves it aside).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;
use crate::store::backup::{self, Copied};

#[derive(Subcommand)]
pub enum DeadCommand {
    /// Pages Discord would not take, with the reason.
    List,
    /// Put dead letters back to be delivered (once the cause is fixed): `all` or `3,17`.
    Replay { which: String },
    /// Remove dead letters for good: `all` or `3,17`.
    Drop { which: String },
}

/// Asks the running bot (one request line on its admin socket); `None` when no bot answers.
pub(super) async fn ask_running(config: &Config, line: &str) -> anyhow::Result<Option<String>> {
    let Some(mut conn) = connect(config).await else {
        return Ok(None);
    };
    conn.write_all(format!("{line}\n").as_bytes()).await?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await?;
    let answer = answer.trim_end().to_string();
    if let Some(e) = answer
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("error: "))
    {
        bail!("{e}");
    }
    Ok(Some(answer))
}

/// The running bot's admin socket, if one answers.
async fn connect(config: &Config) -> Option<tokio::net::UnixStream> {
    let path = crate::admin::socket_path(&config.storage.path);
    tokio::net::UnixStream::connect(path).await.ok()
}

pub async fn backup(config: &Config, output: &Path) -> anyhow::Result<()> {
    let to_stdout = output == Path::new("-");
    let partial = if to_stdout {
        std::env::temp_dir().join(format!(
            "flink-chatops-backup-{}.partial",
            std::process::id()
        ))
    } else {
        let mut name = output.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    };
    let result = write_backup(config, &partial).await;
    let checked = result.and_then(|how| {
        let file = std::fs::File::open(&partial)?;
        match backup::read(file, |_| Ok(())) {
            Ok((_, copied)) => Ok((how, copied)),
            Err(e) => {
                let mut head = String::new();
                let _ = std::fs::File::open(&partial)?
                    .take(300)
                    .read_to_string(&mut head);
                match head.strip_prefix("error: ") {
                    Some(reason) => bail!("the bot could not write the backup: {}", reason.trim()),
                    None => bail!("the backup came back damaged: {e}"),
                }
            }
        }
    });
    let (how, copied) = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if to_stdout {
        let mut file = std::fs::File::open(&partial)?;
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut file, &mut out)?;
        out.flush()?;
        std::fs::remove_file(&partial)?;
    } else {
        std::fs::rename(&partial, output)
            .with_context(|| format!("moving the backup to {}", output.display()))?;
    }
    let Copied {
        trees,
        records,
        bytes,
    } = copied;
    eprintln!(
        "backup of {} written {}: {trees} trees, {records} records, {bytes} bytes, checksum verified ({how})",
        config.storage.path.display(),
        if to_stdout {
            "to stdout".to_string()
        } else {
            format!("to {}", output.display())
        },
    );
    Ok(())
}

/// Writes the raw backup to `path`; says how it was taken.
async fn write_backup(config: &Config, path: &Path) -> anyhow::Result<&'static str> {
    let mut file = tokio::fs::File::create(path)
        .await
        .with_context(|| format!("creating {}", path.display()))?;
    if let Some(mut conn) = connect(config).await {
        conn.write_all(b"backup\n").await?;
        tokio::io::copy(&mut conn, &mut file).await?;
        file.sync_all().await?;
        return Ok("from the running bot");
    }
    let store = super::audit::open_store(&config.storage.path)?;
    store.backup(&mut file).await?;
    file.sync_all().await?;
    store.close().await?;
    Ok("from the store; the bot is not running")
}

pub async fn restore(config: &Config, input: &Path, force: bool) -> anyhow::Result<()> {
    let target = &config.storage.path;
    if connect(config).await.is_some() {
        bail!("the bot is running on {}: stop it first", target.display());
    }
    let exists = target.exists()
        && std::fs::read_dir(target)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
    if exists && !force {
        bail!(
            "a store exists at {} (key `storage.path`): stop the bot and pass --force to move it aside (kept as {}.before-restore-<time>)",
            target.display(),
            target.display()
        );
    }
    let scratch = sibling(target, ".restoring");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing an unfinished restore at {}", scratch.display()))?;
    }
    // `-`: the backup comes on stdin (e.g. `kubectl exec -i ... restore --input - < file`).
    let file: Box<dyn Read + Send> = if input == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?,
        )
    };
    let restore_to = scratch.clone();
    let copied = tokio::task::spawn_blocking(move || backup::restore_into(file, &restore_to))
        .await?
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&scratch);
            anyhow::anyhow!("{}: {e}", input.display())
        })?;
    if target.exists() {
        // No process may hold the old store while it is moved; it is not opened (it may be
        // the broken store being replaced), only its lock is tried, as sled takes it.
        if in_use(&target.join("db"))? {
            bail!(
                "the store at {} is in use by another process: stop the bot first",
                target.display()
            );
        }
        let aside = sibling(
            target,
            &format!(
                ".before-restore-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ),
        );
        std::fs::rename(target, &aside)?;
        eprintln!("the old store was moved to {}", aside.display());
    }
    std::fs::rename(&scratch, target)?;
    // sled's last handle on the new store (a thread of its own) may still be letting go.
    wait_unlocked(&target.join("db")).await?;
    let store = super::audit::open_store(target)?;
    // The audit entries written after the backup are in the export beside the head file.
    let export = crate::audit::export::path_beside(&config.audit.head_file(target));
    let mut entries = Vec::new();
    if let Some(lines) = crate::audit::export::read_lines(&export)? {
        for line in lines {
            let line = line?;
            match crate::audit::Entry::from_json(&line) {
                Ok(e) => entries.push(e),
                Err(e) => bail!(
                    "{}: a line is not an audit entry ({e}); run `audit verify --source export`",
                    export.display()
                ),
            }
        }
    }
    let (appended, settled) = store.after_restore(entries, chrono::Utc::now()).await?;
    store.close().await?;
    println!(
        "restored {} records ({} trees) into {}; {appended} audit entries written after the backup appended from {}; {settled} request(s) that ran after the backup marked as not to run again. Start the bot: pending pages are delivered (an already posted one is edited, never posted twice); pages acknowledged after the backup are not in it, and Alertmanager sends those still firing again at its repeat_interval.",
        copied.records,
        copied.trees,
        target.display(),
        export.display()
    );
    Ok(())
}

/// Whether another process holds sled's lock on `db` (an exclusive `flock`, as sled takes it).
fn in_use(db: &Path) -> anyhow::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let file = match std::fs::OpenOptions::new().read(true).write(true).open(db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("opening {}", db.display())),
    };
    // SAFETY: flock on a descriptor this function owns; the lock goes with the file.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    Ok(rc != 0)
}

/// Waits (at most 10 s) until no handle holds sled's lock on `db`.
async fn wait_unlocked(db: &Path) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while in_use(db)? {
        if std::time::Instant::now() > deadline {
            bail!("{} is still locked by another process", db.display());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub async fn dead(config: &Config, command: DeadCommand) -> anyhow::Result<()> {
    let line = match &command {
        DeadCommand::List => "dead list".to_string(),
        DeadCommand::Replay { which } => format!("dead replay {which}"),
        DeadCommand::Drop { which } => format!("dead drop {which}"),
    };
    // Parsed here too, so a bad argument is refused before anything is asked.
    let request = crate::admin::parse(&line).map_err(anyhow::Error::msg)?;
    let text = match connect(config).await {
        Some(mut conn) => {
            conn.write_all(format!("{line}\n").as_bytes()).await?;
            let mut answer = String::new();
            conn.read_to_string(&mut answer).await?;
            answer
        }
        None => {
            let store = super::audit::open_store(&config.storage.path)?;
            let text = match request {
                crate::admin::Request::DeadList => {
                    let mut out = String::new();
                    for d in store.dead_letters()? {
                        out.push_str(&serde_json::to_string(&d)?);
                        out.push('\n');
                    }
                    out + "ok"
                }
                crate::admin::Request::DeadReplay(w) => {
                    let s = store.dead_replay(w).await?;
                    format!("ok replayed {}: {s:?}", s.len())
                }
                crate::admin::Request::DeadDrop(w) => {
                    let s = store.dead_drop(w).await?;
                    format!("ok dropped {}: {s:?}", s.len())
                }
                _ => bail!("not a dead-letter request"),
            };
            store.close().await?;
            text
        }
    };
    let text = text.trim_end();
    if let Some(e) = text.lines().last().and_then(|l| l.strip_prefix("error: ")) {
        bail!("{e}");
    }
    match command {
        DeadCommand::List => {
            let mut n = 0;
            for l in text.lines().filter(|l| l.starts_with('{')) {
                let d: serde_json::Value = serde_json::from_str(l)?;
                n += 1;
                let at = chrono::DateTime::from_timestamp_millis(
                    d["received_at_ms"].as_i64().unwrap_or(0),
                )
                .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string());
                println!(
                    "#{}  {at}  {}  {} bytes  {}",
                    d["seq"],
                    d["group_key"].as_str().unwrap_or(""),
                    d["bytes"],
                    d["reason"].as_str().unwrap_or("")
                );
            }
            if n == 0 {
                println!("no dead letters");
            }
        }
        _ => println!("{}", text.trim_start_matches("ok ")),
    }
    Ok(())
}

/// The bytes a folder takes on disk (allocated blocks).
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .map(|d| d.flatten().map(|e| disk_usage(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.blocks() * 512,
        Err(_) => 0,
    }
}

/// Rewrites the store into a fresh file when sled's file has grown past `min_ratio` times the
/// records it holds (sled 0.34 does not give back the space of removed records; BENCHMARKS.md).
/// The bot must be stopped; the old store is kept until the new one is in place.
/// Smaller stores are left alone whatever the ratio: sled's own minimum is some MB.
pub async fn compact(config: &Config, min_ratio: f64, min_bytes: u64) -> anyhow::Result<()> {
    let target = &config.storage.path;
    if connect(config).await.is_some() {
        bail!("the bot is running on {}: stop it first", target.display());
    }
    let before = disk_usage(target);
    let copy = sibling(target, ".compact.fcb");
    let store = super::audit::open_store(target)?;
    let mut file = tokio::fs::File::create(&copy)
        .await
        .with_context(|| format!("creating {}", copy.display()))?;
    let copied = store.backup(&mut file).await;
    store.close().await?;
    drop(store);
    let copied = match copied {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            return Err(e.into());
        }
    };
    file.sync_all().await?;
    drop(file);
    if before < min_bytes || (before as f64) < min_ratio * copied.bytes as f64 {
        std::fs::remove_file(&copy)?;
        println!(
            "no need to compact {}: {} on disk for {} of records (under {min_ratio}x, or under {})",
            target.display(),
            human(before),
            human(copied.bytes),
            human(min_bytes)
        );
        return Ok(());
    }
    let scratch = sibling(target, ".compacting");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    let (from, to) = (copy.clone(), scratch.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<Copied> {
        Ok(backup::restore_into(std::fs::File::open(from)?, &to)?)
    })
    .await??;
    // sled releases its lock when the last handle (the commit task's) is gone.
    wait_unlocked(&target.join("db")).await?;
    let old = sibling(target, ".before-compact");
    std::fs::rename(target, &old)?;
    std::fs::rename(&scratch, target)?;
    std::fs::remove_dir_all(&old)?;
    std::fs::remove_file(&copy)?;
    println!(
        "compacted {}: {} -> {} on disk ({} records, {} of them)",
        target.display(),
        human(before),
        human(disk_usage(target)),
        copied.records,
        human(copied.bytes)
    );
    Ok(())
}

fn human(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
