//! One meaning for the `severity` label: a rank (which alert of a group speaks) and a colour
//! (how its page looks), decided in one place so the two can never disagree. The label's own
//! text still routes pages and picks mentions, since those are configured by that text.

use crate::message::colors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Anything not recognised (and a missing label).
    Other,
    Info,
    Warning,
    /// `error`, `high`: above a warning, below a page.
    High,
    /// `critical`, `page`.
    Critical,
}

impl Level {
    pub fn of(label: &str) -> Level {
        match label.to_ascii_lowercase().as_str() {
            "critical" | "page" | "fatal" => Level::Critical,
            "error" | "high" | "major" => Level::High,
            "warning" | "warn" | "minor" => Level::Warning,
            "info" | "low" | "notice" => Level::Info,
            _ => Level::Other,
        }
    }

    /// The level as a number that orders work (higher goes first), for queues and on disk.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// A firing page's colour (resolved pages are green whatever their level).
    pub fn color(self) -> u32 {
        match self {
            Level::Critical | Level::High => colors::CRITICAL,
            Level::Warning => colors::WARNING,
            Level::Info | Level::Other => colors::INFO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_and_colour_agree() {
        let order = ["none", "info", "warning", "high", "critical"];
        let levels: Vec<Level> = order.iter().map(|s| Level::of(s)).collect();
        assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
        // A higher rank is never shown calmer than a lower one.
        let calm = |c: u32| {
            [colors::INFO, colors::WARNING, colors::CRITICAL]
                .iter()
                .position(|x| *x == c)
                .unwrap()
        };
        assert!(levels
            .windows(2)
            .all(|w| calm(w[0].color()) <= calm(w[1].color())));
        assert_eq!(Level::of("ERROR"), Level::High);
        assert_eq!(Level::of("page").color(), colors::CRITICAL);
    }
}
