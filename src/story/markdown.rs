//! A story as Markdown (pure but for the templates): `responses/story/timeline.hbs` and
//! `responses/story/postmortem.hbs`, loaded like the runbooks so teams can shape them. The
//! templates get the story with every time already written out and table cells made safe.

use serde_json::{json, Value};

use super::{stamp, Cited, Story};
use crate::render::Renderer;

/// The file name of an incident's story.
pub fn file_name(incident_id: &str) -> String {
    format!("incident-{incident_id}.md")
}

/// The timeline alone (for `/flink timeline` and `incident show`).
pub fn timeline(renderer: &Renderer, story: &Story) -> String {
    render(renderer, "story/timeline", story)
}

/// The timeline as chat lines (for `/flink timeline`): one line per entry, no table.
pub fn chat(renderer: &Renderer, story: &Story) -> String {
    render(renderer, "story/chat", story)
}

/// The timeline and the postmortem draft, one Markdown document (the file).
pub fn document(renderer: &Renderer, story: &Story) -> String {
    let draft = render(renderer, "story/postmortem", story);
    let timeline = timeline(renderer, story);
    format!("{}\n\n{}\n", draft.trim_end(), timeline.trim_end())
}

fn render(renderer: &Renderer, name: &str, story: &Story) -> String {
    match renderer.render_named(name, &context(story)) {
        Ok(text) => text,
        Err(e) => {
            // A broken template still leaves the facts readable.
            tracing::error!(template = name, error = %e, "story template failed; writing JSON");
            format!(
                "```json\n{}\n```",
                serde_json::to_string_pretty(story).unwrap_or_default()
            )
        }
    }
}

/// What the templates see (documented in `responses/README.md`).
pub fn context(story: &Story) -> Value {
    let entries: Vec<Value> = story
        .entries
        .iter()
        .map(|e| {
            json!({
                "n": e.n,
                "at": stamp(e.at),
                "clock": e.at.format("%H:%M:%S").to_string(),
                "kind": e.kind,
                "source": cell(&e.source),
                "who": cell(e.who.as_deref().unwrap_or("")),
                "what": cell(&e.what),
            })
        })
        .collect();
    let d = &story.draft;
    let cited = |c: &Option<Cited>| {
        c.as_ref()
            .map(|c| json!({"text": c.text, "entry": c.entry}))
            .unwrap_or(Value::Null)
    };
    json!({
        "incident_id": story.incident_id,
        "alert": story.alert,
        "cluster": story.cluster,
        "job_id": story.job_id,
        "job_name": story.job_name,
        "entries": entries,
        "unplaced": story.unplaced,
        "draft": {
            "pattern": d.pattern,
            "root_cause": d.root_cause,
            "first_failure": cited(&d.first_failure),
            "last_failure": cited(&d.last_failure),
            "impact_start": cited(&d.impact_start),
            "impact_end": cited(&d.impact_end),
            "impact": d.impact_minutes.map(minutes),
            "alert_fired": cited(&d.alert_fired),
            "first_page": cited(&d.first_page),
            "detection": d.detection_seconds.map(seconds),
            "response": d.response.iter().map(|c| json!({"text": c.text, "entry": c.entry})).collect::<Vec<_>>(),
            "restore_point": cited(&d.restore_point),
            "restored_from": cited(&d.restored_from),
            "downtime": cited(&d.downtime),
        },
    })
}

/// A table cell: one line, no column breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn minutes(m: i64) -> String {
    if m >= 60 {
        format!("{} h {} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}

fn seconds(s: i64) -> String {
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}
