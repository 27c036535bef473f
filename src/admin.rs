//! The running bot's admin socket: `flink-chatops backup` and `flink-chatops dead` talk to the
//! bot through it, since sled lets only the bot's process open the store.
//!
//! A Unix socket beside the store (`<storage.path>.admin.sock`), mode 0600: only the bot's user
//! (and root) can connect, which is the whole authentication; nothing listens on the network.
//! One request line per connection:
//! - `backup`: the answer is the backup stream itself (`store::backup`);
//! - `dead list`: one JSON object per dead letter, then `ok`;
//! - `dead replay all|SEQ[,SEQ..]`, `dead drop all|SEQ[,SEQ..]`: `ok ...` once durable.
//!
//! Any failure is answered `error: ...` on one line.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::store::{Store, Which};

/// Where the socket of the store at `storage` lives.
pub fn socket_path(storage: &Path) -> PathBuf {
    let mut name = storage
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "flink-chatops-data".into());
    name.push(".admin.sock");
    storage.with_file_name(name)
}

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Backup,
    DeadList,
    DeadReplay(Which),
    DeadDrop(Which),
    /// The incidents the store has, one JSON object a line.
    IncidentList,
    /// One incident's story (`story::Story`) as JSON; the CLI renders it with its templates.
    IncidentStory(String),
}

/// Parses one request line (pure; table-tested).
pub fn parse(line: &str) -> Result<Request, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let which = |w: Option<&&str>| -> Result<Which, String> {
        match w {
            Some(&"all") => Ok(Which::All),
            Some(list) => list
                .split(',')
                .map(|s| {
                    s.parse::<u64>()
                        .map_err(|_| format!("{s:?} is not a dead letter's number"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Which::Seqs),
            None => Err("name the dead letters: all, or numbers from `dead list`".into()),
        }
    };
    match words.as_slice() {
        ["backup"] => Ok(Request::Backup),
        ["dead", "list"] => Ok(Request::DeadList),
        ["dead", "replay", rest @ ..] if rest.len() <= 1 => {
            which(rest.first()).map(Request::DeadReplay)
        }
        ["dead", "drop", rest @ ..] if rest.len() <= 1 => {
            which(rest.first()).map(Request::DeadDrop)
        }
        ["incident", "list"] => Ok(Request::IncidentList),
        ["incident", "story", id]
            if id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(Request::IncidentStory(id.to_string()))
        }
        ["incident", "story", _] => Err("an incident id is letters and digits".into()),
        _ => Err(format!("unknown request {line:?}")),
    }
}

/// Binds the socket and serves it until the process ends. A failure to bind is logged, not
/// fatal: the bot's work does not depend on it.
pub fn spawn(storage: &Path, store: Store) {
    let path = socket_path(storage);
    // A socket left by an earlier run: the store's lock (taken before this) shows that no
    // other bot is using this store now.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open the admin socket: `backup` and `dead` need the bot stopped");
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot restrict the admin socket; closing it");
            return;
        }
    }
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    tokio::spawn(serve(conn, store.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    });
}

async fn serve(conn: UnixStream, store: Store) {
    let (read, mut write) = conn.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(1024);
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let answer = match parse(&line) {
        Err(e) => Err(e),
        Ok(Request::Backup) => {
            tracing::info!("backup requested on the admin socket");
            match store.backup(&mut write).await {
                Ok(copied) => {
                    tracing::info!(?copied, "backup written");
                    return;
                }
                // Mid-stream the reader sees the missing end mark; say why in the log.
                Err(e) => {
                    tracing::error!(error = %e, "backup failed");
                    Err(e.to_string())
                }
            }
        }
        Ok(Request::DeadList) => match store.dead_letters() {
            Ok(list) => {
                let mut out = String::new();
                for d in list {
                    out.push_str(&serde_json::to_string(&d).unwrap_or_default());
                    out.push('\n');
                }
                out.push_str("ok");
                Ok(out)
            }
            Err(e) => Err(e.to_string()),
        },
        Ok(Request::DeadReplay(which)) => store
            .dead_replay(which)
            .await
            .map(|seqs| format!("ok replayed {}: {seqs:?}", seqs.len()))
            .map_err(|e| e.to_string()),
        Ok(Request::DeadDrop(which)) => store
            .dead_drop(which)
            .await
            .map(|seqs| format!("ok dropped {}: {seqs:?}", seqs.len()))
            .map_err(|e| e.to_string()),
        Ok(Request::IncidentList) => match crate::story::gather::list(&store).await {
            Ok(all) => Ok(all
                .iter()
                .map(|i| serde_json::to_string(i).unwrap_or_default() + "\n")
                .collect::<String>()
                + "ok"),
            Err(e) => Err(e.to_string()),
        },
        Ok(Request::IncidentStory(id)) => match crate::story::gather::story(&store, &id).await {
            Ok(Some(story)) => Ok(serde_json::to_string(&story).unwrap_or_default() + "\nok"),
            Ok(None) => Err(format!("the store has no incident {id}")),
            Err(e) => Err(e.to_string()),
        },
    };
    let text = match answer {
        Ok(t) => t,
        Err(e) => format!("error: {e}"),
    };
    let _ = write.write_all(format!("{text}\n").as_bytes()).await;
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let table: Vec<(&str, Result<Request, &str>)> = vec![
            ("backup\n", Ok(Request::Backup)),
            ("dead list", Ok(Request::DeadList)),
            ("dead replay all", Ok(Request::DeadReplay(Which::All))),
            (
                "dead replay 3,17",
                Ok(Request::DeadReplay(Which::Seqs(vec![3, 17]))),
            ),
            ("dead drop 9", Ok(Request::DeadDrop(Which::Seqs(vec![9])))),
            ("dead drop", Err("name the dead letters")),
            ("dead drop x", Err("\"x\" is not")),
            ("dead drop 1 2", Err("unknown request")),
            ("restore", Err("unknown request")),
            ("", Err("unknown request")),
        ];
        for (line, want) in table {
            match (parse(line), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{line}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{line}: {got}"),
                (got, want) => panic!("{line}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn the_socket_sits_beside_the_store() {
        assert_eq!(
            socket_path(Path::new("/var/lib/flink-chatops/data")),
            Path::new("/var/lib/flink-chatops/data.admin.sock")
        );
    }
}
