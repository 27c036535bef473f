//! Storm digests: when a channel is flooded, new minor incidents become lines of one message.
//!
//! Discord takes about one message per second per channel. A storm of a thousand incidents
//! posted one by one would fill the channel for many minutes and bury what matters. So once a
//! channel has had `delivery.digest_after` new posts within a minute, further incidents below
//! `high` whose state is not at risk (`Pattern::state_at_risk`) go into the channel's digest: one
//! message, edited in place, with the counts, the worst lines first and each incident named so
//! it can be found. A digested incident that turns `high` or critical later gets its own message.
//! Everything here is pure (the store keeps the lines, the pipeline edits the message).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::message::{colors, Embed, Message};
use crate::severity::Level;

/// The window in which new posts are counted.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Recent new posts per channel, to tell a storm from a busy hour.
#[derive(Default)]
pub struct Storm {
    posts: HashMap<u64, VecDeque<Instant>>,
}

impl Storm {
    /// Whether `channel` has had `threshold` new posts within the window (0: digests are off).
    pub fn raging(&mut self, channel: u64, threshold: usize, now: Instant) -> bool {
        if threshold == 0 {
            return false;
        }
        let recent = self.posts.entry(channel).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            recent.pop_front();
        }
        recent.len() >= threshold
    }

    /// A new incident got its own message in `channel`.
    pub fn posted(&mut self, channel: u64, now: Instant) {
        let recent = self.posts.entry(channel).or_default();
        recent.push_back(now);
        // Only the count within the window matters; bound the memory of a long storm.
        if recent.len() > 10_000 {
            recent.pop_front();
        }
    }
}

/// What decides where a new (or digested) incident goes.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub rank: u8,
    /// The job's state is at risk unless someone acts now: it needs its own buttons.
    pub needs_action: bool,
    pub already_digested: bool,
    pub storm: bool,
}

/// Whether the incident is (still) a line of the digest rather than its own message.
pub fn goes_to_digest(r: Route) -> bool {
    if r.rank >= Level::High.rank() || r.needs_action {
        return false;
    }
    r.already_digested || r.storm
}

/// One incident as its digest line shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub incident_id: String,
    pub rank: u8,
    /// Alert name, and the job or cluster when known: how the engineer finds it.
    pub title: String,
    pub firing_since_ms: i64,
    pub resolved: bool,
    pub notifications: u64,
}

/// The channel's current digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Named in the footer, so a post that may be out is found again (like an incident's).
    pub id: String,
    pub since_ms: i64,
    pub message_id: Option<u64>,
    /// When its message was last brought up to date (made: when it started).
    pub updated_ms: i64,
}

impl Header {
    pub fn new(channel: u64, now_ms: i64) -> Header {
        Header {
            // 25 characters: it is also the post's nonce, and Discord takes at most 25.
            id: format!(
                "d{}",
                hex::encode(&Sha256::digest(format!("{channel}\n{now_ms}"))[..12])
            ),
            since_ms: now_ms,
            message_id: None,
            updated_ms: now_ms,
        }
    }
}

/// A digest untouched this long belongs to an earlier storm: a new storm starts its own
/// message instead of editing yesterday's.
pub const STALE: Duration = Duration::from_secs(600);

/// Whether a new storm line should start a fresh digest rather than join `header`'s.
pub fn is_stale(header: &Header, now_ms: i64) -> bool {
    now_ms - header.updated_ms > STALE.as_millis() as i64
}

/// Room the lines may take in the description (Discord allows 4,096; the rest is the summary).
const LINES_BUDGET: usize = 3_400;

/// The digest message: counts, then the worst lines first (firing before resolved, higher rank,
/// then newest), as many as fit, and how many more there are.
pub fn render(header: &Header, lines: &[Line]) -> Message {
    let firing = lines.iter().filter(|l| !l.resolved).count();
    let resolved = lines.len() - firing;
    let mut sorted: Vec<&Line> = lines.iter().collect();
    sorted.sort_by_key(|l| {
        (
            l.resolved,
            std::cmp::Reverse(l.rank),
            std::cmp::Reverse(l.firing_since_ms),
        )
    });
    let mut by_name: Vec<(String, usize)> = Vec::new();
    for l in &sorted {
        let name = l.title.split(" · ").next().unwrap_or("").to_string();
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => by_name.push((name, 1)),
        }
    }
    by_name.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut description = format!(
        "**{firing} firing · {resolved} resolved.** A storm of minor alerts; each is a line here \
         instead of its own message. High and critical ones, and any whose job's state is at \
         risk, still get their own.\n\nBy alert: {}\n\n",
        by_name
            .iter()
            .take(8)
            .map(|(n, c)| format!("`{n}` {c}"))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    let mut shown = 0;
    let mut used = 0;
    for l in &sorted {
        let text = line_text(l);
        if used + text.len() > LINES_BUDGET {
            break;
        }
        used += text.len();
        description.push_str(&text);
        shown += 1;
    }
    if shown < sorted.len() {
        description.push_str(&format!(
            "… and {} more (less severe or older), all kept.",
            sorted.len() - shown
        ));
    }
    let worst = lines.iter().filter(|l| !l.resolved).map(|l| l.rank).max();
    Message {
        embed: Embed {
            title: format!(
                "Storm digest: {} incidents since {}",
                lines.len(),
                hhmm(header.since_ms)
            ),
            description,
            color: match worst {
                None => colors::RESOLVED,
                Some(r) if r >= Level::Warning.rank() => colors::WARNING,
                Some(_) => colors::INFO,
            },
            footer: format!("flink-chatops storm digest · incident {}", header.id),
            ..Default::default()
        },
        ..Default::default()
    }
    .fit()
}

