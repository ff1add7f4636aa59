//! The filesystem sink: part files in a directory, exactly once, in CSV, NDJSON or Parquet.
//!
//! Rows go to a hidden in-progress file under `.staging/` (a Parquet file gets its footer when
//! it is closed). On a checkpoint barrier the file is
//! closed and fsynced and becomes pending; its name is stored in the checkpoint. When the
//! checkpoint is complete, pending files are renamed into the directory as
//! `part-<instance>-<checkpoint>.<ext>`, so readers only ever see whole, committed files. After
//! a failure the pending files of the last complete checkpoint are committed and every other
//! staging file of the instance is deleted.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use spate_engine::EngineError;
use spate_engine::sink::Sink;

use crate::format::csv::write_csv;

/// The encoding of part files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Flink's CSV layout (no header).
    Csv,
    /// One JSON object per line.
    Json,
    /// Apache Parquet, Snappy-compressed (Flink's default codec), one row group per
    /// 1M rows at most.
    Parquet,
}

impl FileFormat {
    fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// The in-progress part file.
enum PartWriter {
    /// Flink's CSV layout.
    Csv(std::io::BufWriter<File>),
    /// NDJSON.
    Json(std::io::BufWriter<File>),
    /// Parquet, written through a handle of `file`.
    Parquet {
        writer: Box<ArrowWriter<File>>,
        schema: SchemaRef,
        file: File,
    },
}

impl PartWriter {
    /// Opens `path` for rows shaped like `batch`.
    fn create(path: &Path, format: FileFormat, batch: &RecordBatch) -> Result<Self, EngineError> {
        let file = File::create(path).map_err(|e| io_err(path, e))?;
        let buffered = |file| std::io::BufWriter::with_capacity(1 << 20, file);
        Ok(match format {
            FileFormat::Csv => PartWriter::Csv(buffered(file)),
            FileFormat::Json => PartWriter::Json(buffered(file)),
            FileFormat::Parquet => {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let handle = file.try_clone().map_err(|e| io_err(path, e))?;
                let schema = batch.schema();
                let writer = ArrowWriter::try_new(handle, schema.clone(), Some(properties))
                    .map_err(|e| parquet_err(path, e))?;
                PartWriter::Parquet {
                    writer: Box::new(writer),
                    schema,
                    file,
                }
            }
        })
    }

