//! Publishing chain heads outside the store, to an append-only JSONL file (`audit.head_file`).
//!
//! A hash chain cannot show that its newest entries were cut off; a head written elsewhere can.
//! Each line is one [`Head`] (`{"seq":..,"hash":"..","at_ms":..}`), appended and synced after
//! the entry it names is durable, so a published head never names an entry that could still be
//! lost in a crash. The file lives outside the store folder so that replacing or truncating the
//! store does not take the heads with it; for more, ship the file off the machine (or post the
//! head to the audit channel) too.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Head;

/// Appends heads to one file; clone-free, share it behind an `Arc`.
pub struct Publisher {
    path: PathBuf,
    file: Mutex<File>,
}

impl Publisher {
    /// Opens (creating it and its folder if needed) the head file for appending.
    pub fn open(path: &Path) -> io::Result<Publisher> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Publisher {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one head and waits until it is on disk. Blocking (one small write and an
    /// fdatasync): call it from `spawn_blocking` on a busy runtime.
    pub fn publish(&self, head: &Head) -> io::Result<()> {
        let mut line = serde_json::to_vec(head).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| io::Error::other("the head file lock is poisoned"))?;
        // One write_all of a whole line: with O_APPEND, lines from one process never interleave.
        file.write_all(&line)?;
        file.sync_data()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HeadFileError {
    #[error("cannot read the published heads at {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} line {line}: not a published head ({reason})")]
    Bad {
        path: String,
        line: usize,
        reason: String,
    },
}

/// The heads published so far, oldest first; `None` when the file does not exist.
///
/// A last line without its newline is a write the process did not finish (a crash between
/// writing and syncing): it is skipped, since the append it belonged to was reported as failed.
/// Any other unreadable line is an error: someone edited the file.
pub fn read_heads(path: &Path) -> Result<Option<Vec<Head>>, HeadFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(HeadFileError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut heads = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Head>(line) {
            Ok(h) => heads.push(h),
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(e) => {
                return Err(HeadFileError::Bad {
                    path: path.display().to_string(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(Some(heads))
}
