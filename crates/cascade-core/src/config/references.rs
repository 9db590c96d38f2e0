//! Cross-reference checks: every name a scene, pipeline or experiment uses exists, pipeline
//! names are unique, exclusive settings are not both set. Each issue names its key path.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::CascadeConfig;
use super::experiment::{param_target, parse_buckets};
use super::rec::{ColdStartRankConf, GeneralRankConf, RankConf};
use crate::expr::Expr;
use crate::validate::MAX_EMBEDDING_DIMENSIONS;

/// The event type of logged impressions.
pub const IMPRESSION: &str = "impression";

/// The longest `SearchConf.RefreshMs` (ten minutes): a longer one is taken for a mistake.
pub const MAX_SEARCH_REFRESH_MS: u64 = 600_000;

/// One problem with the configuration, at a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Where, e.g. `PipelineConfs.video_feed[0].RecallNames[1]`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.path, self.reason)
    }
}

/// The component names the configuration defines.
struct Known<'a> {
    recalls: BTreeSet<&'a str>,
    filters: BTreeSet<&'a str>,
    sorts: BTreeSet<&'a str>,
    algos: BTreeSet<&'a str>,
}

struct Checker<'a> {
    known: Known<'a>,
    issues: Vec<ConfigIssue>,
}

/// Every reference problem of `config`; empty when it is consistent.
pub fn check(config: &CascadeConfig) -> Vec<ConfigIssue> {
    let rec = &config.recommend;
    let mut checker = Checker {
        known: Known {
            recalls: BTreeSet::new(),
            filters: BTreeSet::new(),
            sorts: BTreeSet::new(),
            algos: BTreeSet::new(),
        },
        issues: Vec::new(),
    };
    checker.known.recalls = checker.unique(
        "RecallConfs",
        rec.recall_confs.iter().map(|c| c.name.as_str()),
    );
    checker.known.filters = checker.unique(
        "FilterConfs",
        rec.filter_confs.iter().map(|c| c.name.as_str()),
    );
    checker.known.sorts =
        checker.unique("SortConfs", rec.sort_confs.iter().map(|c| c.name.as_str()));
    checker.known.algos =
        checker.unique("AlgoConfs", rec.algo_confs.iter().map(|c| c.name.as_str()));

    for (scene, categories) in &rec.scene_confs {
        for (category, conf) in categories {
            checker.recalls(
                &format!("SceneConfs.{scene}.{category}.RecallNames"),
                &conf.recall_names,
            );
        }
    }
    for (scene, names) in &rec.filter_names {
        checker.filters(&format!("FilterNames.{scene}"), names);
    }
    for (scene, names) in &rec.sort_names {
        checker.sorts(&format!("SortNames.{scene}"), names);
    }
    for (scene, conf) in &rec.rank_conf {
        checker.rank(&format!("RankConf.{scene}"), conf);
    }
    for (scene, conf) in &rec.general_rank_confs {
        checker.general(&format!("GeneralRankConfs.{scene}"), conf);
    }
    for (scene, conf) in &rec.cold_start_rank_confs {
        let path = format!("ColdStartRankConfs.{scene}");
        checker.cold(&path, conf);
        if conf.is_set() && rec.rank_conf.get(scene).is_some_and(RankConf::is_set) {
            checker.issue(
                path,
                format!("RankConf.{scene} is set too; a scene ranks with one or the other"),
            );
        }
    }
    checker.pipelines(config);
    checker.experiments(config);
    checker.engine(config);
    checker.text_encoder(config);
    checker.ann(config);
    checker.embedding_dimensions(config);
    checker.issues
}

impl<'a> Checker<'a> {
    /// Each declared embedding has between 1 and [`MAX_EMBEDDING_DIMENSIONS`] dimensions.
    fn embedding_dimensions(&mut self, config: &CascadeConfig) {
        for (embedding, &dimensions) in &config.item_schema.embeddings {
            if !(1..=MAX_EMBEDDING_DIMENSIONS).contains(&dimensions) {
                self.issue(
                    format!("ItemSchema.Embeddings.{embedding}"),
                    format!(
                        "declares {dimensions} dimensions; between 1 and \
                         {MAX_EMBEDDING_DIMENSIONS} are allowed"
                    ),
                );
            }
        }
    }

