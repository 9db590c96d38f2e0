//! One pipeline, stage by stage: recall (sources in parallel, each with a timeout and a
//! circuit breaker) → filter → general (coarse) rank → rank or cold-start rank → sort.
//! Every stage but the filters checks the request deadline; when it has passed, the pipeline
//! returns what it has, filtered (filters keep the answer correct, so none is skipped). What
//! a pipeline did without (a recall source that gave no answer, a stage skipped at the
//! deadline) is kept as its shortfalls, so that the answer says it is partial; a pipeline none
//! of whose recall sources answered has failed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use cascade_core::config::rec::{ColdStartRankConf, RankConf};
use cascade_core::expr::Value;
use cascade_core::{Candidate, Item, RequestContext};
use cascade_rank::features::RankItem;
use cascade_rank::scorer::{ScoreError, ScoringInput};
use tokio::task::JoinSet;

use crate::engine::Engine;
use crate::entry::Entry;
use crate::spec::PipelineSpec;
use crate::trace::Tracer;

/// Why a pipeline produced nothing usable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PipelineError {
    /// A model failed or its circuit is open.
    #[error("pipeline `{pipeline}`: {error}")]
    Scorer {
        /// The pipeline.
        pipeline: String,
        /// The failure.
        error: ScoreError,
    },
    /// None of the recall sources answered (timed out, failed, circuit open).
    #[error("pipeline `{pipeline}`: no recall source answered ({failures})")]
    Recall {
        /// The pipeline.
        pipeline: String,
        /// Each source with why it gave no answer, joined by `; `.
        failures: String,
    },
}

/// A pipeline's candidates, best first, and its trace.
pub struct PipelineRun {
    /// The pipeline's name.
    pub name: String,
    /// The candidates.
    pub entries: Vec<Entry>,
    /// What happened.
    pub tracer: Tracer,
    /// What the pipeline did without, each with why: recall sources that gave no answer,
    /// stages skipped at the deadline. Empty for a complete run.
    pub shortfalls: Vec<String>,
}

/// Runs one pipeline for one request.
pub async fn run_pipeline(
    engine: Arc<Engine>,
    spec: PipelineSpec,
    request: Arc<RequestContext>,
    deadline: Instant,
    include_sorts: bool,
) -> Result<PipelineRun, PipelineError> {
    let mut tracer = Tracer::new(request.debug, &spec.name);
    let (mut entries, mut shortfalls) =
        recall(&engine, &spec, &request, deadline, &mut tracer).await?;
    let pipeline = spec.name.as_str();
    // What the pipeline returns, at the end or once the deadline has passed.
    let finished = |entries, tracer, shortfalls| PipelineRun {
        name: spec.name.clone(),
        entries,
        tracer,
        shortfalls,
    };
    // Whether the stage `name` may still run; when the deadline has passed, the stage is
    // traced and counted as skipped, and the pipeline returns what it has.
    let stage = |name: &str, tracer: &mut Tracer, shortfalls: &mut Vec<String>| -> bool {
        let late = Instant::now() >= deadline;
        if late {
            const SKIPPED: &str = "skipped: deadline reached";
            tracer.stage(name.to_string(), Instant::now(), 0, 0, Some(SKIPPED.into()));
            shortfalls.push(format!("stage `{name}` {SKIPPED}"));
        }
        !late
    };

    // Filters keep the answer correct (items already seen, out of stock, …), so they run
    // even past the deadline: a late answer is better than a wrong one. Their cost is bounded
    // by the candidates and by the size limits of their conditions (`expr`).
    for name in &spec.filter_names {
        entries = apply_filter(&engine, name, &request, entries, &mut tracer);
    }
    if let Some(general) = &spec.general_rank_conf {
        if !stage("general_rank", &mut tracer, &mut shortfalls) {
            let filters = general
                .action_confs
                .iter()
                .filter(|a| a.action_type == "filter");
            for action in filters.filter(|a| !a.action_name.is_empty()) {
                entries =
                    apply_filter(&engine, &action.action_name, &request, entries, &mut tracer);
            }
            return Ok(finished(entries, tracer, shortfalls));
        }
        if general.rank_conf.is_set() {
            score(
                &engine,
                pipeline,
                RankStage::new("general_rank", &general.rank_conf),
                &request,
                &mut entries,
                &mut tracer,
            )?;
            entries.sort_by(|a, b| b.candidate.score.total_cmp(&a.candidate.score));
        }
        for action in general
            .action_confs
            .iter()
            .filter(|a| !a.action_name.is_empty())
        {
            entries = match action.action_type.as_str() {
                "filter" => {
                    apply_filter(&engine, &action.action_name, &request, entries, &mut tracer)
                }
                _ => apply_sort(&engine, &action.action_name, &request, entries, &mut tracer),
            };
        }
    }
    let rank = spec.rank_conf.as_ref().filter(|r| r.is_set());
    let cold = spec.cold_start_rank_conf.as_ref().filter(|c| c.is_set());
    if rank.is_some() || cold.is_some() {
        if !stage("rank", &mut tracer, &mut shortfalls) {
            return Ok(finished(entries, tracer, shortfalls));
        }
        match (rank, cold) {
            (Some(rank), _) => score(
                &engine,
                pipeline,
                RankStage::new("rank", rank),
                &request,
                &mut entries,
                &mut tracer,
            )?,
            (None, Some(cold)) => {
                let conf = cold_start_as_rank(cold);
                score(
                    &engine,
                    pipeline,
                    RankStage {
                        name: "cold_start_rank",
                        conf: &conf,
                        embeddings_only: cold.only_embedding_feature,
                    },
                    &request,
                    &mut entries,
                    &mut tracer,
                )?
            }
            (None, None) => {}
        }
        entries.sort_by(|a, b| b.candidate.score.total_cmp(&a.candidate.score));
    }
    if include_sorts {
        for name in &spec.sort_names {
            if !stage(&format!("sort:{name}"), &mut tracer, &mut shortfalls) {
                break;
            }
            entries = apply_sort(&engine, name, &request, entries, &mut tracer);
        }
    }
    Ok(finished(entries, tracer, shortfalls))
}

