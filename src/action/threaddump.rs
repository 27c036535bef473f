//! The pure half of thread dumps: which dumps a plan asks for, whether a TaskManager is already
//! struggling (then ask first, since a dump of thousands of threads can stall it past its
//! heartbeat timeout), and the text file a dump becomes, capped in size with a note when cut.

use super::job::{
    is_task_manager_id, job_words, Call, Effect, JobSnapshot, Method, Plan, TaskManagerHealth,
};

/// Largest dump file. Discord limits the whole upload request, not each file, and that limit
/// has been 8 MiB for unboosted servers for most of its history (25 MiB in 2023-24, 10 MiB
/// since): 7 MiB leaves room for the message JSON and the multipart envelope under the lowest
/// limit seen. Post each dump as its own message, or lower the cap when attaching several.
pub const DUMP_FILE_CAP_BYTES: usize = 7 * 1024 * 1024;

/// Heartbeats go every 10 s by default (`heartbeat.interval`) and time out after 50 s: two
/// missed ones mean the TaskManager is already slow to answer.
const HEARTBEAT_LATE_MS: i64 = 20_000;
const HEAP_FULL: f64 = 0.90;
const CPU_BUSY: f64 = 0.90;
/// Above this, the dump itself is big and slow to take (every thread is stopped and walked).
const MANY_THREADS: i64 = 1_000;

impl TaskManagerHealth {
    /// Each reason the TaskManager looks busy, in words ("heap 95% used").
    pub fn concerns(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(age) = self.heartbeat_age_ms.filter(|a| *a >= HEARTBEAT_LATE_MS) {
            out.push(format!("last heartbeat {} s ago", age / 1000));
        }
        if let (Some(used), Some(max)) = (self.heap_used_bytes, self.heap_max_bytes) {
            if max > 0 && used as f64 / max as f64 >= HEAP_FULL {
                out.push(format!(
                    "heap {:.0}% used",
                    100.0 * used as f64 / max as f64
                ));
            }
        }
        if let Some(cpu) = self.cpu_load.filter(|c| *c >= CPU_BUSY) {
            out.push(format!("CPU {:.0}%", 100.0 * cpu));
        }
        if let Some(n) = self.threads.filter(|n| *n >= MANY_THREADS) {
            out.push(format!("{n} threads"));
        }
        out
    }

    pub fn is_struggling(&self) -> bool {
        !self.concerns().is_empty()
    }
}

/// The JobManager, then every TaskManager of the snapshot with a usable id; a question first
/// when one of them is struggling.
pub(super) fn plan_dumps(plan: &mut Plan, job: &JobSnapshot) {
    plan.calls.push(Call {
        method: Method::Get,
        path: "/jobmanager/thread-dump".into(),
        body: None,
    });
    let tms: Vec<&TaskManagerHealth> = job
        .task_managers
        .iter()
        .filter(|tm| is_task_manager_id(&tm.id))
        .collect();
    plan.calls.extend(tms.iter().map(|tm| Call {
        method: Method::Get,
        path: format!("/taskmanagers/{}/thread-dump", tm.id),
        body: None,
    }));
    plan.summary = match tms.len() {
        0 => format!("Thread dump of the JobManager of {}", plan.cluster),
        n => format!(
            "Thread dump of the JobManager and {n} TaskManager(s) of {} on {}",
            job_words(job),
            plan.cluster
        ),
    };
    let troubled: Vec<(&str, Vec<String>)> = tms
        .iter()
        .map(|tm| (tm.id.as_str(), tm.concerns()))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if !troubled.is_empty() {
        let list: Vec<String> = troubled
            .iter()
            .map(|(id, c)| format!("TaskManager {id} ({})", c.join(", ")))
            .collect();
        plan.confirm = Some(format!(
            "{} {} struggling: a thread dump can stall a busy TaskManager past its heartbeat timeout. Dump anyway?",
            list.join("; "),
            if list.len() == 1 { "is" } else { "are" }
        ));
    }
    plan.effect = Effect::ThreadDumps {
        task_managers: tms.iter().map(|tm| tm.id.clone()).collect(),
        struggling: troubled.iter().map(|(id, _)| id.to_string()).collect(),
    };
}

/// A rendered dump, ready to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpFile {
    pub file_name: String,
    pub text: String,
    pub threads_total: usize,
    pub threads_shown: usize,
}

impl DumpFile {
    pub fn truncated(&self) -> bool {
        self.threads_shown < self.threads_total
    }
}

