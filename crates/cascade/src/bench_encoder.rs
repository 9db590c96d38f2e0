//! `cascade bench encoder`: the built-in text encoder's throughput on real book titles, one
//! text per call against batches.

use std::time::Instant;

use anyhow::Context;
use cascade_infer::{TextEncoder, default_model_dir};

/// `cascade bench encoder` arguments.
#[derive(clap::Args)]
pub struct EncoderBench {
    /// Texts encoded per round (the first N goodbooks books, "title. authors").
    #[arg(long, default_value_t = 512)]
    texts: usize,
    /// Batch sizes to compare (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    batches: Vec<usize>,
    /// Rounds per batch size; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Runs the benchmark and prints texts/s per batch size.
pub fn run(args: &EncoderBench) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batches.iter().all(|&b| b > 0) && args.rounds > 0,
        "--batches and --rounds must be positive"
    );
    let dir = default_model_dir();
    let encoder = TextEncoder::load(&dir)?;
    let texts = book_texts(args.texts)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "all-MiniLM-L6-v2 on the CPU ({threads} threads), {} goodbooks texts, median of {} rounds",
        texts.len(),
        args.rounds
    );
    println!("{:>6} {:>10} {:>14}", "batch", "texts/s", "ms per call");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for &batch in &args.batches {
        let mut rates = Vec::new();
        for _ in 0..args.rounds {
            let started = Instant::now();
            for chunk in refs.chunks(batch) {
                encoder.encode(chunk)?;
            }
            rates.push(texts.len() as f64 / started.elapsed().as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        let rate = rates[rates.len() / 2];
        println!(
            "{batch:>6} {rate:>10.0} {:>14.2}",
            1000.0 * batch as f64 / rate
        );
    }
    Ok(())
}

/// "title. authors" of the first `count` bundled books.
fn book_texts(count: usize) -> anyhow::Result<Vec<String>> {
    let mut reader = csv::Reader::from_reader(crate::demo::BOOKS);
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("books.csv has no `{name}` column"))
    };
    let (title, authors) = (column("title")?, column("authors")?);
    let mut texts = Vec::with_capacity(count);
    for record in reader.records().take(count) {
        let record = record?;
        texts.push(format!(
            "{}. {}",
            record.get(title).unwrap_or(""),
            record.get(authors).unwrap_or("")
        ));
    }
    Ok(texts)
}
