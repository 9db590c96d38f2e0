//! Reading a feature log back: every segment of a directory, checked line by line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::FeatureLogError;
use super::record::{FeatureLogRecord, LOG_FORMAT, LOG_VERSION, LogHeader};
use super::segment::is_segment_name;

/// A whole log directory, read.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureLog {
    /// The feature names every file declares, in column order.
    pub schema: Vec<String>,
    /// The records of all files, in file order and then line order.
    pub records: Vec<FeatureLogRecord>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// Unterminated last lines that did not parse, left out: a write a crash cut short.
    pub torn_records: usize,
}

/// One segment file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSegment {
    /// Its header; `None` for a file whose header was never completely written.
    pub header: Option<LogHeader>,
    /// Its records, in order.
    pub records: Vec<FeatureLogRecord>,
    /// Whether an unterminated last line was left out.
    pub torn: bool,
}

/// Reads one segment file. Every line must be a valid header (line 1) or record; the error
/// names the file and the line. Only the last line may be cut short (no newline) by a crash:
/// it is left out and reported as torn.
pub fn read_segment(path: &Path) -> Result<LogSegment, FeatureLogError> {
    let file = File::open(path).map_err(|e| FeatureLogError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let bad = |line: usize, reason: String| FeatureLogError::Record {
        path: path.display().to_string(),
        line,
        reason,
    };
    let mut segment = LogSegment {
        header: None,
        records: Vec::new(),
        torn: false,
    };
    let mut buffer = Vec::new();
    let mut number = 0;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| FeatureLogError::io(path, e))?;
        if read == 0 {
            return Ok(segment);
        }
        number += 1;
        let terminated = buffer.last() == Some(&b'\n');
        let parsed = match &segment.header {
            None => parse_header(&buffer).map(|header| segment.header = Some(header)),
            Some(header) => parse_record(&buffer, header.schema.len())
                .map(|record| segment.records.push(record)),
        };
        match parsed {
            Ok(()) => {}
            Err(_) if !terminated => {
                segment.torn = true;
                return Ok(segment);
            }
            Err(reason) => return Err(bad(number, reason)),
        }
    }
}

fn parse_header(line: &[u8]) -> Result<LogHeader, String> {
    let header: LogHeader =
        serde_json::from_slice(line).map_err(|e| format!("not a feature log header: {e}"))?;
    if header.format != LOG_FORMAT {
        return Err(format!(
            "format is `{}`, expected `{LOG_FORMAT}`",
            header.format
        ));
    }
    if header.version != LOG_VERSION {
        return Err(format!(
            "format version {} is not supported; this build reads version {LOG_VERSION}",
            header.version
        ));
    }
    if header.schema.is_empty() {
        return Err("the header names no feature".into());
    }
    Ok(header)
}

fn parse_record(line: &[u8], columns: usize) -> Result<FeatureLogRecord, String> {
    let record: FeatureLogRecord =
        serde_json::from_slice(line).map_err(|e| format!("not a feature log record: {e}"))?;
    record.check(columns)?;
    Ok(record)
}

/// Reads every segment (`features-*.ndjson`) of `dir` in name order, which is the order they
/// were started. All files must declare the same schema: a change is refused, naming both
/// files (train on one schema at a time). Files whose header was cut short are skipped.
pub fn read_feature_log(dir: &Path) -> Result<FeatureLog, FeatureLogError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| FeatureLogError::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| FeatureLogError::io(dir, e))?;
    files.retain(|path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(is_segment_name)
    });
    files.sort();
    let mut log = FeatureLog {
        schema: Vec::new(),
        records: Vec::new(),
        files: Vec::new(),
        torn_records: 0,
    };
    let mut first: Option<PathBuf> = None;
    for path in files {
        let segment = read_segment(&path)?;
        log.torn_records += usize::from(segment.torn);
        let Some(header) = segment.header else {
            continue;
        };
        match &first {
            None => {
                log.schema = header.schema;
                first = Some(path.clone());
            }
            Some(first) if header.schema != log.schema => {
                return Err(FeatureLogError::SchemaChanged {
                    dir: dir.display().to_string(),
                    first: first.display().to_string(),
                    first_schema: log.schema,
                    other: path.display().to_string(),
                    other_schema: header.schema,
                });
            }
            Some(_) => {}
        }
        log.records.extend(segment.records);
        log.files.push(path);
    }
    if first.is_none() {
        return Err(FeatureLogError::NoLog(dir.display().to_string()));
    }
    Ok(log)
}
