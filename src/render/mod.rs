//! Rendering: incident + Flink facts + diagnosis -> a chat-neutral [`Message`].
//!
//! Handlebars templates from `responses/` write the guidance (the description); this module
//! lays out the structured parts (title, colour, fact fields, links) so every template gets them
//! for free. A broken template never loses an alert: it falls back to `default`, then to text.

mod context;
pub mod helpers;
pub mod templates;

use handlebars::Handlebars;
use serde_json::Value;

use crate::alertmanager::Webhook;
use crate::diagnose::Diagnosis;
use crate::facts::Facts;
use crate::incident::Incident;
use crate::message::{colors, Embed, Field, Message};
pub use context::context;
pub use templates::TemplateError;

pub struct RenderInput<'a> {
    pub hook: &'a Webhook,
    pub incident: &'a Incident,
    pub facts: &'a Facts,
    pub diagnosis: &'a Diagnosis,
    /// Mention strings (`<@&role>`, `<@user>`) for the notification's severity.
    pub mentions: &'a [String],
    pub now: chrono::DateTime<chrono::Utc>,
    /// What buttons on this deployment can do (none, read-only answers, guarded actions).
    pub available: crate::buttons::Available,
    /// Who is on it and what was done (acknowledged, silenced, last action), if anything.
    pub note: Option<String>,
}

pub struct Renderer {
    hb: Handlebars<'static>,
}

impl Renderer {
    pub fn new(override_dir: Option<&std::path::Path>) -> Result<Renderer, TemplateError> {
        Ok(Renderer {
            hb: templates::load(override_dir)?,
        })
    }

    pub fn has_template(&self, name: &str) -> bool {
        self.hb.has_template(name)
    }

    /// Renders the template `name` (`story/timeline`) with `data`: texts that are not pages.
    pub fn render_named(&self, name: &str, data: &Value) -> Result<String, String> {
        self.hb.render(name, data).map_err(|e| e.to_string())
    }

    pub fn render(&self, input: &RenderInput<'_>) -> Message {
        // One context for both templates: `Handlebars::render(name, &value)` would copy the
        // whole tree into a fresh context for each of them.
        let mut ctx = handlebars::Context::from(context(input));
        let guidance = self.guidance(input.diagnosis.slug, &ctx);
        ctx.data_mut()["guidance"] = Value::String(guidance);
        let body = self.body(input.hook.lead_alert().name(), &ctx);
        Message {
            buttons: buttons(input),
            ..assemble(input, body)
        }
        .fit()
    }

    /// The failure pattern's runbook text, or "" if the pattern has no template.
    fn guidance(&self, slug: &str, ctx: &handlebars::Context) -> String {
        for name in [format!("patterns/{slug}"), "patterns/unknown".to_string()] {
            if self.hb.has_template(&name) {
                match self.hb.render_with_context(&name, ctx) {
                    Ok(text) => return text.trim().to_string(),
                    Err(e) => {
                        tracing::error!(template = %name, error = %e, "template failed; falling back")
                    }
                }
            }
        }
        String::new()
    }

    /// The alert's own template, else `default`, else plain text: something is always posted.
    fn body(&self, alert_name: &str, ctx: &handlebars::Context) -> String {
        for name in [format!("alerts/{alert_name}"), "default".to_string()] {
            if self.hb.has_template(&name) {
                match self.hb.render_with_context(&name, ctx) {
                    Ok(text) => return tidy(&text),
                    Err(e) => {
                        tracing::error!(template = %name, error = %e, "template failed; falling back")
                    }
                }
            }
        }
        let data = ctx.data();
        let summary = data["alert"]["summary"].as_str().unwrap_or("");
        let guidance = data["guidance"].as_str().unwrap_or("");
        format!("{summary}\n\n{guidance}").trim().to_string()
    }
}

