//! The application: configuration, stores, derived state and the recommendation engine,
//! wired together; configuration reloads swap the engine without dropping requests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cascade_core::config::{CascadeConfig, ConfigError};
use cascade_core::{EventObserver, FieldType, Item, ItemObserver};
use cascade_pipeline::breaker::CircuitBreaker;
use cascade_pipeline::item_cache::ItemCache;
use cascade_pipeline::spec::ensure_default_scene;
use cascade_pipeline::{
    Deps, Engine, ItemStatsIndex, LiveFeatureSource, Recommender, Registry, Shared,
};
use cascade_rank::features::FeatureSource;
use cascade_retrieval::persisted;
use cascade_retrieval::text::{TextField, TextIndex, TextTokenizer};
use cascade_retrieval::{
    AnnConfig, AnnMetric, IndexOrigin, ItemCfConfig, ItemCfIndex, ItemEmbedder, ItemVectors,
    PopularIndex, TextCommitter, TrendingConfig, TrendingIndex,
};
use cascade_store::{EmbeddedStore, ItemStore, StoreError, Stores};
use cascade_stream::{HistoryKind, StreamRuntime, UserHistory};
use parking_lot::RwLock;

use crate::backfill;
use crate::features::LiveFeatures;
use crate::item_writes::ItemWriteLocks;
use crate::readiness;

/// Everything a request handler needs.
pub struct App {
    /// Items, users and the event log.
    pub stores: Stores,
    /// The stream runtime that keeps derived state fresh.
    pub stream: StreamRuntime,
    /// How many events the log held at start-up; the server is ready once they are replayed.
    pub startup_events: u64,
    /// ANN indexes of the declared item embeddings, by name.
    pub vectors: HashMap<String, Arc<ItemVectors>>,
    /// The full-text index, when some item field is searchable (shared with the engine's
    /// `TextRecall` sources).
    pub text: Option<Arc<TextIndex>>,
    /// Each user's recent interactions, most recent first.
    pub interactions: Arc<UserHistory>,
    /// The text encoder, when `TextEncoderConf` is set and the model loads.
    pub embedder: Option<Arc<ItemEmbedder>>,
    /// Each derived index, by name, and whether it was loaded as saved or built at start-up.
    pub index_origins: Vec<(String, IndexOrigin)>,
    /// The window features, when `WindowFeatureConfs` declares any.
    pub features: Option<LiveFeatures>,
    /// The feature logger, when `FeatureLogConf.Enabled` (set at start-up; closed, its
    /// records flushed, by [`App::persist_indexes`]).
    pub feature_log: Option<cascade_rank::logging::FeatureLogger>,
    /// The shared Kafka event stream, when `KafkaConf` is set (distributed mode); it stops
    /// consuming in [`App::persist_indexes`].
    pub distributed: Option<crate::distributed::Distributed>,
    /// What ranking models (and the feature log) read beside the candidate and its item.
    pub feature_source: Arc<dyn FeatureSource>,
    data_dir: PathBuf,
    /// Whether the start-up replay is applied and the derived state primed from it
    /// (see [`crate::readiness`]).
    pub(crate) ready: tokio::sync::watch::Sender<bool>,
    /// Orders the item writes per id, and closes them before the indexes are saved.
    item_writes: ItemWriteLocks,
    /// Commits the text index's changes every `SearchConf.RefreshMs`; `None` when there is
    /// no text index or every write commits (`RefreshMs` 0).
    text_commits: Option<TextCommitter>,
    registry: Registry,
    shared: Arc<Shared>,
    engine: RwLock<Arc<Engine>>,
}

impl App {
    /// Opens the embedded store in the configured data directory and starts the stream runtime.
    pub fn open(config: CascadeConfig) -> Result<Arc<Self>, AppError> {
        let stores = EmbeddedStore::open_stores(&config.storage_conf.data_dir)?;
        Self::with_stores(config, stores, |_| {})
    }

