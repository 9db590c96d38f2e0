//! `cascade demo`: the bundled goodbooks-10k data in a fresh data directory, served.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use cascade_core::config::CascadeConfig;
use cascade_server::App;
use cascade_store::EmbeddedStore;

use crate::import::{self, Format, Kind, MappingArgs, Source};
use crate::serve::{apply_listen, serve};

const CONFIG: &str = include_str!("../../../config/goodbooks.jsonc");
/// The bundled goodbooks books (CSV).
pub const BOOKS: &[u8] = include_bytes!("../../../data/goodbooks/books.csv");
const RATINGS: &[u8] = include_bytes!("../../../data/goodbooks/ratings.csv");
const TO_READ: &[u8] = include_bytes!("../../../data/goodbooks/to_read.csv");
/// The span the goodbooks events are spread over (see data/goodbooks/README.md).
pub const GOODBOOKS_TIMESTAMPS: &str = "2017-01-01..2017-09-01";

/// `cascade demo` arguments.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// The data directory to create; by default a new one under the system temp directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: String,
}

/// The mapping that turns a goodbooks event file into events of `event_type`.
fn event_mapping(event_type: &str, with_rating: bool) -> MappingArgs {
    let mut map = vec!["uid=user_id".to_string(), "item_id=book_id".to_string()];
    if with_rating {
        map.push("value=rating".into());
    }
    MappingArgs {
        map,
        event_type: Some(event_type.into()),
        timestamps: Some(GOODBOOKS_TIMESTAMPS.into()),
        ..MappingArgs::default()
    }
}

/// The goodbooks sources: (kind, source, mapping).
pub fn goodbooks_sources() -> Vec<(Kind, Source, MappingArgs)> {
    let books = MappingArgs {
        map: vec!["id=book_id".into()],
        ..MappingArgs::default()
    };
    vec![
        (Kind::Items, Source::from_static("books", BOOKS), books),
        (
            Kind::Events,
            Source::from_static("ratings", RATINGS),
            event_mapping("rating", true),
        ),
        (
            Kind::Events,
            Source::from_static("to_read", TO_READ),
            event_mapping("to_read", false),
        ),
    ]
}

/// The demo's configuration.
pub fn goodbooks_config() -> anyhow::Result<CascadeConfig> {
    CascadeConfig::parse(CONFIG).context("the bundled config/goodbooks.jsonc")
}

/// Runs `cascade demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let mut config = goodbooks_config()?;
    apply_listen(&mut config, &args.listen)?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("cascade-demo-{}", cascade_core::time::now_ms()))
    });
    if data_dir
        .join(cascade_store::embedded::DATABASE_FILE)
        .exists()
    {
        bail!(
            "the demo imports into a fresh data directory, and {} already holds one; \
             remove it or pass another --data-dir",
            data_dir.display()
        );
    }
    config.storage_conf.data_dir = data_dir.clone();
    println!("importing goodbooks-10k into {}", data_dir.display());
    {
        let stores = EmbeddedStore::open_stores(&data_dir)?;
        for (kind, source, mapping) in goodbooks_sources() {
            let name = format!("{}.csv", source.name);
            let summary =
                import::import(kind, Format::Csv, source, &mapping, &config, &stores, true)?;
            println!("{}", summary.report(&name));
        }
    }
    crate::runtime()?.block_on(serve(config, None, Some(Box::new(examples))))
}

/// The example requests printed once the demo is ready. "Similar books" only with the text
/// encoder on: without it the books have no vectors to compare.
fn examples(app: &App, addr: SocketAddr) -> String {
    let json = "-H 'Content-Type: application/json'";
    let similar = match app.embedder {
        Some(_) => format!("\n  curl -s http://{addr}/api/items/2/similar"),
        None => String::new(),
    };
    format!(
        "\ntry:\n  \
        curl -s -XPOST http://{addr}/api/recommend {json} -d '{{\"uid\": \"1225\", \"size\": 5}}'\n  \
        curl -s http://{addr}/api/items/2\n  \
        curl -s -XPOST http://{addr}/api/search {json} -d '{{\"query\": \"a boy wizard at a school of magic\", \"size\": 5}}'\
        {similar}\n  \
        curl -s -XPOST http://{addr}/api/events {json} -d '[{{\"event_id\": \"demo-1\", \"type\": \"click\", \"uid\": \"1225\", \"item_id\": \"2\"}}]'\n  \
        curl -s http://{addr}/metrics | grep cascade_\n\
        (Ctrl-C stops the server; the data stays in the data directory.)"
    )
}
