//! Experiment assignment: per layer, `hash(uid, layer) mod 100` picks the bucket and the
//! experiment that owns it; whitelists override the hash.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cascade_core::config::ExperimentConfs;
use cascade_core::config::experiment::{BUCKETS, parse_buckets};
use serde_json::Value;

/// What a user is assigned to in a scene.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignment {
    /// The experiments, one per layer at most, in layer order.
    pub experiment_ids: Vec<String>,
    /// Their parameters merged (a later layer wins on a shared key).
    pub params: BTreeMap<String, Value>,
}

impl Assignment {
    /// The `experiment_id` reported in responses: the ids joined by `_`, empty for none.
    pub fn experiment_id(&self) -> String {
        self.experiment_ids.join("_")
    }
}

struct Layer {
    name: String,
    scenes: BTreeSet<String>,
    owner: Vec<Option<usize>>,
    whitelist: HashMap<String, usize>,
    experiments: Vec<(String, BTreeMap<String, Value>)>,
}

/// Assigns users to experiments, per scene.
pub struct ExperimentRouter {
    layers: Vec<Layer>,
}

/// The bucket of `uid` in `layer`: a stable FNV-1a hash of both, mod 100.
pub fn bucket(uid: &str, layer: &str) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in uid.bytes().chain([0x1f]).chain(layer.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    (hash % u64::from(BUCKETS)) as u32
}

impl ExperimentRouter {
    /// Builds the router from checked experiment configuration (bucket strings that do not
    /// parse own no buckets; the config check refuses them before this point).
    pub fn new(conf: &ExperimentConfs) -> Self {
        let layers = conf
            .layers
            .iter()
            .map(|layer| {
                let mut owner = vec![None; BUCKETS as usize];
                let mut whitelist = HashMap::new();
                for (index, experiment) in layer.experiments.iter().enumerate() {
                    for bucket in parse_buckets(&experiment.buckets)
                        .unwrap_or_default()
                        .into_iter()
                        .flatten()
                    {
                        owner[bucket as usize] = Some(index);
                    }
                    for uid in &experiment.whitelist {
                        whitelist.insert(uid.clone(), index);
                    }
                }
                Layer {
                    name: layer.name.clone(),
                    scenes: layer.scenes.iter().cloned().collect(),
                    owner,
                    whitelist,
                    experiments: layer
                        .experiments
                        .iter()
                        .map(|e| (e.experiment_id.clone(), e.params.clone()))
                        .collect(),
                }
            })
            .collect();
        Self { layers }
    }

    /// The experiments `uid` is in for `scene`.
    pub fn assign(&self, scene: &str, uid: &str) -> Assignment {
        let mut assignment = Assignment::default();
        for layer in &self.layers {
            if !layer.scenes.is_empty() && !layer.scenes.contains(scene) {
                continue;
            }
            let chosen = layer
                .whitelist
                .get(uid)
                .copied()
                .or_else(|| layer.owner[bucket(uid, &layer.name) as usize]);
            if let Some(index) = chosen {
                let (id, params) = &layer.experiments[index];
                assignment.experiment_ids.push(id.clone());
                assignment.params.extend(params.clone());
            }
        }
        assignment
    }
}