/// A rank stage to run: its name (in traces and scores), its models, and whether the models
/// see only the items' embeddings (`ColdStartRankConf.OnlyEmbeddingFeature`: new items have no
/// behaviour yet, so a cold-start model is trained and served on their embeddings alone).
struct RankStage<'a> {
    name: &'a str,
    conf: &'a RankConf,
    embeddings_only: bool,
}

impl<'a> RankStage<'a> {
    /// A stage whose models see the whole item.
    fn new(name: &'a str, conf: &'a RankConf) -> Self {
        Self {
            name,
            conf,
            embeddings_only: false,
        }
    }
}

/// The item as a model restricted to embedding features sees it: its id and embeddings.
fn embeddings_only(item: &RankItem) -> RankItem {
    RankItem::new(Item {
        id: item.id.clone(),
        fields: Default::default(),
        embeddings: item.embeddings.clone(),
    })
}

fn cold_start_as_rank(cold: &ColdStartRankConf) -> RankConf {
    RankConf {
        rank_algo_list: vec![cold.algo_name.clone()],
        ..RankConf::default()
    }
}

/// Asks every recall source in parallel; merges their candidates in recall order, keeping
/// each item once with all the sources that proposed it. Returns them with the sources that
/// gave no answer, each with why; fails when none answered.
async fn recall(
    engine: &Arc<Engine>,
    spec: &PipelineSpec,
    request: &Arc<RequestContext>,
    deadline: Instant,
    tracer: &mut Tracer,
) -> Result<(Vec<Entry>, Vec<String>), PipelineError> {
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for (order, name) in spec.recall_names.iter().enumerate() {
        let (engine, request, name) = (engine.clone(), request.clone(), name.clone());
        calls.spawn(async move {
            let began = Instant::now();
            let outcome = engine.recall_one(&name, &request, deadline).await;
            (order, name, began, outcome)
        });
    }
    let mut results: Vec<(usize, String, Arc<Vec<Candidate>>)> = Vec::new();
    let mut unanswered: Vec<String> = Vec::new();
    while let Some(joined) = calls.join_next().await {
        let (order, name, began, outcome) = match joined {
            Ok(call) => call,
            Err(error) => {
                unanswered.push(format!("a recall call did not finish: {error}"));
                continue;
            }
        };
        match outcome {
            Ok(candidates) => {
                tracer.stage(format!("recall:{name}"), began, 0, candidates.len(), None);
                results.push((order, name, candidates));
            }
            Err(note) => {
                unanswered.push(format!("recall source `{name}` {note}"));
                tracer.stage(format!("recall:{name}"), began, 0, 0, Some(note));
            }
        }
    }
    if results.is_empty() && !unanswered.is_empty() {
        return Err(PipelineError::Recall {
            pipeline: spec.name.clone(),
            failures: unanswered.join("; "),
        });
    }
    results.sort_by_key(|(order, _, _)| *order);

    let pipeline: Arc<str> = Arc::from(spec.name.as_str());
    let mut entries: Vec<Entry> = Vec::new();
    // Keyed by the sources' own ids (no copies), hashed with ahash: ~700 candidates a request.
    let mut index: HashMap<&str, usize, ahash::RandomState> = HashMap::default();
    for (_, name, candidates) in &results {
        for candidate in candidates.iter() {
            match index.get(candidate.item_id.as_str()) {
                Some(&at) => entries[at]
                    .candidate
                    .recall_scores
                    .push((name.clone(), candidate.score)),
                None => {
                    index.insert(&candidate.item_id, entries.len());
                    entries.push(Entry {
                        candidate: Candidate::new(
                            candidate.item_id.clone(),
                            candidate.score,
                            name.clone(),
                        ),
                        pipeline: pipeline.clone(),
                        item: None,
                        stage_scores: request
                            .debug
                            .then(|| vec![(format!("recall:{name}"), candidate.score)]),
                    });
                }
            }
        }
    }
    for entry in &mut entries {
        entry.item = engine.item(entry.id());
    }
    tracer.stage("recall".into(), started, 0, entries.len(), None);
    Ok((entries, unanswered))
}

