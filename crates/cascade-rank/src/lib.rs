//! Ranking: feature assembly, models, trainers and offline evaluation ([`offline`]); it sits in
//! its place in the dependency order (core, store → rank → pipeline).

pub mod features;
pub mod gbdt;
pub mod offline;
pub mod scorer;
