//! Determinism, distribution shape and schema fit of the generated data.

use std::collections::HashMap;
use std::sync::Arc;

use cascade_core::config::CascadeConfig;
use cascade_core::validate::{parse_event, parse_item, parse_user};

use super::*;

fn spec(seed: u64) -> WorldSpec {
    WorldSpec {
        items: 2_000,
        users: 400,
        events: 40_000,
        seed,
        clusters: 16,
        dimension: 16,
    }
}

fn files(seed: u64) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let world = Arc::new(World::new(WorldSpec {
        events: 5_000,
        ..spec(seed)
    }));
    write_ndjson(&world, dir.path(), false).unwrap();
    ["items", "users", "events"]
        .iter()
        .map(|name| std::fs::read(dir.path().join(format!("{name}.ndjson"))).unwrap())
        .collect()
}

#[test]
fn the_same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let (first, again, other) = (files(42), files(42), files(43));
    assert_eq!(first, again);
    for (a, b) in first.iter().zip(&other) {
        assert_ne!(a, b);
    }
    let lines = first[2].split(|b| *b == b'\n').filter(|l| !l.is_empty());
    assert_eq!(lines.count(), 5_000);
}

#[test]
fn every_record_fits_the_synthetic_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/synthetic.jsonc");
    let config = CascadeConfig::load(std::path::Path::new(path)).unwrap();
    let world = Arc::new(World::new(WorldSpec {
        dimension: 64,
        ..spec(5)
    }));
    let now = world.epoch_ms();
    for line in lines(&world, Kind::Items).take(200) {
        let item = parse_item(
            serde_json::from_str(&line).unwrap(),
            &config.item_schema,
            None,
        );
        assert!(item.is_ok(), "{line}: {item:?}");
    }
    for line in lines(&world, Kind::Users).take(50) {
        assert!(parse_user(serde_json::from_str(&line).unwrap(), None).is_ok());
    }
    for line in lines(&world, Kind::Events).take(500) {
        let event = parse_event(
            serde_json::from_str(&line).unwrap(),
            &config.event_conf,
            now,
        );
        assert!(event.is_ok(), "{line}: {event:?}");
    }
}

#[test]
fn popularity_is_heavy_tailed_and_users_keep_to_their_interests() {
    let world = Arc::new(World::new(spec(9)));
    let mut per_item: HashMap<String, usize> = HashMap::new();
    let (mut total, mut in_interest) = (0usize, 0usize);
    let (start, end) = (world.epoch_ms() - 30 * world::DAY_MS, world.epoch_ms());
    let mut last_by_user: HashMap<String, i64> = HashMap::new();
    for event in Events::new(world.clone()) {
        total += 1;
        *per_item.entry(event.item_id.clone()).or_default() += 1;
        let user: usize = event.uid[1..].parse().unwrap();
        let item: usize = event.item_id[1..].parse().unwrap();
        if world
            .profile(user)
            .interests
            .contains(&world.cluster_of(item))
        {
            in_interest += 1;
        }
        assert!((start..=end).contains(&event.timestamp), "{event:?}");
        let last = last_by_user.insert(event.uid.clone(), event.timestamp);
        assert!(
            last.is_none_or(|t| t <= event.timestamp),
            "{event:?} before {last:?}"
        );
    }
    assert_eq!(total, 40_000);
    let mut counts: Vec<usize> = per_item.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: usize = counts.iter().take(2_000 / 100).sum();
    let top_share = top as f64 / total as f64;
    // uniform popularity would give the top 1% of items about 1% of the events
    assert!(
        top_share > 0.10,
        "top 1% of items got {top_share:.3} of events"
    );
    // with 16 clusters and 1–3 interests, chance alone would put about 12% in them
    let share = in_interest as f64 / total as f64;
    assert!(share > 0.6, "{share:.3} of events in the user's interests");
}
