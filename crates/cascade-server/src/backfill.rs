//! Embeds, in the background, the catalogue items that have text but no text vector: items
//! imported without the encoder (the demo, or before the model was installed), so that start-up
//! never waits for the encoder.
//!
//! It starts once the server is ready and takes at most a quarter of the machine: after each
//! small step it sleeps three times as long as the step took, so that requests keep their
//! latency while it runs.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use cascade_core::Item;
use cascade_retrieval::ItemEmbedder;
use cascade_store::StoreError;

use crate::app::App;

/// Items read, embedded and written per step.
const STEP: usize = 16;

/// Idle time after a step, as a multiple of the step's duration.
const IDLE_FACTOR: u32 = 3;

/// Starts the backfill thread when the encoder is on; it ends when done or when the app goes.
pub fn start(app: &Arc<App>) {
    let Some(embedder) = app.embedder.clone() else {
        return;
    };
    let app = Arc::downgrade(app);
    let spawned = cascade_core::background::spawn("cascade-embed", move || run(&app, &embedder));
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the embedding backfill");
    }
}

fn run(app: &Weak<App>, embedder: &ItemEmbedder) {
    loop {
        match app.upgrade() {
            None => return,
            Some(app) if app.is_ready() => break,
            Some(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    let Some(pending) = app.upgrade().map(|app| missing(&app, embedder)) else {
        return;
    };
    if pending.is_empty() {
        return;
    }
    tracing::info!(
        items = pending.len(),
        "embedding item text in the background"
    );
    let started = std::time::Instant::now();
    let mut done = 0;
    for (i, ids) in pending.chunks(STEP).enumerate() {
        let step_started = std::time::Instant::now();
        {
            let Some(app) = app.upgrade() else { return };
            match step(&app, embedder, ids) {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => tracing::warn!(%error, "embedding backfill step failed"),
            }
        }
        done += ids.len();
        metrics::gauge!("cascade_embedding_backlog").set((pending.len() - done) as f64);
        if i % 64 == 0 || done == pending.len() {
            tracing::info!(
                done,
                of = pending.len(),
                seconds = started.elapsed().as_secs_f64(),
                "embedding backfill in progress"
            );
        }
        std::thread::sleep(step_started.elapsed() * IDLE_FACTOR);
    }
}

/// The ids of the items that need a vector.
fn missing(app: &App, embedder: &ItemEmbedder) -> Vec<String> {
    let mut ids = Vec::new();
    let scanned = app.stores.items.scan_items(&mut |item| {
        if embedder.needs_vector(&item) {
            ids.push(item.id);
        }
    });
    if let Err(error) = scanned {
        tracing::warn!(%error, "cannot scan the catalogue for items to embed");
    }
    ids
}

/// Embeds one step of items and writes those that did not change meanwhile; `false` once item
/// writes are closed.
fn step(app: &App, embedder: &ItemEmbedder, ids: &[String]) -> Result<bool, String> {
    let read = |id: &String| app.stores.items.get_item(id).ok().flatten();
    let originals: HashMap<String, Item> = ids
        .iter()
        .filter_map(read)
        .filter(|item| embedder.needs_vector(item))
        .map(|item| (item.id.clone(), item))
        .collect();
    let mut embedded: Vec<Item> = originals.values().cloned().collect();
    embedder.fill(&mut embedded).map_err(|e| e.to_string())?;
    // An item written by a request meanwhile keeps that version.
    let unchanged = |item: &Item| read(&item.id).as_ref() == originals.get(&item.id);
    match app.put_items_where(embedded, unchanged) {
        Ok(()) => Ok(true),
        Err(StoreError::Closed) => Ok(false),
        Err(error) => Err(error.to_string()),
    }
}
