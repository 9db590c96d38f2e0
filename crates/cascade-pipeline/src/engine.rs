//! The engine: a configuration built into components, serving scenes. A request is assigned
//! to experiments, the scene's pipelines run concurrently under one deadline, their results
//! merge, and when the whole scene fails the user's last good response (or the popular
//! items) is served, marked degraded. An answer that some pipeline made without a recall
//! source or a stage, or without feature values the feature store did not give by the
//! deadline (noted in the request's shortfalls), is served marked degraded too, naming what
//! was missing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cascade_core::config::{CascadeConfig, ConfigIssue};
use cascade_core::expr::Expr;
use cascade_core::{Candidate, Item, RequestContext};
use cascade_rank::features::RankItem;
use cascade_store::ItemStore;
use moka::sync::Cache;
use tokio::task::JoinSet;

use crate::entry::Entry;
use crate::experiment::ExperimentRouter;
use crate::filters::Filter;
use crate::item_cache::ItemCache;
use crate::recommender::Recommender;
use crate::registry::{AlgoComponent, Components, Registry};
use crate::run::{PipelineRun, run_pipeline};
use crate::sorters::Sorter;
use crate::spec::{self, MAIN_PIPELINE};
use crate::trace::{Trace, candidate_trace};

/// State that outlives a configuration reload: caches and the fallback.
pub struct Shared {
    /// Items as the stages (and the window features) read them.
    items: Arc<ItemCache>,
    /// Each (scene, user)'s last good response.
    responses: Cache<(String, String), Arc<Vec<Candidate>>>,
    fallback: Recommender,
}

impl Shared {
    /// Caches sized by `config.engine_conf`, over the catalogue, with `fallback` for failures.
    pub fn new(config: &CascadeConfig, store: Arc<dyn ItemStore>, fallback: Recommender) -> Self {
        let conf = &config.engine_conf;
        Self {
            items: Arc::new(ItemCache::new(store, conf.item_cache_size)),
            responses: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(conf.response_cache_seconds.max(1)))
                .build(),
            fallback,
        }
    }

    /// Forgets a cached item after a catalogue write.
    pub fn item_written(&self, id: &str) {
        self.items.invalidate(id);
    }

    /// The item, from the cache or the store.
    pub fn item(&self, id: &str) -> Option<Arc<RankItem>> {
        self.items.get(id)
    }

    /// The item cache itself, for other readers of the catalogue (window features).
    pub fn items(&self) -> Arc<ItemCache> {
        self.items.clone()
    }
}

/// What a scene answered.
#[derive(Debug)]
pub struct Outcome {
    /// The items, best first.
    pub items: Vec<Candidate>,
    /// The experiments the user was in, joined by `_`.
    pub experiment_id: String,
    /// Why the answer is a fallback or partial, when it is: [`Outcome::degraded_reasons`]
    /// joined by `; `.
    pub degraded: Option<String>,
    /// Each thing the answer did without (or the fallback it is), with why; empty for a
    /// complete answer.
    pub degraded_reasons: Vec<String>,
    /// The trace, when the request asked for one.
    pub trace: Option<Trace>,
}

impl Outcome {
    fn new(
        items: Vec<Candidate>,
        experiment_id: String,
        degraded_reasons: Vec<String>,
        trace: Option<Trace>,
    ) -> Self {
        Self {
            items,
            experiment_id,
            degraded: (!degraded_reasons.is_empty()).then(|| degraded_reasons.join("; ")),
            degraded_reasons,
            trace,
        }
    }
}

/// A request the engine cannot serve as asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The scene is not configured.
    #[error("unknown scene_id `{scene}`; configured scenes: {known}")]
    UnknownScene {
        /// The scene asked for.
        scene: String,
        /// The configured ones.
        known: String,
    },
}

/// A configuration, built and ready to serve.
pub struct Engine {
    config: Arc<CascadeConfig>,
    components: Components,
    router: ExperimentRouter,
    shared: Arc<Shared>,
    /// `RankScore` expressions by their text, parsed once (experiments may change the text).
    rank_scores: Cache<String, Arc<Expr>>,
}

