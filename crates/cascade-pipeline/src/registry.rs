//! The registry: component types by name, and the components a configuration builds from
//! them. A new recall, filter, sort or model type is one factory and one registry line.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cascade_core::config::models::check_model_file;
use cascade_core::config::rec::{AlgoConf, FilterConf, RecallConf, Settings, SortConf};
use cascade_core::config::{CascadeConfig, ConfigIssue};
use cascade_core::expr::Expr;
use cascade_core::{Candidate, ItemObserver};
use cascade_rank::features::FeatureSource;
use cascade_rank::scorer::{Scorer, build_scorer};
use cascade_retrieval::text_recall::DEFAULT_QUERY_FIELD;
use cascade_retrieval::vector::RecentItems;
use cascade_retrieval::{
    ItemCfIndex, ItemCfRecall, ItemVectors, NewestItems, PopularIndex, RecallSource,
    Similarity as CfSimilarity, TextIndex, TextRecall, TrendingIndex, VectorRecall,
};
use cascade_store::ItemStore;
use cascade_stream::UserHistory;
use moka::sync::Cache;
use serde::de::DeserializeOwned;

use crate::breaker::CircuitBreaker;
use crate::filters::{
    AdjustCountFilter, ExposureFilter, Filter, InteractedFilter, ItemStateFilter, UniqueFilter,
};
use crate::scorers::EmbeddingDotScorer;
use crate::sorters::{
    Boost, BoostSort, DiversityRuleSort, MixSort, MmrSort, ScoreSort, Similarity, Sorter,
};

/// A setting at fault and why.
pub type BuildError = (String, String);

/// A recall source built from config, and the item observer it needs fed, if any.
pub struct BuiltRecall {
    /// The source.
    pub source: Arc<dyn RecallSource>,
    /// Told of catalogue writes, when the source indexes items.
    pub observer: Option<Arc<dyn ItemObserver>>,
}

/// Builds a recall source from its `RecallConfs` entry.
pub type RecallFactory = Box<dyn Fn(&RecallConf) -> Result<BuiltRecall, BuildError> + Send + Sync>;
/// Builds a filter from its `FilterConfs` entry.
pub type FilterFactory =
    Box<dyn Fn(&FilterConf) -> Result<Arc<dyn Filter>, BuildError> + Send + Sync>;
/// Builds a sorter from its `SortConfs` entry.
pub type SortFactory = Box<dyn Fn(&SortConf) -> Result<Arc<dyn Sorter>, BuildError> + Send + Sync>;
/// Builds a model from its `AlgoConfs` entry.
pub type AlgoFactory = Box<dyn Fn(&AlgoConf) -> Result<Arc<dyn Scorer>, BuildError> + Send + Sync>;

/// The shared state built-in components read.
#[derive(Clone)]
pub struct Deps {
    /// Windowed popularity.
    pub popular: Arc<PopularIndex>,
    /// Users' interactions.
    pub interactions: Arc<UserHistory>,
    /// Users' exposures (impressions).
    pub exposures: Arc<UserHistory>,
    /// The catalogue.
    pub items: Arc<dyn ItemStore>,
    /// ANN indexes by embedding name (those declared in `ItemSchema.Embeddings`).
    pub vectors: HashMap<String, Arc<ItemVectors>>,
    /// Item-to-item co-occurrence.
    pub item_cf: Arc<ItemCfIndex>,
    /// Decayed interaction counts.
    pub trending: Arc<TrendingIndex>,
    /// What ranking models read beside the candidate and its item.
    pub features: Arc<dyn FeatureSource>,
    /// The BM25 index of the searchable item fields, when some field is searchable; what
    /// `TextRecall` sources search.
    pub text: Option<Arc<TextIndex>>,
}

/// A recall source as a pipeline runs it.
pub struct RecallComponent {
    /// The source.
    pub source: Arc<dyn RecallSource>,
    /// How many candidates to ask for.
    pub count: usize,
    /// How long to wait for it.
    pub timeout: Duration,
    /// Recent results per user, when `CacheSeconds` is set.
    pub cache: Option<Cache<String, Arc<Vec<Candidate>>>>,
    /// Skips the source while it keeps failing.
    pub breaker: CircuitBreaker,
}

