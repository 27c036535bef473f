//! The calls behind a lost TaskManager's facts, under the enrichment's one deadline: the
//! cluster's capacity and registered TaskManagers, its jobs, and the exception history of each
//! job that could have had tasks on it (read in parallel, and kept in the archive like any
//! other read). `facts::taskmanager::decide` makes the picture.

use super::{keep_history, Deadline};
use crate::facts::taskmanager::{decide, JobView, TaskManagerLoss};
use crate::flink::{FlinkClient, FlinkError};

/// Jobs whose history is read: a cluster with more jobs than this reports on the newest ones.
const JOBS_READ: usize = 16;

/// The newest TaskManager loss since `since_ms`, if a job reports one.
pub(super) async fn lost_task_manager(
    client: &FlinkClient,
    deadline: Deadline,
    since_ms: i64,
) -> Result<Option<TaskManagerLoss>, FlinkError> {
    let (overview, registered, jobs) = tokio::join!(
        deadline.bound(client.overview()),
        deadline.bound(client.taskmanagers()),
        deadline.bound(client.jobs_overview()),
    );
    let (overview, registered, mut jobs) = (overview?, registered?, jobs?.jobs);
    // A job that ended before the window cannot have been hit by this loss.
    jobs.retain(|j| j.end_time < 0 || j.end_time >= since_ms);
    jobs.sort_by_key(|j| std::cmp::Reverse(j.start_time));
    jobs.truncate(JOBS_READ);
    let reads = jobs.iter().map(|j| async move {
        let ex = deadline.bound(client.exceptions(&j.jid)).await;
        if let Ok(ex) = &ex {
            keep_history(client, &j.jid, ex, deadline).await;
        }
        ex
    });
    let answers = futures::future::join_all(reads).await;
    let mut first_error = None;
    let mut views = Vec::new();
    for (job, answer) in jobs.iter().zip(&answers) {
        match answer {
            Ok(exceptions) => views.push(JobView { job, exceptions }),
            Err(e) => {
                first_error.get_or_insert_with(|| e.clone());
            }
        }
    }
    // Some jobs answering is enough; none answering (of several) is a missing fact.
    if views.is_empty() {
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    Ok(decide(&views, &registered, &overview, since_ms))
}
