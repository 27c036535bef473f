//! Which operator holds a back-pressured job back, decided the way Flink's docs teach it: walk
//! the job graph downstream from the back-pressured vertices; the first vertex that is not
//! back-pressured itself but busy is the bottleneck (it cannot keep up, so everything upstream
//! waits on its full buffers). Pure: it reads the answers of `/jobs/:id` (vertices and `plan`)
//! and `/jobs/:id/vertices/:vid/backpressure`, and makes no call.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;

use crate::flink::types::{Backpressure, JobDetails};

/// Flink's own boundary between `ok` and `low` back-pressure (share of time back-pressured).
pub const BACKPRESSURED_RATIO: f64 = 0.10;
/// A subtask busy at least this share of the time counts as busy (`busyTimeMsPerSecond` >= 500).
pub const BUSY_RATIO: f64 = 0.50;
/// The hottest subtask is skewed when it is busier than the median of the others by this much.
pub const SKEW_GAP: f64 = 0.30;

/// The vertex that holds the job back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bottleneck {
    pub vertex: String,
    /// Busy time of its busiest subtask, in percent.
    pub busy_pct: u32,
    pub parallelism: i64,
    /// Set when one subtask is much busier than the others (data skew).
    pub skew: Option<Skew>,
    /// The back-pressured vertex upstream whose walk found it (the victim the alert saw).
    pub holds_back: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skew {
    /// Index of the hottest subtask.
    pub subtask: i64,
    pub busy_pct: u32,
    /// Median busy time of the other subtasks, in percent.
    pub median_pct: u32,
    /// Share of time the hottest subtask was back-pressured, and the median of the others, in
    /// percent: a hot subtask that is also back-pressured waits on its own downstream.
    pub backpressure_pct: u32,
    pub median_backpressure_pct: u32,
}

/// The most skewed vertex of a job (see [`hottest`]) with each subtask's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HotSubtask {
    pub vertex: String,
    pub parallelism: i64,
    pub skew: Skew,
    /// Records in and out per subtask, from `/jobs/:id/vertices/:vid` (empty if it did not answer).
    pub records: Vec<SubtaskRecords>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubtaskRecords {
    pub subtask: i64,
    pub records_in: i64,
    pub records_out: i64,
}

impl HotSubtask {
    /// "`slow-operator` subtask 0 hottest at …; records in/out #0 9000/9000 · #1 100/100".
    pub fn line(&self) -> String {
        let mut line = format!("`{}` {}", self.vertex, self.skew.line());
        if !self.records.is_empty() {
            let per: Vec<String> = self
                .records
                .iter()
                .map(|r| format!("#{} {}/{}", r.subtask, r.records_in, r.records_out))
                .collect();
            line.push_str(&format!("; records in/out {}", per.join(" · ")));
        }
        line
    }
}

/// Records per subtask from the vertex's details, in subtask order.
pub fn records(v: &crate::flink::types::VertexDetails) -> Vec<SubtaskRecords> {
    let mut out: Vec<SubtaskRecords> = v
        .subtasks
        .iter()
        .filter_map(|s| {
            let m = s.metrics.as_ref()?;
            Some(SubtaskRecords {
                subtask: s.subtask,
                records_in: m.read_records,
                records_out: m.write_records,
            })
        })
        .collect();
    out.sort_by_key(|r| r.subtask);
    out
}

impl Skew {
    /// "subtask 0 hottest at 99% busy vs 12% median (back-pressured 0% vs 0%)": the same words
    /// on the backpressure and the data-skew pages.
    pub fn line(&self) -> String {
        format!(
            "subtask {} hottest at {}% busy vs {}% median (back-pressured {}% vs {}%)",
            self.subtask,
            self.busy_pct,
            self.median_pct,
            self.backpressure_pct,
            self.median_backpressure_pct
        )
    }
}

/// The most skewed vertex of the job, whether or not it holds anything back (data skew): the
/// one whose hottest subtask is furthest above the median busy time of its siblings (by at
/// least [`SKEW_GAP`]). The same measure as a bottleneck's `skew`, over every vertex.
pub fn hottest<'a>(
    details: &'a JobDetails,
    pressure: &HashMap<String, Backpressure>,
) -> Option<(&'a crate::flink::types::Vertex, Skew)> {
    details
        .vertices
        .iter()
        .filter_map(|v| Some((v, skew(pressure.get(&v.id)?)?)))
        .max_by_key(|(_, s)| s.busy_pct as i64 - s.median_pct as i64)
}