    /// Builds the application over the given stores; `extend` may register more component types.
    pub fn with_stores(
        config: CascadeConfig,
        stores: Stores,
        extend: impl FnOnce(&mut Registry),
    ) -> Result<Arc<Self>, AppError> {
        let types = config.event_conf.clone();
        let popular = Arc::new(PopularIndex::new(&config.popular_conf, types.clone()));
        let history = |kind| {
            Arc::new(UserHistory::new(
                kind,
                config.history_conf.max_items_per_user,
                types.clone(),
            ))
        };
        let (interactions, exposures) = (
            history(HistoryKind::Interactions),
            history(HistoryKind::Exposures),
        );
        let item_cf = Arc::new(ItemCfIndex::new(
            ItemCfConfig {
                history_len: config.item_cf_conf.history_len,
                swing_alpha: config.item_cf_conf.swing_alpha,
                neighbours_per_item: config.item_cf_conf.neighbours_per_item,
                refreshed_lists: config.item_cf_conf.neighbour_refresh_seconds > 0,
                refresh_fraction: config.item_cf_conf.neighbour_refresh_fraction,
            },
            types.clone(),
        ));
        let trending = Arc::new(TrendingIndex::new(
            "trending",
            &TrendingConfig {
                half_life_hours: config.trending_conf.half_life_hours,
                refresh_millis: config.popular_conf.refresh_millis,
            },
            types.clone(),
        ));
        // The popular and trending rankings are recomputed here, off the request path (with
        // a period of 0, by the requests).
        let ranking_period = Duration::from_millis(config.popular_conf.refresh_millis);
        every(ranking_period, "cascade-popular", &popular, |index| {
            index.refresh()
        });
        every(ranking_period, "cascade-trending", &trending, |index| {
            index.refresh()
        });
        every(
            Duration::from_secs(config.item_cf_conf.swing_rebuild_seconds),
            "cascade-swing",
            &item_cf,
            |index| {
                if !index.swing_wanted() {
                    return;
                }
                let started = Instant::now();
                index.rebuild_swing();
                tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    "swing similarities rebuilt"
                );
            },
        );
        every(
            Duration::from_secs(config.item_cf_conf.neighbour_refresh_seconds),
            "cascade-item-cf",
            &item_cf,
            |index| {
                let started = Instant::now();
                let lists = index.refresh_neighbours();
                tracing::debug!(
                    lists,
                    seconds = started.elapsed().as_secs_f64(),
                    "item-CF neighbour lists refreshed"
                );
            },
        );
        let startup_events = *stores.events.durable_len().borrow();
        let item_stats = Arc::new(ItemStatsIndex::new(types.clone()));
        let observers: Vec<Arc<dyn EventObserver>> = vec![
            popular.clone(),
            interactions.clone(),
            exposures.clone(),
            item_cf.clone(),
            trending.clone(),
            item_stats.clone(),
        ];
        let stream = StreamRuntime::start(stores.events.clone(), observers);
        let fallback =
            Recommender::new(popular.clone(), interactions.clone(), stores.items.clone());
        let shared = Arc::new(Shared::new(&config, stores.items.clone(), fallback));
        let features =
            LiveFeatures::start(&config, &stores, shared.items()).map_err(features_failed)?;
        let feature_log = crate::feature_log::open(&config)?;
        let distributed = crate::distributed::Distributed::start(&config, stores.events.clone())?;
        let data_dir = config.storage_conf.data_dir.clone();
        let mut index_origins = Vec::new();
        let mut vectors = HashMap::new();
        for (embedding, &dimensions) in &config.item_schema.embeddings {
            let dir = vector_dir(&data_dir, embedding);
            let conf = config.ann_confs.get(embedding).copied().unwrap_or_default();
            let wanted = AnnConfig::shaped(embedding, dimensions, AnnMetric::Cosine, &conf);
            let (index, origin) = persisted::open_vectors(&dir, &*stores.items, wanted)
                .map_err(|e| AppError::Index(format!("embedding `{embedding}`: {e}")))?;
            index_origins.push((format!("ann:{embedding}"), origin));
            vectors.insert(embedding.clone(), Arc::new(index));
        }
        let embedder = load_embedder(&config);
        let text = open_text_index(&config, &*stores.items)?.map(|(index, origin)| {
            index_origins.push(("text".to_string(), origin));
            Arc::new(index)
        });
        let text_commits = start_text_commits(&config, text.as_ref())?;
        for (index, origin) in &index_origins {
            tracing::info!(index, ?origin, "index opened");
        }
        let live_source = LiveFeatureSource::new(
            interactions.clone(),
            item_stats,
            shared.clone(),
            config.history_conf.max_items_per_user,
        );
        let feature_source: Arc<dyn FeatureSource> = Arc::new(match &features {
            Some(features) => live_source.with_store(
                features.store().clone(),
                CircuitBreaker::from_conf(&config.engine_conf),
            ),
            None => live_source,
        });
        let warming = warm_item_cache(shared.items())?;
        let prime: readiness::Prime = {
            let (popular, trending, item_cf) = (popular.clone(), trending.clone(), item_cf.clone());
            Box::new(move || {
                popular.prime();
                trending.prime();
                item_cf.prime();
                if warming.join().is_err() {
                    tracing::error!("the thread warming the item cache panicked");
                }
            })
        };
        let mut registry = Registry::with_builtins(Deps {
            popular,
            interactions: interactions.clone(),
            exposures,
            items: stores.items.clone(),
            vectors: vectors.clone(),
            item_cf,
            trending,
            features: feature_source.clone(),
            text: text.clone(),
        });
        extend(&mut registry);
        let engine = build_engine(config, &registry, &shared)?;
        let app = Arc::new(Self {
            stores,
            stream,
            startup_events,
            vectors,
            text,
            interactions,
            embedder,
            index_origins,
            features,
            feature_log,
            distributed,
            feature_source,
            data_dir,
            ready: tokio::sync::watch::Sender::new(false),
            item_writes: ItemWriteLocks::new(),
            text_commits,
            registry,
            shared,
            engine: RwLock::new(Arc::new(engine)),
        });
        readiness::start(&app, prime).map_err(|error| {
            AppError::Index(format!(
                "cannot start the thread that computes the rankings and neighbour lists: {error}"
            ))
        })?;
        backfill::start(&app);
        Ok(app)
    }

    /// The engine serving now; a request keeps the one it started with across a reload.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<CascadeConfig> {
        self.engine().config().clone()
    }

    /// Builds `config` and, if it is valid, serves it from now on; otherwise the running
    /// configuration stays and the error says why. The settings that apply at the next start
    /// ([`cascade_core::config::AT_NEXT_START`]) keep their running values; a change to one
    /// is logged.
    pub fn reload(&self, mut config: CascadeConfig) -> Result<(), AppError> {
        let at_next_start = config.keep_at_next_start(&self.config());
        if !at_next_start.is_empty() {
            tracing::warn!(
                settings = at_next_start.join(", "),
                "these settings apply at the next start; the running values stay until then"
            );
        }
        let engine = build_engine(config, &self.registry, &self.shared)?;
        *self.engine.write() = Arc::new(engine);
        metrics::counter!("cascade_config_reloads_total").increment(1);
        Ok(())
    }

    /// Fills the text embedding of the items that have text but no vector, when the encoder
    /// is on. An item the encoder fails on is left without the vector (logged and counted).
    pub fn fill_embeddings(&self, items: &mut [Item]) {
        let Some(embedder) = &self.embedder else {
            return;
        };
        if let Err(error) = embedder.fill(items) {
            metrics::counter!("cascade_text_encoder_failures_total").increment(1);
            tracing::warn!(%error, items = items.len(), "items stored without their text embedding");
        }
    }

    /// Stores `items` durably, then updates the indexes and caches derived from them; for each
    /// id, both happen in the order of the writes (see [`crate::item_writes`]). Refused with
    /// [`StoreError::Closed`] once the indexes are being saved.
    pub fn put_items(&self, items: &[Item]) -> Result<(), StoreError> {
        self.put_items_where(items.to_vec(), |_| true)
    }

    /// Like [`App::put_items`] for the items that `keep` accepts while their ids are locked,
    /// so that no other write of them comes between the check and the write.
    pub(crate) fn put_items_where(
        &self,
        mut items: Vec<Item>,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<(), StoreError> {
        let ids: Vec<String> = items.iter().map(|item| item.id.clone()).collect();
        self.item_writes.write(ids.iter().map(String::as_str), || {
            items.retain(keep);
            self.stores.items.upsert_items(&items)?;
            for item in &items {
                self.item_upserted(item);
            }
            Ok(())
        })
    }

    /// Deletes the item `id` durably, then from the indexes and caches, in order with the
    /// other writes of the id; `false` when there was none.
    pub fn delete_item(&self, id: &str) -> Result<bool, StoreError> {
        self.item_writes.write([id], || {
            let deleted = self.stores.items.delete_item(id)?;
            self.item_deleted(id);
            Ok(deleted)
        })
    }

    /// Tells caches and indexes of a durable item write.
    fn item_upserted(&self, item: &Item) {
        for index in self.vectors.values() {
            index.upserted(item);
        }
        if let Some(text) = &self.text
            && let Err(error) = text.upsert(item).and_then(|()| self.text_changed(text))
        {
            tracing::warn!(item = %item.id, %error, "text index not updated");
        }
        self.engine().item_upserted(item);
    }

    /// Tells caches and indexes of a durable item delete.
    fn item_deleted(&self, id: &str) {
        for index in self.vectors.values() {
            index.deleted(id);
        }
        if let Some(text) = &self.text
            && let Err(error) = text.delete(id).and_then(|()| self.text_changed(text))
        {
            tracing::warn!(item = %id, %error, "text index not updated");
        }
        self.engine().item_deleted(id);
    }

    /// Commits a change of the text index at once unless the committer does it later.
    fn text_changed(&self, text: &TextIndex) -> Result<(), cascade_retrieval::TextError> {
        match self.text_commits {
            Some(_) => Ok(()),
            None => text.commit(),
        }
    }

    /// Saves the derived indexes so that the next start loads them instead of building them,
    /// and checkpoints the window features so that the next start resumes after them.
    /// Call it once no item write can arrive any more (after the server has stopped): the
    /// saved indexes are stamped with the catalogue version they reflect. In distributed
    /// mode it first stops consuming the shared event stream.
    pub fn persist_indexes(&self) -> Result<(), AppError> {
        if let Some(distributed) = &self.distributed {
            distributed.stop();
        }
        if let Some(feature_log) = &self.feature_log {
            feature_log.close();
            tracing::info!(stats = ?feature_log.stats(), "feature log closed");
        }
        if let Some(features) = &self.features {
            let position = features.checkpoint().map_err(features_failed)?;
            tracing::info!(position, "window features checkpointed");
        }
        self.item_writes.close();
        let version = self.stores.items.catalogue_version()?;
        let failed =
            |what: &str, e: &dyn std::fmt::Display| AppError::Index(format!("{what}: {e}"));
        for (embedding, index) in &self.vectors {
            let dir = vector_dir(&self.data_dir, embedding);
            index.save(&dir).map_err(|e| failed(embedding, &e))?;
            persisted::seal(&dir, version).map_err(|e| failed(embedding, &e))?;
        }
        if let Some(text) = &self.text {
            text.commit().map_err(|e| failed("text", &e))?;
            if text.missed_changes() {
                tracing::warn!("the text index missed item writes; the next start rebuilds it");
            } else {
                persisted::seal(&text_dir(&self.data_dir), version)
                    .map_err(|e| failed("text", &e))?;
            }
        }
        Ok(())
    }

    /// Whether the start-up replay is applied and the rankings and neighbour lists that recalls
    /// read were computed from it: requests get complete answers from now on.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until [`App::is_ready`].
    pub async fn wait_ready(&self) {
        let _ = self.ready.subscribe().wait_for(|&ready| ready).await;
    }

    /// Whether the event log has been replayed into the derived state (and the window
    /// features' values up to it are in the feature store).
    pub(crate) fn is_replayed(&self) -> bool {
        *self.stream.applied().borrow() >= self.startup_events
            && self
                .features
                .as_ref()
                .is_none_or(|f| *f.visible().borrow() >= self.startup_events)
    }
}

