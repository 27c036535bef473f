//! From what a person typed to one job (pure): autocomplete suggestions, and resolving a name,
//! an id, an id prefix or an autocomplete value (`cluster/id`) with answers that name what is
//! wrong and the closest matches.

use super::jobs::KnownJob;
use super::reply::Refusal;

/// Discord shows at most 25 choices.
pub const MAX_CHOICES: usize = 25;

/// A failed job is still worth suggesting for this long after it ended.
pub const RECENT_FAILURE_MS: i64 = 24 * 60 * 60 * 1000;

/// Autocomplete: running and recently failed jobs matching `partial` (name or id, any case),
/// troubled ones first. Returns (label, value) pairs; the value is `cluster/id`.
pub fn suggest(
    jobs: &[KnownJob],
    partial: &str,
    cluster: Option<&str>,
    now_ms: i64,
) -> Vec<(String, String)> {
    let needle = partial.trim().to_lowercase();
    let mut hits: Vec<&KnownJob> = jobs
        .iter()
        .filter(|j| cluster.is_none_or(|c| c == j.cluster))
        .filter(|j| {
            j.is_active() || (j.state == "FAILED" && now_ms - j.end_time_ms < RECENT_FAILURE_MS)
        })
        .filter(|j| {
            needle.is_empty()
                || j.name.to_lowercase().contains(&needle)
                || j.id.starts_with(&needle)
        })
        .collect();
    hits.sort_by_key(|j| (!j.is_troubled(), j.name.to_lowercase(), j.cluster.clone()));
    hits.into_iter()
        .take(MAX_CHOICES)
        .map(|j| {
            let label = format!(
                "{} · {} · {} · {}",
                j.name,
                j.state,
                j.cluster,
                &j.id[..j.id.len().min(8)]
            );
            (
                crate::message::truncate(&label, 100),
                format!("{}/{}", j.cluster, j.id),
            )
        })
        .collect()
}

/// The one job `input` means. `clusters` are the configured names.
pub fn resolve(
    jobs: &[KnownJob],
    input: &str,
    cluster: Option<&str>,
    clusters: &[String],
) -> Result<KnownJob, Refusal> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Refusal::new("give a job name or id"));
    }
    if let Some(c) = cluster {
        known_cluster(c, clusters)?;
    }
    // An autocomplete value: `cluster/id`.
    let (cluster, needle) = match input.split_once('/') {
        Some((c, id)) if clusters.iter().any(|k| k == c) => (Some(c), id),
        _ => (cluster, input),
    };
    let pool: Vec<&KnownJob> = jobs
        .iter()
        .filter(|j| cluster.is_none_or(|c| c == j.cluster))
        .collect();
    let lower = needle.to_lowercase();
    let by_id: Vec<&KnownJob> = pool.iter().copied().filter(|j| j.id == lower).collect();
    let by_prefix: Vec<&KnownJob> =
        if lower.len() >= 6 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            pool.iter()
                .copied()
                .filter(|j| j.id.starts_with(&lower))
                .collect()
        } else {
            Vec::new()
        };
    let by_name: Vec<&KnownJob> = pool.iter().copied().filter(|j| j.name == needle).collect();
    for found in [by_id, by_prefix] {
        match found.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            many => {
                return Err(Refusal::new(format!(
                    "`{needle}` matches {} jobs: {}; give more of the id",
                    many.len(),
                    list(many)
                )))
            }
        }
    }
    if !by_name.is_empty() {
        let clusters_seen: std::collections::BTreeSet<&str> =
            by_name.iter().map(|j| j.cluster.as_str()).collect();
        if clusters_seen.len() > 1 {
            return Err(Refusal::new(format!(
                "a job named `{needle}` runs on several clusters ({}): add the `cluster` option",
                clusters_seen.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        // Same name, one cluster: the running one, else the newest (as for alerts).
        let best = by_name
            .iter()
            .max_by_key(|j| (j.is_active(), j.start_time_ms))
            .expect("not empty");
        return Ok((*best).clone());
    }
    let closest = closest(&pool, needle);
    let where_ = cluster.map_or("any cluster".to_string(), |c| format!("cluster `{c}`"));
    Err(Refusal::new(if closest.is_empty() {
        format!("no job matches `{}` on {where_}", clean(needle))
    } else {
        format!(
            "no job matches `{}` on {where_}; closest: {}",
            clean(needle),
            list(&closest)
        )
    }))
}

pub fn known_cluster(c: &str, clusters: &[String]) -> Result<(), Refusal> {
    if clusters.iter().any(|k| k == c) {
        Ok(())
    } else {
        Err(Refusal::new(format!(
            "no cluster is named `{}`; configured: {}",
            clean(c),
            clusters.join(", ")
        )))
    }
}

/// Up to three jobs whose names are nearest to `needle` (substring first, then edit distance).
fn closest<'a>(pool: &[&'a KnownJob], needle: &str) -> Vec<&'a KnownJob> {
    let n = needle.to_lowercase();
    let mut scored: Vec<(usize, &KnownJob)> = pool
        .iter()
        .map(|j| {
            let name = j.name.to_lowercase();
            let score = if name.contains(&n) || n.contains(&name) {
                0
            } else {
                levenshtein(&name, &n)
            };
            (score, *j)
        })
        .filter(|(score, j)| *score <= j.name.len().max(n.len()) / 2 + 1)
        .collect();
    scored.sort_by_key(|(score, j)| (*score, !j.is_active(), j.name.clone()));
    let mut seen = std::collections::HashSet::new();
    scored
        .into_iter()
        .map(|(_, j)| j)
        .filter(|j| seen.insert((j.cluster.clone(), j.name.clone())))
        .take(3)
        .collect()
}

