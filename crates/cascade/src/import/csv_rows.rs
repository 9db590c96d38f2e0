//! CSV rows into API-shaped JSON records, by a column mapping.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{Context, bail};
use cascade_core::config::CascadeConfig;
use cascade_core::time::TimestampMs;
use cascade_core::{FieldError, FieldType, FieldValue};
use serde_json::{Map, Value};

use super::sink::Sink;
use super::{Kind, MappingArgs, parse_time_range};

/// Event targets whose cells are numbers.
const NUMERIC_EVENT_TARGETS: &[&str] = &["timestamp", "value", "context.position"];
/// Every event target a column may map to.
const EVENT_TARGETS: &[&str] = &[
    "event_id",
    "type",
    "uid",
    "item_id",
    "timestamp",
    "value",
    "text",
    "context.scene",
    "context.request_id",
    "context.position",
    "context.experiment_id",
    "context.device",
];

/// Counts the data rows of a CSV source whose columns `delimiter` separates.
pub fn count_rows(reader: impl Read, delimiter: u8) -> anyhow::Result<u64> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader
        .read_byte_record(&mut record)
        .context("reading CSV")?
    {
        rows += 1;
    }
    Ok(rows)
}

/// How the rows of one CSV file become records.
pub struct CsvMapping<'a> {
    kind: Kind,
    explicit: BTreeMap<String, String>,
    args: &'a MappingArgs,
    id_prefix: String,
    spread: Option<(TimestampMs, TimestampMs, u64)>,
    config: &'a CascadeConfig,
}

impl<'a> CsvMapping<'a> {
    /// Reads the mapping arguments; `rows` is the row count, needed for `--timestamps`.
    pub fn new(
        kind: Kind,
        args: &'a MappingArgs,
        source_name: &str,
        config: &'a CascadeConfig,
        rows: Option<u64>,
    ) -> anyhow::Result<Self> {
        let mut explicit = BTreeMap::new();
        for pair in &args.map {
            let Some((target, column)) = pair.split_once('=') else {
                bail!("--map must be TARGET=COLUMN, got `{pair}`");
            };
            if kind == Kind::Events && !EVENT_TARGETS.contains(&target) {
                bail!(
                    "--map: `{target}` is not an event field; expected one of {}",
                    EVENT_TARGETS.join(", ")
                );
            }
            explicit.insert(target.to_string(), column.to_string());
        }
        let spread = match (&args.timestamps, rows) {
            (Some(range), Some(rows)) => {
                let (start, end) = parse_time_range(range)?;
                Some((start, end, rows.max(1)))
            }
            _ => None,
        };
        Ok(Self {
            kind,
            explicit,
            args,
            id_prefix: args
                .event_id_prefix
                .clone()
                .unwrap_or_else(|| format!("{source_name}:")),
            spread,
            config,
        })
    }

    /// The (target, column index) pairs for this header.
    fn plan(&self, header: &csv::StringRecord) -> anyhow::Result<Vec<(String, usize)>> {
        let index_of = |column: &str, how: &str| {
            header.iter().position(|h| h == column).with_context(|| {
                format!(
                    "{how}: the file has no column `{column}`; {}",
                    describe_header(header, self.args.delimiter())
                )
            })
        };
        let mut plan = Vec::new();
        for (target, column) in &self.explicit {
            plan.push((
                target.clone(),
                index_of(column, &format!("--map {target}={column}"))?,
            ));
        }
        let mapped = |target: &str| self.explicit.contains_key(target);
        match self.kind {
            Kind::Events => {
                for target in EVENT_TARGETS {
                    if !mapped(target)
                        && let Some(i) = header.iter().position(|h| h == *target)
                    {
                        plan.push((target.to_string(), i));
                    }
                }
            }
            Kind::Items | Kind::Users => {
                if !mapped("id") {
                    plan.push((
                        "id".into(),
                        index_of("id", "the id column (--map id=COLUMN names another)")?,
                    ));
                }
                let id_column = plan.iter().find(|(t, _)| t == "id").map(|(_, i)| *i);
                if self.explicit.keys().all(|t| t == "id") {
                    for (i, name) in header.iter().enumerate() {
                        if Some(i) != id_column {
                            plan.push((name.to_string(), i));
                        }
                    }
                }
            }
        }
        Ok(plan)
    }