impl Engine {
    /// Builds every component of `config` with `registry`.
    pub fn build(
        config: CascadeConfig,
        registry: &Registry,
        shared: Arc<Shared>,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let components = registry.build(&config)?;
        Ok(Self {
            router: ExperimentRouter::new(&config.experiment_confs),
            config: Arc::new(config),
            components,
            shared,
            rank_scores: Cache::new(1_000),
        })
    }

    /// The configuration this engine was built from.
    pub fn config(&self) -> &Arc<CascadeConfig> {
        &self.config
    }

    /// Tells the components and caches of a catalogue write.
    pub fn item_upserted(&self, item: &Item) {
        self.shared.item_written(&item.id);
        for observer in &self.components.item_observers {
            observer.upserted(item);
        }
    }

    /// Tells the components and caches of a catalogue delete.
    pub fn item_deleted(&self, id: &str) {
        self.shared.item_written(id);
        for observer in &self.components.item_observers {
            observer.deleted(id);
        }
    }

    /// The item, from the cache or the store.
    pub fn item(&self, id: &str) -> Option<Arc<RankItem>> {
        self.shared.item(id)
    }

    pub(crate) fn filter(&self, name: &str) -> Option<&Arc<dyn Filter>> {
        self.components.filters.get(name)
    }

    pub(crate) fn sorter(&self, name: &str) -> Option<&Arc<dyn Sorter>> {
        self.components.sorters.get(name)
    }

    pub(crate) fn algo(&self, name: &str) -> Option<&AlgoComponent> {
        self.components.algos.get(name)
    }

    /// The `RankScore` expression `text`, parsed on first use.
    pub(crate) fn rank_score(&self, text: &str) -> Result<Arc<Expr>, String> {
        if let Some(expr) = self.rank_scores.get(text) {
            return Ok(expr);
        }
        let expr = Arc::new(Expr::parse(text)?);
        self.rank_scores.insert(text.to_string(), expr.clone());
        Ok(expr)
    }

    /// Calls one recall source within its timeout and the deadline; the error is a note for
    /// the trace (unknown, circuit open, timeout).
    pub(crate) async fn recall_one(
        self: &Arc<Self>,
        name: &str,
        request: &Arc<RequestContext>,
        deadline: Instant,
    ) -> Result<Arc<Vec<Candidate>>, String> {
        let component = self.components.recalls.get(name).ok_or("not built")?;
        if let Some(hit) = component.cache.as_ref().and_then(|c| c.get(&request.uid)) {
            return Ok(hit);
        }
        if !component.breaker.allow() {
            metrics::counter!("cascade_recall_skipped_total", "source" => name.to_string())
                .increment(1);
            return Err("skipped: circuit open".into());
        }
        let budget = component
            .timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let (engine, request_for_call, source_name) =
            (self.clone(), request.clone(), name.to_string());
        let give_up_at = Instant::now() + budget;
        let call = tokio::task::spawn_blocking(move || {
            // Under overload a call can wait in the blocking pool past its budget; its answer
            // would be thrown away, so it does not take the CPU from requests still in time.
            if Instant::now() >= give_up_at {
                return Vec::new();
            }
            let component = &engine.components.recalls[&source_name];
            component.source.recall(&request_for_call, component.count)
        });
        match tokio::time::timeout(budget, call).await {
            Ok(Ok(candidates)) => {
                component.breaker.success();
                let candidates = Arc::new(candidates);
                if let Some(cache) = &component.cache {
                    cache.insert(request.uid.clone(), candidates.clone());
                }
                Ok(candidates)
            }
            Ok(Err(join_error)) => {
                component.breaker.failure();
                Err(format!("failed: {join_error}"))
            }
            Err(_) => {
                component.breaker.failure();
                metrics::counter!("cascade_recall_timeouts_total", "source" => name.to_string())
                    .increment(1);
                Err(format!("timed out after {} ms", budget.as_millis()))
            }
        }
    }

