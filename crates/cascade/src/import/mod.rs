//! `cascade import items|users|events FILE`: CSV or NDJSON into the data directory, with
//! field mapping, a progress bar and a summary of accepted and rejected rows.

mod csv_rows;
mod sink;
mod summary;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cascade_core::config::{CascadeConfig, TextEncoderConf};
use cascade_core::time::{TimestampMs, parse_instant, seconds_mistake};
use cascade_retrieval::ItemEmbedder;
use cascade_store::{EmbeddedStore, Stores};
use indicatif::{ProgressBar, ProgressStyle};

pub use csv_rows::CsvMapping;
use sink::Sink;
pub use summary::Summary;

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Items (`id`, fields).
    Items,
    /// Users (`id`, attributes).
    Users,
    /// Behaviour events.
    Events,
}

/// The file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Delimiter-separated values (`,` unless `--delimiter` says otherwise) with a header row.
    Csv,
    /// One JSON record per line, in the API's shape.
    Ndjson,
}

/// `cascade import` arguments.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// What the file holds.
    pub kind: Kind,
    /// The file to import.
    pub file: PathBuf,
    #[command(flatten)]
    pub config: crate::ConfigArgs,
    /// The format; by default taken from the file extension (.csv and .tsv, else NDJSON).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Exits 0 when some rows were rejected (the others are stored either way); without it an
    /// import that rejected any row exits 1. An import that stored nothing always exits 1.
    #[arg(long)]
    pub allow_rejections: bool,
    #[command(flatten)]
    pub mapping: MappingArgs,
}

/// How CSV columns become record fields.
#[derive(clap::Args, Clone, Default)]
pub struct MappingArgs {
    /// `TARGET=COLUMN`, repeatable. Targets: `id` and field names for items and users;
    /// `event_id`, `type`, `uid`, `item_id`, `timestamp`, `value`, `text` and `context.*` for
    /// events. Columns named like a target map to it without being listed. For items and
    /// users, once any field is mapped only mapped columns are imported.
    #[arg(long = "map", value_name = "TARGET=COLUMN")]
    pub map: Vec<String>,
    /// The event type of every row, when the file has no `type` column.
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Spreads event timestamps evenly by row order over `START..END` (dates `YYYY-MM-DD`,
    /// date-times or epoch milliseconds), when the file has no timestamp column.
    #[arg(long, value_name = "START..END")]
    pub timestamps: Option<String>,
    /// Prefix of generated event ids (`PREFIX` + row number); defaults to the file stem and `:`.
    #[arg(long)]
    pub event_id_prefix: Option<String>,
    /// The separator of tag lists in CSV cells.
    #[arg(long, default_value_t = '|')]
    pub tag_separator: char,
    /// The separator of CSV columns: one character, or `tab` (also `\t`); by default `,`, and
    /// tab for a .tsv file.
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
}

impl MappingArgs {
    /// The separator of CSV columns.
    pub fn delimiter(&self) -> u8 {
        self.delimiter.unwrap_or(b',')
    }
}

/// Reads `--delimiter`: one ASCII character, or `tab` / `\t`.
fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ => match text.as_bytes() {
            [byte] if byte.is_ascii() => Ok(*byte),
            _ => Err(format!(
                "must be one ASCII character or `tab`, got `{text}`"
            )),
        },
    }
}

/// Parses `START..END` into an instant range.
pub fn parse_time_range(text: &str) -> anyhow::Result<(TimestampMs, TimestampMs)> {
    let (start, end) = text
        .split_once("..")
        .with_context(|| format!("--timestamps must be START..END, got `{text}`"))?;
    let parse = |s: &str| {
        parse_instant(s)
            .with_context(|| format!("--timestamps: `{s}` is not a date or epoch milliseconds"))
    };
    let (start, end) = (parse(start)?, parse(end)?);
    if let Some(reason) = [start, end].into_iter().find_map(seconds_mistake) {
        bail!("--timestamps: {reason}");
    }
    if end <= start {
        bail!("--timestamps: the end must be after the start");
    }
    Ok((start, end))
}

/// Runs `cascade import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?
        .len();
    let format = match args.format {
        Some(format) => format,
        None => guess_format(&args.file)?,
    };
    let mut mapping = args.mapping.clone();
    if mapping.delimiter.is_none() && has_extension(&args.file, "tsv") {
        mapping.delimiter = Some(b'\t');
    }
    let stores = EmbeddedStore::open_stores(&config.storage_conf.data_dir)
        .with_context(|| format!("opening {}", config.storage_conf.data_dir.display()))?;
    let path = args.file.clone();
    let source = Source {
        name: file_stem(&args.file),
        open: Box::new(move || Ok(Box::new(File::open(&path)?))),
        size,
    };
    let embedder = match (&config.text_encoder_conf, args.kind) {
        (Some(conf), Kind::Items) => load_embedder(conf, &config),
        _ => None,
    };
    let destination = Destination {
        config: &config,
        stores: &stores,
        embedder: embedder.as_ref(),
    };
    let summary = import_to(args.kind, format, source, &mapping, &destination, true)?;
    let what = args.file.display().to_string();
    println!("{}", summary.report(&what));
    summary.check(&what, args.allow_rejections)
}

