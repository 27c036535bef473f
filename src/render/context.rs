//! The data every template sees. Documented for runbook authors in `responses/README.md`.

use serde_json::{json, Value};

use super::RenderInput;
use crate::alertmanager::Alert;

pub fn context(input: &RenderInput<'_>) -> Value {
    let hook = input.hook;
    let lead = hook.lead_alert();
    let inc = input.incident;
    json!({
        "status": if inc.is_resolved() { "resolved" } else { "firing" },
        "alert": alert(lead),
        "group": {
            "key": hook.group_key,
            "labels": hook.group_labels,
            "firing": hook.firing().map(alert).collect::<Vec<_>>(),
            "resolved": hook.alerts.iter().filter(|a| !a.is_firing()).map(alert).collect::<Vec<_>>(),
            "size": hook.alerts.len(),
            "truncated": hook.truncated_alerts,
            "external_url": hook.external_url,
        },
        "incident": {
            "id": inc.id,
            "notifications": inc.notifications,
            "firing_since": inc.firing_since.to_rfc3339(),
            "resolved_at": inc.resolved_at.map(|t| t.to_rfc3339()),
            "duration_secs": inc.duration_secs(input.now),
        },
        "facts": input.facts,
        "diagnosis": input.diagnosis,
        // Templates name buttons through `{{press}}`, which reads this: only what is carried.
        "buttons": buttons(input),
        "guarded_actions": input.available.actions,
    })
}

/// Slug -> label of each button the message will carry.
fn buttons(input: &RenderInput<'_>) -> Value {
    super::buttons(input)
        .into_iter()
        .map(|b| (b.key, Value::String(b.label)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn alert(a: &Alert) -> Value {
    json!({
        "name": a.name(),
        "status": a.status,
        "severity": a.severity(),
        "summary": a.annotations.get("summary"),
        "description": a.annotations.get("description"),
        "runbook_url": a.annotations.get("runbook_url"),
        "labels": a.labels,
        "annotations": a.annotations,
        "starts_at": a.starts_at.to_rfc3339(),
        "generator_url": a.generator_url,
        "fingerprint": a.fingerprint,
    })
}
