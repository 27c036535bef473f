//! Reading the logs Flink serves over REST: the JobManager's (`/jobmanager/logs`,
//! `/jobmanager/logs/:file`) and a TaskManager's (`/taskmanagers/:id/logs`,
//! `/taskmanagers/:id/logs/:file`). Only the end of a file is kept, at most `max_bytes`.
//!
//! Flink 1.20.5 and 2.3.0 ignore a `Range` header on these files: they answer `200` with the whole
//! file (seen on the test clusters; the file handlers hand the whole file to Netty). The request
//! still asks for the tail (`Range: bytes=-N`), so a proxy or a later Flink that honours it
//! sends only that (`206`); otherwise the body is streamed and all but its last `max_bytes`
//! dropped as it arrives, so memory stays bounded whatever the file's size. The time it takes is
//! bounded by the caller's deadline.

use serde::Deserialize;

use super::client::{classify, first_error};
use super::lookups::tm_segment;
use super::{FlinkClient, FlinkError};

/// `/jobmanager/logs`, `/taskmanagers/:id/logs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogList {
    #[serde(default)]
    pub logs: Vec<LogEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogEntry {
    pub name: String,
    #[serde(default)]
    pub size: u64,
    /// Absent before Flink 1.19's listing had it.
    #[serde(default)]
    pub mtime: Option<i64>,
}

/// The end of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    /// From the first whole line kept to the end; lossy UTF-8.
    pub text: String,
    /// Bytes the file had, as far as the answer tells (the whole body, or `Content-Range`).
    pub total_bytes: u64,
    /// Whether the start of the file was dropped (the text starts with a whole line after it).
    pub cut: bool,
}

impl FlinkClient {
    pub async fn jobmanager_logs(&self) -> Result<LogList, FlinkError> {
        self.get("jobmanager/logs").await
    }

    pub async fn taskmanager_logs(&self, tm_id: &str) -> Result<LogList, FlinkError> {
        let id = tm_segment(tm_id)?;
        self.get(&format!("taskmanagers/{id}/logs")).await
    }

    /// The last `max_bytes` of one of the JobManager's log files.
    pub async fn jobmanager_log_tail(
        &self,
        file: &str,
        max_bytes: usize,
    ) -> Result<LogTail, FlinkError> {
        let file = file_segment(file)?;
        self.tail(&format!("jobmanager/logs/{file}"), max_bytes)
            .await
    }

    /// The last `max_bytes` of one of a TaskManager's log files.
    pub async fn taskmanager_log_tail(
        &self,
        tm_id: &str,
        file: &str,
        max_bytes: usize,
    ) -> Result<LogTail, FlinkError> {
        let id = tm_segment(tm_id)?;
        let file = file_segment(file)?;
        self.tail(&format!("taskmanagers/{id}/logs/{file}"), max_bytes)
            .await
    }

    async fn tail(&self, path: &str, max_bytes: usize) -> Result<LogTail, FlinkError> {
        let started = std::time::Instant::now();
        self.breaker.check(started)?;
        let result = self.stream_tail(path, max_bytes).await;
        self.breaker.record(&result, std::time::Instant::now());
        result
    }

    async fn stream_tail(&self, path: &str, max_bytes: usize) -> Result<LogTail, FlinkError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| FlinkError::Decode(format!("bad path {path}: {e}")))?;
        let ms = self.call_timeout().as_millis() as u64;
        let request = self
            .authorize(self.http.get(url))
            .header(reqwest::header::RANGE, format!("bytes=-{max_bytes}"))
            .timeout(self.call_timeout());
        let mut response = request.send().await.map_err(|e| classify(e, ms))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(FlinkError::Status {
                status: status.as_u16(),
                body: first_error(&body),
            });
        }
        let ranged_total = (status == reqwest::StatusCode::PARTIAL_CONTENT)
            .then(|| {
                response
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.rsplit('/').next())
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .flatten();
        let mut kept = TailBuffer::new(max_bytes);
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, ms))? {
            kept.push(&chunk);
        }
        let seen = kept.seen;
        let (text, cut) = kept.finish(ranged_total.is_some_and(|t| t > seen));
        Ok(LogTail {
            text,
            total_bytes: ranged_total.unwrap_or(seen),
            cut,
        })
    }
}

/// The last `max` bytes of a stream, in memory at most twice that.
struct TailBuffer {
    max: usize,
    bytes: Vec<u8>,
    seen: u64,
}

impl TailBuffer {
    fn new(max: usize) -> TailBuffer {
        TailBuffer {
            max,
            bytes: Vec::new(),
            seen: 0,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.seen += chunk.len() as u64;
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > 2 * self.max {
            let drop = self.bytes.len() - self.max;
            self.bytes.drain(..drop);
        }
    }

    /// The kept text from its first whole line; `started_later`: the server sent a range that
    /// does not start at the file's beginning.
    fn finish(mut self, started_later: bool) -> (String, bool) {
        if self.bytes.len() > self.max {
            let drop = self.bytes.len() - self.max;
            self.bytes.drain(..drop);
        }
        let cut = started_later || self.seen > self.bytes.len() as u64;
        if cut {
            // The first line is partial: start after it.
            let start = self
                .bytes
                .iter()
                .position(|b| *b == b'\n')
                .map_or(self.bytes.len(), |i| i + 1);
            self.bytes.drain(..start);
        }
        (String::from_utf8_lossy(&self.bytes).into_owned(), cut)
    }
}

/// Log file names come from Flink's own listing; still, only a plain file name may go into a
/// path (`flink-…-taskexecutor-0-host.log.1`).
fn file_segment(name: &str) -> Result<&str, FlinkError> {
    let plain = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if plain {
        Ok(name)
    } else {
        Err(FlinkError::Decode(format!(
            "{name:?} is not a log file name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_whole_lines_and_bounded_memory() {
        let mut t = TailBuffer::new(10);
        for line in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n"] {
            t.push(line.as_bytes());
            assert!(t.bytes.len() <= 20);
        }
        assert_eq!(t.seen, 20);
        assert_eq!(t.finish(false), ("dddd\n".to_string(), true));

        // The last drain can leave exactly `max` bytes: still cut.
        let mut exact = TailBuffer::new(5);
        for line in ["aaaa\n", "bbbb\n", "cccc\n"] {
            exact.push(line.as_bytes());
        }
        assert_eq!(exact.bytes.len(), 5);
        assert_eq!(exact.finish(false), (String::new(), true));

        let mut whole = TailBuffer::new(100);
        whole.push(b"one\ntwo\n");
        assert_eq!(whole.finish(false), ("one\ntwo\n".to_string(), false));
        // A range that starts mid-file: its first line is partial.
        let mut ranged = TailBuffer::new(100);
        ranged.push(b"ne\ntwo\n");
        assert_eq!(ranged.finish(true), ("two\n".to_string(), true));
    }

    #[test]
    fn only_plain_file_names_go_into_a_path() {
        assert!(file_segment("flink-chatops-taskexecutor-0-vm.log.1").is_ok());
        for bad in ["", "../etc/passwd", "a/b", ".hidden", "x?y", "a b"] {
            assert!(file_segment(bad).is_err(), "{bad:?}");
        }
    }
}