/// The searchable fields: `SearchConf.Fields`, else every `text` field of the item schema.
fn text_fields(config: &CascadeConfig) -> Vec<TextField> {
    if config.search_conf.fields.is_empty() {
        return config
            .item_schema
            .fields
            .iter()
            .filter(|(_, kind)| **kind == FieldType::Text)
            .map(|(name, _)| TextField::new(name.clone(), TextTokenizer::Default))
            .collect();
    }
    config
        .search_conf
        .fields
        .iter()
        .map(|(name, field)| {
            let tokenizer = match field.tokenizer.as_str() {
                "chinese" => TextTokenizer::Chinese,
                _ => TextTokenizer::Default,
            };
            TextField::new(name.clone(), tokenizer).with_boost(field.boost)
        })
        .collect()
}

/// The text encoder of `TextEncoderConf`; without the model it is off, with a message saying
/// how to install it, and everything else works.
fn load_embedder(config: &CascadeConfig) -> Option<Arc<ItemEmbedder>> {
    let conf = config.text_encoder_conf.as_ref()?;
    let declared = config
        .item_schema
        .embeddings
        .get(&conf.embedding)
        .copied()?;
    match ItemEmbedder::load(conf, declared) {
        Ok(embedder) => {
            metrics::gauge!("cascade_text_encoder_enabled").set(1.0);
            tracing::info!(embedding = %conf.embedding, "text encoder on");
            Some(Arc::new(embedder))
        }
        Err(error) => {
            metrics::gauge!("cascade_text_encoder_enabled").set(0.0);
            tracing::warn!(%error, "text encoder off: items get no text embedding and search is text-only");
            None
        }
    }
}

