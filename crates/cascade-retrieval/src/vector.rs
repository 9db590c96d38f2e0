//! Vector recall over a named item embedding (PAI-Rec's `VectorRecall`): a live ANN index of
//! the catalogue's vectors, the user's vector taken from the embeddings of their recent items,
//! and item-to-item neighbours for "similar items".

use std::path::Path;
use std::sync::Arc;

use cascade_core::{Candidate, Item, ItemObserver, RequestContext};
use cascade_store::ItemStore;
use parking_lot::RwLock;

use crate::ann::{AnnConfig, AnnError, AnnHit, AnnIndex};
use crate::source::RecallSource;

/// Why a vector index could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The catalogue could not be read.
    #[error("cannot scan the catalogue: {0}")]
    Store(#[from] cascade_store::StoreError),
    /// The index refused a vector.
    #[error(transparent)]
    Ann(#[from] AnnError),
}

/// The ANN index of one item embedding, kept in step with catalogue writes.
pub struct ItemVectors {
    index: RwLock<AnnIndex>,
    embedding: String,
}

impl ItemVectors {
    /// Builds the index `config` describes from every item in `store` with its embedding.
    pub fn build(store: &dyn ItemStore, config: AnnConfig) -> Result<Self, VectorError> {
        let mut items = Vec::new();
        store.scan_items(&mut |item| {
            if item.embeddings.contains_key(&config.embedding) {
                items.push(item);
            }
        })?;
        Ok(Self::from_index(AnnIndex::build(config, &items)?))
    }

    /// Wraps an index (for example one read by [`AnnIndex::load`]).
    pub fn from_index(index: AnnIndex) -> Self {
        Self {
            embedding: index.config().embedding.clone(),
            index: RwLock::new(index),
        }
    }

    /// Writes the index into `dir` (see [`AnnIndex::save`]).
    pub fn save(&self, dir: &Path) -> Result<(), AnnError> {
        self.index.read().save(dir)
    }

    /// The embedding this index covers.
    pub fn embedding(&self) -> &str {
        &self.embedding
    }

    /// How the index is built and stored.
    pub fn config(&self) -> AnnConfig {
        self.index.read().config().clone()
    }

    /// The `k` items closest to `query` for which `allow` holds.
    pub fn nearest(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        allow: impl Fn(&str) -> bool,
    ) -> Result<Vec<AnnHit>, AnnError> {
        self.index.read().search_filtered(query, k, ef, allow)
    }

    /// The `k` items closest to `query` other than those of `exclude`: one unfiltered search
    /// for `k` more results than `exclude` holds, with the excluded ones dropped afterwards.
    /// Cheaper than [`ItemVectors::nearest`] with a predicate, which looks up the id of every
    /// node the search visits.
    pub fn nearest_excluding(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        exclude: &[&str],
    ) -> Result<Vec<AnnHit>, AnnError> {
        let wanted = k + exclude.len();
        let mut hits = self.index.read().search(query, wanted, ef)?;
        hits.retain(|hit| !exclude.contains(&hit.item_id.as_str()));
        hits.truncate(k);
        Ok(hits)
    }

    /// A profile of a user from their recent items (most recent first): the mean of the items'
    /// vectors, weighted 1/(1+rank); `None` when none of them is indexed.
    pub fn profile(&self, recent: &[String]) -> Option<Vec<f32>> {
        let index = self.index.read();
        let mut sum: Option<Vec<f32>> = None;
        for (rank, id) in recent.iter().enumerate() {
            let Some(vector) = index.vector(id) else {
                continue;
            };
            let weight = 1.0 / (1.0 + rank as f32);
            let sum = sum.get_or_insert_with(|| vec![0.0; vector.len()]);
            for (total, x) in sum.iter_mut().zip(&vector) {
                *total += weight * x;
            }
        }
        sum
    }

    /// Each of `ids`' similarity to `query` (the dot product with its unit-length stored vector,
    /// over the query's length: the cosine), in order; `None` for an id that is not indexed.
    pub fn similarities<'a>(
        &self,
        query: &[f32],
        ids: impl Iterator<Item = &'a str>,
    ) -> Vec<Option<f32>> {
        let index = self.index.read();
        let norm = query
            .iter()
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt()
            .max(f32::MIN_POSITIVE);
        ids.map(|id| {
            let vector = index.vector(id)?;
            let dot: f32 = vector.iter().zip(query).map(|(a, b)| a * b).sum();
            Some(dot / norm)
        })
        .collect()
    }

    /// `ids` that are indexed, with their cosine similarity to `query`, most similar first.
    pub fn rank<'a>(
        &self,
        query: &[f32],
        ids: impl Iterator<Item = &'a str> + Clone,
    ) -> Vec<(String, f32)> {
        let similarities = self.similarities(query, ids.clone());
        let mut ranked: Vec<(String, f32)> = ids
            .zip(similarities)
            .filter_map(|(id, similarity)| Some((id.to_string(), similarity?)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked
    }

    /// The `k` items most similar to `item` (never `item` itself); empty when it has no vector.
    pub fn similar(&self, item: &Item, k: usize, ef: usize) -> Result<Vec<AnnHit>, AnnError> {
        match item.embeddings.get(&self.embedding) {
            Some(vector) => self.nearest_excluding(vector, k, ef, &[&item.id]),
            None => Ok(Vec::new()),
        }
    }
}

impl ItemObserver for ItemVectors {
    fn upserted(&self, item: &Item) {
        let mut index = self.index.write();
        let outcome = match item.embeddings.get(&self.embedding) {
            Some(vector) => index.upsert(&item.id, vector),
            None => index.remove(&item.id).map(|_| ()),
        };
        if let Err(error) = outcome {
            // The item's previous vector must not stand in for the refused one: it is left out,
            // as a rebuild would leave it.
            let removed = index.remove(&item.id).unwrap_or(false);
            tracing::warn!(item = %item.id, embedding = %self.embedding, %error, removed, "ANN index not updated");
        }
    }

    fn deleted(&self, id: &str) {
        if let Err(error) = self.index.write().remove(id) {
            tracing::warn!(item = %id, embedding = %self.embedding, %error, "ANN index not updated");
        }
    }
}

/// Gives a user's recent items, most recent first.
pub type RecentItems = Arc<dyn Fn(&str, usize) -> Vec<String> + Send + Sync>;

/// Recalls the items nearest to the user's vector: the mean of the embeddings of the user's
/// `history_items` most recent items, weighted 1/(1+rank); those items are not recalled.
pub struct VectorRecall {
    name: String,
    vectors: Arc<ItemVectors>,
    recent: RecentItems,
    history_items: usize,
    ef: usize,
}

impl VectorRecall {
    /// A source named `name` over `vectors`.
    pub fn new(
        name: &str,
        vectors: Arc<ItemVectors>,
        recent: RecentItems,
        history_items: usize,
        ef: usize,
    ) -> Self {
        Self {
            name: name.to_string(),
            vectors,
            recent,
            history_items,
            ef,
        }
    }
}

impl RecallSource for VectorRecall {
    fn name(&self) -> &str {
        &self.name
    }

    fn recall(&self, request: &RequestContext, limit: usize) -> Vec<Candidate> {
        let recent = (self.recent)(&request.uid, self.history_items);
        let Some(query) = self.vectors.profile(&recent) else {
            return Vec::new();
        };
        let seen: Vec<&str> = recent.iter().map(String::as_str).collect();
        match self
            .vectors
            .nearest_excluding(&query, limit, self.ef.max(limit), &seen)
        {
            Ok(hits) => hits
                .into_iter()
                .map(|hit| Candidate::new(hit.item_id, f64::from(hit.score), self.name.clone()))
                .collect(),
            Err(error) => {
                tracing::warn!(source = %self.name, %error, "vector recall failed");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::AnnMetric;
    use cascade_store::EmbeddedStore;

    fn item(id: &str, vector: [f32; 2]) -> Item {
        Item {
            id: id.into(),
            fields: Default::default(),
            embeddings: [("v".to_string(), vector.to_vec())].into(),
        }
    }

    #[test]
    fn recalls_neighbours_of_the_users_recent_items_and_follows_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let items = [
            item("east", [1.0, 0.0]),
            item("east2", [0.9, 0.1]),
            item("north", [0.0, 1.0]),
            item("north2", [0.1, 0.9]),
        ];
        store.upsert_items(&items).unwrap();
        let vectors = Arc::new(
            ItemVectors::build(&*store, AnnConfig::new("v", 2, AnnMetric::Cosine)).unwrap(),
        );
        let recent: RecentItems = Arc::new(|uid, _| match uid {
            "easterner" => vec!["east".to_string()],
            _ => Vec::new(),
        });
        let recall = VectorRecall::new("vec", vectors.clone(), recent, 10, 32);
        let request = |uid: &str| RequestContext {
            uid: uid.into(),
            ..RequestContext::default()
        };
        let ids: Vec<String> = recall
            .recall(&request("easterner"), 2)
            .into_iter()
            .map(|c| c.item_id)
            .collect();
        assert_eq!(
            ids,
            ["east2", "north2"],
            "nearest first, the user's own item excluded"
        );
        assert!(recall.recall(&request("stranger"), 2).is_empty());

        vectors.deleted("east2");
        let newcomer = item("east3", [0.95, 0.05]);
        store.upsert_items(std::slice::from_ref(&newcomer)).unwrap();
        vectors.upserted(&newcomer);
        let ids: Vec<String> = recall
            .recall(&request("easterner"), 1)
            .into_iter()
            .map(|c| c.item_id)
            .collect();
        assert_eq!(ids, ["east3"]);
        let similar: Vec<String> = vectors
            .similar(&items[2], 1, 32)
            .unwrap()
            .into_iter()
            .map(|h| h.item_id)
            .collect();
        assert_eq!(similar, ["north2"]);
    }
}
