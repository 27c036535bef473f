//! `storage.retention`: how long resolved incidents are kept (see `store::retention`).

/// The default: a quarter, long enough to look back on an incident at a quarterly review.
pub const DEFAULT: &str = "90d";

/// `storage.retention`: `"90d"`, `"36h"`, `"30m"`, `"3600s"`, or `"forever"` (`None`).
pub fn parse(text: &str) -> Result<Option<std::time::Duration>, String> {
    let t = text.trim();
    if t == "forever" {
        return Ok(None);
    }
    let bad = || {
        format!("{text:?} is not a duration: write it like \"90d\", \"36h\", \"30m\", \"3600s\", or \"forever\"")
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if secs < 3_600 {
        return Err(format!(
            "{text:?} is shorter than an hour: resolved incidents must outlive Alertmanager's repeats"
        ));
    }
    Ok(Some(std::time::Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn the_window_is_read_with_its_unit_and_refused_plainly() {
        let ok = [
            ("90d", Some(90 * 86_400)),
            ("36h", Some(36 * 3_600)),
            ("60m", Some(3_600)),
            ("7200s", Some(7_200)),
            (" 1d ", Some(86_400)),
            ("forever", None),
        ];
        for (text, want) in ok {
            assert_eq!(
                super::parse(text).unwrap(),
                want.map(Duration::from_secs),
                "{text}"
            );
        }
        for bad in [
            "",
            "90",
            "d",
            "90 days",
            "-1d",
            "1.5d",
            "10m",
            "99999999999999999999d",
        ] {
            let e = super::parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }
}

#[cfg(test)]
mod load_tests {
    use crate::config::Config;

    #[test]
    fn a_bad_window_names_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bot.toml");
        std::fs::write(&file, "[storage]\nretention = \"ninety days\"\n").unwrap();
        let e = Config::load(Some(&file), []).unwrap_err().to_string();
        assert!(e.contains("bot.toml"), "{e}");
        assert!(e.contains("key `storage.retention`"), "{e}");
        std::fs::write(&file, "[storage]\nretention = \"30d\"\n").unwrap();
        let c = Config::load(Some(&file), []).unwrap();
        assert_eq!(
            c.retention(),
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
        let c = Config::load(None, []).unwrap();
        assert_eq!(
            c.retention(),
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
    }
}