fn apply_filter(
    engine: &Engine,
    name: &str,
    request: &RequestContext,
    entries: Vec<Entry>,
    tracer: &mut Tracer,
) -> Vec<Entry> {
    let Some(filter) = engine.filter(name) else {
        return entries;
    };
    let started = Instant::now();
    let before_len = entries.len();
    let before = tracer.enabled().then(|| entries.clone());
    let kept = filter.filter(request, entries);
    let stage = format!("filter:{name}");
    if let Some(before) = before {
        tracer.dropped(&stage, &before, &kept);
    }
    tracer.stage(stage, started, before_len, kept.len(), None);
    kept
}

fn apply_sort(
    engine: &Engine,
    name: &str,
    request: &RequestContext,
    entries: Vec<Entry>,
    tracer: &mut Tracer,
) -> Vec<Entry> {
    let Some(sorter) = engine.sorter(name) else {
        return entries;
    };
    let started = Instant::now();
    let count = entries.len();
    let sorted = sorter.sort(request, entries);
    tracer.stage(format!("sort:{name}"), started, count, sorted.len(), None);
    sorted
}

/// Scores every entry with the models of the stage's conf (in batches of `BatchCount`) and
/// combines their outputs with `RankScore` (the first model's output when it is empty).
fn score(
    engine: &Engine,
    pipeline: &str,
    stage: RankStage<'_>,
    request: &RequestContext,
    entries: &mut [Entry],
    tracer: &mut Tracer,
) -> Result<(), PipelineError> {
    let started = Instant::now();
    let conf = stage.conf;
    let restricted: Option<Vec<Option<RankItem>>> = stage.embeddings_only.then(|| {
        entries
            .iter()
            .map(|e| e.item.as_deref().map(embeddings_only))
            .collect()
    });
    let fail = |error: ScoreError| PipelineError::Scorer {
        pipeline: pipeline.to_string(),
        error,
    };
    let mut outputs: Vec<(String, Vec<f64>)> = Vec::with_capacity(conf.rank_algo_list.len());
    let batch = if conf.batch_count == 0 {
        entries.len().max(1)
    } else {
        conf.batch_count
    };
    for algo_name in &conf.rank_algo_list {
        let algo = engine.algo(algo_name).ok_or_else(|| {
            fail(ScoreError {
                scorer: algo_name.clone(),
                reason: "not built".into(),
            })
        })?;
        if !algo.breaker.allow() {
            return Err(fail(ScoreError {
                scorer: algo_name.clone(),
                reason: "circuit open".into(),
            }));
        }
        let mut scores = Vec::with_capacity(entries.len());
        for (index, chunk) in entries.chunks(batch).enumerate() {
            let offset = index * batch;
            let inputs: Vec<ScoringInput<'_>> = chunk
                .iter()
                .enumerate()
                .map(|(i, e)| ScoringInput {
                    candidate: &e.candidate,
                    item: match &restricted {
                        Some(items) => items[offset + i].as_ref(),
                        None => e.item.as_deref(),
                    },
                })
                .collect();
            match algo.scorer.score(request, &inputs) {
                Ok(batch_scores) if batch_scores.len() == inputs.len() => {
                    scores.extend(batch_scores)
                }
                Ok(wrong) => {
                    algo.breaker.failure();
                    return Err(fail(ScoreError {
                        scorer: algo_name.clone(),
                        reason: format!(
                            "returned {} scores for {} candidates",
                            wrong.len(),
                            inputs.len()
                        ),
                    }));
                }
                Err(error) => {
                    algo.breaker.failure();
                    return Err(fail(error));
                }
            }
        }
        algo.breaker.success();
        outputs.push((algo_name.clone(), scores));
    }
    let expression = (!conf.rank_score.is_empty())
        .then(|| engine.rank_score(&conf.rank_score))
        .transpose()
        .map_err(|reason| {
            fail(ScoreError {
                scorer: "RankScore".into(),
                reason,
            })
        })?;
    for (i, entry) in entries.iter_mut().enumerate() {
        let value = match &expression {
            Some(expr) => {
                let lookup = |name: &str| {
                    outputs
                        .iter()
                        .find(|(algo, _)| algo == name)
                        .map_or(Value::Null, |(_, scores)| Value::Number(scores[i]))
                };
                expr.eval(&lookup).as_number().unwrap_or(0.0)
            }
            None => outputs
                .first()
                .map_or(entry.candidate.score, |(_, scores)| scores[i]),
        };
        entry.set_score(stage.name, value);
    }
    tracer.stage(
        stage.name.to_string(),
        started,
        entries.len(),
        entries.len(),
        None,
    );
    Ok(())
}
