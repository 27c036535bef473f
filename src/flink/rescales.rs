//! The adaptive scheduler's rescale history (Flink 2.3+): what tells a rescale's restart from a
//! failure's. Other versions and schedulers answer with an error, which means "no rescales known".

use super::client::segment;
use super::{FlinkClient, FlinkError};
use crate::facts::rescale::RescaleEntry;

impl FlinkClient {
    /// `GET /jobs/:id/rescales/history`: newest first, as many as
    /// `web.adaptive-scheduler.rescale-history.size` keeps. Flink 1.20 answers 404; a job
    /// without the adaptive scheduler (or with the history size 0) an error status.
    pub async fn rescale_history(&self, job_id: &str) -> Result<Vec<RescaleEntry>, FlinkError> {
        self.get(&format!("jobs/{}/rescales/history", segment(job_id)?))
            .await
    }
}