/// The buttons the incident's message carries (the same set the templates are told about).
pub(crate) fn buttons(input: &RenderInput<'_>) -> Vec<crate::buttons::Button> {
    let page = crate::buttons::Page {
        incident_id: &input.incident.id,
        has_job: input.facts.job.is_some(),
        operated: input.facts.operator.is_some(),
        resolved: input.incident.is_resolved(),
        suggested: &input.diagnosis.actions,
    };
    crate::buttons::for_incident(&page, input.available)
}

/// Collapses the blank lines that template conditionals leave behind.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.trim().lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end().to_string()
}

fn assemble(input: &RenderInput<'_>, description: String) -> Message {
    let hook = input.hook;
    let lead = hook.lead_alert();
    let facts = input.facts;
    let resolved = input.incident.is_resolved();
    let severity = hook.severity();
    let color = if resolved {
        colors::RESOLVED
    } else {
        crate::severity::Level::of(&severity).color()
    };

    let subject = facts
        .job
        .as_ref()
        .and_then(|j| j.name.clone())
        .or_else(|| lead.labels.get("job_name").cloned())
        .or_else(|| lead.labels.get("host").cloned());
    let title = format!(
        "{} {}{}",
        if resolved { "[RESOLVED]" } else { "[FIRING]" },
        lead.name(),
        subject.map(|s| format!(" — {s}")).unwrap_or_default()
    );
    let mut fields: Vec<Field> = input
        .note
        .iter()
        .map(|n| Field::new(NOTE_FIELD, n.clone(), false))
        .collect();
    fields.extend(fact_fields(facts));
    fields.extend(alert_list(hook));
    fields.push(Field::new("Links", links(input), false));
    let inc = input.incident;
    let footer = if resolved {
        format!(
            "Resolved after {} · {} notification(s) · pattern {} · incident {}",
            helpers::human_duration(inc.duration_secs(input.now)),
            inc.notifications,
            input.diagnosis.slug,
            inc.id
        )
    } else {
        format!(
            "Firing since {} · {} notification(s) · pattern {} · incident {}",
            inc.firing_since.format("%Y-%m-%d %H:%M UTC"),
            inc.notifications,
            input.diagnosis.slug,
            inc.id
        )
    };
    let (content, mention_roles, mention_users) = mentions(input.mentions, resolved);
    Message {
        content,
        mention_roles,
        mention_users,
        embed: Embed {
            title,
            url: facts.job.as_ref().map(|j| j.exceptions_url.clone()),
            description,
            color,
            fields,
            footer,
            timestamp: Some(input.now),
        },
        buttons: Vec::new(),
    }
}

/// The name of the field with the incident's one-line state (the guard updates it in place).
pub const NOTE_FIELD: &str = "Now";

/// `msg` with its one-line state replaced (or removed): the first field, as [`render`] puts it
/// (pure). Used to change the state line of a message already sent without rendering it anew.
pub fn with_note(mut msg: Message, note: Option<String>) -> Message {
    msg.embed.fields.retain(|f| f.name != NOTE_FIELD);
    if let Some(n) = note {
        msg.embed.fields.insert(0, Field::new(NOTE_FIELD, n, false));
    }
    msg.fit()
}