/// Where the ANN index of `embedding` is saved.
fn vector_dir(data_dir: &Path, embedding: &str) -> PathBuf {
    data_dir.join("ann").join(embedding)
}

/// Where the text index lives.
fn text_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("text")
}

/// Opens the persisted text index, or builds it from the catalogue when the saved one is not
/// current; `None` when no field is searchable.
fn open_text_index(
    config: &CascadeConfig,
    items: &dyn ItemStore,
) -> Result<Option<(TextIndex, IndexOrigin)>, AppError> {
    let fields = text_fields(config);
    if fields.is_empty() {
        return Ok(None);
    }
    persisted::open_text(&text_dir(&config.storage_conf.data_dir), &fields, items)
        .map(Some)
        .map_err(|e| AppError::Index(format!("text index: {e}")))
}

/// Starts committing the text index every `SearchConf.RefreshMs`; `None` without a text index
/// or with a refresh of 0 (every write commits).
fn start_text_commits(
    config: &CascadeConfig,
    text: Option<&Arc<TextIndex>>,
) -> Result<Option<TextCommitter>, AppError> {
    let refresh = Duration::from_millis(config.search_conf.refresh_ms);
    let Some(text) = text.filter(|_| !refresh.is_zero()) else {
        return Ok(None);
    };
    TextCommitter::start(text.clone(), refresh)
        .map(Some)
        .map_err(|error| {
            AppError::Index(format!(
                "cannot start the thread that commits the text index: {error}"
            ))
        })
}

