//! The bottleneck and hot-subtask decisions, on real answers and tables.

use super::*;
use serde_json::{json, Value};

/// A capture of one real job: `/jobs/:id` and each vertex's backpressure answer
/// (testdata/*.json, taken from harness.SlowOperatorJob and harness.HealthyJob).
fn capture(name: &str) -> Value {
    let text = match name {
        "slow-2.3.0" => include_str!("testdata/slow-operator-2.3.0.json"),
        "slow-1.20.5" => include_str!("testdata/slow-operator-1.20.5.json"),
        "skewed-2.3.0" => include_str!("testdata/skewed-operator-2.3.0.json"),
        "skewed-1.20.5" => include_str!("testdata/skewed-operator-1.20.5.json"),
        "healthy-2.3.0" => include_str!("testdata/healthy-2.3.0.json"),
        "healthy-1.20.5" => include_str!("testdata/healthy-1.20.5.json"),
        other => panic!("no capture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn decide(c: &Value) -> Option<Bottleneck> {
    let details: JobDetails = serde_json::from_value(c["job"].clone()).unwrap();
    let pressure = c["backpressure"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, bp)| (id.clone(), serde_json::from_value(bp.clone()).unwrap()))
        .collect();
    find(&details, &pressure)
}

/// Applies `f` to the backpressure answer of the vertex named `vertex`.
fn edit(c: &mut Value, vertex: &str, f: impl FnOnce(&mut Value)) {
    let id = c["job"]["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == vertex)
        .unwrap_or_else(|| panic!("no vertex {vertex}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    f(&mut c["backpressure"][id]);
}

fn busy(c: &mut Value, vertex: &str, ratios: &[Value]) {
    edit(c, vertex, |bp| {
        for (s, r) in bp["subtasks"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(ratios)
        {
            s["busyRatio"] = r.clone();
        }
    });
}

fn found(vertex: &str, busy_pct: u32, parallelism: i64, skew: Option<Skew>) -> Option<Bottleneck> {
    Some(Bottleneck {
        vertex: vertex.into(),
        busy_pct,
        parallelism,
        skew,
        holds_back: "Source: numbers-source".into(),
    })
}

const SOURCE: &str = "Source: numbers-source";
const SLOW: &str = "slow-operator";
const SINK: &str = "discard-sink: Writer";

#[test]
fn names_the_busy_vertex_downstream_of_the_backpressured_ones() {
    type Case = (
        &'static str,
        &'static str,
        fn(&mut Value),
        Option<Bottleneck>,
    );
    let skewed = |pct, median| {
        Some(Skew {
            subtask: 0,
            busy_pct: pct,
            median_pct: median,
            backpressure_pct: 0,
            median_backpressure_pct: 0,
        })
    };
    let cases: Vec<Case> = vec![
        (
            "2.3: slow operator",
            "slow-2.3.0",
            |_| {},
            found(SLOW, 100, 2, None),
        ),
        (
            "1.20: slow operator",
            "slow-1.20.5",
            |_| {},
            found(SLOW, 99, 2, None),
        ),
        (
            "2.3: one hot subtask",
            "skewed-2.3.0",
            |_| {},
            found(SLOW, 100, 2, skewed(100, 12)),
        ),
        (
            "1.20: one hot subtask",
            "skewed-1.20.5",
            |_| {},
            found(SLOW, 100, 2, skewed(100, 12)),
        ),
        ("2.3: nothing backpressured", "healthy-2.3.0", |_| {}, None),
        (
            "1.20: nothing backpressured",
            "healthy-1.20.5",
            |_| {},
            None,
        ),
        (
            "downstream of the victim but idle: no guess",
            "slow-2.3.0",
            |c| busy(c, SLOW, &[json!(0.2), json!(0.1)]),
            None,
        ),
        (
            "busy time not measured (NaN)",
            "slow-1.20.5",
            |c| busy(c, SLOW, &[json!("NaN"), json!("NaN")]),
            None,
        ),
        (
            "no answer for the operator: no guess",
            "slow-2.3.0",
            |c| edit(c, SLOW, |bp| *bp = Value::Null),
            None,
        ),
        (
            "backpressured operator: the walk goes on to the busy sink",
            "slow-1.20.5",
            |c| {
                edit(c, SLOW, |bp| bp["backpressureLevel"] = json!("high"));
                busy(c, SINK, &[json!(0.91)]);
            },
            found(SINK, 91, 1, None),
        ),
        (
            "no level sent: the ratio decides",
            "slow-2.3.0",
            |c| {
                edit(c, SOURCE, |bp| {
                    bp.as_object_mut()
                        .unwrap()
                        .remove("backpressureLevel")
                        .map(drop)
                        .unwrap()
                })
            },
            found(SLOW, 100, 2, None),
        ),
        (
            "no plan: no edges to walk",
            "slow-2.3.0",
            |c| {
                c["job"]
                    .as_object_mut()
                    .unwrap()
                    .remove("plan")
                    .map(drop)
                    .unwrap()
            },
            None,
        ),
        (
            "three subtasks, one hot",
            "slow-1.20.5",
            |c| {
                edit(c, SLOW, |bp| {
                    bp["subtasks"] = json!([
                        {"subtask": 0, "ratio": 0, "busyRatio": 0.4},
                        {"subtask": 1, "ratio": 0, "busyRatio": 0.38},
                        {"subtask": 2, "ratio": 0, "busyRatio": 0.99},
                    ]);
                })
            },
            Some(Bottleneck {
                skew: Some(Skew {
                    subtask: 2,
                    busy_pct: 99,
                    median_pct: 39,
                    backpressure_pct: 0,
                    median_backpressure_pct: 0,
                }),
                ..found(SLOW, 99, 2, None).unwrap()
            }),
        ),
    ];
    for (what, name, change, want) in cases {
        let mut c = capture(name);
        // Null stands for "no answer": drop it, as enrichment drops failed calls.
        change(&mut c);
        c["backpressure"]
            .as_object_mut()
            .unwrap()
            .retain(|_, v| !v.is_null());
        assert_eq!(decide(&c), want, "{what}");
    }
}

#[test]
fn the_captures_are_what_their_names_say() {
    // Guards the test data: the slow job's source is back-pressured, its sink idle.
    for name in ["slow-2.3.0", "slow-1.20.5", "skewed-2.3.0", "skewed-1.20.5"] {
        let c = capture(name);
        let details: JobDetails = serde_json::from_value(c["job"].clone()).unwrap();
        let level = |v: &str| {
            let id = &details.vertices.iter().find(|x| x.name == v).unwrap().id;
            c["backpressure"][id]["backpressureLevel"].clone()
        };
        assert_eq!(level(SOURCE), "high", "{name}");
        assert_eq!(level(SLOW), "ok", "{name}");
        assert_eq!(level(SINK), "ok", "{name}");
    }
}

#[test]
fn the_page_and_the_runbook_name_the_bottleneck() {
    let facts = crate::facts::Facts {
        backpressure: Some(crate::facts::BackpressureFacts {
            hot: None,
            vertex: SOURCE.into(),
            level: "high".into(),
            ratio: 1.0,
            bottleneck: decide(&capture("skewed-1.20.5")),
        }),
        ..Default::default()
    };
    let fields = crate::render::fact_fields(&facts);
    let field = fields.iter().find(|f| f.name == "Backpressure").unwrap();
    assert_eq!(
        field.value,
        "high (100%) at Source: numbers-source\nbottleneck `slow-operator`, 100% busy, \
         parallelism 2, subtask 0 hottest at 100% busy vs 12% median (back-pressured 0% vs 0%)"
    );
    assert_eq!(
        facts.backpressure.as_ref().unwrap().evidence(),
        "backpressure high (100%) at Source: numbers-source; bottleneck `slow-operator` (100% busy)"
    );
    let hb = crate::render::templates::load(None).unwrap();
    let ctx = json!({"facts": facts, "buttons": {}});
    let text = hb.render("patterns/backpressure", &ctx).unwrap();
    assert!(
        text.contains("**The bottleneck is `slow-operator`, 100% busy** (parallelism 2)"),
        "{text}"
    );
    assert!(
        text.contains("Subtask 0 is the hottest at 100% vs 12% median"),
        "{text}"
    );
    assert!(
        text.contains("confirm the bottleneck (`slow-operator`)"),
        "{text}"
    );
}

/// Data skew without a bottleneck walk: the hottest vertex of the captured jobs, on both
/// versions, the same `Skew` the bottleneck carries.
#[test]
fn the_hottest_subtask_of_any_vertex() {
    for version in ["2.3.0", "1.20.5"] {
        let decide_hot = |c: &Value| {
            let details: JobDetails = serde_json::from_value(c["job"].clone()).unwrap();
            let pressure: HashMap<String, Backpressure> = c["backpressure"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, bp)| !bp.is_null())
                .map(|(id, bp)| (id.clone(), serde_json::from_value(bp.clone()).unwrap()))
                .collect();
            hottest(&details, &pressure).map(|(v, s)| (v.name.clone(), s))
        };
        let skewed = capture(&format!("skewed-{version}"));
        let (vertex, skew) = decide_hot(&skewed).expect(version);
        assert_eq!(vertex, SLOW, "{version}");
        assert_eq!(skew.subtask, 0, "{version}");
        assert_eq!(
            Some(&skew),
            decide(&skewed).and_then(|b| b.skew).as_ref(),
            "{version}: the bottleneck names the same hot subtask"
        );
        assert!(skew.line().starts_with("subtask 0 hottest at "), "{skew:?}");
        assert_eq!(decide_hot(&capture(&format!("healthy-{version}"))), None);
        // An even split is no skew.
        let mut even = capture(&format!("slow-{version}"));
        busy(&mut even, SLOW, &[json!(0.9), json!(0.85)]);
        assert_eq!(decide_hot(&even), None, "{version}");
    }
}
