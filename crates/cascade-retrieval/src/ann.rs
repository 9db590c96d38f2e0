//! Approximate nearest-neighbour (ANN) search over one named item embedding.
//!
//! [`AnnIndex`] is an HNSW graph (the USearch engine) whose integer keys map to string item ids.
//! Items can be inserted, replaced and deleted while the index serves; a search can take a
//! caller predicate over item ids (category, numeric range, excluded ids). [`AnnIndex::save`]
//! writes the graph and the id mapping to a directory and [`AnnIndex::load`] reads them back, so
//! a restart does not rebuild.

use std::collections::HashMap;
use std::fmt::Display;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cascade_core::Item;
pub use cascade_core::config::{AnnConf, AnnPrecision};
use cascade_core::item::direction_norm;
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// The graph file inside a saved index directory.
const GRAPH_FILE: &str = "graph.usearch";
/// The manifest (configuration and id mapping) inside a saved index directory.
const MANIFEST_FILE: &str = "manifest.json";
/// Slots reserved at least whenever the graph grows.
const MIN_RESERVE: usize = 1024;
/// The smallest `ef` a search explores with (the graph's own search expansion).
const MIN_EF: usize = 16;

/// How similar two vectors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnMetric {
    /// Cosine similarity: vectors are normalised on insert and query (zero vectors are refused).
    Cosine,
    /// Raw inner product, for embeddings trained for it.
    InnerProduct,
}

/// What an [`AnnIndex`] indexes and how its graph is shaped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnConfig {
    /// The item embedding name (a key of `Item::embeddings`).
    pub embedding: String,
    /// The embedding dimension.
    pub dimensions: usize,
    /// The similarity metric.
    pub metric: AnnMetric,
    /// How vectors are stored.
    pub precision: AnnPrecision,
    /// Graph connectivity (HNSW `M`): neighbours kept per node.
    pub connectivity: usize,
    /// Candidate list size while inserting (HNSW `ef_construction`).
    pub ef_construction: usize,
}

impl AnnConfig {
    /// A configuration with the default storage and graph shape ([`AnnConf::default`]: 32-bit
    /// floats, M 16, ef_construction 128).
    pub fn new(embedding: impl Into<String>, dimensions: usize, metric: AnnMetric) -> Self {
        Self::shaped(embedding, dimensions, metric, &AnnConf::default())
    }

    /// A configuration with the storage and graph shape of an `AnnConfs` entry.
    pub fn shaped(
        embedding: impl Into<String>,
        dimensions: usize,
        metric: AnnMetric,
        conf: &AnnConf,
    ) -> Self {
        AnnConfig {
            embedding: embedding.into(),
            dimensions,
            metric,
            precision: conf.precision,
            connectivity: conf.connectivity,
            ef_construction: conf.ef_construction,
        }
    }

    fn options(&self) -> IndexOptions {
        IndexOptions {
            dimensions: self.dimensions,
            // Cosine runs as the inner product of normalised vectors: no norms per comparison.
            metric: MetricKind::IP,
            quantization: match self.precision {
                AnnPrecision::F32 => ScalarKind::F32,
                AnnPrecision::F16 => ScalarKind::F16,
            },
            connectivity: self.connectivity,
            expansion_add: self.ef_construction,
            // Each search asks for `max(k, ef)` results, which the engine explores with; this is
            // only the floor.
            expansion_search: MIN_EF,
            multi: false,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnHit {
    /// The item id.
    pub item_id: String,
    /// Similarity to the query: cosine similarity or inner product, higher is closer.
    pub score: f32,
}

/// What can go wrong with an [`AnnIndex`].
#[derive(Debug, thiserror::Error)]
pub enum AnnError {
    /// A vector of the wrong length.
    #[error("vector has {got} dimensions, the index expects {expected}")]
    Dimensions {
        /// The index dimension.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// A zero (or non-finite) vector under the cosine metric.
    #[error("vector has no direction (zero or non-finite norm); cosine needs one")]
    NoDirection,
    /// The HNSW engine refused an operation.
    #[error("ANN engine: {0}")]
    Engine(String),
    /// Reading or writing the index directory failed.
    #[error("ANN index directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The manifest could not be read or written.
    #[error("ANN manifest {path}: {source}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// The saved graph and its manifest disagree.
    #[error("ANN index directory {path} is inconsistent: {reason}")]
    Inconsistent {
        /// The directory.
        path: String,
        /// What disagrees.
        reason: String,
    },
}

fn engine(error: impl Display) -> AnnError {
    AnnError::Engine(error.to_string())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AnnError + '_ {
    move |source| AnnError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn path_str(path: &Path) -> Result<&str, AnnError> {
    path.to_str().ok_or_else(|| AnnError::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
    })
}

/// The saved configuration and id mapping; the graph is stored beside it.
#[derive(Serialize, Deserialize)]
struct Manifest {
    config: AnnConfig,
    next_key: u64,
    /// `(key, item id)` for every indexed item.
    keys: Vec<(u64, String)>,
}

/// How many searches the graph runs at once: the engine keeps one search context per
/// reserved thread and fails a search that finds none free, so the index reserves this many
/// and [`SearchSlots`] holds further searches back until one is.
fn search_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from) * 4
}

/// A counting semaphore over the graph's search contexts.
struct SearchSlots {
    free: Mutex<usize>,
    released: Condvar,
}

/// A search context held until dropped.
struct SearchSlot<'a>(&'a SearchSlots);

impl SearchSlots {
    fn new(slots: usize) -> Self {
        Self {
            free: Mutex::new(slots),
            released: Condvar::new(),
        }
    }