/// Renders `(thread name, stringified thread info)` pairs for `source` ("JobManager",
/// "TaskManager 10.0.0.7:6122-3f9a1c") into at most `cap` bytes. The job's task threads
/// ("count-per-key (1/1)#0") come first because they run the user's code, then the rest in
/// Flink's order; whole threads are dropped from the end when the cap is reached, and the note
/// saying so is at the top, where a reader looks first.
pub fn render_thread_dump<'a>(
    source: &str,
    threads: impl IntoIterator<Item = (&'a str, &'a str)>,
    cap: usize,
) -> DumpFile {
    let mut threads: Vec<(&str, &str)> = threads.into_iter().collect();
    // Stable: task threads first, each group in Flink's order.
    threads.sort_by_key(|(name, _)| !is_task_thread(name));
    let total = threads.len();
    // Room for the header, whatever it says.
    let budget = cap.saturating_sub(512);
    let mut body = String::new();
    let mut shown = 0;
    for (name, info) in &threads {
        let block = format!("--- {name}\n{}\n\n", info.trim_end());
        if body.len() + block.len() > budget {
            if shown == 0 {
                // Not even one thread fits: keep the start of the first one.
                body.push_str(cut_at_char(&block, budget));
                shown = 1;
            }
            break;
        }
        body.push_str(&block);
        shown += 1;
    }
    let mut header = format!("Thread dump of the {source}: {total} threads\n");
    if shown < total {
        header.push_str(&format!(
            "NOTE: cut to {shown} of {total} threads to stay under {} KiB; task threads first\n",
            cap / 1024
        ));
    }
    header.push('\n');
    let mut text = header;
    text.push_str(&body);
    if text.len() > cap {
        // Only for caps too small for the header itself.
        text = cut_at_char(&text, cap).to_string();
    }
    DumpFile {
        file_name: format!("threaddump-{}.txt", file_stem(source)),
        text,
        threads_total: total,
        threads_shown: shown,
    }
}

/// Task threads are named "<task name> (<subtask>/<parallelism>)#<attempt>".
fn is_task_thread(name: &str) -> bool {
    let Some((_, tail)) = name.rsplit_once(" (") else {
        return false;
    };
    let Some((slots, attempt)) = tail.split_once(")#") else {
        return false;
    };
    let Some((sub, par)) = slots.split_once('/') else {
        return false;
    };
    [sub, par, attempt]
        .iter()
        .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

fn cut_at_char(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn file_stem(source: &str) -> String {
    let mut out = String::new();
    for c in source.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads() -> Vec<(String, String)> {
        let mut v = vec![
            (
                "main".to_string(),
                "\"main\" Id=1 WAITING\n\tat x".to_string(),
            ),
            (
                "flink-pekko.actor.default-dispatcher-5".to_string(),
                "\"flink-pekko\" Id=2 RUNNABLE".to_string(),
            ),
            (
                "count-per-key -> discard-sink: Writer (1/1)#0".to_string(),
                "\"count-per-key\" Id=3 RUNNABLE\n\tat harness.HealthyJob".to_string(),
            ),
        ];
        for i in 0..200 {
            v.push((format!("filler-{i}"), "x".repeat(1000)));
        }
        v
    }

    fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
        v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }

    #[test]
    fn task_threads_come_first_and_everything_fits_under_a_big_cap() {
        let v = threads();
        let dump = render_thread_dump("TaskManager 127.0.0.1:41977-6d1a9d", pairs(&v), 1 << 20);
        assert!(!dump.truncated());
        assert_eq!(dump.threads_total, 203);
        assert!(!dump.text.contains("NOTE: cut"));
        let task = dump.text.find("--- count-per-key").unwrap();
        let main = dump.text.find("--- main").unwrap();
        assert!(task < main, "task threads first");
        assert_eq!(
            dump.file_name,
            "threaddump-taskmanager-127-0-0-1-41977-6d1a9d.txt"
        );
    }

    #[test]
    fn a_cut_dump_stays_under_the_cap_and_says_so_at_the_top() {
        let v = threads();
        let dump = render_thread_dump("JobManager", pairs(&v), 20 * 1024);
        assert!(dump.text.len() <= 20 * 1024, "{}", dump.text.len());
        assert!(dump.truncated());
        let first_lines: Vec<&str> = dump.text.lines().take(2).collect();
        assert!(
            first_lines[1].starts_with(&format!(
                "NOTE: cut to {} of 203 threads",
                dump.threads_shown
            )),
            "{first_lines:?}"
        );
        // Whole threads only.
        assert_eq!(dump.text.matches("--- ").count(), dump.threads_shown);
    }

    #[test]
    fn a_tiny_cap_keeps_the_start_of_one_thread() {
        let v = vec![("big".to_string(), "é".repeat(10_000))];
        let dump = render_thread_dump("JobManager", pairs(&v), 2000);
        assert!(dump.text.len() <= 2000);
        assert!(dump.text.contains("--- big"));
    }

    #[test]
    fn task_thread_names_are_recognised() {
        assert!(is_task_thread("Source: numbers-source (1/1)#0"));
        assert!(is_task_thread("OutputFlusher for Source: x (2/4)#13"));
        assert!(!is_task_thread("flink-pekko.actor.default-dispatcher-5"));
        assert!(!is_task_thread("Flink Netty Server (0) Thread 0"));
    }

    #[test]
    fn concerns_name_each_sign_of_trouble() {
        let calm = TaskManagerHealth {
            id: "tm".into(),
            heartbeat_age_ms: Some(3_000),
            heap_used_bytes: Some(100),
            heap_max_bytes: Some(1000),
            cpu_load: Some(0.2),
            threads: Some(65),
            ..Default::default()
        };
        assert!(!calm.is_struggling());
        let busy = TaskManagerHealth {
            heartbeat_age_ms: Some(32_000),
            heap_used_bytes: Some(950),
            cpu_load: Some(0.97),
            threads: Some(2_000),
            ..calm.clone()
        };
        assert_eq!(
            busy.concerns(),
            [
                "last heartbeat 32 s ago",
                "heap 95% used",
                "CPU 97%",
                "2000 threads"
            ]
        );
        assert!(
            !TaskManagerHealth::default().is_struggling(),
            "unknown is not struggling"
        );
    }
}