/// A model as a pipeline runs it.
pub struct AlgoComponent {
    /// The model.
    pub scorer: Arc<dyn Scorer>,
    /// Skips the model while it keeps failing.
    pub breaker: CircuitBreaker,
}

/// Everything a configuration names, built.
pub struct Components {
    /// Recall sources by name.
    pub recalls: HashMap<String, RecallComponent>,
    /// Filters by name.
    pub filters: HashMap<String, Arc<dyn Filter>>,
    /// Sorters by name.
    pub sorters: HashMap<String, Arc<dyn Sorter>>,
    /// Models by name.
    pub algos: HashMap<String, AlgoComponent>,
    /// Components that follow catalogue writes.
    pub item_observers: Vec<Arc<dyn ItemObserver>>,
}

/// Component types by name.
pub struct Registry {
    recall: HashMap<String, RecallFactory>,
    filter: HashMap<String, FilterFactory>,
    sort: HashMap<String, SortFactory>,
    algo: HashMap<String, AlgoFactory>,
    features: Arc<dyn FeatureSource>,
}

/// Reads an optional setting of type `T`.
pub fn setting<T: DeserializeOwned>(
    settings: &Settings,
    key: &str,
) -> Result<Option<T>, BuildError> {
    settings
        .get(key)
        .map(|value| serde_json::from_value(value.clone()))
        .transpose()
        .map_err(|e| (key.to_string(), e.to_string()))
}

fn required<T: DeserializeOwned>(settings: &Settings, key: &str) -> Result<T, BuildError> {
    setting(settings, key)?.ok_or_else(|| (key.to_string(), "is required".to_string()))
}

fn expression(settings: &Settings, key: &str) -> Result<Option<Expr>, BuildError> {
    setting::<String>(settings, key)?
        .map(|text| Expr::parse(&text).map_err(|e| (key.to_string(), e)))
        .transpose()
}

