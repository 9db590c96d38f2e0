//! The per-request trace `debug=true` returns: each stage's time and candidate counts, and
//! each candidate's sources, scores and the stage that dropped it.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;

use crate::entry::Entry;

/// One stage of one pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct StageTrace {
    /// The pipeline.
    pub pipeline: String,
    /// The stage and component, e.g. `filter:unique` or `recall:hot`.
    pub stage: String,
    /// Microseconds spent.
    pub micros: u64,
    /// Candidates before the stage.
    pub candidates_in: usize,
    /// Candidates after the stage.
    pub candidates_out: usize,
    /// What happened when it did not simply run (timeout, circuit open, error, deadline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One candidate's path.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateTrace {
    /// The item.
    pub item_id: String,
    /// The pipeline.
    pub pipeline: String,
    /// The recall sources that proposed it.
    pub sources: Vec<String>,
    /// Its score after each scoring stage.
    pub scores: Vec<(String, f64)>,
    /// The stage that dropped it; absent for candidates still in the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_by: Option<String>,
}

/// The whole trace.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Trace {
    /// Stages in execution order.
    pub stages: Vec<StageTrace>,
    /// Candidates: those returned first, then those dropped.
    pub candidates: Vec<CandidateTrace>,
}

/// Collects a pipeline's trace when the request asked for one.
pub struct Tracer {
    enabled: bool,
    pipeline: String,
    /// What has been recorded.
    pub trace: Trace,
}

impl Tracer {
    /// A tracer for `pipeline`; records nothing unless `enabled`.
    pub fn new(enabled: bool, pipeline: &str) -> Self {
        Self {
            enabled,
            pipeline: pipeline.to_string(),
            trace: Trace::default(),
        }
    }

    /// Whether tracing is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records a stage that ran from `started`.
    pub fn stage(
        &mut self,
        stage: String,
        started: Instant,
        before: usize,
        after: usize,
        note: Option<String>,
    ) {
        // every request, traced or not: the per-stage latency `cascade bench http` reads
        metrics::histogram!("cascade_stage_duration_seconds", "stage" => stage.clone())
            .record(started.elapsed().as_secs_f64());
        if self.enabled {
            self.trace.stages.push(StageTrace {
                pipeline: self.pipeline.clone(),
                stage,
                micros: started.elapsed().as_micros() as u64,
                candidates_in: before,
                candidates_out: after,
                note,
            });
        }
    }

    /// Records the candidates of `before` that are not in `after` as dropped by `stage`.
    pub fn dropped(&mut self, stage: &str, before: &[Entry], after: &[Entry]) {
        if !self.enabled {
            return;
        }
        let kept: HashSet<&str> = after.iter().map(Entry::id).collect();
        for entry in before.iter().filter(|e| !kept.contains(e.id())) {
            self.trace
                .candidates
                .push(candidate_trace(entry, Some(stage.to_string())));
        }
    }
}

/// The trace of one candidate.
pub fn candidate_trace(entry: &Entry, dropped_by: Option<String>) -> CandidateTrace {
    CandidateTrace {
        item_id: entry.id().to_string(),
        pipeline: entry.pipeline.to_string(),
        sources: entry
            .candidate
            .recall_scores
            .iter()
            .map(|(source, _)| source.clone())
            .collect(),
        scores: entry.stage_scores.clone().unwrap_or_default(),
        dropped_by,
    }
}
