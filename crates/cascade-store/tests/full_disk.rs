//! A full disk under the embedded store (a 2 MiB tmpfs, filled by a file beside the store):
//! writes fail with a clear `Unavailable` error while it is full, and once space is free again
//! the store re-opens its file by itself (no restart) and takes writes again, with every
//! acknowledged event still in the log.

mod support;

use std::time::{Duration, Instant};

use cascade_core::{Event, Item};
use cascade_store::{EmbeddedStore, EventLog, ItemStore, StoreError};
use support::tmpfs::Tmpfs;

/// Events with a 2 KB text each, so that a few batches need new pages.
fn batch(name: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut event = Event::new(&format!("{name}-{i}"), "click", "u", "i", 1);
            event.text = Some("x".repeat(2048));
            event
        })
        .collect()
}

#[test]
fn a_full_disk_fails_writes_clearly_and_the_store_recovers_once_space_is_free() {
    let Some(disk) = Tmpfs::mount("2m") else {
        eprintln!("skipped: mounting a tmpfs is not permitted here (run as root)");
        return;
    };
    let store = EmbeddedStore::open(&disk.path().join("data")).unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    let first = batch("before", 20);
    store.append(first.clone()).wait_blocking().unwrap();
    acknowledged.extend(first.into_iter().map(|e| e.event_id));

    let filler = disk.fill();
    // The database file may still have free pages: append until a commit needs more.
    let mut failure = None;
    for round in 0..200 {
        let events = batch(&format!("full-{round}"), 20);
        match store.append(events.clone()).wait_blocking() {
            Ok(_) => acknowledged.extend(events.into_iter().map(|e| e.event_id)),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let failure = failure.expect("a write fails once the disk is full");
    assert!(
        matches!(&failure, StoreError::Unavailable(reason) if reason.contains("No space left")),
        "{failure}"
    );
    // Every write fails at once, saying why, instead of redb's "Previous I/O error occurred".
    let item = Item {
        id: "i1".into(),
        fields: Default::default(),
        embeddings: Default::default(),
    };
    for error in [
        store.upsert_items(std::slice::from_ref(&item)).unwrap_err(),
        store
            .append(batch("refused", 1))
            .wait_blocking()
            .unwrap_err(),
        store.writable().unwrap_err(),
    ] {
        assert!(
            matches!(&error, StoreError::Unavailable(reason)
                if reason.contains("re-opening the database") && reason.contains("No space left")),
            "{error}"
        );
    }

    std::fs::remove_file(filler).unwrap();
    let started = Instant::now();
    loop {
        let events = batch(&format!("after-{}", started.elapsed().as_millis()), 1);
        match store.append(events.clone()).wait_blocking() {
            Ok(outcome) => {
                assert_eq!(outcome.accepted, 1);
                acknowledged.extend(events.into_iter().map(|e| e.event_id));
                break;
            }
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("no write succeeded within 10 s of freeing space: {error}"),
        }
    }
    store.writable().unwrap();
    store.upsert_items(&[item]).unwrap();
    assert!(store.contains_item("i1").unwrap());

    let logged: Vec<String> = store
        .read_from(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|logged| logged.event.event_id)
        .collect();
    for id in &acknowledged {
        assert!(logged.contains(id), "acknowledged event {id} is lost");
    }
    let positions: Vec<u64> = store
        .read_from(0, 100_000)
        .unwrap()
        .iter()
        .map(|logged| logged.seq)
        .collect();
    assert_eq!(
        positions,
        (0..positions.len() as u64).collect::<Vec<_>>(),
        "positions stay dense after the re-open"
    );
    assert_eq!(*store.durable_len().borrow(), positions.len() as u64);
}