    /// Closes the file (writing a Parquet footer) and fsyncs it.
    fn finish(self, path: &Path) -> Result<(), EngineError> {
        let file = match self {
            PartWriter::Csv(w) | PartWriter::Json(w) => {
                w.into_inner().map_err(|e| io_err(path, e.into_error()))?
            }
            PartWriter::Parquet { writer, file, .. } => {
                writer.close().map_err(|e| parquet_err(path, e))?;
                file
            }
        };
        file.sync_all().map_err(|e| io_err(path, e))
    }
}

fn parquet_err(path: &Path, e: parquet::errors::ParquetError) -> EngineError {
    EngineError::Sink {
        name: format!("filesystem {}", path.display()),
        message: e.to_string(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    checkpoint: u64,
    staging: PathBuf,
    committed: PathBuf,
}

/// One instance of the filesystem sink.
pub struct FileSink {
    dir: PathBuf,
    staging: PathBuf,
    format: FileFormat,
    instance: usize,
    current: Option<(PathBuf, PartWriter)>,
    pending: Vec<Pending>,
    text: String,
    seq: u64,
}

fn io_err(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

impl FileSink {
    /// Instance `instance` writing into `dir`.
    pub fn new(
        dir: impl Into<PathBuf>,
        format: FileFormat,
        instance: usize,
    ) -> Result<Self, EngineError> {
        let dir = dir.into();
        let staging = dir.join(".staging");
        fs::create_dir_all(&staging).map_err(|e| io_err(&staging, e))?;
        Ok(FileSink {
            dir,
            staging,
            format,
            instance,
            current: None,
            pending: Vec::new(),
            text: String::new(),
            seq: 0,
        })
    }

    fn commit_pending(&mut self, upto: u64) -> Result<(), EngineError> {
        let mut keep = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            if p.checkpoint > upto {
                keep.push(p);
                continue;
            }
            match fs::rename(&p.staging, &p.committed) {
                Ok(()) => {}
                // Already committed before a failure: committing is idempotent.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && p.committed.exists() => {}
                Err(e) => return Err(io_err(&p.staging, e)),
            }
        }
        self.pending = keep;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Sink for FileSink {
    fn name(&self) -> String {
        format!("filesystem {} ({:?})", self.dir.display(), self.format)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.current.is_none() {
            self.seq += 1;
            let path = self
                .staging
                .join(format!("part-{}-{}.inprogress", self.instance, self.seq));
            let writer = PartWriter::create(&path, self.format, batch)?;
            self.current = Some((path, writer));
        }
        let (path, writer) = self.current.as_mut().expect("opened above");
        let text = &mut self.text;
        text.clear();
        match writer {
            PartWriter::Csv(w) => {
                write_csv(batch, text)?;
                w.write_all(text.as_bytes()).map_err(|e| io_err(path, e))
            }
            PartWriter::Json(w) => {
                let mut json = arrow::json::LineDelimitedWriter::new(w);
                json.write(batch)
                    .and_then(|()| json.finish())
                    .map_err(|e| match e {
                        arrow::error::ArrowError::IoError(_, e) => io_err(path, e),
                        other => other.into(),
                    })
            }
            PartWriter::Parquet { writer, schema, .. } => {
                // Batches of one sink differ at most in nullability flags: write them all
                // under the file's schema.
                let batch = match batch.schema() == *schema {
                    true => batch.clone(),
                    false => RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?,
                };
                writer.write(&batch).map_err(|e| parquet_err(path, e))
            }
        }
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        if let Some((path, writer)) = self.current.take() {
            writer.finish(&path)?;
            let tag = if checkpoint == spate_engine::job::FINAL_CHECKPOINT {
                "final".to_string()
            } else {
                checkpoint.to_string()
            };
            let committed = self.dir.join(format!(
                "part-{}-{}-{}.{}",
                self.instance,
                tag,
                self.seq,
                self.format.extension()
            ));
            self.pending.push(Pending {
                checkpoint,
                staging: path,
                committed,
            });
        }
        Ok(serde_json::to_vec(&self.pending).expect("pending files serialize"))
    }

    fn commit(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        // The final checkpoint arrives as `FINAL_CHECKPOINT` (u64::MAX) and so commits all.
        self.commit_pending(checkpoint)
    }

    fn restore(&mut self, pending: Option<&[u8]>) -> Result<(), EngineError> {
        let restored: Vec<Pending> = match pending {
            Some(b) if !b.is_empty() => {
                serde_json::from_slice(b).map_err(|e| EngineError::CorruptState {
                    task: self.name(),
                    reason: e.to_string(),
                })?
            }
            _ => Vec::new(),
        };
        self.pending = restored;
        self.commit_pending(u64::MAX)?;
        // Whatever else this instance left in staging was written after the checkpoint.
        let prefix = format!("part-{}-", self.instance);
        let entries = fs::read_dir(&self.staging).map_err(|e| io_err(&self.staging, e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                fs::remove_file(entry.path()).map_err(|e| io_err(&entry.path(), e))?;
            }
        }
        // Continue numbering after the committed files, so names never collide.
        self.seq = fs::read_dir(&self.dir)
            .map_err(|e| io_err(&self.dir, e))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let rest = name.strip_prefix(&prefix)?;
                rest.split(['-', '.']).nth(1)?.parse::<u64>().ok()
            })
            .max()
            .unwrap_or(0);
        Ok(())
    }
}
