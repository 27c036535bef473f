//! The source subtasks' watermarks of a job, for `facts::watermarks::lowest`: per source vertex
//! one call for its metric ids and one for their values, all in parallel, within the
//! enrichment's deadline.

use crate::facts::watermarks::{self, SourceWatermark, WatermarkFacts};
use crate::flink::types::JobDetails;
use crate::flink::{FlinkClient, FlinkError};

/// Source vertices asked, at most (as many as back-pressure samples).
const SOURCE_VERTICES: usize = 16;

/// The source subtask that holds the watermark back, if the job uses event time.
pub(super) async fn lowest(
    client: &FlinkClient,
    details: &JobDetails,
) -> Result<Option<WatermarkFacts>, FlinkError> {
    let sources = sources(details);
    let calls = sources
        .iter()
        .take(SOURCE_VERTICES)
        .map(|(id, name)| async move {
            let ids = client.vertex_metric_ids(&details.jid, id).await?;
            let wanted = watermarks::wanted_ids(&ids);
            if wanted.is_empty() {
                return Ok(Vec::new());
            }
            let values = client.vertex_metrics(&details.jid, id, &wanted).await?;
            Ok::<_, FlinkError>(watermarks::from_metrics(
                name,
                values
                    .iter()
                    .filter_map(|m| Some((m.id.as_str(), m.value.as_deref()?))),
            ))
        });
    let mut inputs: Vec<SourceWatermark> = Vec::new();
    let mut first_error = None;
    for answer in futures::future::join_all(calls).await {
        match answer {
            Ok(found) => inputs.extend(found),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    match (watermarks::lowest(&inputs, now_ms), first_error) {
        (Some(found), _) => Ok(Some(found)),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(None),
    }
}

/// (id, name) of the vertices that read no other vertex (the plan lists their inputs as none).
fn sources(details: &JobDetails) -> Vec<(String, String)> {
    details
        .vertices
        .iter()
        .filter(|v| match &details.plan {
            Some(plan) => plan
                .nodes
                .iter()
                .find(|n| n.id == v.id)
                .is_none_or(|n| n.inputs.is_empty()),
            None => v.name.starts_with("Source"),
        })
        .map(|v| (v.id.clone(), v.name.clone()))
        .collect()
}