/// The text encoder for an items import; without the model, a message and `None`: the items
/// are stored without text vectors, and a server with the model fills them in the background.
fn load_embedder(conf: &TextEncoderConf, config: &CascadeConfig) -> Option<ItemEmbedder> {
    let declared = *config.item_schema.embeddings.get(&conf.embedding)?;
    match ItemEmbedder::load(conf, declared) {
        Ok(embedder) => Some(embedder),
        Err(error) => {
            eprintln!(
                "text encoder off ({error}); items are stored without `{}` vectors, which a \
                 server with the model computes in the background",
                conf.embedding
            );
            None
        }
    }
}

/// The format of a file by its extension: CSV for .csv and .tsv, else NDJSON. A file read as
/// NDJSON for want of an extension that says so must start with a JSON line; otherwise the
/// error suggests `--format csv` (rather than rejecting every line as malformed JSON).
fn guess_format(path: &Path) -> anyhow::Result<Format> {
    if has_extension(path, "csv") || has_extension(path, "tsv") {
        return Ok(Format::Csv);
    }
    if ["ndjson", "jsonl", "json"]
        .iter()
        .any(|ext| has_extension(path, ext))
    {
        return Ok(Format::Ndjson);
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let first = BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|line| !line.trim().is_empty());
    if let Some(line) = first
        && let Err(error) = serde_json::from_str::<serde_json::Value>(&line)
    {
        bail!(
            "{} has no .csv, .tsv or .ndjson extension, so it is read as NDJSON (one JSON record \
             per line), but its first line is not JSON ({error}); if this is CSV, pass --format csv",
            path.display()
        );
    }
    Ok(Format::Ndjson)
}

fn has_extension(path: &Path, wanted: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case(wanted))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into())
}

/// Opens the bytes of a source, from the start, each time it is called.
pub type Opener = Box<dyn Fn() -> std::io::Result<Box<dyn Read>>>;

/// Bytes to import.
pub struct Source {
    /// The name generated event ids start with.
    pub name: String,
    /// Opens the bytes; CSV with `--timestamps` reads them twice (to count rows first).
    pub open: Opener,
    /// The number of bytes, for the progress bar.
    pub size: u64,
}

impl Source {
    /// A source over bytes in memory.
    pub fn from_static(name: &str, bytes: &'static [u8]) -> Self {
        Self {
            name: name.to_string(),
            open: Box::new(move || Ok(Box::new(bytes))),
            size: bytes.len() as u64,
        }
    }
}

/// Where imported records go.
pub struct Destination<'a> {
    /// The configuration the records are validated against.
    pub config: &'a CascadeConfig,
    /// The stores they are written to.
    pub stores: &'a Stores,
    /// The text encoder that embeds item text, if any.
    pub embedder: Option<&'a ItemEmbedder>,
}

/// Imports one source into `stores`, without computing text embeddings.
pub fn import(
    kind: Kind,
    format: Format,
    source: Source,
    mapping: &MappingArgs,
    config: &CascadeConfig,
    stores: &Stores,
    show_progress: bool,
) -> anyhow::Result<Summary> {
    let destination = Destination {
        config,
        stores,
        embedder: None,
    };
    import_to(kind, format, source, mapping, &destination, show_progress)
}

/// Imports one source into `destination`.
pub fn import_to(
    kind: Kind,
    format: Format,
    source: Source,
    mapping: &MappingArgs,
    destination: &Destination<'_>,
    show_progress: bool,
) -> anyhow::Result<Summary> {
    let config = destination.config;
    let progress = if show_progress {
        ProgressBar::new(source.size)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("a valid progress template")
        .progress_chars("=> "),
    );
    progress.set_message(format!("importing {kind:?}").to_lowercase());
    let opened = (source.open)().context("opening the source")?;
    let reader = BufReader::with_capacity(1 << 20, progress.wrap_read(opened));
    let mut sink = Sink::new(kind, destination);
    match format {
        Format::Csv => {
            let rows = match mapping.timestamps {
                Some(_) => Some(csv_rows::count_rows((source.open)()?, mapping.delimiter())?),
                None => None,
            };
            let mapping = CsvMapping::new(kind, mapping, &source.name, config, rows)?;
            mapping.read(reader, &mut sink)?;
        }
        Format::Ndjson => {
            for (index, line) in reader.lines().enumerate() {
                let line = line.context("reading the file")?;
                if line.trim().is_empty() {
                    continue;
                }
                let record = serde_json::from_str(&line)
                    .map_err(|e| cascade_core::FieldError::new("", format!("malformed JSON: {e}")));
                sink.push(index as u64 + 1, record)?;
            }
        }
    }
    let summary = sink.finish()?;
    progress.finish_and_clear();
    Ok(summary)
}
