//! Console output when no Discord token is configured: the same content, readable in a terminal.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::message::Message;

pub struct ConsoleSink {
    next_id: AtomicU64,
}

impl Default for ConsoleSink {
    fn default() -> Self {
        // Ids must not repeat across restarts: the store keeps them for edits.
        let seed = chrono::Utc::now().timestamp_millis() as u64 * 1000;
        ConsoleSink {
            next_id: AtomicU64::new(seed),
        }
    }
}

impl ConsoleSink {
    pub fn post(&self, channel: u64, msg: &Message) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        print(&format!("new message {id} in channel {channel}"), msg);
        id
    }

    pub fn edit(&self, channel: u64, message_id: u64, msg: &Message) {
        print(
            &format!("edit of message {message_id} in channel {channel}"),
            msg,
        );
    }

    pub fn thread(&self, channel: u64, message: u64, name: &str) -> u64 {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "\n===== thread {message} \"{name}\" on message {message} in channel {channel} ====="
        );
        // Like Discord: a thread started from a message has that message's id.
        message
    }

    pub fn post_files(&self, channel: u64, text: &str, files: &[crate::outbox::Attachment]) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let names: Vec<String> = files
            .iter()
            .map(|f| format!("{} ({} bytes)", f.name, f.bytes.len()))
            .collect();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "\n===== new message {id} in channel {channel} =====\n{text}\nfiles: {}\n=====",
            names.join(", ")
        );
        id
    }
}

pub fn format(msg: &Message) -> String {
    let mut out = String::new();
    if !msg.content.is_empty() {
        out.push_str(&msg.content);
        out.push('\n');
    }
    let e = &msg.embed;
    out.push_str(&format!("# {}\n", e.title));
    if !e.description.is_empty() {
        out.push_str(&format!("{}\n", e.description));
    }
    for f in &e.fields {
        out.push_str(&format!("\n## {}\n{}\n", f.name, f.value));
    }
    if !e.footer.is_empty() {
        out.push_str(&format!("\n-- {}\n", e.footer));
    }
    if !msg.buttons.is_empty() {
        let labels: Vec<String> = msg
            .buttons
            .iter()
            .map(|b| format!("[{}]", b.label))
            .collect();
        out.push_str(&format!("buttons: {}\n", labels.join(" ")));
    }
    out
}

fn print(header: &str, msg: &Message) {
    let text = format(msg);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "\n===== {header} =====\n{text}=====");
}