fn list(jobs: &[&KnownJob]) -> String {
    jobs.iter()
        .map(|j| {
            format!(
                "`{}` ({}, {}, `{}`)",
                j.name,
                j.state,
                j.cluster,
                &j.id[..j.id.len().min(8)]
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the person typed, shown back safely: no backticks or mentions, bounded length.
fn clean(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| !matches!(c, '`' | '@' | '<' | '>'))
        .collect();
    crate::message::truncate(&s, 80)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(cluster: &str, id: &str, name: &str, state: &str, start: i64) -> KnownJob {
        KnownJob {
            cluster: cluster.into(),
            id: id.into(),
            name: name.into(),
            state: state.into(),
            start_time_ms: start,
            end_time_ms: if is_active_state(state) {
                -1
            } else {
                start + 10
            },
        }
    }

    fn is_active_state(s: &str) -> bool {
        super::super::jobs::is_active(s)
    }

    fn jobs() -> Vec<KnownJob> {
        vec![
            job(
                "prod",
                "aaaa1111bbbb2222cccc3333dddd4444",
                "orders-enrichment",
                "RUNNING",
                5,
            ),
            job(
                "prod",
                "aaaa1111ffff2222cccc3333dddd4444",
                "orders-enrichment",
                "CANCELED",
                1,
            ),
            job(
                "prod",
                "bbbb1111bbbb2222cccc3333dddd4444",
                "payments",
                "RESTARTING",
                3,
            ),
            job(
                "staging",
                "cccc1111bbbb2222cccc3333dddd4444",
                "payments",
                "RUNNING",
                4,
            ),
            job(
                "staging",
                "dddd1111bbbb2222cccc3333dddd4444",
                "old-failure",
                "FAILED",
                0,
            ),
        ]
    }

    fn clusters() -> Vec<String> {
        vec!["prod".into(), "staging".into()]
    }

    #[test]
    fn resolves() {
        let j = jobs();
        let c = clusters();
        let ok = |input: &str, cluster: Option<&str>| resolve(&j, input, cluster, &c).map(|k| k.id);
        assert_eq!(
            ok("aaaa1111bbbb2222cccc3333dddd4444", None).unwrap(),
            j[0].id
        );
        assert_eq!(
            ok("prod/aaaa1111bbbb2222cccc3333dddd4444", None).unwrap(),
            j[0].id
        );
        assert_eq!(
            ok("AAAA1111BBBB2222CCCC3333DDDD4444", None).unwrap(),
            j[0].id
        );
        assert_eq!(ok("bbbb11", None).unwrap(), j[2].id);
        // Name: the running one wins over the cancelled one.
        assert_eq!(ok("orders-enrichment", None).unwrap(), j[0].id);
        assert_eq!(ok("payments", Some("staging")).unwrap(), j[3].id);
        let err =
            |input: &str, cluster: Option<&str>| resolve(&j, input, cluster, &c).unwrap_err().0;
        assert!(err("payments", None).contains("several clusters (prod, staging)"));
        assert!(err("aaaa1111", None).contains("matches 2 jobs"));
        let e = err("orders-enrichmnt", None);
        assert!(
            e.contains(
                "no job matches `orders-enrichmnt` on any cluster; closest: `orders-enrichment`"
            ),
            "{e}"
        );
        assert!(err("x", Some("nope"))
            .contains("no cluster is named `nope`; configured: prod, staging"));
        assert!(err("", None).contains("give a job name or id"));
        let e = err("<@&1> `evil`", None);
        assert!(!e.contains('@') && !e.contains("``"), "{e}");
        assert!(err("zzzzzzzzzzzz", None).ends_with("on any cluster"));
    }

    #[test]
    fn suggests_troubled_first_and_at_most_25() {
        let j = jobs();
        let s = suggest(&j, "", None, 100);
        let values: Vec<&str> = s.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "staging/dddd1111bbbb2222cccc3333dddd4444",
                "prod/bbbb1111bbbb2222cccc3333dddd4444",
                "prod/aaaa1111bbbb2222cccc3333dddd4444",
                "staging/cccc1111bbbb2222cccc3333dddd4444",
            ],
            "cancelled jobs are not offered; failed and restarting come first"
        );
        assert_eq!(suggest(&j, "PAY", Some("prod"), 100).len(), 1);
        assert!(
            suggest(&j, "", None, RECENT_FAILURE_MS + 100).len() == 3,
            "old failures drop out"
        );
        let many: Vec<KnownJob> = (0..40)
            .map(|i| {
                job(
                    "prod",
                    &format!("{i:032x}"),
                    &format!("job-{i}"),
                    "RUNNING",
                    i,
                )
            })
            .collect();
        let s = suggest(&many, "job", None, 0);
        assert_eq!(s.len(), 25);
        assert!(s
            .iter()
            .all(|(label, value)| label.len() <= 100 && value.len() <= 100));
    }
}
