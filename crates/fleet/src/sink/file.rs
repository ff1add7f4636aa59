//! The file sink: telemetry and labels as two NDJSON files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{Encoded, Sink};
use crate::error::SinkError;

/// Buffer of each file, bytes.
const BUFFER_BYTES: usize = 1 << 20;

/// Writes telemetry to `PATH` and labels to [`labels_path`]`(PATH)`, one JSON record a line.
/// Both files are created (or truncated) when the sink opens.
#[derive(Debug)]
pub struct FileSink {
    telemetry: Output,
    labels: Output,
}

#[derive(Debug)]
struct Output {
    path: PathBuf,
    writer: BufWriter<File>,
}

/// The labels file of telemetry file `path`: `x.ndjson` → `x.labels.ndjson`; any other name
/// gets `.labels.ndjson` appended.
pub fn labels_path(path: &Path) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    match text.strip_suffix(".ndjson") {
        Some(stem) => PathBuf::from(format!("{stem}.labels.ndjson")),
        None => PathBuf::from(format!("{text}.labels.ndjson")),
    }
}

impl FileSink {
    /// Creates the telemetry file `path` and its labels file.
    pub fn create(path: &Path) -> Result<FileSink, SinkError> {
        Ok(FileSink {
            telemetry: Output::create(path.to_path_buf())?,
            labels: Output::create(labels_path(path))?,
        })
    }
}

impl Output {
    fn create(path: PathBuf) -> Result<Output, SinkError> {
        match File::create(&path) {
            Ok(file) => Ok(Output {
                writer: BufWriter::with_capacity(BUFFER_BYTES, file),
                path,
            }),
            Err(source) => Err(SinkError::Io { path, source }),
        }
    }

    fn write(&mut self, records: &Encoded) -> Result<(), SinkError> {
        self.writer
            .write_all(records.ndjson())
            .map_err(|source| self.error(source))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer.flush().map_err(|source| self.error(source))
    }

    fn error(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Sink for FileSink {
    fn send(&mut self, telemetry: &Encoded, labels: &Encoded) -> Result<(), SinkError> {
        self.telemetry.write(telemetry)?;
        self.labels.write(labels)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.telemetry.flush()?;
        self.labels.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_go_next_to_the_telemetry() {
        assert_eq!(
            labels_path(Path::new("/tmp/x.ndjson")),
            Path::new("/tmp/x.labels.ndjson")
        );
        assert_eq!(
            labels_path(Path::new("out/fleet.json")),
            Path::new("out/fleet.json.labels.ndjson")
        );
    }

    #[test]
    fn an_unwritable_path_is_named() {
        let err = FileSink::create(Path::new("/nonexistent-dir/x.ndjson")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("writing /nonexistent-dir/x.ndjson:"),
            "{err}"
        );
    }
}