/// Runs `job` on `target` every `period` (zero: never) on a background thread named `name`
/// (below the request threads' priority: [`cascade_core::background`]), which ends with the
/// target.
fn every<T: Send + Sync + 'static>(
    period: Duration,
    name: &str,
    target: &Arc<T>,
    job: impl Fn(&T) + Send + 'static,
) {
    if period.is_zero() {
        return;
    }
    let target = Arc::downgrade(target);
    let spawned = cascade_core::background::spawn(name, move || {
        loop {
            std::thread::sleep(period);
            let Some(target) = target.upgrade() else {
                return;
            };
            job(&target);
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, name, "cannot start a background thread");
    }
}

/// Starts filling `items` from the catalogue (see [`ItemCache::warm`]) on a background thread,
/// beside the start-up replay; readiness waits for it.
fn warm_item_cache(items: Arc<ItemCache>) -> Result<JoinHandle<()>, AppError> {
    cascade_core::background::spawn("cascade-warm", move || {
        if let Err(error) = items.warm() {
            tracing::warn!(%error, "item cache not warmed: requests read their items from the store");
        }
    })
    .map_err(|error| {
        AppError::Index(format!("cannot start the thread that warms the item cache: {error}"))
    })
}

/// Window feature state is derived state, like an index.
fn features_failed(error: cascade_stream::windows::WindowError) -> AppError {
    AppError::Index(format!("window features: {error}"))
}

fn build_engine(
    mut config: CascadeConfig,
    registry: &Registry,
    shared: &Arc<Shared>,
) -> Result<Engine, AppError> {
    ensure_default_scene(&mut config);
    Engine::build(config, registry, shared.clone())
        .map_err(|issues| AppError::Config(ConfigError::Rejected(issues)))
}

/// Why the application could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The data directory could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A derived index could not be built.
    #[error("cannot build an index: {0}")]
    Index(String),
    /// Distributed mode could not start (`KafkaConf`).
    #[error("distributed mode (KafkaConf): {0}")]
    Kafka(String),
}
