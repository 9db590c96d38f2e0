//! `cascade`: the command-line entry point (serve, import, demo, eval, bench).

mod bench;
mod bench_ann;
mod bench_encoder;
mod bench_enricher;
mod bench_http;
mod bench_items;
mod bench_pipeline;
mod bench_stream;
mod demo;
mod eval;
mod eval_scene;
mod gen_data;
mod import;
mod serve;
mod train;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, ensure};
use cascade_core::config::CascadeConfig;
use clap::{Parser, Subcommand};

/// Every allocation of the process goes through mimalloc: a request allocates thousands of
/// small strings and a few large vectors, and glibc's malloc and free took 11-15 % of a loaded
/// server's CPU in profiles (much of it consolidating freed chunks before large requests).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Cascade: a real-time recommendation and search engine.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by the commands that open a data directory.
#[derive(clap::Args, Clone)]
struct ConfigArgs {
    /// The config file (JSON with comments); defaults apply without one.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The data directory; overrides StorageConf.DataDir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<CascadeConfig> {
        let mut config = match &self.config {
            Some(path) => CascadeConfig::load(path)?,
            None => CascadeConfig::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.storage_conf.data_dir = dir.clone();
        }
        Ok(config)
    }

    /// [Loads](Self::load) the configuration of a command that only reads the data directory,
    /// and refuses a directory that holds no Cascade data (see [`require_data`]).
    fn load_existing(&self) -> anyhow::Result<CascadeConfig> {
        let config = self.load()?;
        require_data(&config.storage_conf.data_dir)?;
        Ok(config)
    }
}

/// Refuses a data directory that does not exist or holds no Cascade database, for the commands
/// that only read one: opening it would create it, and a mistyped path would read as an empty
/// store.
fn require_data(dir: &Path) -> anyhow::Result<()> {
    ensure!(
        dir.is_dir(),
        "the data directory {} does not exist (check --data-dir or StorageConf.DataDir)",
        dir.display()
    );
    ensure!(
        dir.join(cascade_store::embedded::DATABASE_FILE).exists(),
        "{} holds no Cascade data: import events and items first (cascade import)",
        dir.display()
    );
    Ok(())
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP server.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on, `HOST:PORT`; overrides ListenConf.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Imports items, users or events from a CSV or NDJSON file into the data directory.
    Import(import::ImportArgs),
    /// Imports the bundled goodbooks-10k data into a fresh data directory and serves it.
    Demo(demo::DemoArgs),
    /// Benchmarks: ingestion, the ANN index, a configured scene.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Evaluates recall sources offline (popularity, ALS) on held-out interactions.
    Eval(eval::EvalArgs),
    /// Evaluates whole recommend scenes (and variants of them) on the latest events held out:
    /// Recall@K and NDCG@K of their answers.
    EvalScene(eval_scene::EvalSceneArgs),
    /// Generates a seeded synthetic catalogue, users and events (NDJSON or into a data directory).
    GenData(gen_data::GenDataArgs),
    /// Trains a ranking model (LambdaMART or logistic regression) from the data directory's
    /// events, features backfilled as of each event, into a versioned model file.
    Train(train::TrainArgs),
}

/// Runs the command; an error is printed as `error: ` and its chain of causes (no backtrace,
/// even under `RUST_BACKTRACE`: the error is the user's to read), with exit status 1.
fn main() -> ExitCode {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(stderr_is_terminal)
        .init();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            config: config_args,
            listen,
        } => {
            let mut config = config_args.load()?;
            if let Some(listen) = listen {
                serve::apply_listen(&mut config, &listen)?;
            }
            let file = config_args.config.clone();
            runtime()?.block_on(serve::serve(config, file, None))
        }
        Command::Import(args) => import::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(command) => bench::run(command),
        Command::Eval(args) => eval::run(&args),
        Command::EvalScene(args) => eval_scene::run(&args),
        Command::GenData(args) => gen_data::run(&args),
        Command::Train(args) => train::run(&args),
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
