//! Lines of text as a byte stream (`Read`), one record per line, ticking a progress bar: the
//! generator's output feeds a file and the import path through the same reader.

use std::io::Read;

use indicatif::ProgressBar;

/// Reads the lines of an iterator, each followed by `\n`.
pub struct LineReader<I> {
    lines: I,
    current: Vec<u8>,
    position: usize,
    read: u64,
    progress: ProgressBar,
}

impl<I: Iterator<Item = String>> LineReader<I> {
    /// A reader over `lines` that advances `progress` by one per line.
    pub fn new(lines: I, progress: ProgressBar) -> Self {
        Self {
            lines,
            current: Vec::new(),
            position: 0,
            read: 0,
            progress,
        }
    }

    /// The lines produced so far.
    pub fn lines_read(&self) -> u64 {
        self.read
    }
}

impl<I: Iterator<Item = String>> Read for LineReader<I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.position == self.current.len() {
            let Some(line) = self.lines.next() else {
                return Ok(0);
            };
            self.current = line.into_bytes();
            self.current.push(b'\n');
            self.position = 0;
            self.read += 1;
            self.progress.inc(1);
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_newline_terminated_across_small_reads() {
        let lines = ["ab", "", "cde"].map(String::from).into_iter();
        let mut reader = LineReader::new(lines, ProgressBar::hidden());
        let mut out = Vec::new();
        let mut buf = [0u8; 2];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, b"ab\n\ncde\n");
        assert_eq!(reader.lines_read(), 3);
    }
}
