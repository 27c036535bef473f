//! The template set: `responses/` embedded into the binary, optionally overridden by a directory
//! so runbook authors can change guidance without rebuilding.

use std::path::Path;

use handlebars::Handlebars;
use include_dir::{include_dir, Dir};

static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/responses");

/// A template that fails to load is an error at start-up (or in `check-config`), not at 3 a.m.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {reason}")]
pub struct TemplateError {
    pub name: String,
    pub reason: String,
}

pub fn load(override_dir: Option<&Path>) -> Result<Handlebars<'static>, TemplateError> {
    let mut hb = Handlebars::new();
    // Output is Markdown for chat, not HTML: escaping would mangle `<`, `&` and quotes.
    hb.register_escape_fn(handlebars::no_escape);
    super::helpers::register(&mut hb);
    for file in all_files(&EMBEDDED) {
        let path = file.path();
        let text = file.contents_utf8().ok_or_else(|| TemplateError {
            name: path.display().to_string(),
            reason: "not UTF-8".into(),
        })?;
        register(&mut hb, path, text)?;
    }
    if let Some(dir) = override_dir {
        load_dir(&mut hb, dir, dir)?;
    }
    Ok(hb)
}

fn all_files<'a>(dir: &'a Dir<'a>) -> Vec<&'a include_dir::File<'a>> {
    let mut out: Vec<_> = dir.files().collect();
    for sub in dir.dirs() {
        out.extend(all_files(sub));
    }
    out
}

fn load_dir(hb: &mut Handlebars<'static>, root: &Path, dir: &Path) -> Result<(), TemplateError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TemplateError {
        name: dir.display().to_string(),
        reason: format!("cannot read the directory: {e}"),
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        // Hidden entries are not templates: a Kubernetes ConfigMap mount keeps `..data` and
        // timestamped `..2026_…` copies of every file next to the real ones.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            load_dir(hb, root, &path)?;
        } else if path.extension().is_some_and(|e| e == "hbs") {
            let text = std::fs::read_to_string(&path).map_err(|e| TemplateError {
                name: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            register(hb, rel, &text)?;
        }
    }
    Ok(())
}

/// `alerts/FlinkJobUnstable.hbs` registers as `alerts/FlinkJobUnstable`; files under `partials/`
/// also register as partials by their bare name (`{{> alert_header}}`).
fn register(hb: &mut Handlebars<'static>, rel: &Path, text: &str) -> Result<(), TemplateError> {
    if rel.extension().is_none_or(|e| e != "hbs") {
        return Ok(());
    }
    let name = rel.with_extension("").to_string_lossy().replace('\\', "/");
    let err = |e: handlebars::TemplateError| TemplateError {
        name: rel.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(partial) = name.strip_prefix("partials/") {
        hb.register_partial(partial, text).map_err(err)?;
    } else {
        hb.register_template_string(&name, text).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hidden_entries_of_an_override_dir_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("alerts")).unwrap();
        std::fs::create_dir_all(dir.path().join("..data/alerts")).unwrap();
        std::fs::write(
            dir.path().join("alerts/Custom.hbs"),
            "custom {{alert.name}}",
        )
        .unwrap();
        // What a ConfigMap mount leaves beside the real files; broken on purpose.
        std::fs::write(dir.path().join("..data/alerts/Custom.hbs"), "{{#if}").unwrap();
        let hb = super::load(Some(dir.path())).expect("hidden copies are not loaded");
        assert!(hb.has_template("alerts/Custom"));
        assert!(!hb.get_templates().keys().any(|k| k.contains("..")));
    }
}
