//! An event is acknowledged only once durable: a server killed with SIGKILL at random
//! points loses no acknowledged event and stores none twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cascade_store::{EmbeddedStore, EventLog};
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::support::Running;

const TRIALS: usize = 20;
const WRITERS: usize = 3;
const BATCH: usize = 50;

fn batch(ids: &[String]) -> String {
    let events: Vec<_> = ids
        .iter()
        .map(|id| json!({"event_id": id, "type": "click", "uid": "u", "item_id": id, "timestamp": 1}))
        .collect();
    serde_json::Value::Array(events).to_string()
}

/// Posts batches until the server dies; records the ids of every acknowledged batch.
/// Each batch also re-sends the writer's previous batch, as a client retrying would.
fn write_until_killed(
    base: String,
    trial: usize,
    writer: usize,
    acked: Arc<Mutex<HashSet<String>>>,
) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut previous: Vec<String> = Vec::new();
    for round in 0.. {
        let fresh: Vec<String> = (0..BATCH)
            .map(|i| format!("t{trial}-w{writer}-r{round}-{i}"))
            .collect();
        let ids: Vec<String> = previous.iter().chain(&fresh).cloned().collect();
        let response = client
            .post(format!("{base}/api/events"))
            .header("content-type", "application/json")
            .body(batch(&ids))
            .send();
        match response {
            Ok(response) if response.status().is_success() => {
                acked.lock().unwrap().extend(ids);
                previous = fresh;
            }
            _ => return,
        }
    }
}

#[test]
fn acknowledged_events_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    for trial in 0..TRIALS {
        let server = Running::serve(dir.path());
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (base, acked) = (server.base.clone(), acked.clone());
                std::thread::spawn(move || write_until_killed(base, trial, w, acked))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        server.kill();
        for writer in writers {
            writer.join().unwrap();
        }
    }

    let acked = acked.lock().unwrap();
    assert!(
        acked.len() > 1000,
        "the trials acknowledged too little to prove anything: {}",
        acked.len()
    );
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let mut copies: HashMap<String, usize> = HashMap::new();
    for logged in store.read_from(0, usize::MAX).unwrap() {
        *copies.entry(logged.event.event_id).or_default() += 1;
    }
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !copies.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let doubled: Vec<(&String, &usize)> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "events stored more than once: {doubled:?}"
    );
}