/// Names the bottleneck, if the answers show one. `pressure` holds the back-pressure answer per
/// vertex id; a vertex without an answer is unknown, and a walk stops there rather than guess.
/// A first not-back-pressured vertex that is idle ends its walk with no bottleneck; when walks
/// reach several busy ones (fan-out), the busiest is named.
pub fn find(details: &JobDetails, pressure: &HashMap<String, Backpressure>) -> Option<Bottleneck> {
    let downstream = downstream_edges(details);
    let mut best: Option<(f64, Bottleneck)> = None;
    let mut seen = HashSet::new();
    // Vertices come sources first, so the first back-pressured one is the furthest upstream.
    for victim in &details.vertices {
        if !pressure.get(&victim.id).is_some_and(is_backpressured) {
            continue;
        }
        let mut queue: VecDeque<&str> = downstream
            .get(victim.id.as_str())
            .into_iter()
            .flatten()
            .copied()
            .collect();
        while let Some(id) = queue.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            let Some(bp) = pressure.get(id) else { continue };
            if is_backpressured(bp) {
                queue.extend(downstream.get(id).into_iter().flatten().copied());
                continue;
            }
            let busiest = busy_ratios(bp).map(|(_, r)| r).fold(0.0, f64::max);
            if busiest < BUSY_RATIO || best.as_ref().is_some_and(|(b, _)| *b >= busiest) {
                continue;
            }
            let Some(vertex) = details.vertices.iter().find(|v| v.id == id) else {
                continue;
            };
            best = Some((
                busiest,
                Bottleneck {
                    vertex: vertex.name.clone(),
                    busy_pct: pct(busiest),
                    parallelism: vertex.parallelism,
                    skew: skew(bp),
                    holds_back: victim.name.clone(),
                },
            ));
        }
    }
    best.map(|(_, b)| b)
}

/// Vertex id -> the ids of the vertices that read from it (the plan lists inputs only).
fn downstream_edges(details: &JobDetails) -> HashMap<&str, Vec<&str>> {
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in details.plan.iter().flat_map(|p| &p.nodes) {
        for input in &node.inputs {
            edges
                .entry(input.id.as_str())
                .or_default()
                .push(node.id.as_str());
        }
    }
    edges
}

/// Flink's vertex-level verdict (`low`/`high`), else the highest subtask ratio against its threshold.
pub fn is_backpressured(bp: &Backpressure) -> bool {
    match bp.level.as_deref() {
        Some(level) => !level.eq_ignore_ascii_case("ok"),
        None => bp.subtasks.iter().any(|s| s.ratio > BACKPRESSURED_RATIO),
    }
}

/// (subtask index, busy ratio) of every subtask whose busy time Flink measured.
fn busy_ratios(bp: &Backpressure) -> impl Iterator<Item = (i64, f64)> + '_ {
    bp.subtasks
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((s.subtask.unwrap_or(i as i64), s.busy_ratio?)))
}

fn skew(bp: &Backpressure) -> Option<Skew> {
    let mut busy: Vec<(i64, f64)> = busy_ratios(bp).collect();
    if busy.len() < 2 {
        return None;
    }
    busy.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (subtask, hottest) = busy[0];
    let others: Vec<f64> = busy[1..].iter().map(|(_, r)| *r).collect();
    // `others` is sorted descending: its median is the middle (or the mean of the two middles).
    let n = others.len();
    let median = if n % 2 == 1 {
        others[n / 2]
    } else {
        (others[n / 2 - 1] + others[n / 2]) / 2.0
    };
    let pressured = |i: i64| {
        bp.subtasks
            .iter()
            .enumerate()
            .find(|(j, s)| s.subtask.unwrap_or(*j as i64) == i)
            .map_or(0.0, |(_, s)| s.ratio)
    };
    let others_pressure: Vec<f64> = busy[1..].iter().map(|(i, _)| pressured(*i)).collect();
    (hottest - median >= SKEW_GAP).then(|| Skew {
        subtask,
        busy_pct: pct(hottest),
        median_pct: pct(median),
        backpressure_pct: pct(pressured(subtask)),
        median_backpressure_pct: pct(median_of(others_pressure)),
    })
}

fn median_of(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn pct(ratio: f64) -> u32 {
    (ratio.clamp(0.0, 1.0) * 100.0).round() as u32
}

#[cfg(test)]
#[path = "bottleneck_tests.rs"]
mod tests;