fn line_text(l: &Line) -> String {
    let mark = if l.resolved {
        "✅"
    } else if l.rank >= Level::Warning.rank() {
        "🟠"
    } else {
        "🔵"
    };
    let state = if l.resolved { "resolved" } else { "firing" };
    let repeats = if l.notifications > 1 {
        format!(" · {} notifications", l.notifications)
    } else {
        String::new()
    };
    format!(
        "{mark} {} · {state} since {}{repeats} · `{}`\n",
        l.title,
        hhmm(l.firing_since_ms),
        l.incident_id
    )
}

fn hhmm(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms).single().map_or_else(
        || "?".into(),
        |t: DateTime<Utc>| t.format("%H:%M UTC").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, rank: u8, resolved: bool, at: i64) -> Line {
        Line {
            incident_id: id.into(),
            rank,
            title: format!("FlinkJobLag · job-{id}"),
            firing_since_ms: at,
            resolved,
            notifications: 1,
        }
    }

    #[test]
    fn only_minor_incidents_without_actions_go_to_a_digest_and_only_in_a_storm() {
        let base = Route {
            rank: Level::Warning.rank(),
            needs_action: false,
            already_digested: false,
            storm: true,
        };
        assert!(goes_to_digest(base));
        assert!(!goes_to_digest(Route {
            storm: false,
            ..base
        }));
        assert!(goes_to_digest(Route {
            storm: false,
            already_digested: true,
            ..base
        }));
        for rank in [Level::High.rank(), Level::Critical.rank()] {
            assert!(!goes_to_digest(Route {
                rank,
                already_digested: true,
                ..base
            }));
        }
        assert!(!goes_to_digest(Route {
            needs_action: true,
            ..base
        }));
    }

    #[test]
    fn a_storm_is_a_count_of_new_posts_within_the_window() {
        let mut s = Storm::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(!s.raging(9, 3, t0), "after {i}");
            s.posted(9, t0);
        }
        assert!(s.raging(9, 3, t0));
        assert!(!s.raging(8, 3, t0), "per channel");
        assert!(!s.raging(9, 0, t0), "0 turns digests off");
        assert!(!s.raging(9, 3, t0 + WINDOW + Duration::from_secs(1)));
    }

    #[test]
    fn the_digest_counts_everything_and_shows_the_worst_first() {
        let h = Header::new(7, 0);
        let mut lines: Vec<Line> = (0..1_000)
            .map(|i| line(&format!("i{i:04}"), Level::Info.rank(), i % 2 == 0, i))
            .collect();
        lines.push(line("worst", Level::Warning.rank(), false, 5));
        let m = render(&h, &lines);
        let d = &m.embed.description;
        assert!(
            m.embed.title.contains("1001 incidents"),
            "{}",
            m.embed.title
        );
        assert!(d.starts_with("**501 firing · 500 resolved.**"), "{d}");
        let first = d
            .lines()
            .find(|l| l.contains('`') && l.contains("since"))
            .unwrap();
        assert!(first.contains("`worst`"), "{first}");
        assert!(d.contains("more (less severe or older), all kept"), "{d}");
        assert!(d.chars().count() <= crate::message::limits::DESCRIPTION);
        assert!(m.embed.footer.ends_with(&format!("incident {}", h.id)));
        assert!(
            m.buttons.is_empty(),
            "a digest offers no buttons it could not honour"
        );
    }

    #[test]
    fn a_digest_untouched_for_ten_minutes_belongs_to_an_earlier_storm() {
        let mut h = Header::new(7, 0);
        assert!(!is_stale(&h, 599_000));
        assert!(is_stale(&h, 601_000));
        h.updated_ms = 300_000;
        assert!(!is_stale(&h, 601_000));
    }
}
