//! `cascade gen-data`: a seeded, reproducible synthetic catalogue, users and behaviour events,
//! written as NDJSON files or straight into a data directory through the import path.

mod events;
mod lines;
mod vocab;
mod world;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use cascade_store::EmbeddedStore;
use indicatif::{ProgressBar, ProgressStyle};

pub use events::{EVENT_TYPES, Events};
pub use lines::LineReader;
pub use vocab::WORDS;
pub use world::{World, WorldSpec, epoch_for};

use crate::import::{self, Format, Kind, MappingArgs, Source};

/// `cascade gen-data` arguments.
#[derive(clap::Args)]
pub struct GenDataArgs {
    /// Items (ids `i0` …).
    #[arg(long, default_value_t = 1_000_000)]
    pub items: usize,
    /// Users (ids `u0` …).
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Behaviour events (ids `e0` …).
    #[arg(long, default_value_t = 10_000_000)]
    pub events: usize,
    /// The seed; the same seed gives byte-identical output.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Item clusters (user interests).
    #[arg(long, default_value_t = 64)]
    pub clusters: usize,
    /// The dimension of the `vec` embedding.
    #[arg(long, default_value_t = 64)]
    pub dimension: usize,
    /// Writes items.ndjson, users.ndjson and events.ndjson here.
    #[arg(long, conflicts_with = "config")]
    pub out_dir: Option<PathBuf>,
    /// Imports straight into a data directory (with --data-dir or the config's DataDir).
    #[command(flatten)]
    pub config: crate::ConfigArgs,
}

impl GenDataArgs {
    /// The world these arguments describe.
    pub fn spec(&self) -> WorldSpec {
        WorldSpec {
            items: self.items,
            users: self.users,
            events: self.events,
            seed: self.seed,
            clusters: self.clusters,
            dimension: self.dimension,
        }
    }
}

/// The three record families, in the order they are written.
const KINDS: [Kind; 3] = [Kind::Items, Kind::Users, Kind::Events];

/// The NDJSON lines of one record family of `world`.
pub fn lines(world: &Arc<World>, kind: Kind) -> Box<dyn Iterator<Item = String> + Send> {
    let spec = world.spec().clone();
    let world = world.clone();
    match kind {
        Kind::Items => Box::new((0..spec.items).map(move |i| world.item(i).to_json().to_string())),
        Kind::Users => Box::new((0..spec.users).map(move |u| world.user(u).to_json().to_string())),
        Kind::Events => Box::new(
            Events::new(world)
                .map(|event| serde_json::to_string(&event).expect("an event serializes")),
        ),
    }
}

fn count_of(spec: &WorldSpec, kind: Kind) -> usize {
    match kind {
        Kind::Items => spec.items,
        Kind::Users => spec.users,
        Kind::Events => spec.events,
    }
}

fn name_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Items => "items",
        Kind::Users => "users",
        Kind::Events => "events",
    }
}

fn progress(kind: Kind, total: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta})",
        )
        .expect("a valid progress template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("generating {}", name_of(kind)));
    bar
}

/// Writes `items.ndjson`, `users.ndjson` and `events.ndjson` of `world` into `dir`; returns
/// the records and bytes written per family.
pub fn write_ndjson(
    world: &Arc<World>,
    dir: &Path,
    show_progress: bool,
) -> anyhow::Result<Vec<(Kind, u64, u64)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for kind in KINDS {
        let path = dir.join(format!("{}.ndjson", name_of(kind)));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let bar = progress(kind, count_of(world.spec(), kind), show_progress);
        let mut reader = LineReader::new(lines(world, kind), bar.clone());
        let bytes = std::io::copy(&mut reader, &mut out)
            .with_context(|| format!("writing {}", path.display()))?;
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
        bar.finish_and_clear();
        written.push((kind, reader.lines_read(), bytes));
    }
    Ok(written)
}

/// Runs `cascade gen-data`.
pub fn run(args: &GenDataArgs) -> anyhow::Result<()> {
    let world = Arc::new(World::new(args.spec()));
    let started = Instant::now();
    match &args.out_dir {
        Some(dir) => {
            for (kind, records, bytes) in write_ndjson(&world, dir, true)? {
                println!(
                    "{}: {records} records, {:.1} MB",
                    name_of(kind),
                    bytes as f64 / 1e6
                );
            }
        }
        None => {
            if args.config.config.is_none() && args.config.data_dir.is_none() {
                bail!("give --out-dir DIR, or --data-dir DIR (with --config) to import directly");
            }
            import_into(&world, &args.config)?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let spec = world.spec();
    let records = spec.items + spec.users + spec.events;
    println!(
        "generated {} items, {} users, {} events (seed {}, {} clusters, epoch {} ms) in {seconds:.1} s: {:.0} records/s",
        spec.items,
        spec.users,
        spec.events,
        spec.seed,
        world.cluster_count(),
        world.epoch_ms(),
        records as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// Imports the world into the configured data directory through `cascade import`'s path:
/// each record validated against the config, written in batches.
fn import_into(world: &Arc<World>, config_args: &crate::ConfigArgs) -> anyhow::Result<()> {
    let config = config_args.load()?;
    let dir = &config.storage_conf.data_dir;
    let stores =
        EmbeddedStore::open_stores(dir).with_context(|| format!("opening {}", dir.display()))?;
    for kind in KINDS {
        let bar = progress(kind, count_of(world.spec(), kind), true);
        let (opener_world, opener_bar) = (world.clone(), bar.clone());
        let source = Source {
            name: name_of(kind).to_string(),
            open: Box::new(move || {
                Ok(Box::new(LineReader::new(
                    lines(&opener_world, kind),
                    opener_bar.clone(),
                )))
            }),
            size: 0,
        };
        let summary = import::import(
            kind,
            Format::Ndjson,
            source,
            &MappingArgs::default(),
            &config,
            &stores,
            false,
        )?;
        bar.finish_and_clear();
        println!(
            "{}",
            summary.report(&format!("generated {}", name_of(kind)))
        );
        if summary.accepted + summary.duplicates < summary.read {
            bail!(
                "generated {} were rejected; does the config declare the synthetic schema \
                 (config/synthetic.jsonc)?",
                name_of(kind)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
