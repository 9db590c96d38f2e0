//! Ranking: feature assembly, models, trainers and offline evaluation ([`offline`]); it sits in
//! its place in the dependency order (core, store → rank → pipeline).

pub mod backfill;
pub mod features;
pub mod gbdt;
pub mod logging;
pub mod lr;
pub mod model_file;
pub mod offline;
pub mod onnx;
pub mod scorer;