    /// Serves one request for its scene.
    pub async fn recommend(
        self: &Arc<Self>,
        request: RequestContext,
    ) -> Result<Outcome, EngineError> {
        let scene = request.scene_id.clone();
        if !spec::scene_exists(&self.config, &scene) {
            let known: Vec<&str> = self
                .config
                .recommend
                .scene_confs
                .keys()
                .map(String::as_str)
                .collect();
            return Err(EngineError::UnknownScene {
                scene,
                known: known.join(", "),
            });
        }
        let assignment = self.router.assign(&scene, &request.uid);
        let pipelines = spec::resolve(&self.config, &scene, &assignment.params);
        let deadline = Instant::now() + Duration::from_millis(self.config.engine_conf.timeout_ms);
        let request = Arc::new(RequestContext {
            deadline: Some(deadline),
            ..request
        });
        let main_sorts = pipelines
            .iter()
            .find(|p| p.name == MAIN_PIPELINE)
            .map(|p| p.sort_names.clone())
            .unwrap_or_default();

        let mut runs = JoinSet::new();
        let mut expected: Vec<String> = Vec::new();
        for (order, pipeline) in pipelines.into_iter().enumerate() {
            if pipeline.recall_names.is_empty() {
                continue;
            }
            expected.push(pipeline.name.clone());
            let include_sorts = pipeline.name != MAIN_PIPELINE;
            let (engine, request) = (self.clone(), request.clone());
            runs.spawn(async move {
                (
                    order,
                    run_pipeline(engine, pipeline, request, deadline, include_sorts).await,
                )
            });
        }
        let mut finished: Vec<(usize, PipelineRun)> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        let mut shortfalls: Vec<String> = Vec::new();
        let budget = deadline.saturating_duration_since(Instant::now());
        let collected = tokio::time::timeout(budget, async {
            while let Some(joined) = runs.join_next().await {
                match joined {
                    Ok((order, Ok(run))) => {
                        shortfalls.extend(
                            run.shortfalls
                                .iter()
                                .map(|what| format!("pipeline `{}`: {what}", run.name)),
                        );
                        finished.push((order, run));
                    }
                    Ok((_, Err(error))) => failures.push(error.to_string()),
                    Err(error) => failures.push(format!("a pipeline task did not finish: {error}")),
                }
            }
        })
        .await;
        if collected.is_err() {
            failures.push(format!(
                "deadline of {} ms reached",
                self.config.engine_conf.timeout_ms
            ));
        }
        shortfalls.extend(request.shortfalls.take());
        // The scene fails when its main pipeline (or every pipeline) produced nothing; a
        // failed secondary pipeline only degrades the answer.
        let main_failed = expected.iter().any(|p| p == MAIN_PIPELINE)
            && !finished.iter().any(|(_, run)| run.name == MAIN_PIPELINE);
        let scene_failed = !failures.is_empty() && (main_failed || finished.is_empty());
        finished.sort_by_key(|(order, _)| *order);

        let mut trace = request.debug.then(Trace::default);
        let mut merged = self.merge(&mut finished, request.size);
        for name in &main_sorts {
            if let Some(sorter) = self.sorter(name) {
                merged = sorter.sort(&request, merged);
            }
        }
        let kept_len = merged.len().min(request.size);
        let (kept, cut) = merged.split_at(kept_len);
        if let Some(trace) = &mut trace {
            for (_, run) in &finished {
                trace.stages.extend(run.tracer.trace.stages.iter().cloned());
            }
            trace
                .candidates
                .extend(kept.iter().map(|e| candidate_trace(e, None)));
            for (_, run) in &finished {
                trace
                    .candidates
                    .extend(run.tracer.trace.candidates.iter().cloned());
            }
            trace
                .candidates
                .extend(cut.iter().map(|e| candidate_trace(e, Some("size".into()))));
        }
        let items: Vec<Candidate> = kept.iter().map(|e| e.candidate.clone()).collect();
        let key = (scene, request.uid.clone());
        let experiment_id = assignment.experiment_id();
        // Every pipeline finished, and the answer is not empty for want of a source or a stage:
        // it is the user's last good one, even when partial (it still says so).
        if failures.is_empty() && (shortfalls.is_empty() || !items.is_empty()) {
            self.shared.responses.insert(key, Arc::new(items.clone()));
            return Ok(Outcome::new(items, experiment_id, shortfalls, trace));
        }
        failures.extend(shortfalls);
        if scene_failed || items.is_empty() {
            return Ok(self.fallback(&key, &request, failures, experiment_id, trace));
        }
        Ok(Outcome::new(items, experiment_id, failures, trace))
    }

