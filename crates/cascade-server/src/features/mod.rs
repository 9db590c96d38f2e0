//! Live features in the server: window features and enrichers, each optional and each
//! working without the other.
//!
//! When `WindowFeatureConfs` declares any, the feature store is opened, a [`WindowObserver`]
//! restores its checkpoint and follows the event log on a stream runtime of its own (from the
//! checkpoint's position, while the in-memory indexes replay the log from the start), values
//! are read back through `POST /api/features`, and the freshness of every event is measured
//! ([`freshness`]).
//!
//! When `EnricherConfs` declares any, each enricher's models are loaded and a
//! [`MicroBatcher`] per enricher follows the log on another runtime of its own, started at the
//! log's end as it was at start-up. Enrichers keep no state but their outputs, which live in
//! the feature store across restarts, so they do not replay the log (running every logged
//! event through a model at each start would cost far more than it is worth); events logged
//! while no server ran are not enriched. Sharing the window features' runtime would tie them
//! to the window checkpoint's position, a full replay after a configuration change. An
//! enricher whose model cannot be loaded is logged, counted
//! (`cascade_enricher_load_failures_total`) and left out; the server starts without it.
//!
//! Both are built once, at start-up: a configuration reload does not change them.

mod freshness;
pub mod route;

use std::sync::Arc;
use std::time::Duration;

use cascade_core::EventObserver;
use cascade_core::config::features::Selector;
use cascade_core::config::{CascadeConfig, EnricherConf, WindowFeatureConf};
use cascade_pipeline::ItemCache;
use cascade_store::features::open_feature_store;
use cascade_store::{FeatureStore, Stores};
use cascade_stream::StreamRuntime;
use cascade_stream::enrich::{EnrichContext, MicroBatcher, start_enricher};
use cascade_stream::windows::{WindowError, WindowObserver};
use tokio::sync::watch;

/// The window features' observer and the runtime that feeds it.
struct Windows {
    observer: Arc<WindowObserver>,
    runtime: StreamRuntime,
}

/// The enrichers that started and the runtime that feeds them.
struct Enrichers {
    batchers: Vec<Arc<MicroBatcher>>,
    runtime: StreamRuntime,
}

/// The running live features: their store, the window features and the enrichers.
pub struct LiveFeatures {
    confs: Vec<WindowFeatureConf>,
    enricher_confs: Vec<EnricherConf>,
    store: Arc<dyn FeatureStore>,
    windows: Option<Windows>,
    enrichers: Option<Enrichers>,
    /// Stands for the window features' flushed position when there are none: nothing pending.
    nothing_pending: watch::Sender<u64>,
}

impl LiveFeatures {
    /// Opens the feature store, starts the window features (restoring their checkpoint and
    /// following the log after it) and the enrichers; `None` when `config` declares neither.
    /// Item fields are read through `items`, the engine's item cache (which catalogue writes
    /// invalidate).
    pub fn start(
        config: &CascadeConfig,
        stores: &Stores,
        items: Arc<ItemCache>,
    ) -> Result<Option<Self>, WindowError> {
        let confs = &config.window_feature_confs;
        if confs.is_empty() && config.enricher_confs.is_empty() {
            return Ok(None);
        }
        let store = open_feature_store(&config.feature_store_conf, &config.storage_conf.data_dir)?;
        let windows = if confs.is_empty() {
            None
        } else {
            Some(start_windows(config, stores, &store, &items)?)
        };
        let context = EnrichContext {
            store: store.clone(),
            items,
        };
        let enrichers = start_enrichers(config, stores, &context);
        Ok(Some(Self {
            confs: confs.clone(),
            enricher_confs: config.enricher_confs.clone(),
            store,
            windows,
            enrichers,
            nothing_pending: watch::Sender::new(u64::MAX),
        }))
    }

    /// The feature store the values are written to.
    pub fn store(&self) -> &Arc<dyn FeatureStore> {
        &self.store
    }

    /// The log position up to which every event's window feature effects are readable in
    /// the store (`u64::MAX` without window features: nothing is pending).
    pub fn visible(&self) -> watch::Receiver<u64> {
        match &self.windows {
            Some(windows) => windows.observer.flushed(),
            None => self.nothing_pending.subscribe(),
        }
    }

    /// Waits until the window feature effects of the events before `position` are readable
    /// in the store.
    pub async fn wait_visible(&self, position: u64) {
        let _ = self.visible().wait_for(|&p| p >= position).await;
    }