impl Registry {
    /// The built-in component types over `deps`.
    pub fn with_builtins(deps: Deps) -> Self {
        let mut registry = Self {
            recall: HashMap::new(),
            filter: HashMap::new(),
            sort: HashMap::new(),
            algo: HashMap::new(),
            features: deps.features.clone(),
        };
        let popular = deps.popular.clone();
        registry.register_recall("UserGlobalHotRecall", move |_| {
            Ok(BuiltRecall {
                source: popular.clone(),
                observer: None,
            })
        });
        let trending = deps.trending.clone();
        registry.register_recall("TrendingRecall", move |_| {
            Ok(BuiltRecall {
                source: trending.clone(),
                observer: None,
            })
        });
        let item_cf = deps.item_cf.clone();
        registry.register_recall("ItemCollaborativeFilterRecall", move |conf| {
            let measure = match setting::<String>(&conf.settings, "Similarity")?.as_deref() {
                None | Some("cosine") => CfSimilarity::Cosine,
                Some("swing") => CfSimilarity::Swing,
                Some(other) => {
                    return Err((
                        "Similarity".into(),
                        format!("`{other}` is neither cosine nor swing"),
                    ));
                }
            };
            let source = ItemCfRecall::new(&conf.name, item_cf.clone(), measure);
            Ok(BuiltRecall {
                source: Arc::new(source),
                observer: None,
            })
        });
        let items = deps.items.clone();
        registry.register_recall("ColdStartRecall", move |conf| {
            let field: String = required(&conf.settings, "TimeField")?;
            let newest = Arc::new(NewestItems::new(&conf.name, &field));
            items
                .scan_items(&mut |item| newest.upserted(&item))
                .map_err(|e| {
                    (
                        "TimeField".to_string(),
                        format!("cannot scan the catalogue: {e}"),
                    )
                })?;
            Ok(BuiltRecall {
                source: newest.clone(),
                observer: Some(newest),
            })
        });

        let text = deps.text.clone();
        registry.register_recall("TextRecall", move |conf| {
            let index = text.clone().ok_or_else(|| {
                (
                    "RecallType".to_string(),
                    "TextRecall needs a searchable field (SearchConf.Fields or a text field in \
                     ItemSchema)"
                        .to_string(),
                )
            })?;
            let query_field = setting::<String>(&conf.settings, "QueryField")?
                .unwrap_or_else(|| DEFAULT_QUERY_FIELD.to_string());
            if query_field.is_empty() {
                return Err(("QueryField".into(), "must not be empty".into()));
            }
            if setting::<u64>(&conf.settings, "CacheSeconds")?.unwrap_or(0) > 0 {
                return Err((
                    "CacheSeconds".into(),
                    "must be 0 for a TextRecall: its results depend on the query, and the \
                     cache is per user"
                        .into(),
                ));
            }
            Ok(BuiltRecall {
                source: Arc::new(TextRecall::new(&conf.name, index, &query_field)),
                observer: None,
            })
        });

        let (vectors, recent) = (deps.vectors.clone(), recent_items(&deps.interactions));
        registry.register_recall("VectorRecall", move |conf| {
            let source = VectorRecall::new(
                &conf.name,
                embedding_index(&vectors, &conf.settings)?,
                recent.clone(),
                setting(&conf.settings, "HistoryItems")?.unwrap_or(20),
                setting(&conf.settings, "Ef")?.unwrap_or(64),
            );
            Ok(BuiltRecall {
                source: Arc::new(source),
                observer: None,
            })
        });
        let (vectors, recent) = (deps.vectors.clone(), recent_items(&deps.interactions));
        registry.register_algo("embedding_dot", move |conf| {
            Ok(Arc::new(EmbeddingDotScorer::new(
                embedding_index(&vectors, &conf.settings)?,
                recent.clone(),
                setting(&conf.settings, "HistoryItems")?.unwrap_or(20),
            )))
        });

        registry.register_filter("UniqueFilter", |_| Ok(Arc::new(UniqueFilter)));
        let exposures = deps.exposures.clone();
        registry.register_filter("User2ItemExposureFilter", move |conf| {
            let hours: f64 = setting(&conf.settings, "Hours")?.unwrap_or(24.0);
            Ok(Arc::new(ExposureFilter {
                exposures: exposures.clone(),
                window_ms: (hours * 3_600_000.0) as i64,
            }))
        });
        let interactions = deps.interactions.clone();
        registry.register_filter("UserInteractedFilter", move |_| {
            Ok(Arc::new(InteractedFilter {
                interactions: interactions.clone(),
            }))
        });
        registry.register_filter("ItemStateFilter", |conf| {
            Ok(Arc::new(ItemStateFilter {
                condition: expression(&conf.settings, "Condition")?,
            }))
        });
        registry.register_filter("AdjustCountFilter", |conf| {
            Ok(Arc::new(AdjustCountFilter {
                count: required(&conf.settings, "Count")?,
            }))
        });

        registry.register_sort("ItemRankScore", |_| Ok(Arc::new(ScoreSort)));
        registry.register_sort("BoostScoreSort", |conf| {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct Rule {
                condition: String,
                #[serde(default = "one")]
                multiply: f64,
                #[serde(default)]
                add: f64,
            }
            fn one() -> f64 {
                1.0
            }
            let rules: Vec<Rule> = required(&conf.settings, "Boosts")?;
            let boosts = rules
                .into_iter()
                .enumerate()
                .map(|(i, rule)| {
                    Expr::parse(&rule.condition)
                        .map(|condition| Boost {
                            condition,
                            multiply: rule.multiply,
                            add: rule.add,
                        })
                        .map_err(|e| (format!("Boosts[{i}].Condition"), e))
                })
                .collect::<Result<_, _>>()?;
            Ok(Arc::new(BoostSort { boosts }))
        });
        registry.register_sort("DiversityRuleSort", |conf| {
            Ok(Arc::new(DiversityRuleSort {
                field: required(&conf.settings, "Field")?,
                window: setting(&conf.settings, "WindowSize")?.unwrap_or(5),
                max_per_window: setting(&conf.settings, "MaxPerWindow")?.unwrap_or(1),
            }))
        });
        registry.register_sort("MMRSort", |conf| {
            let similarity = match (
                setting::<String>(&conf.settings, "Field")?,
                setting::<String>(&conf.settings, "Embedding")?,
            ) {
                (Some(field), None) => Similarity::Field(field),
                (None, Some(name)) => Similarity::Embedding(name),
                _ => {
                    return Err((
                        "Field".into(),
                        "set exactly one of Field or Embedding".into(),
                    ));
                }
            };
            let lambda: f64 = setting(&conf.settings, "Lambda")?.unwrap_or(0.7);
            if !(0.0..=1.0).contains(&lambda) {
                return Err(("Lambda".into(), "must lie in [0, 1]".into()));
            }
            Ok(Arc::new(MmrSort {
                lambda,
                similarity,
                top_n: setting(&conf.settings, "TopN")?.unwrap_or(100),
            }))
        });
        registry.register_sort("MixSort", |conf| {
            let mut positions: Vec<usize> = required(&conf.settings, "Positions")?;
            if positions.contains(&0) {
                return Err(("Positions".into(), "positions are 1-based".into()));
            }
            positions.sort_unstable();
            Ok(Arc::new(MixSort {
                pipeline: required(&conf.settings, "Pipeline")?,
                positions,
            }))
        });
        registry
    }