    /// Reads every row into `sink`.
    pub fn read(&self, reader: impl Read, sink: &mut Sink) -> anyhow::Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .delimiter(self.args.delimiter())
            .from_reader(reader);
        let header = reader.headers().context("reading the CSV header")?.clone();
        refuse_data_as_header(&header)?;
        refuse_unsplit_header(&header, self.args.delimiter)?;
        let plan = self.plan(&header)?;
        let mut row = csv::StringRecord::new();
        let mut index = 0u64;
        loop {
            let line = reader.position().line();
            match reader.read_record(&mut row) {
                Ok(false) => break,
                Ok(true) => sink.push(line, self.record(&plan, &row, index))?,
                Err(error) => sink.push(
                    line,
                    Err(FieldError::new("", format!("unreadable CSV row: {error}"))),
                )?,
            }
            index += 1;
        }
        Ok(())
    }

    fn record(
        &self,
        plan: &[(String, usize)],
        row: &csv::StringRecord,
        index: u64,
    ) -> Result<Value, FieldError> {
        match self.kind {
            Kind::Events => Ok(self.event_record(plan, row, index)),
            Kind::Items => self.fielded_record(plan, row, "fields", true),
            Kind::Users => self.fielded_record(plan, row, "attributes", false),
        }
    }

    fn event_record(&self, plan: &[(String, usize)], row: &csv::StringRecord, index: u64) -> Value {
        let mut record = Map::new();
        let mut context = Map::new();
        for (target, column) in plan {
            let Some(cell) = row.get(*column).filter(|c| !c.is_empty()) else {
                continue;
            };
            let value = if NUMERIC_EVENT_TARGETS.contains(&target.as_str()) {
                number_or_text(cell)
            } else {
                Value::from(cell)
            };
            match target.strip_prefix("context.") {
                Some(key) => context.insert(key.to_string(), value),
                None => record.insert(target.clone(), value),
            };
        }
        if !context.is_empty() {
            record.insert("context".into(), Value::Object(context));
        }
        record
            .entry("event_id")
            .or_insert_with(|| Value::from(format!("{}{}", self.id_prefix, index + 1)));
        if let Some(event_type) = &self.args.event_type {
            record
                .entry("type")
                .or_insert_with(|| Value::from(event_type.as_str()));
        }
        if let Some((start, end, rows)) = self.spread {
            let offset = (i128::from(end - start) * i128::from(index) / i128::from(rows)) as i64;
            record
                .entry("timestamp")
                .or_insert_with(|| Value::from(start + offset));
        }
        Value::Object(record)
    }

    fn fielded_record(
        &self,
        plan: &[(String, usize)],
        row: &csv::StringRecord,
        container: &str,
        typed_by_schema: bool,
    ) -> Result<Value, FieldError> {
        let mut record = Map::new();
        let mut fields = Map::new();
        for (target, column) in plan {
            let Some(cell) = row.get(*column).filter(|c| !c.is_empty()) else {
                continue;
            };
            if target == "id" {
                record.insert("id".into(), Value::from(cell));
                continue;
            }
            let declared = typed_by_schema
                .then(|| self.config.item_schema.field_type(target))
                .flatten();
            let kind = declared.unwrap_or(FieldType::Text);
            let path = format!("{container}.{target}");
            let value = FieldValue::from_text(&path, cell, kind, self.args.tag_separator)?;
            fields.insert(target.clone(), value.to_json());
        }
        record.insert(container.into(), Value::Object(fields));
        Ok(Value::Object(record))
    }
}

/// How many of the header's columns an error quotes.
const QUOTED_COLUMNS: usize = 20;

/// The header's columns (the first few), and a hint at `--delimiter` when the whole header is
/// one column that another usual separator would split.
fn describe_header(header: &csv::StringRecord, delimiter: u8) -> String {
    let columns: Vec<String> = header.iter().map(|h| format!("`{h}`")).collect();
    let mut description = format!(
        "the header row has {} column(s): {}{}",
        columns.len(),
        columns[..columns.len().min(QUOTED_COLUMNS)].join(", "),
        if columns.len() > QUOTED_COLUMNS {
            ", …"
        } else {
            ""
        }
    );
    if let Some(separator) = unsplit_separator(header, delimiter) {
        let name = separator_name(separator);
        description.push_str(&format!(
            " (columns separated by `{name}`? pass --delimiter {name})"
        ));
    }
    description
}

/// The usual separator other than `delimiter` that a header of one column holds: a sign that
/// the file's columns are separated by it.
fn unsplit_separator(header: &csv::StringRecord, delimiter: u8) -> Option<u8> {
    let [only] = header.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    [b'\t', b',', b';', b'|']
        .into_iter()
        .find(|&s| s != delimiter && only.as_bytes().contains(&s))
}

/// How `--delimiter` spells a separator.
fn separator_name(separator: u8) -> String {
    match separator {
        b'\t' => "tab".to_string(),
        other => char::from(other).to_string(),
    }
}

/// Refuses a header of one column that another usual separator would split, when no
/// `--delimiter` was chosen: read with commas, a tab-separated file would map no column.
fn refuse_unsplit_header(header: &csv::StringRecord, chosen: Option<u8>) -> anyhow::Result<()> {
    if chosen.is_some() {
        return Ok(());
    }
    if let Some(separator) = unsplit_separator(header, b',') {
        let name = separator_name(separator);
        bail!(
            "the header row is one column, `{}`, with `{name}` in it: if the columns are \
             separated by `{name}`, pass --delimiter {name}",
            &header[0]
        );
    }
    Ok(())
}

/// Refuses a first row that looks like data rather than column names (every cell a number): the
/// first row is always the header, so a file without one would lose a row and map nothing.
fn refuse_data_as_header(header: &csv::StringRecord) -> anyhow::Result<()> {
    let is_number = |cell: &str| cell.trim().parse::<f64>().is_ok();
    if !header.is_empty() && header.iter().all(is_number) {
        bail!(
            "the first row ({}) looks like data, not a header: the first row must name the \
             columns; add a header row",
            header.iter().collect::<Vec<_>>().join(",")
        );
    }
    Ok(())
}

fn number_or_text(cell: &str) -> Value {
    if let Ok(n) = cell.trim().parse::<i64>() {
        return Value::from(n);
    }
    match cell.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Value::from(x),
        _ => Value::from(cell),
    }
}