    /// Each `AnnConfs` entry names a declared embedding and a graph that can be built.
    fn ann(&mut self, config: &CascadeConfig) {
        for (embedding, conf) in &config.ann_confs {
            let path = format!("AnnConfs.{embedding}");
            if !config.item_schema.embeddings.contains_key(embedding) {
                self.issue(
                    &path,
                    "is not an embedding declared in ItemSchema.Embeddings",
                );
            }
            if conf.connectivity < 2 {
                self.issue(format!("{path}.Connectivity"), "must be at least 2");
            }
            if conf.ef_construction == 0 {
                self.issue(format!("{path}.EfConstruction"), "must be at least 1");
            }
        }
    }

    /// The encoder's embedding and fields are declared in the item schema.
    fn text_encoder(&mut self, config: &CascadeConfig) {
        let Some(conf) = &config.text_encoder_conf else {
            return;
        };
        let schema = &config.item_schema;
        if !schema.embeddings.contains_key(&conf.embedding) {
            self.issue(
                "TextEncoderConf.Embedding",
                format!(
                    "`{}` is not declared in ItemSchema.Embeddings (declare it with 384 dimensions)",
                    conf.embedding
                ),
            );
        }
        if conf.fields.is_empty() {
            self.issue("TextEncoderConf.Fields", "names no field to embed");
        }
        for (i, field) in conf.fields.iter().enumerate() {
            if !schema.fields.contains_key(field) && !schema.allow_undeclared_fields {
                self.issue(
                    format!("TextEncoderConf.Fields[{i}]"),
                    format!("`{field}` is not declared in ItemSchema.Fields"),
                );
            }
        }
        if conf.batch_size == 0 {
            self.issue("TextEncoderConf.BatchSize", "must be at least 1");
        }
    }

    fn issue(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.issues.push(ConfigIssue {
            path: path.into(),
            reason: reason.into(),
        });
    }