    /// Registers a recall type.
    pub fn register_recall(
        &mut self,
        name: &str,
        factory: impl Fn(&RecallConf) -> Result<BuiltRecall, BuildError> + Send + Sync + 'static,
    ) {
        self.recall.insert(name.to_string(), Box::new(factory));
    }

    /// Registers a filter type.
    pub fn register_filter(
        &mut self,
        name: &str,
        factory: impl Fn(&FilterConf) -> Result<Arc<dyn Filter>, BuildError> + Send + Sync + 'static,
    ) {
        self.filter.insert(name.to_string(), Box::new(factory));
    }

    /// Registers a sort type.
    pub fn register_sort(
        &mut self,
        name: &str,
        factory: impl Fn(&SortConf) -> Result<Arc<dyn Sorter>, BuildError> + Send + Sync + 'static,
    ) {
        self.sort.insert(name.to_string(), Box::new(factory));
    }

    /// Registers a model type (beside those `cascade_rank::scorer::build_scorer` knows).
    pub fn register_algo(
        &mut self,
        name: &str,
        factory: impl Fn(&AlgoConf) -> Result<Arc<dyn Scorer>, BuildError> + Send + Sync + 'static,
    ) {
        self.algo.insert(name.to_string(), Box::new(factory));
    }

    /// Builds every component `config` defines; each failure names its key path.
    pub fn build(&self, config: &CascadeConfig) -> Result<Components, Vec<ConfigIssue>> {
        let rec = &config.recommend;
        let mut issues = Vec::new();
        let mut components = Components {
            recalls: HashMap::new(),
            filters: HashMap::new(),
            sorters: HashMap::new(),
            algos: HashMap::new(),
            item_observers: Vec::new(),
        };
        let mut fail = |path: String, (key, reason): BuildError| {
            issues.push(ConfigIssue {
                path: format!("{path}.{key}"),
                reason,
            });
        };
        for (i, conf) in rec.recall_confs.iter().enumerate() {
            let path = format!("RecallConfs[{i}]");
            let Some(factory) = self.recall.get(&conf.recall_type) else {
                fail(path, unknown("RecallType", &conf.recall_type, &self.recall));
                continue;
            };
            match factory(conf).and_then(|built| Ok((built, recall_settings(conf)?))) {
                Ok((built, (timeout, cache_seconds))) => {
                    components.item_observers.extend(built.observer);
                    components.recalls.insert(
                        conf.name.clone(),
                        RecallComponent {
                            source: built.source,
                            count: conf.recall_count,
                            timeout,
                            cache: (cache_seconds > 0).then(|| {
                                Cache::builder()
                                    .max_capacity(100_000)
                                    .time_to_live(Duration::from_secs(cache_seconds))
                                    .build()
                            }),
                            breaker: CircuitBreaker::from_conf(&config.engine_conf),
                        },
                    );
                }
                Err(error) => fail(path, error),
            }
        }
        for (i, conf) in rec.filter_confs.iter().enumerate() {
            let path = format!("FilterConfs[{i}]");
            match self.filter.get(&conf.filter_type) {
                None => fail(path, unknown("FilterType", &conf.filter_type, &self.filter)),
                Some(factory) => match factory(conf) {
                    Ok(filter) => {
                        components.filters.insert(conf.name.clone(), filter);
                    }
                    Err(error) => fail(path, error),
                },
            }
        }
        for (i, conf) in rec.sort_confs.iter().enumerate() {
            let path = format!("SortConfs[{i}]");
            match self.sort.get(&conf.sort_type) {
                None => fail(path, unknown("SortType", &conf.sort_type, &self.sort)),
                Some(factory) => match factory(conf) {
                    Ok(sorter) => {
                        components.sorters.insert(conf.name.clone(), sorter);
                    }
                    Err(error) => fail(path, error),
                },
            }
        }
        for (i, conf) in rec.algo_confs.iter().enumerate() {
            let model_file = match conf.settings.get("ModelPath").and_then(|v| v.as_str()) {
                Some(path) => check_model_file(&config.storage_conf, Path::new(path))
                    .map_err(|reason| ("ModelPath".to_string(), reason)),
                None => Ok(()),
            };
            let built = model_file.and_then(|()| match self.algo.get(&conf.algo_type) {
                Some(factory) => factory(conf),
                None => build_scorer(conf, &self.features).map(Arc::from),
            });
            match built {
                Ok(scorer) => {
                    components.algos.insert(
                        conf.name.clone(),
                        AlgoComponent {
                            scorer,
                            breaker: CircuitBreaker::from_conf(&config.engine_conf),
                        },
                    );
                }
                Err(error) => fail(format!("AlgoConfs[{i}]"), error),
            }
        }
        if issues.is_empty() {
            Ok(components)
        } else {
            Err(issues)
        }
    }
}