/// The fact fields of a page; `/flink status` shows the same ones, formatted by this code.
pub fn fact_fields(facts: &Facts) -> Vec<Field> {
    let mut fields = Vec::new();
    if let Some(job) = &facts.job {
        let state = job.state.as_deref().unwrap_or("unknown");
        fields.push(Field::new(
            "Job",
            format!(
                "{} (`{}`)\nstate **{state}**",
                job.name.as_deref().unwrap_or("?"),
                job.id
            ),
            true,
        ));
    }
    if let Some(c) = &facts.cluster {
        fields.push(Field::new("Cluster", c.name.clone(), true));
    }
    if let Some(op) = &facts.operator {
        fields.push(Field::new(
            "Run by",
            format!(
                "Flink Kubernetes Operator, {}: stop and cancel go through it",
                op.words()
            ),
            false,
        ));
    }
    if let Some(r) = facts.restarts {
        fields.push(Field::new("Restarts", r.to_string(), true));
    }
    if let Some(rc) = &facts.root_cause {
        let msg = if rc.message.is_empty() {
            String::new()
        } else {
            format!(": {}", rc.message)
        };
        let mut value = format!("`{}`{msg}", rc.class);
        if let Some(task) = &rc.task {
            value.push_str(&format!("\nin {task}"));
        }
        if let Some(frame) = &rc.origin.job_frame {
            value.push_str(&job_frame_line(rc.origin.thrown_by, frame));
        }
        let name = if rc.stale {
            "Last failure (long before this alert)"
        } else {
            "Root cause"
        };
        fields.push(Field::new(name, value, false));
    }
    // Only for a failure that repeats: the first of the loop, kept beyond Flink's history.
    if let Some(h) = facts.history.as_ref().filter(|h| h.since_first > 0) {
        fields.push(Field::new("First failure", h.line(), false));
    }
    if let Some(cp) = &facts.checkpoints {
        let value = match &cp.last_completed {
            Some(last) => format!(
                "#{} {} ago, took {} ms, {}\n{} completed · {} failed · {} in progress",
                last.id,
                helpers::human_duration(last.age_secs),
                last.duration_ms,
                helpers::human_bytes(last.size_bytes as f64),
                cp.completed,
                cp.failed,
                cp.in_progress
            ),
            None => format!(
                "none completed · {} failed · {} in progress",
                cp.failed, cp.in_progress
            ),
        };
        let value = match &cp.last_restored {
            Some(r) => format!("{value}\nrestored from {}", r.summary),
            None => value,
        };
        fields.push(Field::new("Last checkpoint", value, false));
        if let Some(failed) = &cp.last_failed {
            fields.push(Field::new(
                "Last failed checkpoint",
                format!(
                    "#{}: {}",
                    failed.id,
                    failed.message.as_deref().unwrap_or("no reason given")
                ),
                false,
            ));
        }
    }
    if let Some(w) = &facts.watermark {
        fields.push(Field::new("Lowest watermark", w.line(), false));
    }
    if let Some(log) = &facts.log {
        fields.push(log_field(log));
    }
    if let Some(bp) = &facts.backpressure {
        let mut value = format!("{} ({:.0}%) at {}", bp.level, bp.ratio * 100.0, bp.vertex);
        if let Some(b) = &bp.bottleneck {
            value.push_str(&format!(
                "\nbottleneck `{}`, {}% busy, parallelism {}",
                b.vertex, b.busy_pct, b.parallelism
            ));
            if let Some(s) = &b.skew {
                value.push_str(&format!(", {}", s.line()));
            }
        }
        fields.push(Field::new("Backpressure", value, false));
        if let Some(h) = &bp.hot {
            fields.push(Field::new("Hot subtask", h.line(), false));
        }
    }
    if !facts.notes.is_empty() {
        fields.push(Field::new("Note", facts.notes.join("\n"), false));
    }
    if !facts.missing.is_empty() {
        fields.push(Field::new(
            "⚠ Enrichment unavailable",
            facts
                .missing
                .iter()
                .map(|m| format!("• {m}"))
                .collect::<Vec<_>>()
                .join("\n"),
            false,
        ));
    }
    fields
}

/// The cause Flink's logs name, where it was read; or that none was found, and why.
fn log_field(log: &crate::facts::logs::LogFacts) -> Field {
    match (&log.cause, &log.read_from) {
        (Some(c), Some(from)) => {
            let mut value = c.line();
            if let Some(b) = &c.bucket {
                value.push_str(&format!("\nbucket `{b}`"));
            }
            if let Some(p) = &c.path {
                value.push_str(&format!("\npath `{p}`"));
            }
            value.push_str(&format!("\nlogged {} ({}) in {from}", c.logged_at, c.level));
            if c.repeats > 0 {
                value.push_str(&format!(", {} more like it", c.repeats));
            }
            Field::new("Cause in the log", value, false)
        }
        _ => Field::new(
            "Cause in the log",
            format!(
                "not found: {}",
                log.not_found.as_deref().unwrap_or("the logs were not read")
            ),
            false,
        ),
    }
}