    /// Waits for a free context and takes it.
    fn acquire(&self) -> SearchSlot<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.released.wait(&mut free);
        }
        *free -= 1;
        SearchSlot(self)
    }
}

impl Drop for SearchSlot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.released.notify_one();
    }
}

/// An HNSW index over one named item embedding, keyed by item id.
///
/// Searches take `&self` and may run concurrently (four per core at once, the others wait
/// their turn); inserts and deletes take `&mut self`.
pub struct AnnIndex {
    config: AnnConfig,
    graph: Index,
    keys: HashMap<String, u64, ahash::RandomState>,
    /// Hashed with ahash: a filtered search looks up every node it visits (SipHash showed in
    /// profiles).
    ids: HashMap<u64, String, ahash::RandomState>,
    next_key: u64,
    slots: SearchSlots,
}

impl AnnIndex {
    /// An empty index.
    pub fn new(config: AnnConfig) -> Result<Self, AnnError> {
        let graph = Index::new(&config.options()).map_err(engine)?;
        Self::with_graph(config, graph)
    }

    /// Wraps `graph`, reserving a search context per search slot.
    fn with_graph(config: AnnConfig, graph: Index) -> Result<Self, AnnError> {
        let threads = search_threads();
        graph
            .reserve_capacity_and_threads(graph.capacity().max(MIN_RESERVE), threads)
            .map_err(engine)?;
        Ok(AnnIndex {
            config,
            graph,
            keys: HashMap::default(),
            ids: HashMap::default(),
            next_key: 0,
            slots: SearchSlots::new(threads),
        })
    }

