//! Writing a feature log: NDJSON segment files under one directory, each with its header,
//! rotated by size.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use cascade_core::time::now_ms;

use super::FeatureLogError;
use super::record::{FeatureLogRecord, LogHeader};

/// Where the records a logger accepted go; the writer thread owns it.
pub(crate) trait RecordSink: Send {
    /// Writes records (buffered).
    fn write(&mut self, records: &[FeatureLogRecord]) -> Result<(), FeatureLogError>;
    /// Hands buffered records to the operating system.
    fn flush(&mut self) -> Result<(), FeatureLogError>;
    /// Flushes and syncs the open file; the next write starts a new one.
    fn finish(&mut self) -> Result<(), FeatureLogError>;
}

/// The name of a segment file started at `created_at` (ms) with sequence number `seq`; names
/// sort in the order the files were started.
pub(crate) fn segment_name(created_at: i64, seq: u64) -> String {
    format!("features-{created_at:013}-{seq:06}.ndjson")
}

/// Whether a file name is a segment's.
pub(crate) fn is_segment_name(name: &str) -> bool {
    name.starts_with("features-") && name.ends_with(".ndjson")
}

/// The open file.
struct Segment {
    path: PathBuf,
    file: BufWriter<File>,
    bytes: u64,
}

/// Segment files over one schema in one directory.
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    schema: Vec<String>,
    max_bytes: u64,
    seq: u64,
    current: Option<Segment>,
}

impl SegmentWriter {
    /// A writer into `dir` (created if missing) of records over `schema`; a file is closed
    /// once it holds `max_bytes`. No file is created before the first record.
    pub(crate) fn new(
        dir: &Path,
        schema: Vec<String>,
        max_bytes: u64,
    ) -> Result<Self, FeatureLogError> {
        std::fs::create_dir_all(dir).map_err(|e| FeatureLogError::io(dir, e))?;
        Ok(Self {
            dir: dir.to_owned(),
            schema,
            max_bytes: max_bytes.max(1),
            seq: 0,
            current: None,
        })
    }

    /// Starts a new file with its header; a name taken already (a restart within the same
    /// millisecond) moves on to the next sequence number.
    fn open(&mut self) -> Result<Segment, FeatureLogError> {
        let created_at = now_ms();
        loop {
            let path = self.dir.join(segment_name(created_at, self.seq));
            self.seq += 1;
            let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(FeatureLogError::io(&path, e)),
            };
            let mut segment = Segment {
                path,
                file: BufWriter::new(file),
                bytes: 0,
            };
            let header = LogHeader::new(self.schema.clone(), created_at);
            segment.write_line(&header)?;
            return Ok(segment);
        }
    }
}

impl Segment {
    fn write_line(&mut self, value: &impl serde::Serialize) -> Result<(), FeatureLogError> {
        let mut line = serde_json::to_vec(value).map_err(|e| FeatureLogError::Record {
            path: self.path.display().to_string(),
            line: 0,
            reason: format!("cannot serialise: {e}"),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| FeatureLogError::io(&self.path, e))?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    fn close(mut self) -> Result<(), FeatureLogError> {
        self.file
            .flush()
            .map_err(|e| FeatureLogError::io(&self.path, e))?;
        self.file
            .get_ref()
            .sync_all()
            .map_err(|e| FeatureLogError::io(&self.path, e))
    }
}

impl RecordSink for SegmentWriter {
    fn write(&mut self, records: &[FeatureLogRecord]) -> Result<(), FeatureLogError> {
        for record in records {
            let mut segment = match self.current.take() {
                Some(segment) => segment,
                None => self.open()?,
            };
            // On an error the file is left behind as it is; the next record starts a new one.
            segment.write_line(record)?;
            if segment.bytes >= self.max_bytes {
                segment.close()?;
            } else {
                self.current = Some(segment);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FeatureLogError> {
        match &mut self.current {
            Some(segment) => segment
                .file
                .flush()
                .map_err(|e| FeatureLogError::io(&segment.path, e)),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<(), FeatureLogError> {
        match self.current.take() {
            Some(segment) => segment.close(),
            None => Ok(()),
        }
    }
}