    /// The user's last good response, else the popular items, marked degraded.
    fn fallback(
        &self,
        key: &(String, String),
        request: &RequestContext,
        mut reasons: Vec<String>,
        experiment_id: String,
        trace: Option<Trace>,
    ) -> Outcome {
        metrics::counter!("cascade_recommend_fallbacks_total").increment(1);
        if let Some(cached) = self.shared.responses.get(key) {
            reasons.push("served the last good response".into());
            let mut items = self
                .shared
                .fallback
                .not_yet_interacted(&request.uid, &cached);
            items.truncate(request.size);
            return Outcome::new(items, experiment_id, reasons, trace);
        }
        reasons.push("served popular items".into());
        let items = self.shared.fallback.recommend(request).unwrap_or_default();
        Outcome::new(items, experiment_id, reasons, trace)
    }

    /// Merges the pipelines' candidates (each item once) by the configured policy, moving
    /// them out of the runs (a request merges hundreds; copying them showed in profiles).
    fn merge(&self, runs: &mut [(usize, PipelineRun)], size: usize) -> Vec<Entry> {
        let conf = &self.config.engine_conf;
        let lists: Vec<Vec<Entry>> = runs
            .iter_mut()
            .map(|(_, run)| std::mem::take(&mut run.entries))
            .collect();
        let lengths: Vec<usize> = lists.iter().map(Vec::len).collect();
        // The (list, position) of each entry kept, in the merged order.
        let mut picks: Vec<(usize, usize)> = Vec::new();
        let by_score = {
            let mut seen: HashSet<&str, ahash::RandomState> = HashSet::default();
            let mut take = |list: usize, at: usize| -> bool {
                let fresh = seen.insert(lists[list][at].id());
                if fresh {
                    picks.push((list, at));
                }
                fresh
            };
            match conf.merge_policy.as_str() {
                "interleave" => {
                    interleave(&vec![0; lists.len()], &lengths, &mut take);
                    false
                }
                "quota" => {
                    let mut cursors = vec![0; lists.len()];
                    for (list, entries) in lists.iter().enumerate() {
                        let pipeline = entries.first().map_or("", |e| &*e.pipeline);
                        let share = conf.quotas.get(pipeline).copied().unwrap_or(0.0);
                        let slots = (share * size as f64).ceil() as usize;
                        let (mut used, cursor) = (0, &mut cursors[list]);
                        while used < slots && *cursor < entries.len() {
                            used += usize::from(take(list, *cursor));
                            *cursor += 1;
                        }
                    }
                    interleave(&cursors, &lengths, &mut take);
                    false
                }
                _ => {
                    for (list, &len) in lengths.iter().enumerate() {
                        (0..len).for_each(|at| {
                            take(list, at);
                        });
                    }
                    true
                }
            }
        };
        let mut slots: Vec<Vec<Option<Entry>>> = lists
            .into_iter()
            .map(|list| list.into_iter().map(Some).collect())
            .collect();
        let mut out: Vec<Entry> = picks
            .into_iter()
            .filter_map(|(list, at)| slots[list][at].take())
            .collect();
        if by_score {
            out.sort_by(|a, b| b.candidate.score.total_cmp(&a.candidate.score));
        }
        out
    }
}

/// Visits the lists round-robin from their starts: list `i` runs from `starts[i]` to
/// `lengths[i]`; first the first of each, then the second of each, …
fn interleave(starts: &[usize], lengths: &[usize], visit: &mut dyn FnMut(usize, usize) -> bool) {
    let longest = starts
        .iter()
        .zip(lengths)
        .map(|(start, len)| len.saturating_sub(*start))
        .max()
        .unwrap_or(0);
    for step in 0..longest {
        for (list, (start, &len)) in starts.iter().zip(lengths).enumerate() {
            if start + step < len {
                visit(list, start + step);
            }
        }
    }
}
