//! ONNX models run with tract (pure Rust, CPU): scoring graphs that take a float32 matrix of
//! feature rows and give one float32 per row.
//!
//! The API the rank stages (`cascade_rank::onnx::OnnxScorer`) and the stream enrichers build
//! on, kept stable:
//!
//! ```text
//! OnnxModel::load(path: &Path) -> Result<OnnxModel, OnnxError>
//! OnnxModel::width(&self) -> usize
//! OnnxModel::feature_names(&self) -> Option<Vec<String>>
//! OnnxModel::metadata(&self, key: &str) -> Option<String>
//! OnnxModel::run(&self, rows: &[f32], rows_count: usize) -> Result<Vec<f32>, OnnxError>
//! ```
//!
//! The model contract: one input, float32 `[batch, width]` with a symbolic batch dimension
//! and a fixed width; one output, float32 `[batch]` or `[batch, 1]`; optionally the
//! `metadata_props` key [`FEATURES_KEY`] (`cascade.features`), the comma-separated names of
//! the features the model was trained on, in column order. The graph gets the values as
//! given: a caller with missing values replaces them the way the model was trained to expect
//! (the models of `scripts/train-onnx-ranker.py` take NaN as 0).
//!
//! [`OnnxModel::load`] optimises the graph once into a plan for any batch size; the loaded
//! model is `Send + Sync` and every request thread runs the same plan.

mod error;
mod signature;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::{
    Datum, DatumExt, Framework, InferenceModelExt, IntoRunnable, Tensor, ToDim, TractError,
    TypedRunnableModel, tvec,
};

pub use error::OnnxError;
use signature::Signature;

/// The `metadata_props` key that lists a model's features: their names, comma-separated, in
/// column order.
pub const FEATURES_KEY: &str = "cascade.features";

/// A loaded ONNX scoring model: its optimised plan, its width and its metadata.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    path: PathBuf,
    width: usize,
    metadata: BTreeMap<String, String>,
    plan: Arc<TypedRunnableModel>,
}

impl OnnxModel {
    /// Loads the ONNX file at `path`, checks its signature (one float32 input
    /// `[batch, width]`, one float32 output `[batch]` or `[batch, 1]`) and optimises it into
    /// a plan for any batch size. Errors name the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Self, OnnxError> {
        let bytes = std::fs::read(path).map_err(|source| OnnxError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let onnx = tract_onnx::onnx();
        let not_onnx = |reason: String| OnnxError::NotOnnx {
            path: path.to_path_buf(),
            reason,
        };
        let proto: ModelProto = onnx
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(|e| not_onnx(format!("{e:#}")))?;
        let graph = match &proto.graph {
            Some(graph) if !graph.node.is_empty() => graph,
            _ => return Err(not_onnx("the file holds no graph".to_string())),
        };
        let signature = Signature::of(graph).map_err(|reason| OnnxError::Signature {
            path: path.to_path_buf(),
            reason,
        })?;
        let metadata = proto
            .metadata_props
            .iter()
            .map(|entry| (entry.key.clone(), entry.value.clone()))
            .collect();
        let plan = Self::plan(path, &onnx, &proto, &signature)?;
        Ok(Self {
            path: path.to_path_buf(),
            width: signature.width,
            metadata,
            plan,
        })
    }

    /// Types the graph with a symbolic batch dimension, optimises it and plans it.
    fn plan(
        path: &Path,
        onnx: &tract_onnx::Onnx,
        proto: &ModelProto,
        signature: &Signature,
    ) -> Result<Arc<TypedRunnableModel>, OnnxError> {
        let build = |stage: &'static str| {
            move |e: TractError| OnnxError::Build {
                path: path.to_path_buf(),
                stage,
                reason: format!("{e:#}"),
            }
        };
        let mut model = onnx
            .model_for_proto_model(proto)
            .map_err(build("parse the graph"))?;
        let batch = model.symbols.sym("batch");
        let fact = f32::fact([batch.to_dim(), signature.width.to_dim()]);
        model
            .set_input_fact(0, fact.into())
            .map_err(build("set the input shape"))?;
        let typed = model
            .into_optimized()
            .map_err(build("optimise the graph"))?;
        let output = typed
            .output_fact(0)
            .map_err(build("type the output"))?
            .clone();
        let shape: Vec<_> = output.shape.iter().cloned().collect();
        let single = shape.len() == 1 || (shape.len() == 2 && shape[1] == 1.to_dim());
        if output.datum_type != f32::datum_type() || !single {
            return Err(OnnxError::Signature {
                path: path.to_path_buf(),
                reason: format!(
                    "the output is {:?} {shape:?}, expected float32 [batch] or [batch, 1]",
                    output.datum_type
                ),
            });
        }
        typed.into_runnable().map_err(build("plan the graph"))
    }

    /// The file the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many values each input row has.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The value of a `metadata_props` key.
    pub fn metadata(&self, key: &str) -> Option<String> {
        self.metadata.get(key).cloned()
    }

    /// The names of the features the model was trained on, from its [`FEATURES_KEY`]
    /// metadata (comma-separated, surrounding spaces trimmed); `None` when it has none.
    pub fn feature_names(&self) -> Option<Vec<String>> {
        let names = self.metadata.get(FEATURES_KEY)?;
        Some(names.split(',').map(|n| n.trim().to_string()).collect())
    }

    /// One output per row of `rows`: `rows_count` rows of [`width`](Self::width) values,
    /// row-major. Zero rows give no outputs; values of another count are an error naming
    /// both counts.
    pub fn run(&self, rows: &[f32], rows_count: usize) -> Result<Vec<f32>, OnnxError> {
        if rows_count.checked_mul(self.width) != Some(rows.len()) {
            return Err(OnnxError::Width {
                path: self.path.clone(),
                expected: self.width,
                rows: rows_count,
                found: rows.len(),
            });
        }
        if rows_count == 0 {
            return Ok(Vec::new());
        }
        let failed = |reason: String| OnnxError::Run {
            path: self.path.clone(),
            reason,
        };
        let input = Tensor::from_shape(&[rows_count, self.width], rows)
            .map_err(|e| failed(format!("{e:#}")))?;
        let outputs = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| failed(format!("{e:#}")))?;
        let output = outputs
            .first()
            .ok_or_else(|| failed("the graph gave no output".to_string()))?;
        let scores = output
            .try_as_plain_ram()
            .and_then(|view| view.as_slice::<f32>().map(<[f32]>::to_vec))
            .map_err(|e| failed(format!("{e:#}")))?;
        if scores.len() != rows_count {
            return Err(failed(format!(
                "the output has {} values of shape {:?} for {rows_count} rows",
                scores.len(),
                output.shape()
            )));
        }
        Ok(scores)
    }
}
