//! The chain, copied as it grows to an append-only JSONL file outside the store: the audit log an
//! auditor reads while the bot runs.
//!
//! sled locks the store to one process, so reading the `audit` tree means stopping the bot.
//! Instead, every entry is appended (and synced) to this file after it is durable in the store and
//! before its head is published, so every published head names an entry already in the file,
//! and `audit verify` can check the file against the head file at any time, bot running or not,
//! on this machine or on a copy. Each line is the entry's stored JSON, byte for byte what
//! `audit export` prints. The file lives beside the head file (see [`path_beside`]) and, like it,
//! outside the store folder, so it also outlives a lost store.
//!
//! Only the tail is read when the bot starts (the last entry is where the copy resumes), so
//! start-up does not grow with the log.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Entry, Head};

/// `<x>.audit-head.jsonl` -> `<x>.audit.jsonl`; a head file named otherwise gets
/// `<name>.entries.jsonl` beside it.
pub fn path_beside(head_file: &Path) -> PathBuf {
    let name = head_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let exported = match name.rfind("audit-head") {
        Some(i) => format!("{}audit{}", &name[..i], &name[i + "audit-head".len()..]),
        None => format!("{name}.entries.jsonl"),
    };
    head_file.with_file_name(exported)
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the audit export {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("the audit export {path} ends with a line that is not an entry ({reason}): it was edited; move it aside to start a new copy")]
    BadTail { path: String, reason: String },
    #[error("entry {seq} does not follow entry {last} of the audit export {path}: the store's chain and the copy differ (run `flink-chatops audit verify --source store` with the bot stopped)")]
    Diverged { path: String, seq: u64, last: u64 },
}

/// Appends entries to the export file, in order and without gaps.
pub struct Exporter {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    file: File,
    last: Option<Head>,
}

impl Exporter {
    /// Opens (creating it and its folder) the export file; reads only its tail. A last line
    /// without its newline is a write that never finished (no head names it): it is cut off.
    pub fn open(path: &Path) -> Result<Exporter, ExportError> {
        let io = |source| ExportError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let (complete_len, last_line) = tail(&mut file).map_err(io)?;
        if complete_len < file.metadata().map_err(io)?.len() {
            file.set_len(complete_len).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        let last = match last_line {
            Some(line) => Some(
                Entry::from_json(&line)
                    .map_err(|reason| ExportError::BadTail {
                        path: path.display().to_string(),
                        reason,
                    })?
                    .head(),
            ),
            None => None,
        };
        Ok(Exporter {
            path: path.to_path_buf(),
            state: Mutex::new(State { file, last }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest exported entry's head.
    pub fn last(&self) -> Option<Head> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).last
    }

    /// Brings the file up to entry `upto`: `read(from, n)` returns up to `n` entries from
    /// sequence `from` on (the store's). Entries already in the file are skipped, so
    /// concurrent callers each see the file complete up to their entry, written once.
    /// Blocking (a read, a write, an fdatasync): call it off the async runtime.
    pub fn catch_up<E: std::error::Error + 'static>(
        &self,
        upto: u64,
        mut read: impl FnMut(u64, usize) -> Result<Vec<Entry>, E>,
    ) -> Result<(), CatchUpError<E>> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| CatchUpError::Export(self.io(io::Error::other("lock poisoned"))))?;
        loop {
            let next = state.last.map_or(1, |h| h.seq + 1);
            if next > upto {
                return Ok(());
            }
            let want = usize::try_from(upto - next + 1)
                .unwrap_or(usize::MAX)
                .min(512);
            let entries = read(next, want).map_err(CatchUpError::Read)?;
            if entries.is_empty() {
                return Ok(());
            }
            let mut lines = Vec::new();
            let mut last = state.last;
            for e in &entries {
                let (expected, prev) =
                    last.map_or((1, super::ChainHash::ZERO), |h| (h.seq + 1, h.hash));
                if e.seq != expected || e.prev_hash != prev {
                    return Err(CatchUpError::Export(ExportError::Diverged {
                        path: self.path.display().to_string(),
                        seq: e.seq,
                        last: expected - 1,
                    }));
                }
                lines.extend_from_slice(e.to_json().as_bytes());
                lines.push(b'\n');
                last = Some(e.head());
            }
            // One write of whole lines (O_APPEND), then a sync: a reader never sees a torn
            // line except the last, which it skips.
            state
                .file
                .write_all(&lines)
                .map_err(|e| CatchUpError::Export(self.io(e)))?;
            state
                .file
                .sync_data()
                .map_err(|e| CatchUpError::Export(self.io(e)))?;
            state.last = last;
        }
    }

    fn io(&self, source: io::Error) -> ExportError {
        ExportError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatchUpError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Export(ExportError),
    #[error("reading the store's audit entries: {0}")]
    Read(#[source] E),
}

/// The length of the file up to its last newline, and the last complete line.
fn tail(file: &mut File) -> io::Result<(u64, Option<Vec<u8>>)> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut window: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(file).take(len - start).read_to_end(&mut buf)?;
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            if start == 0 {
                return Ok((0, None));
            }
            window *= 4;
            continue;
        };
        let complete_len = start + end as u64 + 1;
        match buf[..end].iter().rposition(|&b| b == b'\n') {
            Some(begin) => return Ok((complete_len, Some(buf[begin + 1..end].to_vec()))),
            None if start == 0 => return Ok((complete_len, Some(buf[..end].to_vec()))),
            None => window *= 4,
        }
    }
}

/// The complete lines of an export file, oldest first (a last line without its newline is a
/// write in progress and is skipped); `None` when the file does not exist.
pub fn read_lines(path: &Path) -> io::Result<Option<impl Iterator<Item = io::Result<Vec<u8>>>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut reader = io::BufReader::new(file);
    Ok(Some(std::iter::from_fn(move || {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) if line.last() == Some(&b'\n') => {
                line.pop();
                Some(Ok(line))
            }
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    })))
}
