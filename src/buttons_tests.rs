use super::*;

const ALL: Available = Available {
    answers: true,
    actions: true,
    silence: true,
    closed: 0,
};

fn page(has_job: bool, resolved: bool, suggested: &[Offer]) -> Page<'_> {
    Page {
        incident_id: "0123456789abcdef01234567",
        has_job,
        operated: false,
        resolved,
        suggested,
    }
}

#[test]
fn round_trip_and_rejects() {
    for b in for_incident(
        &page(
            true,
            false,
            &[
                suggest::SAVEPOINT,
                suggest::STOP,
                suggest::CANCEL,
                suggest::THREAD_DUMP,
                suggest::SILENCE,
            ],
        ),
        ALL,
    ) {
        assert!(b.custom_id.len() <= 100 && b.label.len() <= 80);
        match decode(&b.custom_id) {
            Some(Pressed::Incident { incident_id, offer }) => {
                assert_eq!(incident_id, "0123456789abcdef01234567");
                assert_eq!(offer.label(), b.label);
            }
            other => panic!("{}: {other:?}", b.custom_id),
        }
    }
    let vote = encode_vote("abc123", true, "0011223344556677889900");
    assert_eq!(
        decode(&vote),
        Some(Pressed::Vote {
            request_id: "abc123".into(),
            approve: true,
            binding: "0011223344556677".into()
        })
    );
    for bad in [
        "",
        "fc1",
        "fc1::status",
        "fc1:abc:reboot",
        "fc2:abc:status",
        "fc1:a/b:status",
        "fc1:abc:status:extra",
        "fc1:abc:silence7",
        "fc1r:abc:approve",
        "fc1r:abc:run:00",
    ] {
        assert_eq!(decode(bad), None, "{bad:?}");
    }
}

#[test]
fn an_operator_managed_job_offers_stop_and_cancel_as_the_operator_command() {
    let s = [suggest::SAVEPOINT, suggest::STOP, suggest::CANCEL];
    let p = Page {
        operated: true,
        ..page(true, false, &s)
    };
    let got: Vec<(String, Style)> = for_incident(&p, ALL)
        .into_iter()
        .filter(|b| {
            matches!(
                b.key.as_str(),
                "savepoint" | "stop_with_savepoint" | "cancel"
            )
        })
        .map(|b| (b.label, b.style))
        .collect();
    assert_eq!(
        got,
        [
            ("Savepoint".to_string(), Style::Secondary),
            (
                "Stop with savepoint (operator command)".to_string(),
                Style::Secondary
            ),
            (
                "Cancel job (operator command)".to_string(),
                Style::Secondary
            ),
        ]
    );
    // The same verbs: pressing one asks the guard, whose plan answers with the command.
    let plain: Vec<String> = for_incident(&page(true, false, &s), ALL)
        .into_iter()
        .map(|b| b.custom_id)
        .collect();
    let operated: Vec<String> = for_incident(&p, ALL)
        .into_iter()
        .map(|b| b.custom_id)
        .collect();
    assert_eq!(plain, operated);
}

#[test]
fn which_buttons_a_page_carries() {
    let labels = |p: &Page<'_>, a: Available| -> Vec<String> {
        for_incident(p, a).into_iter().map(|b| b.label).collect()
    };
    let s = [
        suggest::STATUS,
        suggest::SAVEPOINT,
        suggest::CANCEL,
        suggest::SILENCE,
    ];
    assert!(
        labels(&page(true, false, &s), Available::default()).is_empty(),
        "nobody answers buttons"
    );
    let read_only = Available {
        answers: true,
        ..Default::default()
    };
    assert_eq!(
        labels(&page(true, false, &s), read_only),
        ["Status", "Exceptions", "Checkpoints"]
    );
    assert_eq!(
        labels(&page(true, false, &s), ALL),
        [
            "Status",
            "Exceptions",
            "Checkpoints",
            "Acknowledge",
            "Savepoint",
            "Cancel job",
            "Silence 1 h",
            "Silence 4 h",
            "Silence 1 d"
        ]
    );
    assert_eq!(
        labels(&page(true, true, &s), ALL),
        ["Status", "Exceptions", "Checkpoints", "Timeline"],
        "resolved: read-only, and its story"
    );
    assert_eq!(
        labels(&page(false, false, &s), ALL),
        ["Acknowledge", "Silence 1 h", "Silence 4 h", "Silence 1 d"],
        "no job: nothing to act on"
    );
    let no_am = Available {
        silence: false,
        ..ALL
    };
    assert!(!labels(&page(true, false, &s), no_am)
        .iter()
        .any(|l| l.starts_with("Silence")));
    let cancel = for_incident(&page(true, false, &s), ALL)
        .into_iter()
        .find(|b| b.label == "Cancel job")
        .unwrap();
    assert_eq!(cancel.style, Style::Danger);
}

#[test]
fn a_page_offers_only_the_actions_the_policy_lets_someone_request() {
    let s = [Offer::Status, Offer::Act(ActionKind::Cancel)];
    let mut config = crate::config::Config::default();
    config.discord.application_id = Some(1);
    config.discord.gateway = Some(false);
    config.discord.public_key = Some("k".into());
    let labels = |p: &Page<'_>, a: Available| -> Vec<String> {
        for_incident(p, a).into_iter().map(|b| b.label).collect()
    };
    let none = Available::from_config(&config);
    assert_eq!(
        labels(&page(true, false, &s), none),
        ["Status", "Exceptions", "Checkpoints", "Acknowledge"],
        "no [policy]: nobody may request a cancel, so no Cancel button"
    );
    config.policy = toml::from_str("requesters = [\"role:5\"]").unwrap();
    let open = Available::from_config(&config);
    assert!(labels(&page(true, false, &s), open).contains(&"Cancel job".to_string()));
}
