//! `cascade bench ann`: HNSW build time, then recall@10 against exact brute-force search and
//! single-threaded queries/s for several search `ef`, on seeded synthetic vectors that lie near
//! a random low-dimensional subspace (the structure real embeddings have).

use std::time::Instant;

use cascade_core::Item;
use cascade_retrieval::ann::recall;
use cascade_retrieval::{AnnConfig, AnnHit, AnnIndex, AnnMetric};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Results per query.
const K: usize = 10;
/// The embedding name the synthetic items carry.
const EMBEDDING: &str = "bench";

/// `cascade bench ann` arguments.
#[derive(clap::Args)]
pub struct AnnBench {
    /// Indexed vectors.
    #[arg(long, default_value_t = 200_000)]
    vectors: usize,
    /// Vector dimensions.
    #[arg(long, default_value_t = 128)]
    dimensions: usize,
    /// Dimension of the random subspace the vectors lie near.
    #[arg(long, default_value_t = 16)]
    subspace: usize,
    /// Noise added to every coordinate (standard deviation; coordinates have unit variance).
    #[arg(long, default_value_t = 0.1)]
    noise: f32,
    /// Queries per search `ef` (drawn from the same distribution, not indexed).
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// Graph connectivity (HNSW `M`).
    #[arg(long, default_value_t = 16)]
    connectivity: usize,
    /// Candidate list size while building (HNSW `ef_construction`).
    #[arg(long, default_value_t = 128)]
    ef_construction: usize,
    /// Search `ef` values to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [32, 64, 128])]
    ef: Vec<usize>,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs the benchmark and prints its report.
pub fn run(args: &AnnBench) -> anyhow::Result<()> {
    let mut data = Subspace::new(args, args.seed);
    let items: Vec<Item> = (0..args.vectors)
        .map(|i| Item {
            id: format!("v{i}"),
            fields: Default::default(),
            embeddings: [(EMBEDDING.to_string(), data.vector())].into(),
        })
        .collect();
    let queries: Vec<Vec<f32>> = (0..args.queries).map(|_| data.vector()).collect();
    println!(
        "ann: {} vectors x {} dims near a random {}-d subspace (noise {}), cosine, seed {}; \
         M {}, ef_construction {}; {} queries, k {K}",
        args.vectors,
        args.dimensions,
        args.subspace,
        args.noise,
        args.seed,
        args.connectivity,
        args.ef_construction,
        args.queries,
    );

    let mut config = AnnConfig::new(EMBEDDING, args.dimensions, AnnMetric::Cosine);
    config.connectivity = args.connectivity;
    config.ef_construction = args.ef_construction;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let started = Instant::now();
    let index = AnnIndex::build(config, &items)?;
    let build = started.elapsed().as_secs_f64();
    println!(
        "build: {build:.1} s on {threads} threads ({:.0} vectors/s), distance kernels: {}",
        args.vectors as f64 / build,
        index.hardware_acceleration()
    );
    drop(items);

    let started = Instant::now();
    let truth = exact(&index, &queries)?;
    println!(
        "brute force: {:.1} s for {} queries on {threads} threads",
        started.elapsed().as_secs_f64(),
        queries.len()
    );

    for &ef in &args.ef {
        // Warm-up: caches and the graph's ef setting, outside the timing.
        for query in queries.iter().take(100) {
            index.search(query, K, ef)?;
        }
        let started = Instant::now();
        let mut found = Vec::with_capacity(queries.len());
        for query in &queries {
            found.push(index.search(query, K, ef)?);
        }
        let seconds = started.elapsed().as_secs_f64();
        let mean_recall = found
            .iter()
            .zip(&truth)
            .map(|(found, truth)| recall(found, truth))
            .sum::<f64>()
            / queries.len() as f64;
        println!(
            "ef {ef:>4}: recall@{K} {mean_recall:.4}, {:.0} queries/s single-threaded ({:.1} us/query)",
            queries.len() as f64 / seconds,
            seconds * 1e6 / queries.len() as f64
        );
    }
    Ok(())
}

/// The exact top `K` of every query, split over all cores.
fn exact(index: &AnnIndex, queries: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<AnnHit>>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = queries.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = queries
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|query| index.exact_search(query, K))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut truth = Vec::with_capacity(queries.len());
        for worker in workers {
            truth.extend(worker.join().expect("brute-force thread panicked")?);
        }
        Ok(truth)
    })
}

/// Seeded points `B z + e`: `B` a random `dimensions x subspace` basis, `z` and `e` Gaussian.
struct Subspace {
    rng: StdRng,
    /// Row-major `dimensions x subspace`, entries of variance `1 / subspace`.
    basis: Vec<f32>,
    subspace: usize,
    noise: f32,
}

impl Subspace {
    fn new(args: &AnnBench, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let scale = (args.subspace as f32).sqrt().recip();
        let basis = (0..args.dimensions * args.subspace)
            .map(|_| gaussian(&mut rng) * scale)
            .collect();
        Subspace {
            rng,
            basis,
            subspace: args.subspace,
            noise: args.noise,
        }
    }

    fn vector(&mut self) -> Vec<f32> {
        let z: Vec<f32> = (0..self.subspace)
            .map(|_| gaussian(&mut self.rng))
            .collect();
        self.basis
            .chunks_exact(self.subspace)
            .map(|row| {
                let signal: f32 = row.iter().zip(&z).map(|(b, z)| b * z).sum();
                signal + self.noise * gaussian(&mut self.rng)
            })
            .collect()
    }
}

/// A standard normal sample (Box-Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let u: f32 = 1.0 - rng.random::<f32>();
    let v: f32 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}
