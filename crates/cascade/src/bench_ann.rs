//! `cascade bench ann`: HNSW build time, then recall@10 against exact brute-force search (over
//! the original 32-bit vectors) and single-threaded queries/s for several search `ef`, on seeded
//! synthetic vectors that lie near a random low-dimensional subspace (the structure real
//! embeddings have).

use std::time::Instant;

use cascade_core::Item;
use cascade_retrieval::ann::recall;
use cascade_retrieval::{AnnConfig, AnnHit, AnnIndex, AnnMetric, AnnPrecision};
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
    /// Store 32-bit vectors in the index instead of 16-bit ones.
    #[arg(long)]
    full_precision: bool,
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
    let vectors: Vec<Vec<f32>> = (0..args.vectors).map(|_| data.vector()).collect();
    let queries: Vec<Vec<f32>> = (0..args.queries).map(|_| data.vector()).collect();
    let precision = if args.full_precision {
        AnnPrecision::F32
    } else {
        AnnPrecision::F16
    };
    println!(
        "ann: {} vectors x {} dims near a random {}-d subspace (noise {}), cosine, seed {}; \
         {precision:?} storage, M {}, ef_construction {}; {} queries, k {K}",
        args.vectors,
        args.dimensions,
        args.subspace,
        args.noise,
        args.seed,
        args.connectivity,
        args.ef_construction,
        args.queries,
    );

    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let started = Instant::now();
    let truth = exact(&vectors, &queries, threads);
    println!(
        "brute force: {:.1} s for {} queries on {threads} threads",
        started.elapsed().as_secs_f64(),
        queries.len()
    );

    let items: Vec<Item> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, vector)| Item {
            id: id(i),
            fields: Default::default(),
            embeddings: [(EMBEDDING.to_string(), vector)].into(),
        })
        .collect();
    let mut config = AnnConfig::new(EMBEDDING, args.dimensions, AnnMetric::Cosine);
    config.precision = precision;
    config.connectivity = args.connectivity;
    config.ef_construction = args.ef_construction;
    let started = Instant::now();
    let index = AnnIndex::build(config, &items)?;
    let build = started.elapsed().as_secs_f64();
    println!(
        "build: {build:.1} s on {threads} threads ({:.0} vectors/s), distance kernels: {}",
        args.vectors as f64 / build,
        index.hardware_acceleration()
    );
    drop(items);

    for &ef in &args.ef {
        // Warm-up: caches and the graph's ef setting, outside the timing.
        for query in queries.iter().take(100) {
            index.search(query, K, ef)?;
        }
        let (started, cpu_started) = (Instant::now(), thread_cpu_seconds());
        let mut found = Vec::with_capacity(queries.len());
        for query in &queries {
            found.push(index.search(query, K, ef)?);
        }
        let seconds = started.elapsed().as_secs_f64();
        let on_cpu = thread_cpu_seconds()
            .zip(cpu_started)
            .map(|(end, start)| end - start);
        let mean_recall = found
            .iter()
            .zip(&truth)
            .map(|(found, truth)| recall(found, truth))
            .sum::<f64>()
            / queries.len() as f64;
        let per_cpu_second = on_cpu.map_or("n/a".to_string(), |cpu| {
            format!("{:.0}", queries.len() as f64 / cpu)
        });
        println!(
            "ef {ef:>4}: recall@{K} {mean_recall:.4}, {:.0} queries/s single-threaded \
             ({:.1} us/query wall; {per_cpu_second} queries per on-CPU second)",
            queries.len() as f64 / seconds,
            seconds * 1e6 / queries.len() as f64
        );
    }
    Ok(())
}

/// The calling thread's time on a CPU (Linux schedstat), which other processes' load on a
/// shared machine does not inflate the way it inflates wall time.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

fn id(index: usize) -> String {
    format!("v{index}")
}

/// The exact top `K` of every query by cosine over the 32-bit vectors, split over `threads`.
fn exact(vectors: &[Vec<f32>], queries: &[Vec<f32>], threads: usize) -> Vec<Vec<AnnHit>> {
    let base: Vec<Vec<f32>> = vectors.iter().map(|v| normalized(v)).collect();
    let chunk = queries.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = queries
            .chunks(chunk)
            .map(|part| {
                let base = &base;
                scope.spawn(move || {
                    part.iter()
                        .map(|query| top_k(base, &normalized(query)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("brute-force thread panicked"))
            .collect()
    })
}

/// The `K` vectors of `base` with the highest dot product with `query`, highest first.
fn top_k(base: &[Vec<f32>], query: &[f32]) -> Vec<AnnHit> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(K + 1);
    for (i, vector) in base.iter().enumerate() {
        let score = dot(vector, query);
        if best.len() < K || score > best[K - 1].0 {
            let at = best.partition_point(|(s, _)| *s >= score);
            best.insert(at, (score, i));
            best.truncate(K);
        }
    }
    best.into_iter()
        .map(|(score, i)| AnnHit {
            item_id: id(i),
            score,
        })
        .collect()
}

/// A dot product in eight independent lanes, so that it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn normalized(vector: &[f32]) -> Vec<f32> {
    let norm = dot(vector, vector).sqrt();
    vector.iter().map(|x| x / norm).collect()
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
