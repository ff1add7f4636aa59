//! The file sinks: telemetry and labels as two NDJSON files, and labels as an NDJSON file
//! beside any other sink (`--labels`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{Encoded, Sink};
use crate::error::SinkError;

/// Buffer of each file, bytes.
const BUFFER_BYTES: usize = 1 << 20;

/// Writes telemetry to one file and labels to another (by default [`labels_path`] of the
/// telemetry file), one JSON record a line. Both files are created (or truncated) when the
/// sink opens.
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
    /// Creates the telemetry file `path` and the labels file `labels`.
    pub fn create(path: &Path, labels: &Path) -> Result<FileSink, SinkError> {
        Ok(FileSink {
            telemetry: Output::create(path.to_path_buf())?,
            labels: Output::create(labels.to_path_buf())?,
        })
    }
}

/// Sends the telemetry through another sink and writes the labels to an NDJSON file, so that
/// the ground truth of a run into the log or MQTT can be kept apart for training.
pub struct LabelFileSink {
    telemetry: Box<dyn Sink>,
    labels: Output,
}

impl LabelFileSink {
    /// Telemetry to `telemetry`, labels to the file `labels` (created or truncated).
    pub fn create(telemetry: Box<dyn Sink>, labels: &Path) -> Result<LabelFileSink, SinkError> {
        Ok(LabelFileSink {
            telemetry,
            labels: Output::create(labels.to_path_buf())?,
        })
    }
}

impl Sink for LabelFileSink {
    fn send(&mut self, telemetry: &Encoded, labels: &Encoded) -> Result<(), SinkError> {
        self.telemetry.send(telemetry, &Encoded::default())?;
        self.labels.write(labels)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.telemetry.flush()?;
        self.labels.flush()
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.telemetry.close()?;
        self.labels.flush()
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
        let err = FileSink::create(
            Path::new("/nonexistent-dir/x.ndjson"),
            Path::new("/nonexistent-dir/x.labels.ndjson"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("writing /nonexistent-dir/x.ndjson:"),
            "{err}"
        );
    }
}
