//! Ranking: feature assembly, models, trainers and offline metrics. Empty until the ranking work lands;
//! it already sits in its place in the dependency order (core, store → rank → pipeline).
