use super::*;
use crate::gen_data::{Events, World, WorldSpec};

fn event(uid: &str, kind: &str, item: &str, timestamp: TimestampMs) -> Event {
    Event::new("", kind, uid, item, timestamp)
}

#[test]
fn the_latest_events_are_held_out_and_only_items_new_to_the_user_count() {
    let events = vec![
        event("a", "click", "x", 1),
        event("a", "impression", "y", 2),
        event("b", "click", "x", 3),
        event("a", "click", "x", 4),
        event("a", "click", "z", 5),
        event("a", "impression", "w", 6),
        event("c", "click", "x", 7),
        event("b", "click", "z", 8),
        event("a", "click", "z", 9),
        event("b", "click", "y", 10),
    ];
    let split = hold_out(events, 0.6, |kind| kind != "impression");
    assert_eq!(split.cutoff, 5);
    assert_eq!(split.train.len(), 4);
    assert!(split.train.iter().all(|e| e.timestamp < 5));
    // a: x again is not new, the impression of w is not an interaction; c had no interaction
    // before the cutoff.
    let expected: BTreeMap<String, Vec<String>> = [
        ("a".to_string(), vec!["z".to_string()]),
        ("b".to_string(), vec!["y".to_string(), "z".to_string()]),
    ]
    .into();
    assert_eq!(split.relevant, expected);
}

#[test]
fn the_user_sample_is_seeded_and_bounded() {
    let relevant: BTreeMap<String, Vec<String>> = (0..50)
        .map(|n| (format!("u{n}"), vec!["x".to_string()]))
        .collect();
    let drawn = sample(&relevant, 10, 7);
    assert_eq!(drawn, sample(&relevant, 10, 7));
    assert_ne!(drawn, sample(&relevant, 10, 8));
    assert_eq!(drawn.iter().collect::<HashSet<_>>().len(), 10);
    assert_eq!(sample(&relevant, 500, 7).len(), 50);
}

const SCENE: &str = r#"{
    "EventConf": { "Types": ["impression", "view", "click", "like"], "ExposureTypes": ["impression"] },
    "RecallConfs": [
        { "Name": "popular", "RecallType": "UserGlobalHotRecall", "RecallCount": 100 }
    ],
    "FilterConfs": [ { "Name": "interacted", "FilterType": "UserInteractedFilter" } ],
    "SceneConfs": { "home": { "default": { "RecallNames": ["popular"] } } },
    "FilterNames": { "home": ["interacted"] },
    "PopularConf": { "WindowHours": 100000 }
}"#;

/// A clustered world in a data directory, and the path of a variant of `SCENE` without its
/// filter of the items users already interacted with.
fn world_on_disk(dir: &Path) -> PathBuf {
    let world = Arc::new(World::new(WorldSpec {
        items: 2_000,
        users: 400,
        events: 40_000,
        seed: 11,
        clusters: 16,
        dimension: 8,
    }));
    let stores = EmbeddedStore::open_stores(&dir.join("data")).unwrap();
    let items: Vec<Item> = (0..2_000).map(|i| world.item(i)).collect();
    stores.items.upsert_items(&items).unwrap();
    let events: Vec<Event> = Events::new(world).collect();
    stores.events.append(events).wait_blocking().unwrap();
    let variant = dir.join("unfiltered.jsonc");
    let unfiltered = SCENE.replace(r#""home": ["interacted"]"#, r#""home": []"#);
    assert_ne!(unfiltered, SCENE);
    std::fs::write(&variant, unfiltered).unwrap();
    std::fs::write(dir.join("filtered.jsonc"), SCENE).unwrap();
    variant
}

#[test]
fn a_scene_that_hides_what_users_had_finds_more_of_what_they_take_next() {
    let dir = tempfile::tempdir().unwrap();
    let variant = world_on_disk(dir.path());
    let args = EvalSceneArgs {
        config: crate::ConfigArgs {
            config: Some(dir.path().join("filtered.jsonc")),
            data_dir: Some(dir.path().join("data")),
        },
        variants: vec![variant],
        scene: "home".into(),
        holdout_fraction: 0.1,
        users: 200,
        k: 10,
        seed: 1,
    };
    let reports = evaluate_all(&args).unwrap();
    let [filtered, unfiltered]: [SceneReport; 2] = reports.try_into().unwrap();
    assert_eq!(
        (filtered.label.as_str(), unfiltered.label.as_str()),
        ("filtered.jsonc", "unfiltered.jsonc")
    );
    assert_eq!(
        (filtered.metrics.users, unfiltered.metrics.users),
        (200, 200)
    );
    assert_eq!((filtered.degraded, unfiltered.degraded), (0, 0));
    // Popular items the user already had take places in the unfiltered answers, and they are
    // never relevant: the held-out items are those new to the user.
    assert!(
        filtered.metrics.recall > unfiltered.metrics.recall,
        "filtered {:?} against unfiltered {:?}",
        filtered.metrics,
        unfiltered.metrics
    );
    assert!(filtered.metrics.recall > 0.0);
}
