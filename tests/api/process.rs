//! The bot binary as a child process with its log captured, extra environment, an optional
//! open-file limit, SIGTERM and its exit status (`helpers::BotProcess` is the SIGKILL-only one).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{secrets_env, WEBHOOK_TOKEN};

/// The bot binary with its log captured, an optional open-file limit and extra environment.
pub struct Bot {
    child: Child,
    pub addr: String,
    log: PathBuf,
}

impl Bot {
    pub async fn start(config: &Path, env: &[(&str, &str)], open_files: Option<u64>) -> Bot {
        let addr = std::fs::read_to_string(config)
            .unwrap()
            .lines()
            .find_map(|l| {
                Some(
                    l.strip_prefix("listen = \"")?
                        .strip_suffix('"')?
                        .to_string(),
                )
            })
            .unwrap();
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let log =
            config.with_file_name(format!("bot-{}.log", RUNS.fetch_add(1, Ordering::Relaxed)));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flink-chatops"));
        cmd.args(["serve", "--config"])
            .arg(config)
            .envs(secrets_env())
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(n) = open_files {
            // SAFETY: only async-signal-safe setrlimit between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut bot = Bot {
            child: cmd.spawn().unwrap(),
            addr,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(bot.url("/healthz")).await.is_err() {
            if let Ok(Some(status)) = bot.child.try_wait() {
                panic!("bot exited at start ({status}):\n{}", bot.log());
            }
            assert!(
                Instant::now() < deadline,
                "bot did not start:\n{}",
                bot.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bot
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn sigterm(&self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
    }

    pub async fn exited(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the bot did not exit within {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One request on a fresh connection; panics unless answered within `within`.
    pub async fn get(&self, path: &str, within: Duration) -> (u16, Value) {
        let r = reqwest::Client::new()
            .get(self.url(path))
            .timeout(within)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} not answered within {within:?}: {e:?}"));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(json!(text)))
    }

    pub async fn post(&self, body: Vec<u8>, within: Duration) -> u16 {
        reqwest::Client::new()
            .post(self.url("/alertmanager"))
            .bearer_auth(WEBHOOK_TOKEN)
            .timeout(within)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("webhook not answered within {within:?}: {e:?}"))
            .status()
            .as_u16()
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
