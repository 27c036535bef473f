//! `/flink timeline [job or incident]`: an incident's timeline from the store, ephemeral
//! unless `public`; when it does not fit one embed, the lines that fit plus the whole story
//! (timeline and postmortem draft) as a Markdown file.

use serenity::all::{CommandOptionType, CreateCommandOption};

use crate::incident::Incident;
use crate::interact::reply::{File, Refusal, Reply};
use crate::interact::InteractState;
use crate::message::{colors, limits, Embed};
use crate::outbox::{self, Placed, Post};
use crate::store::With;
use crate::story::{self, markdown, Story};

pub fn option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::SubCommand,
        "timeline",
        "An incident's timeline: alerts, failures, who did what (default: the newest incident)",
    )
    .add_sub_option(
        CreateCommandOption::new(
            CommandOptionType::String,
            "job",
            "Job name or id, or an incident id",
        )
        .set_autocomplete(true)
        .max_length(100),
    )
    .add_sub_option(super::public_option())
}

pub async fn answer(state: &InteractState, target: Option<&str>, public: bool) -> Reply {
    let incident = match find(state, target).await {
        Ok(i) => i,
        Err(r) => return Reply::refusal(&r),
    };
    let Some(renderer) = &state.renderer else {
        return Reply::text("The timeline's templates did not load; see the bot's log.");
    };
    match story::gather::story(&state.store, &incident).await {
        Ok(Some(s)) => run(&s, &markdown::chat(renderer, &s), || {
            markdown::document(renderer, &s)
        })
        .public(public),
        Ok(None) => Reply::text("That incident is no longer in the store."),
        Err(e) => Reply::internal("timeline", "Reading the incident", &e),
    }
}

/// The Timeline button: queues the incident's story for its thread, once. Later clicks are
/// told where it is (or that it is on its way); the way out posts it at most once however many
/// were queued (see `pipeline/outbox.rs`).
pub async fn post_to_thread(state: &InteractState, incident: &Incident) -> Reply {
    let key = outbox::story_key(&incident.id);
    match state.store.shown::<Placed>(&key) {
        Ok(Some(_)) => {
            return Reply::text(
                "The timeline and postmortem draft are already in the incident's thread.",
            )
        }
        Ok(None) => {}
        Err(e) => return Reply::internal("timeline", "Reading the incident", &e),
    }
    let post = Post::Story {
        incident_id: incident.id.clone(),
    };
    if let Err(e) = state.store.post(With::Nothing, &[post]) {
        return Reply::internal("timeline", "Queueing the timeline", &e);
    }
    if let Err(e) = state.store.durable().await {
        return Reply::internal("timeline", "Queueing the timeline", &e);
    }
    if let Some(guard) = &state.guard {
        guard.wake_out();
    }
    Reply::text("The timeline and a postmortem draft are on their way to the incident's thread.")
}

/// The incident `target` names: an incident id, else the newest incident of the job it names,
/// else (no target) the newest incident the store has.
async fn find(state: &InteractState, target: Option<&str>) -> Result<String, Refusal> {
    let store = state.store.clone();
    let unreadable = |e| {
        tracing::error!(error = %e, "cannot read incidents for /flink timeline");
        Refusal::new("the bot's store cannot be read right now")
    };
    if let Some(t) = target {
        if let Some(i) = story::gather::incident(&store, t.trim())
            .await
            .map_err(unreadable)?
        {
            return Ok(i.id);
        }
    }
    let job = match target {
        Some(t) => Some(state.resolve(t, None).await?),
        None => None,
    };
    let all = story::gather::list(&store).await.map_err(unreadable)?;
    let newest = all.into_iter().find(|i| match (&job, &i.job) {
        (Some(j), Some(ij)) => ij.id == j.id && ij.cluster == j.cluster,
        (Some(_), None) => false,
        (None, _) => true,
    });
    match (newest, job) {
        (Some(i), _) => Ok(i.id),
        (None, Some(j)) => Err(Refusal::new(format!(
            "the store has no incident about {}",
            j.name
        ))),
        (None, None) => Err(Refusal::new("the store has no incidents")),
    }
}

/// The answer (pure): the chat lines in an embed, cut at a line with the whole story attached
/// when they do not fit.
pub fn run(story: &Story, lines: &str, document: impl FnOnce() -> String) -> Reply {
    let title = format!(
        "Timeline: {}",
        story
            .job_name
            .as_deref()
            .or(story.job_id.as_deref())
            .unwrap_or("incident")
    );
    // Room for the line that says the rest is attached.
    let room = limits::DESCRIPTION - 200;
    let mut description = String::new();
    let mut cut = false;
    for line in lines.lines() {
        if description.len() + line.len() + 1 > room {
            cut = true;
            break;
        }
        description.push_str(line);
        description.push('\n');
    }
    let mut files = Vec::new();
    if cut {
        let file = markdown::file_name(&story.incident_id);
        description.push_str(&format!(
            "… {} more entries: the whole timeline and a postmortem draft are in `{file}`.",
            story.entries.len() - description.lines().count()
        ));
        files.push(File {
            name: file,
            bytes: document().into_bytes(),
        });
    }
    let mut reply = Reply::embed(Embed {
        title,
        url: None,
        description,
        color: colors::INFO,
        fields: vec![],
        footer: format!(
            "incident {} · {} entries · export: flink-chatops incident export {}",
            story.incident_id,
            story.entries.len(),
            story.incident_id
        ),
        timestamp: None,
    });
    reply.files = files;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::story::{Draft, Entry, Kind};
    use chrono::Utc;

    fn story(n: usize) -> Story {
        Story {
            incident_id: "inc1".into(),
            alert: None,
            cluster: Some("prod".into()),
            job_id: Some("j1".into()),
            job_name: Some("orders".into()),
            entries: (1..=n)
                .map(|i| Entry {
                    n: i,
                    at: Utc::now(),
                    kind: Kind::Failure,
                    source: "flink exception history".into(),
                    who: None,
                    what: "x".repeat(80),
                    request: None,
                })
                .collect(),
            draft: Draft::default(),
            unplaced: vec![],
        }
    }

    #[test]
    fn fits_one_embed_or_attaches_the_whole_story() {
        let renderer = crate::render::Renderer::new(None).unwrap();
        let small = story(3);
        let r = run(&small, &markdown::chat(&renderer, &small), || {
            unreachable!("fits")
        });
        assert!(r.files.is_empty());
        assert_eq!(r.embeds[0].description.lines().count(), 3);
        assert!(r.ephemeral);

        let big = story(200);
        let r = run(&big, &markdown::chat(&renderer, &big), || "doc".into());
        let d = &r.embeds[0].description;
        assert!(d.len() <= limits::DESCRIPTION, "{}", d.len());
        assert!(d.ends_with("are in `incident-inc1.md`."), "{d}");
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files[0].name, "incident-inc1.md");
    }
}
