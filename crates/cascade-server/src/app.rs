//! The application: configuration, stores, derived state and the pipeline, wired together.

use std::sync::Arc;

use cascade_core::EventObserver;
use cascade_core::config::CascadeConfig;
use cascade_pipeline::Recommender;
use cascade_retrieval::PopularIndex;
use cascade_store::{EmbeddedStore, StoreError, Stores};
use cascade_stream::{StreamRuntime, UserHistory};

/// Everything a request handler needs.
pub struct App {
    /// The configuration the server started with.
    pub config: CascadeConfig,
    /// Items, users and the event log.
    pub stores: Stores,
    /// The recommendation pipeline.
    pub recommender: Recommender,
    /// The stream runtime that keeps derived state fresh.
    pub stream: StreamRuntime,
    /// How many events the log held at start-up; the server is ready once they are replayed.
    pub startup_events: u64,
}

impl App {
    /// Opens the embedded store in the configured data directory and starts the stream runtime.
    pub fn open(config: CascadeConfig) -> Result<Arc<Self>, StoreError> {
        let stores = EmbeddedStore::open_stores(&config.storage_conf.data_dir)?;
        Ok(Self::with_stores(config, stores))
    }

    /// Builds the application over the given stores.
    pub fn with_stores(config: CascadeConfig, stores: Stores) -> Arc<Self> {
        let types = config.event_conf.clone();
        let popular = Arc::new(PopularIndex::new(&config.popular_conf, types.clone()));
        let history = Arc::new(UserHistory::new(
            config.history_conf.max_items_per_user,
            types,
        ));
        let startup_events = *stores.events.durable_len().borrow();
        let observers: Vec<Arc<dyn EventObserver>> = vec![popular.clone(), history.clone()];
        let stream = StreamRuntime::start(stores.events.clone(), observers);
        let recommender = Recommender::new(popular, history, stores.items.clone());
        Arc::new(Self {
            config,
            stores,
            recommender,
            stream,
            startup_events,
        })
    }

    /// Whether the event log has been replayed into the derived state.
    pub fn is_ready(&self) -> bool {
        *self.stream.applied().borrow() >= self.startup_events
    }
}