    fn unique(&mut self, list: &str, names: impl Iterator<Item = &'a str>) -> BTreeSet<&'a str> {
        let mut seen = BTreeSet::new();
        for (i, name) in names.enumerate() {
            if name.is_empty() {
                self.issue(format!("{list}[{i}].Name"), "must not be empty");
            } else if !seen.insert(name) {
                self.issue(
                    format!("{list}[{i}].Name"),
                    format!("`{name}` is defined twice"),
                );
            }
        }
        seen
    }

    fn names(
        &mut self,
        path: &str,
        names: &[String],
        section: &str,
        pick: for<'k> fn(&'k Known<'a>) -> &'k BTreeSet<&'a str>,
    ) {
        for (i, name) in names.iter().enumerate() {
            if !pick(&self.known).contains(name.as_str()) {
                self.issue(
                    format!("{path}[{i}]"),
                    format!("`{name}` is not defined in {section}"),
                );
            }
        }
    }

    fn recalls(&mut self, path: &str, names: &[String]) {
        self.names(path, names, "RecallConfs", |k| &k.recalls);
    }

    fn filters(&mut self, path: &str, names: &[String]) {
        self.names(path, names, "FilterConfs", |k| &k.filters);
    }

    fn sorts(&mut self, path: &str, names: &[String]) {
        self.names(path, names, "SortConfs", |k| &k.sorts);
    }

    fn rank(&mut self, path: &str, conf: &RankConf) {
        self.names(
            &format!("{path}.RankAlgoList"),
            &conf.rank_algo_list,
            "AlgoConfs",
            |k| &k.algos,
        );
        if conf.rank_score.is_empty() {
            return;
        }
        match Expr::parse(&conf.rank_score) {
            Err(reason) => self.issue(format!("{path}.RankScore"), reason),
            Ok(expr) => {
                for name in expr.variables() {
                    if !conf.rank_algo_list.iter().any(|algo| algo == name) {
                        self.issue(
                            format!("{path}.RankScore"),
                            format!("`{name}` is not in RankAlgoList"),
                        );
                    }
                }
            }
        }
    }

    fn engine(&mut self, config: &CascadeConfig) {
        for (name, field) in &config.search_conf.fields {
            if !["default", "chinese"].contains(&field.tokenizer.as_str()) {
                self.issue(
                    format!("SearchConf.Fields.{name}.Tokenizer"),
                    format!("`{}` is neither default nor chinese", field.tokenizer),
                );
            }
        }
        let refresh = config.search_conf.refresh_ms;
        if refresh > MAX_SEARCH_REFRESH_MS {
            self.issue(
                "SearchConf.RefreshMs",
                format!("must be at most {MAX_SEARCH_REFRESH_MS} ms, got {refresh}"),
            );
        }
        let half_life = config.trending_conf.half_life_hours;
        if !(half_life.is_finite() && half_life > 0.0) {
            self.issue(
                "TrendingConf.HalfLifeHours",
                "must be a positive number of hours",
            );
        }
        let fraction = config.item_cf_conf.neighbour_refresh_fraction;
        if !(0.0..=1.0).contains(&fraction) {
            self.issue(
                "ItemCfConf.NeighbourRefreshFraction",
                format!("must be between 0 and 1, got {fraction}"),
            );
        }
        let conf = &config.engine_conf;
        if conf.log_impressions && !config.event_conf.accepts(IMPRESSION) {
            self.issue(
                "EngineConf.LogImpressions",
                format!("needs the event type `{IMPRESSION}` in EventConf.Types"),
            );
        }
        if conf.breaker_failures == 0 {
            self.issue(
                "EngineConf.BreakerFailures",
                "must be at least 1 (one failure opens the breaker)",
            );
        }
        if !["score", "interleave", "quota"].contains(&conf.merge_policy.as_str()) {
            self.issue(
                "EngineConf.MergePolicy",
                format!(
                    "`{}` is not one of score, interleave, quota",
                    conf.merge_policy
                ),
            );
        }
        let pipelines: BTreeSet<&str> = config
            .recommend
            .pipeline_confs
            .values()
            .flatten()
            .map(|p| p.name.as_str())
            .chain(["main"])
            .collect();
        for (name, share) in &conf.quotas {
            if !pipelines.contains(name.as_str()) {
                self.issue(
                    format!("EngineConf.Quotas.{name}"),
                    "no pipeline has this name (the scene-level one is `main`)",
                );
            } else if !(0.0..=1.0).contains(share) {
                self.issue(
                    format!("EngineConf.Quotas.{name}"),
                    "a share lies in [0, 1]",
                );
            }
        }
    }

    fn general(&mut self, path: &str, conf: &GeneralRankConf) {
        self.rank(&format!("{path}.RankConf"), &conf.rank_conf);
        for (i, action) in conf.action_confs.iter().enumerate() {
            let at = format!("{path}.ActionConfs[{i}]");
            if action.action_name.is_empty() {
                continue;
            }
            let (section, known) = match action.action_type.as_str() {
                "filter" => ("FilterConfs", &self.known.filters),
                "sort" => ("SortConfs", &self.known.sorts),
                other => {
                    self.issue(
                        format!("{at}.ActionType"),
                        format!("`{other}` is neither `filter` nor `sort`"),
                    );
                    continue;
                }
            };
            if !known.contains(action.action_name.as_str()) {
                let name = action.action_name.clone();
                self.issue(
                    format!("{at}.ActionName"),
                    format!("`{name}` is not defined in {section}"),
                );
            }
        }
    }

    fn cold(&mut self, path: &str, conf: &ColdStartRankConf) {
        if conf.is_set() && !self.known.algos.contains(conf.algo_name.as_str()) {
            let name = conf.algo_name.clone();
            self.issue(
                format!("{path}.AlgoName"),
                format!("`{name}` is not defined in AlgoConfs"),
            );
        }
    }

    fn pipelines(&mut self, config: &CascadeConfig) {
        let mut owners: BTreeMap<&str, String> = BTreeMap::new();
        for (scene, pipelines) in &config.recommend.pipeline_confs {
            for (i, pipeline) in pipelines.iter().enumerate() {
                let path = format!("PipelineConfs.{scene}[{i}]");
                if pipeline.name.is_empty() {
                    self.issue(format!("{path}.Name"), "must not be empty");
                } else if let Some(first) = owners.insert(&pipeline.name, path.clone()) {
                    let name = &pipeline.name;
                    self.issue(
                        format!("{path}.Name"),
                        format!("pipeline `{name}` is already defined at {first}; names are unique across scenes"),
                    );
                }
                self.recalls(&format!("{path}.RecallNames"), &pipeline.recall_names);
                self.filters(&format!("{path}.FilterNames"), &pipeline.filter_names);
                self.sorts(&format!("{path}.SortNames"), &pipeline.sort_names);
                if let Some(general) = &pipeline.general_rank_conf {
                    self.general(&format!("{path}.GeneralRankConf"), general);
                }
                if let Some(rank) = &pipeline.rank_conf {
                    self.rank(&format!("{path}.RankConf"), rank);
                }
                if let Some(cold) = &pipeline.cold_start_rank_conf {
                    self.cold(&format!("{path}.ColdStartRankConf"), cold);
                    if cold.is_set() && pipeline.rank_conf.as_ref().is_some_and(RankConf::is_set) {
                        self.issue(
                            format!("{path}.ColdStartRankConf"),
                            "RankConf is set too; a pipeline ranks with one or the other",
                        );
                    }
                }
            }
        }
    }

    fn experiments(&mut self, config: &CascadeConfig) {
        let pipelines: BTreeSet<&str> = config
            .recommend
            .pipeline_confs
            .values()
            .flatten()
            .map(|p| p.name.as_str())
            .collect();
        let mut ids = BTreeSet::new();
        for (l, layer) in config.experiment_confs.layers.iter().enumerate() {
            let mut taken = [None::<usize>; super::experiment::BUCKETS as usize];
            for (e, experiment) in layer.experiments.iter().enumerate() {
                let path = format!("ExperimentConfs.Layers[{l}].Experiments[{e}]");
                if !ids.insert(experiment.experiment_id.as_str())
                    || experiment.experiment_id.is_empty()
                {
                    let id = &experiment.experiment_id;
                    self.issue(
                        format!("{path}.ExperimentId"),
                        format!("`{id}` is empty or not unique"),
                    );
                }
                match parse_buckets(&experiment.buckets) {
                    Err(reason) => self.issue(format!("{path}.Buckets"), reason),
                    Ok(ranges) => {
                        for bucket in ranges.into_iter().flatten() {
                            if let Some(other) = taken[bucket as usize].replace(e) {
                                self.issue(
                                    format!("{path}.Buckets"),
                                    format!("bucket {bucket} also belongs to Experiments[{other}] of this layer"),
                                );
                                break;
                            }
                        }
                    }
                }
                for (name, value) in &experiment.params {
                    self.param(&format!("{path}.Params.{name}"), name, value, &pipelines);
                }
            }
        }
    }

    fn param(&mut self, path: &str, name: &str, value: &Value, pipelines: &BTreeSet<&str>) {
        let Some(target) = param_target(name) else {
            self.issue(
                path,
                "unknown parameter; expected `pipelines.<name>.<Key>` or `<Key>` with Key one of RecallNames, FilterNames, GeneralRankConf, FeatureLoadConfs, RankConf, ColdStartRankConf, SortNames",
            );
            return;
        };
        if let Some(pipeline) = target.pipeline
            && !pipelines.contains(pipeline)
        {
            self.issue(
                path,
                format!("pipeline `{pipeline}` is not defined in PipelineConfs"),
            );
        }
        match target.key {
            "RecallNames" => self.typed(path, value, |c, v: Vec<String>| c.recalls(path, &v)),
            "FilterNames" => self.typed(path, value, |c, v: Vec<String>| c.filters(path, &v)),
            "SortNames" => self.typed(path, value, |c, v: Vec<String>| c.sorts(path, &v)),
            "GeneralRankConf" => {
                self.typed(path, value, |c, v: GeneralRankConf| c.general(path, &v))
            }
            "RankConf" => self.typed(path, value, |c, v: RankConf| c.rank(path, &v)),
            "ColdStartRankConf" => {
                self.typed(path, value, |c, v: ColdStartRankConf| c.cold(path, &v))
            }
            _ => self.typed(path, value, |_, _: Vec<Value>| {}),
        }
    }

    fn typed<T: DeserializeOwned>(
        &mut self,
        path: &str,
        value: &Value,
        then: impl FnOnce(&mut Self, T),
    ) {
        match serde_json::from_value::<T>(value.clone()) {
            Ok(parsed) => then(self, parsed),
            Err(error) => self.issue(path, error.to_string()),
        }
    }
}