/// The ANN index of the embedding a component's `Embedding` setting names.
fn embedding_index(
    vectors: &HashMap<String, Arc<ItemVectors>>,
    settings: &Settings,
) -> Result<Arc<ItemVectors>, BuildError> {
    let embedding: String = required(settings, "Embedding")?;
    vectors.get(&embedding).cloned().ok_or_else(|| {
        (
            "Embedding".to_string(),
            format!("`{embedding}` is not declared in ItemSchema.Embeddings"),
        )
    })
}

/// A user's recent interactions, most recent first, as the vector components read them.
fn recent_items(interactions: &Arc<UserHistory>) -> RecentItems {
    let history = interactions.clone();
    Arc::new(move |uid, n| history.recent(uid, n))
}

/// The settings every recall source shares: `TimeoutMs` (default 20) and `CacheSeconds`
/// (default 0, no cache).
fn recall_settings(conf: &RecallConf) -> Result<(Duration, u64), BuildError> {
    let timeout_ms: u64 = setting(&conf.settings, "TimeoutMs")?.unwrap_or(20);
    let cache_seconds: u64 = setting(&conf.settings, "CacheSeconds")?.unwrap_or(0);
    Ok((Duration::from_millis(timeout_ms), cache_seconds))
}

fn unknown<V>(key: &str, name: &str, known: &HashMap<String, V>) -> BuildError {
    let mut names: Vec<&str> = known.keys().map(String::as_str).collect();
    names.sort_unstable();
    (
        key.to_string(),
        format!("unknown type `{name}`; known types: {}", names.join(", ")),
    )
}
