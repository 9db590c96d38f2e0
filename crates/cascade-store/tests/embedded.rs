//! The embedded store against its contract: durability across reopen, dedup, ordering, scans.

use cascade_core::{Event, FieldValue, Item, User};
use cascade_store::{EmbeddedStore, EventLog, ItemStore, StoreError, UserStore};

fn event(id: &str, uid: &str, item: &str, timestamp: i64) -> Event {
    Event::new(id, "click", uid, item, timestamp)
}

#[test]
fn appends_are_deduplicated_within_and_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let first = store
        .append(vec![
            event("a", "u", "i", 1),
            event("b", "u", "i", 2),
            event("a", "u", "i", 3),
        ])
        .wait_blocking()
        .unwrap();
    assert_eq!(first.accepted, 2);
    assert_eq!(first.duplicates, ["a"]);
    let second = store
        .append(vec![event("b", "u", "i", 4), event("c", "u", "i", 5)])
        .wait_blocking()
        .unwrap();
    assert_eq!(second.accepted, 1);
    assert_eq!(second.duplicates, ["b"]);
    assert_eq!(*store.durable_len().borrow(), 3);
    let ids: Vec<String> = store
        .read_from(0, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.event.event_id)
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

#[test]
fn events_survive_reopen_and_keep_their_positions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .append(vec![event("a", "u", "i", 1)])
            .wait_blocking()
            .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(*store.durable_len().borrow(), 1);
    let outcome = store
        .append(vec![event("a", "u", "i", 1), event("b", "u", "i", 2)])
        .wait_blocking()
        .unwrap();
    assert_eq!(outcome.accepted, 1);
    let logged = store.read_from(1, 10).unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].seq, 1);
    assert_eq!(logged[0].event.event_id, "b");
}

#[test]
fn time_range_scans_are_in_time_order_and_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store
        .append(vec![
            event("late", "u", "i", 30),
            event("early", "u", "i", 10),
            event("middle", "u", "i", 20),
            event("edge", "u", "i", 40),
        ])
        .wait_blocking()
        .unwrap();
    let mut seen = Vec::new();
    store
        .scan_time_range(10, 40, &mut |e| {
            seen.push(e.event.event_id);
            true
        })
        .unwrap();
    assert_eq!(seen, ["early", "middle", "late"]);
}

#[test]
fn concurrent_appends_are_all_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for b in 0..50 {
                    let batch = (0..20)
                        .map(|i| event(&format!("{t}-{b}-{i}"), "u", "i", i))
                        .collect();
                    assert_eq!(store.append(batch).wait_blocking().unwrap().accepted, 20);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(*store.durable_len().borrow(), 8 * 50 * 20);
}

#[test]
fn items_and_users_round_trip_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let item = Item {
        id: "1".into(),
        fields: [("year".to_string(), FieldValue::Numeric(1965.0))].into(),
        embeddings: [("v".to_string(), vec![0.25, 0.5])].into(),
    };
    store.upsert_items(std::slice::from_ref(&item)).unwrap();
    assert_eq!(store.get_item("1").unwrap(), Some(item));
    assert_eq!(store.item_count().unwrap(), 1);
    assert!(store.delete_item("1").unwrap());
    assert!(!store.delete_item("1").unwrap());
    assert_eq!(store.get_item("1").unwrap(), None);

    let user = User {
        id: "u".into(),
        attributes: Default::default(),
    };
    store.upsert_users(std::slice::from_ref(&user)).unwrap();
    assert_eq!(store.get_user("u").unwrap(), Some(user));
    assert!(store.delete_user("u").unwrap());
}

#[test]
fn the_catalogue_version_moves_with_every_item_change_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let item = Item {
        id: "1".into(),
        fields: Default::default(),
        embeddings: Default::default(),
    };
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.catalogue_version().unwrap(), 0);
        store.upsert_items(std::slice::from_ref(&item)).unwrap();
        store.upsert_items(std::slice::from_ref(&item)).unwrap();
        assert_eq!(store.catalogue_version().unwrap(), 2);
        assert!(!store.delete_item("absent").unwrap());
        let user = User {
            id: "u".into(),
            attributes: Default::default(),
        };
        store.upsert_users(&[user]).unwrap();
        assert_eq!(
            store.catalogue_version().unwrap(),
            2,
            "neither a no-op delete nor a user write changes the catalogue"
        );
        assert!(store.delete_item("1").unwrap());
        assert_eq!(store.catalogue_version().unwrap(), 3);
    }
    let reopened = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(reopened.catalogue_version().unwrap(), 3);
}

#[test]
fn a_second_process_handle_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedStore::open(dir.path()).unwrap();
    match EmbeddedStore::open(dir.path()) {
        Err(StoreError::InUse(path)) => assert!(path.contains(dir.path().to_str().unwrap())),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("opened twice"),
    }
}

#[test]
fn concurrent_item_writes_are_all_committed_and_the_last_write_of_an_id_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let item = |id: String, round: usize| Item {
        id,
        fields: [("round".to_string(), FieldValue::Numeric(round as f64))].into(),
        embeddings: Default::default(),
    };
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for round in 0..30 {
                    store
                        .upsert_items(&[
                            item(format!("own{t}"), round),
                            item(format!("x{round}"), t),
                        ])
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(store.item_count().unwrap(), 8 + 30);
    for t in 0..8 {
        assert_eq!(
            store.get_item(&format!("own{t}")).unwrap(),
            Some(item(format!("own{t}"), 29)),
            "a writer's own item holds its last write"
        );
    }
    let version = store.catalogue_version().unwrap();
    assert!(
        (1..=8 * 30).contains(&version),
        "one version step per commit, a commit per write at most: {version}"
    );
    store.upsert_items(&[]).unwrap();
    assert_eq!(
        store.catalogue_version().unwrap(),
        version,
        "no rows, no write"
    );
}