    /// The log position the window features' stream runtime (else the enrichers') has
    /// applied up to.
    pub fn applied(&self) -> u64 {
        let runtime = match (&self.windows, &self.enrichers) {
            (Some(windows), _) => &windows.runtime,
            (None, Some(enrichers)) => &enrichers.runtime,
            (None, None) => return 0,
        };
        *runtime.applied().borrow()
    }

    /// Writes the changed window feature values and saves their state with the position it
    /// covers; returns it (without window features, the position applied: nothing to save).
    pub fn checkpoint(&self) -> Result<u64, WindowError> {
        match &self.windows {
            Some(windows) => windows.observer.checkpoint(),
            None => Ok(self.applied()),
        }
    }

    /// The enrichers that started (those whose models loaded).
    pub fn enrichers(&self) -> &[Arc<MicroBatcher>] {
        self.enrichers
            .as_ref()
            .map_or(&[], |enrichers| enrichers.batchers.as_slice())
    }

    /// Whether the declared feature `name` (a window feature or an enricher's output) is
    /// kept per `key` (one selector: user or item); else why not.
    fn keyed_by(&self, name: &str, key: &Selector) -> Result<(), String> {
        let declared = self
            .confs
            .iter()
            .find(|conf| conf.name == name)
            .map(|conf| conf.key.clone())
            .or_else(|| {
                self.enricher_confs
                    .iter()
                    .find(|conf| conf.name == name)
                    .map(|conf| {
                        cascade_core::config::features::WindowKey(vec![conf.key.selector()])
                    })
            });
        let Some(declared) = declared else {
            let names: Vec<&str> = self
                .confs
                .iter()
                .map(|c| c.name.as_str())
                .chain(self.enricher_confs.iter().map(|c| c.name.as_str()))
                .collect();
            return Err(format!(
                "unknown feature `{name}`; WindowFeatureConfs and EnricherConfs declare {}",
                names.join(", ")
            ));
        };
        if declared.0.as_slice() == std::slice::from_ref(key) {
            Ok(())
        } else {
            Err(format!(
                "`{name}` is kept per {}, not per {}",
                String::from(declared),
                String::from(cascade_core::config::features::ValueOf(key.clone())),
            ))
        }
    }
}

/// Starts the window features after their checkpoint, with freshness measurement.
fn start_windows(
    config: &CascadeConfig,
    stores: &Stores,
    store: &Arc<dyn FeatureStore>,
    fields: &Arc<ItemCache>,
) -> Result<Windows, WindowError> {
    let confs = &config.window_feature_confs;
    let durable = stores.events.durable_len();
    let log_len = *durable.borrow();
    let interval = config.feature_store_conf.checkpoint_interval.millis();
    let observer = Arc::new(WindowObserver::new(
        confs,
        &config.event_conf,
        fields.clone(),
        store.clone(),
        Duration::from_millis(interval.max(1).unsigned_abs()),
        durable.clone(),
    ));
    let from = observer.restore()?;
    freshness::track(durable, observer.flushed(), log_len);
    let runtime = StreamRuntime::start_from(stores.events.clone(), vec![observer.clone()], from);
    tracing::info!(features = confs.len(), from, "window features started");
    Ok(Windows { observer, runtime })
}

/// Starts every enricher whose models load, on one runtime from the log's current end;
/// `None` when none is declared or none started.
fn start_enrichers(
    config: &CascadeConfig,
    stores: &Stores,
    context: &EnrichContext,
) -> Option<Enrichers> {
    let mut batchers = Vec::new();
    for conf in &config.enricher_confs {
        match start_enricher(conf, config, context) {
            Ok(batcher) => batchers.push(Arc::new(batcher)),
            Err(error) => {
                metrics::counter!(
                    "cascade_enricher_load_failures_total",
                    "enricher" => conf.name.clone()
                )
                .increment(1);
                tracing::error!(
                    enricher = %conf.name,
                    %error,
                    "the enricher could not start; the server runs without it"
                );
            }
        }
    }
    if batchers.is_empty() {
        return None;
    }
    let from = *stores.events.durable_len().borrow();
    let observers: Vec<Arc<dyn EventObserver>> = batchers
        .iter()
        .map(|batcher| batcher.clone() as Arc<dyn EventObserver>)
        .collect();
    let runtime = StreamRuntime::start_from(stores.events.clone(), observers, from);
    tracing::info!(enrichers = batchers.len(), from, "enrichers started");
    Some(Enrichers { batchers, runtime })
}
