//! Window features in the server: when `WindowFeatureConfs` declares any, the feature store is
//! opened, a [`WindowObserver`] restores its checkpoint and follows the event log on a stream
//! runtime of its own (from the checkpoint's position, while the in-memory indexes replay the
//! log from the start), values are read back through `POST /api/features`, and the freshness
//! of every event is measured ([`freshness`]).
//!
//! The features are built once, at start-up: a configuration reload does not change them.

mod freshness;
mod item_fields;
pub mod route;

use std::sync::Arc;
use std::time::Duration;

use cascade_core::config::features::Selector;
use cascade_core::config::{CascadeConfig, WindowFeatureConf};
use cascade_store::features::open_feature_store;
use cascade_store::{FeatureStore, Stores};
use cascade_stream::StreamRuntime;
use cascade_stream::windows::{WindowError, WindowObserver};
use tokio::sync::watch;

pub use item_fields::ItemFieldCache;

/// The running window features: their store, observer and stream runtime.
pub struct LiveFeatures {
    confs: Vec<WindowFeatureConf>,
    store: Arc<dyn FeatureStore>,
    observer: Arc<WindowObserver>,
    fields: Arc<ItemFieldCache>,
    runtime: StreamRuntime,
}

impl LiveFeatures {
    /// Opens the feature store, restores the checkpoint and starts following the log after
    /// it; `None` when `config` declares no window feature.
    pub fn start(config: &CascadeConfig, stores: &Stores) -> Result<Option<Self>, WindowError> {
        let confs = &config.window_feature_confs;
        if confs.is_empty() {
            return Ok(None);
        }
        let store = open_feature_store(&config.feature_store_conf, &config.storage_conf.data_dir)?;
        let fields = Arc::new(ItemFieldCache::new(
            stores.items.clone(),
            config.engine_conf.item_cache_size,
        ));
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
        let runtime =
            StreamRuntime::start_from(stores.events.clone(), vec![observer.clone()], from);
        tracing::info!(features = confs.len(), from, "window features started");
        Ok(Some(Self {
            confs: confs.clone(),
            store,
            observer,
            fields,
            runtime,
        }))
    }

    /// The feature store the values are written to.
    pub fn store(&self) -> &Arc<dyn FeatureStore> {
        &self.store
    }

    /// The log position up to which every event's effect is readable in the store.
    pub fn visible(&self) -> watch::Receiver<u64> {
        self.observer.flushed()
    }

    /// Waits until the effects of the events before `position` are readable in the store.
    pub async fn wait_visible(&self, position: u64) {
        let _ = self.visible().wait_for(|&p| p >= position).await;
    }

    /// The log position the features' stream runtime has applied up to.
    pub fn applied(&self) -> u64 {
        *self.runtime.applied().borrow()
    }

    /// Writes the changed values and saves the state with the position it covers; returns it.
    pub fn checkpoint(&self) -> Result<u64, WindowError> {
        self.observer.checkpoint()
    }

    /// Forgets the cached fields of item `id` after a catalogue write.
    pub fn item_written(&self, id: &str) {
        self.fields.forget(id);
    }

    /// The declared feature `name`, if it is kept per `key` (one selector: user or item).
    fn keyed_by(&self, name: &str, key: &Selector) -> Result<&WindowFeatureConf, String> {
        let conf = self
            .confs
            .iter()
            .find(|conf| conf.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.confs.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "unknown feature `{name}`; WindowFeatureConfs declares {}",
                    names.join(", ")
                )
            })?;
        if conf.key.0.as_slice() == std::slice::from_ref(key) {
            Ok(conf)
        } else {
            Err(format!(
                "`{name}` is kept per {}, not per {}",
                String::from(conf.key.clone()),
                String::from(cascade_core::config::features::ValueOf(key.clone())),
            ))
        }
    }
}