/// "thrown at `frame`" when the job's code threw the root, else where the job's code called in.
fn job_frame_line(thrown_by: crate::facts::frames::Owner, frame: &str) -> String {
    if thrown_by == crate::facts::frames::Owner::Job {
        format!("\nthrown at `{frame}`")
    } else {
        format!("\ncalled from the job's code at `{frame}`")
    }
}

/// The group's alerts, one line each, summarised when the group is large.
fn alert_list(hook: &Webhook) -> Option<Field> {
    if hook.alerts.len() < 2 && hook.truncated_alerts == 0 {
        return None;
    }
    let firing = hook.firing().count();
    let resolved = hook.alerts.len() - firing;
    let mut lines: Vec<String> = Vec::new();
    let mut used = 0;
    for (i, a) in hook.alerts.iter().enumerate() {
        let line = format!(
            "{} {} {}",
            if a.is_firing() { "🔴" } else { "🟢" },
            a.name(),
            distinguishing_labels(a, hook)
        );
        if used + line.len() > 850 {
            lines.push(format!("… and {} more", hook.alerts.len() - i));
            break;
        }
        used += line.len() + 1;
        lines.push(line);
    }
    if hook.truncated_alerts > 0 {
        lines.push(format!(
            "… {} more not sent by Alertmanager (max_alerts)",
            hook.truncated_alerts
        ));
    }
    Some(Field::new(
        format!("Alerts: {firing} firing, {resolved} resolved"),
        lines.join("\n"),
        false,
    ))
}

/// What tells this alert apart from the rest of its group: the labels not common to all of them
/// (e.g. `host=tm-2`), else the fingerprint.
fn distinguishing_labels(alert: &crate::alertmanager::Alert, hook: &Webhook) -> String {
    let own: Vec<String> = alert
        .labels
        .iter()
        .filter(|(k, v)| k.as_str() != "alertname" && hook.common_labels.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if own.is_empty() {
        alert.fingerprint.clone()
    } else {
        own.join(" ")
    }
}

fn links(input: &RenderInput<'_>) -> String {
    let mut out = Vec::new();
    if let Some(job) = &input.facts.job {
        out.push(format!("[Exceptions]({})", job.exceptions_url));
        out.push(format!("[Checkpoints]({})", job.checkpoints_url));
    } else if let Some(c) = &input.facts.cluster {
        out.push(format!("[Flink UI]({})", c.ui_url));
    }
    let lead = input.hook.lead_alert();
    if let Some(url) = lead
        .annotations
        .get("runbook_url")
        .or_else(|| input.hook.common_annotations.get("runbook_url"))
    {
        out.push(format!("[Runbook]({url})"));
    }
    if !lead.generator_url.is_empty() {
        out.push(format!("[Alert source]({})", lead.generator_url));
    }
    out.join(" · ")
}

/// Mentions go in `content` (they never notify from an embed) and only while firing.
fn mentions(configured: &[String], resolved: bool) -> (String, Vec<u64>, Vec<u64>) {
    if resolved {
        return (String::new(), vec![], vec![]);
    }
    let (mut roles, mut users) = (Vec::new(), Vec::new());
    for m in configured {
        if let Some(id) = m.strip_prefix("<@&").and_then(|r| r.strip_suffix('>')) {
            if let Ok(id) = id.parse() {
                roles.push(id);
            }
        } else if let Some(id) = m.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
            if let Ok(id) = id.trim_start_matches('!').parse() {
                users.push(id);
            }
        }
    }
    (configured.join(" "), roles, users)
}