    /// Builds an index from the items that carry the configured embedding (the others are
    /// skipped), logging progress. Insertion runs on all available cores. An item whose vector
    /// the index refuses (one without a direction under cosine, or of another dimension, as
    /// stores written before such vectors were refused may hold) is left out, with one warning
    /// for all of them: a catalogue is never unservable because of some of its vectors.
    pub fn build<'a>(
        config: AnnConfig,
        items: impl IntoIterator<Item = &'a Item>,
    ) -> Result<Self, AnnError> {
        let mut index = Self::new(config)?;
        let mut batch = Vec::new();
        let mut without = 0usize;
        let mut refused: Option<(&str, AnnError)> = None;
        let mut refused_count = 0usize;
        for item in items {
            let Some(vector) = item.embeddings.get(&index.config.embedding) else {
                without += 1;
                continue;
            };
            match index.prepare(vector) {
                Ok(vector) => batch.push((item.id.as_str(), vector)),
                Err(error) => {
                    refused_count += 1;
                    refused.get_or_insert((item.id.as_str(), error));
                }
            }
        }
        if let Some((first, error)) = refused {
            tracing::warn!(
                embedding = %index.config.embedding,
                items = refused_count,
                first,
                %error,
                "items left out of the ANN index: their vectors cannot be indexed"
            );
        }
        tracing::info!(
            embedding = %index.config.embedding,
            items = batch.len(),
            without_embedding = without,
            refused = refused_count,
            "building ANN index"
        );
        index.insert_prepared(batch)?;
        Ok(index)
    }

    /// Inserts many `(item id, vector)` pairs (later pairs replace earlier ones with the same
    /// id) on all available cores, logging progress. Every vector is checked before any is
    /// inserted: a batch with a bad one changes nothing.
    pub fn insert_batch(&mut self, batch: &[(&str, &[f32])]) -> Result<(), AnnError> {
        let prepared = batch
            .iter()
            .map(|(id, vector)| Ok((*id, self.prepare(vector)?)))
            .collect::<Result<Vec<_>, AnnError>>()?;
        self.insert_prepared(prepared)
    }

    /// Inserts `(item id, prepared vector)` pairs, as [`AnnIndex::insert_batch`] does.
    fn insert_prepared(&mut self, batch: Vec<(&str, Vec<f32>)>) -> Result<(), AnnError> {
        let started = Instant::now();
        self.reserve(batch.len())?;
        let mut prepared: Vec<(u64, Vec<f32>)> = Vec::with_capacity(batch.len());
        let mut position = HashMap::with_capacity(batch.len());
        for (id, vector) in batch {
            let key = self.claim_key(id)?;
            match position.get(&key) {
                Some(&at) => prepared[at] = (key, vector),
                None => {
                    position.insert(key, prepared.len());
                    prepared.push((key, vector));
                }
            }
        }
        self.add_parallel(&prepared)?;
        tracing::info!(
            inserted = prepared.len(),
            items = self.len(),
            seconds = started.elapsed().as_secs_f64(),
            "ANN batch inserted"
        );
        Ok(())
    }

    /// Adds `(key, prepared vector)` pairs with distinct, unindexed keys on all available cores.
    fn add_parallel(&self, prepared: &[(u64, Vec<f32>)]) -> Result<(), AnnError> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let chunk = prepared.len().div_ceil(threads).max(1);
        let total = prepared.len();
        let report_every = (total / 10).max(1);
        let done = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = prepared
                .chunks(chunk)
                .map(|part| {
                    let done = &done;
                    scope.spawn(move || -> Result<(), AnnError> {
                        for (key, vector) in part {
                            self.graph.add(*key, vector).map_err(engine)?;
                            let inserted = done.fetch_add(1, Ordering::Relaxed) + 1;
                            if inserted.is_multiple_of(report_every) {
                                tracing::info!(inserted, of = total, "ANN insert");
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|worker| worker.join().expect("ANN insert thread panicked"))
        })
    }

    /// Inserts an item's vector, or replaces it when the id is already indexed.
    pub fn upsert(&mut self, item_id: &str, vector: &[f32]) -> Result<(), AnnError> {
        let vector = self.prepare(vector)?;
        self.reserve(1)?;
        let key = self.claim_key(item_id)?;
        self.graph.add(key, &vector).map_err(engine)
    }

    /// Removes an item; answers whether it was indexed. A removed item is never returned.
    pub fn remove(&mut self, item_id: &str) -> Result<bool, AnnError> {
        let Some(key) = self.keys.remove(item_id) else {
            return Ok(false);
        };
        self.ids.remove(&key);
        self.graph.remove(key).map_err(engine)?;
        Ok(true)
    }

    /// The `k` items closest to `query`, closest first, exploring `ef` candidates (raised to
    /// `k` if lower): a larger `ef` finds more of the true neighbours, more slowly.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<AnnHit>, AnnError> {
        let query = self.prepare(query)?;
        let _slot = self.slots.acquire();
        // The engine explores `max(wanted, expansion)` candidates: asking for `ef` results and
        // keeping the best `k` is a search with that `ef`, without changing shared state.
        let found = self.graph.search(&query, ef.max(k)).map_err(engine)?;
        Ok(self.hits(&found.keys, &found.distances, k))
    }

    /// Like [`AnnIndex::search`], returning only items for which `allow(item_id)` is true. The
    /// predicate is applied while the graph is walked, not to a finished result list, so a
    /// selective filter (tested down to one item in fifty) still fills `k` results.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        allow: impl Fn(&str) -> bool,
    ) -> Result<Vec<AnnHit>, AnnError> {
        let query = self.prepare(query)?;
        let _slot = self.slots.acquire();
        let found = self
            .graph
            .filtered_search(&query, ef.max(k), |key| {
                self.ids.get(&key).is_some_and(|id| allow(id))
            })
            .map_err(engine)?;
        Ok(self.hits(&found.keys, &found.distances, k))
    }

    /// The exact `k` closest items by brute force over every stored vector (at the configured
    /// precision): the ground truth that approximate results are measured against, or a search
    /// for small catalogues.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Result<Vec<AnnHit>, AnnError> {
        let query = self.prepare(query)?;
        let _slot = self.slots.acquire();
        let found = self.graph.exact_search(&query, k).map_err(engine)?;
        Ok(self.hits(&found.keys, &found.distances, k))
    }

    /// Writes the graph and the id mapping into `dir` (created if missing), replacing what was
    /// there.
    pub fn save(&self, dir: &Path) -> Result<(), AnnError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let graph_tmp = dir.join(format!("{GRAPH_FILE}.tmp"));
        self.graph.save(path_str(&graph_tmp)?).map_err(engine)?;
        let manifest = Manifest {
            config: self.config.clone(),
            next_key: self.next_key,
            keys: self.ids.iter().map(|(k, id)| (*k, id.clone())).collect(),
        };
        let manifest_tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let json = serde_json::to_vec(&manifest).map_err(|source| AnnError::Manifest {
            path: manifest_tmp.display().to_string(),
            source,
        })?;
        fs::write(&manifest_tmp, json).map_err(io(&manifest_tmp))?;
        for (tmp, file) in [(graph_tmp, GRAPH_FILE), (manifest_tmp, MANIFEST_FILE)] {
            let target = dir.join(file);
            fs::rename(&tmp, &target).map_err(io(&target))?;
        }
        Ok(())
    }

    /// Reads an index written by [`AnnIndex::save`] without rebuilding the graph.
    pub fn load(dir: &Path) -> Result<Self, AnnError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let json = fs::read(&manifest_path).map_err(io(&manifest_path))?;
        let manifest: Manifest =
            serde_json::from_slice(&json).map_err(|source| AnnError::Manifest {
                path: manifest_path.display().to_string(),
                source,
            })?;
        let graph = Index::new(&manifest.config.options()).map_err(engine)?;
        graph
            .load(path_str(&dir.join(GRAPH_FILE))?)
            .map_err(engine)?;
        if graph.size() != manifest.keys.len() {
            return Err(AnnError::Inconsistent {
                path: dir.display().to_string(),
                reason: format!(
                    "the graph holds {} vectors, the manifest {} ids",
                    graph.size(),
                    manifest.keys.len()
                ),
            });
        }
        let mut index = Self::with_graph(manifest.config, graph)?;
        index.next_key = manifest.next_key;
        for (key, id) in manifest.keys {
            index.keys.insert(id.clone(), key);
            index.ids.insert(key, id);
        }
        Ok(index)
    }

    /// The configuration.
    pub fn config(&self) -> &AnnConfig {
        &self.config
    }

    /// How many items are indexed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no item is indexed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether an item is indexed.
    pub fn contains(&self, item_id: &str) -> bool {
        self.keys.contains_key(item_id)
    }

    /// The stored vector of an indexed item (normalised under cosine; at the stored
    /// precision), or `None` when the item is not indexed.
    pub fn vector(&self, item_id: &str) -> Option<Vec<f32>> {
        let key = *self.keys.get(item_id)?;
        let mut vector = vec![0.0f32; self.config.dimensions];
        match self.graph.get(key, &mut vector) {
            Ok(found) if found > 0 => Some(vector),
            _ => None,
        }
    }

    /// The SIMD back-end the engine's distance kernels run on (for reports).
    pub fn hardware_acceleration(&self) -> String {
        self.graph.hardware_acceleration()
    }

    /// Checks the dimension and, under cosine, normalises.
    fn prepare(&self, vector: &[f32]) -> Result<Vec<f32>, AnnError> {
        if vector.len() != self.config.dimensions {
            return Err(AnnError::Dimensions {
                expected: self.config.dimensions,
                got: vector.len(),
            });
        }
        match self.config.metric {
            AnnMetric::InnerProduct => Ok(vector.to_vec()),
            AnnMetric::Cosine => {
                let norm = direction_norm(vector).ok_or(AnnError::NoDirection)?;
                Ok(vector.iter().map(|x| x / norm).collect())
            }
        }
    }

    /// The key for an id: a fresh one for a new id; an indexed id's key, its old vector removed.
    fn claim_key(&mut self, item_id: &str) -> Result<u64, AnnError> {
        if let Some(&key) = self.keys.get(item_id) {
            self.graph.remove(key).map_err(engine)?;
            return Ok(key);
        }
        let key = self.next_key;
        self.next_key += 1;
        self.keys.insert(item_id.to_owned(), key);
        self.ids.insert(key, item_id.to_owned());
        Ok(key)
    }

    /// Makes room for `additional` more vectors.
    fn reserve(&self, additional: usize) -> Result<(), AnnError> {
        let needed = self.graph.size() + additional;
        if needed <= self.graph.capacity() {
            return Ok(());
        }
        let capacity = needed.max(self.graph.capacity() * 2).max(MIN_RESERVE);
        self.graph
            .reserve_capacity_and_threads(capacity, search_threads())
            .map_err(engine)
    }

    /// The first `k` of a search's results as hits.
    fn hits(&self, keys: &[u64], distances: &[f32], k: usize) -> Vec<AnnHit> {
        keys.iter()
            .take(k)
            .zip(distances)
            .filter_map(|(key, distance)| {
                Some(AnnHit {
                    item_id: self.ids.get(key)?.clone(),
                    // USearch's inner-product distance is `1 - a·b`.
                    score: 1.0 - distance,
                })
            })
            .collect()
    }
}

/// The share of `truth`'s items that `found` also holds (recall@k with k = `truth.len()`).
pub fn recall(found: &[AnnHit], truth: &[AnnHit]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let hits = truth
        .iter()
        .filter(|t| found.iter().any(|f| f.item_id == t.item_id))
        .count();
    hits as f64 / truth.len() as f64
}
