//! The filesystem sink: part files in a directory, exactly once, in CSV, NDJSON or Parquet.
//!
//! Rows go to a hidden in-progress file under `.staging/` (a Parquet file gets its footer when
//! it is closed). On a checkpoint barrier the file is
//! closed and fsynced and becomes pending; its name is stored in the checkpoint. When the
//! checkpoint is complete, pending files are renamed into the directory as
//! `part-<instance>-<checkpoint>.<ext>`, so readers only ever see whole, committed files. After
//! a failure the pending files of the last complete checkpoint are committed and every other
//! staging file of the instance is deleted.
//!
//! A table `PARTITIONED BY (dt, hour)` writes each row under its partition's directory,
//! `dt=2024-01-01/hour=10/`, Hive-style (as Flink does), and leaves the partition columns out
//! of the files. With a commit policy a partition is also *committed*, by a `_SUCCESS` file in
//! its directory, once its trigger fires after a checkpoint: the processing time passing its
//! creation plus a delay, or the watermark passing its time plus a delay (the time read from
//! its values, `$dt $hour:00:00`). The end of the input commits every partition.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
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

/// How a partitioned table lays out and commits its partitions (`PARTITIONED BY`).
#[derive(Debug, Clone)]
pub struct PartitionSpec {
    /// The partition columns, by index in the sink's rows, and their names.
    pub columns: Vec<(usize, String)>,
    /// The directory name for NULL and empty values (`partition.default-name`).
    pub default_name: String,
    /// How partitions are committed, if at all (`sink.partition-commit.policy.kind`).
    pub commit: Option<PartitionCommit>,
}

/// The `success-file` commit policy and its trigger.
#[derive(Debug, Clone)]
pub struct PartitionCommit {
    /// When a partition is done.
    pub trigger: CommitTrigger,
    /// How long after the trigger's time (`sink.partition-commit.delay`), in milliseconds.
    pub delay_ms: i64,
    /// The file that marks a committed partition (`_SUCCESS`).
    pub success_file: String,
}

/// `sink.partition-commit.trigger`.
#[derive(Debug, Clone)]
pub enum CommitTrigger {
    /// `process-time`: the clock has passed the partition's creation plus the delay.
    ProcessTime,
    /// `partition-time`: the watermark is past the partition's time plus the delay; the
    /// time is `pattern` (`$dt $hour:00:00`, or the first partition value when `None`) with the
    /// values put in, read as `yyyy-MM-dd[ HH:mm:ss]` in UTC.
    PartitionTime {
        /// `partition.time-extractor.timestamp-pattern`.
        pattern: Option<String>,
    },
}

/// A partition written to and not yet committed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenPartition {
    /// Wall-clock time of its first row, in milliseconds.
    created_ms: i64,
    /// Its values, by partition column.
    values: Vec<String>,
}

/// What a checkpoint keeps of a sink instance.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SinkState {
    pending: Vec<Pending>,
    /// Partitions (by directory) not yet committed.
    partitions: BTreeMap<String, OpenPartition>,
}

impl PartitionSpec {
    /// Each row's partition directory (`dt=2024-01-01/hour=10`) and values.
    fn assign(&self, batch: &RecordBatch) -> Result<Vec<(String, Vec<String>)>, EngineError> {
        let texts = self
            .columns
            .iter()
            .map(|(i, _)| arrow::compute::cast(batch.column(*i), &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((0..batch.num_rows())
            .map(|row| {
                let values: Vec<String> = texts
                    .iter()
                    .map(|t| {
                        let t = t.as_string::<i32>();
                        match t.is_valid(row) && !t.value(row).is_empty() {
                            true => t.value(row).to_string(),
                            false => self.default_name.clone(),
                        }
                    })
                    .collect();
                let dir = self
                    .columns
                    .iter()
                    .zip(&values)
                    .map(|((_, name), value)| format!("{}={}", escape(name), escape(value)))
                    .collect::<Vec<_>>()
                    .join("/");
                (dir, values)
            })
            .collect())
    }

    /// The partition's time for the `partition-time` trigger, in epoch milliseconds.
    fn partition_time(&self, pattern: Option<&str>, values: &[String]) -> Option<i64> {
        let text = match pattern {
            Some(pattern) => {
                // Longer names first, so `$dt` does not eat into `$dth`.
                let mut names: Vec<(&str, &str)> = self
                    .columns
                    .iter()
                    .map(|(_, n)| n.as_str())
                    .zip(values.iter().map(String::as_str))
                    .collect();
                names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
                names.into_iter().fold(pattern.to_string(), |t, (n, v)| {
                    t.replace(&format!("${n}"), v)
                })
            }
            None => values.first()?.clone(),
        };
        let text = text.trim();
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
            })
            .ok()
            .map(|t| t.and_utc().timestamp_millis())
    }
}

/// A partition name or value as Hive escapes it in a path.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control()
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '\x7F'
                    | '{'
                    | '['
                    | ']'
                    | '^'
            )
        {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One instance of the filesystem sink.
pub struct FileSink {
    dir: PathBuf,
    staging: PathBuf,
    format: FileFormat,
    instance: usize,
    partitions: Option<PartitionSpec>,
    /// The in-progress file of each partition directory (`""` when not partitioned).
    current: BTreeMap<String, (PathBuf, PartWriter)>,
    pending: Vec<Pending>,
    open: BTreeMap<String, OpenPartition>,
    watermark: Option<i64>,
    text: String,
    seq: u64,
}

/// The highest sequence number of the part files named `<prefix><tag>-<seq>.<ext>` under
/// `dir` and its partition directories.
fn max_seq(dir: &Path, prefix: &str) -> Result<u64, EngineError> {
    let mut max = 0;
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if name != ".staging" {
                max = max.max(max_seq(&entry.path(), prefix)?);
            }
        } else if let Some(seq) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split(['-', '.']).nth(1))
            .and_then(|seq| seq.parse::<u64>().ok())
        {
            max = max.max(seq);
        }
    }
    Ok(max)
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
            partitions: None,
            current: BTreeMap::new(),
            pending: Vec::new(),
            open: BTreeMap::new(),
            watermark: None,
            text: String::new(),
            seq: 0,
        })
    }

    /// Writes rows under their partitions' directories (and commits partitions) as `spec`
    /// says.
    pub fn partitioned(mut self, spec: PartitionSpec) -> Self {
        self.partitions = Some(spec);
        self
    }

    /// Writes `batch` into the in-progress file of partition directory `partition`.
    fn write_part(&mut self, partition: &str, batch: &RecordBatch) -> Result<(), EngineError> {
        if !self.current.contains_key(partition) {
            self.seq += 1;
            let path = self
                .staging
                .join(format!("part-{}-{}.inprogress", self.instance, self.seq));
            let writer = PartWriter::create(&path, self.format, batch)?;
            self.current.insert(partition.to_string(), (path, writer));
        }
        let (path, writer) = self.current.get_mut(partition).expect("opened above");
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

    /// Commits, with a success file, the open partitions whose trigger has fired (all of
    /// them at the end of the input).
    fn commit_partitions(&mut self, end_of_input: bool) -> Result<(), EngineError> {
        let Some(PartitionSpec {
            commit: Some(commit),
            ..
        }) = &self.partitions
        else {
            self.open.clear();
            return Ok(());
        };
        let spec = self.partitions.as_ref().expect("matched above");
        let now = chrono::Utc::now().timestamp_millis();
        let mut done = Vec::new();
        for (dir, partition) in &self.open {
            // A partition still being written waits for its files to be committed.
            let writing = self.current.contains_key(dir)
                || self
                    .pending
                    .iter()
                    .any(|p| p.committed.parent() == Some(&self.dir.join(dir)));
            let due = end_of_input
                || match &commit.trigger {
                    CommitTrigger::ProcessTime => partition.created_ms + commit.delay_ms <= now,
                    CommitTrigger::PartitionTime { pattern } => {
                        match spec.partition_time(pattern.as_deref(), &partition.values) {
                            Some(time) => {
                                self.watermark.is_some_and(|w| time + commit.delay_ms < w)
                            }
                            None => false,
                        }
                    }
                };
            if due && (!writing || end_of_input) {
                done.push(dir.clone());
            }
        }
        for dir in done {
            let path = self.dir.join(&dir);
            fs::create_dir_all(&path).map_err(|e| io_err(&path, e))?;
            let marker = path.join(&commit.success_file);
            File::create(&marker)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_err(&marker, e))?;
            self.open.remove(&dir);
        }
        Ok(())
    }

    fn commit_pending(&mut self, upto: u64) -> Result<(), EngineError> {
        let mut keep = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            if p.checkpoint > upto {
                keep.push(p);
                continue;
            }
            if let Some(parent) = p.committed.parent() {
                fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
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
        let Some(spec) = &self.partitions else {
            return self.write_part("", batch);
        };
        let rows = spec.assign(batch)?;
        let data: Vec<usize> = (0..batch.num_columns())
            .filter(|c| !spec.columns.iter().any(|(i, _)| i == c))
            .collect();
        let data = batch.project(&data)?;
        let mut groups: BTreeMap<&str, (Vec<u32>, &Vec<String>)> = BTreeMap::new();
        for (row, (dir, values)) in rows.iter().enumerate() {
            groups
                .entry(dir.as_str())
                .or_insert_with(|| (Vec::new(), values))
                .0
                .push(row as u32);
        }
        let now = chrono::Utc::now().timestamp_millis();
        for (dir, (indices, values)) in groups {
            let part = if indices.len() == data.num_rows() {
                data.clone()
            } else {
                take_record_batch(&data, &UInt32Array::from(indices))?
            };
            self.open
                .entry(dir.to_string())
                .or_insert_with(|| OpenPartition {
                    created_ms: now,
                    values: values.clone(),
                });
            self.write_part(dir, &part)?;
        }
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        let tag = if checkpoint == spate_engine::job::FINAL_CHECKPOINT {
            "final".to_string()
        } else {
            checkpoint.to_string()
        };
        for (partition, (path, writer)) in std::mem::take(&mut self.current) {
            writer.finish(&path)?;
            let seq = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".inprogress"))
                .and_then(|n| n.rsplit('-').next())
                .unwrap_or("0")
                .to_string();
            let committed = self.dir.join(&partition).join(format!(
                "part-{}-{}-{}.{}",
                self.instance,
                tag,
                seq,
                self.format.extension()
            ));
            self.pending.push(Pending {
                checkpoint,
                staging: path,
                committed,
            });
        }
        let state = SinkState {
            pending: self.pending.clone(),
            partitions: self.open.clone(),
        };
        Ok(serde_json::to_vec(&state).expect("sink state serializes"))
    }

    fn commit(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        // The final checkpoint arrives as `FINAL_CHECKPOINT` (u64::MAX) and so commits all.
        self.commit_pending(checkpoint)?;
        self.commit_partitions(checkpoint == spate_engine::job::FINAL_CHECKPOINT)
    }

    fn watermark(&mut self, watermark: i64) -> Result<(), EngineError> {
        self.watermark = Some(watermark);
        Ok(())
    }

    fn restore(&mut self, pending: Option<&[u8]>) -> Result<(), EngineError> {
        let restored: SinkState = match pending {
            Some(b) if !b.is_empty() => {
                serde_json::from_slice(b).map_err(|e| EngineError::CorruptState {
                    task: self.name(),
                    reason: e.to_string(),
                })?
            }
            _ => SinkState::default(),
        };
        self.pending = restored.pending;
        self.open = restored.partitions;
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
        self.seq = max_seq(&self.dir, &prefix)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch(rows: &[(&str, &str, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("dt", DataType::Utf8, true),
            Field::new("hour", DataType::Utf8, true),
            Field::new("v", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter(
                    rows.iter().map(|r| (!r.0.is_empty()).then_some(r.0)),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    fn sink(dir: &Path, trigger: CommitTrigger, delay_ms: i64) -> FileSink {
        FileSink::new(dir, FileFormat::Csv, 0)
            .unwrap()
            .partitioned(PartitionSpec {
                columns: vec![(0, "dt".into()), (1, "hour".into())],
                default_name: "__DEFAULT_PARTITION__".into(),
                commit: Some(PartitionCommit {
                    trigger,
                    delay_ms,
                    success_file: "_SUCCESS".into(),
                }),
            })
    }

    fn committed(dir: &Path, partition: &str) -> bool {
        dir.join(partition).join("_SUCCESS").exists()
    }

    #[test]
    fn partition_time_commits_a_partition_once_the_watermark_passes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let pattern = Some("$dt $hour:00:00".to_string());
        let mut sink = sink(dir, CommitTrigger::PartitionTime { pattern }, 3_600_000);
        sink.write(&batch(&[
            ("2024-01-01", "09", 1),
            ("2024-01-01", "10", 2),
            ("", "10", 3),
        ]))
        .unwrap();
        // Hour 09 is done once the watermark is past 09:00 + 1 h, as in Flink: not at 10:00.
        sink.watermark(1_704_103_200_000).unwrap();
        sink.prepare_commit(1).unwrap();
        sink.commit(1).unwrap();
        let text = fs::read_to_string(dir.join("dt=2024-01-01/hour=09/part-0-1-1.csv")).unwrap();
        assert_eq!(text, "1\n");
        assert!(!committed(dir, "dt=2024-01-01/hour=09"));
        // 10:00:00.001 commits hour 09 only; the default partition has no time and waits for
        // the end.
        sink.watermark(1_704_103_200_001).unwrap();
        sink.prepare_commit(2).unwrap();
        sink.commit(2).unwrap();
        assert!(committed(dir, "dt=2024-01-01/hour=09"));
        assert!(!committed(dir, "dt=2024-01-01/hour=10"));
        assert!(!committed(dir, "dt=__DEFAULT_PARTITION__/hour=10"));
        // An open partition survives a restore, and the end of the input commits it.
        let state = sink.prepare_commit(3).unwrap();
        let mut restored = FileSink::new(dir, FileFormat::Csv, 0)
            .unwrap()
            .partitioned(sink.partitions.clone().unwrap());
        restored.restore(Some(&state)).unwrap();
        restored.write(&batch(&[("2024-01-01", "10", 4)])).unwrap();
        restored
            .prepare_commit(spate_engine::job::FINAL_CHECKPOINT)
            .unwrap();
        restored
            .commit(spate_engine::job::FINAL_CHECKPOINT)
            .unwrap();
        assert!(committed(dir, "dt=2024-01-01/hour=10"));
        assert!(committed(dir, "dt=__DEFAULT_PARTITION__/hour=10"));
        let names: Vec<String> = fs::read_dir(dir.join("dt=2024-01-01/hour=10"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn partition_values_are_escaped_and_read_as_times() {
        assert_eq!(escape("a/b=c:d"), "a%2Fb%3Dc%3Ad");
        assert_eq!(escape("2024-01-01"), "2024-01-01");
        let spec = PartitionSpec {
            columns: vec![(0, "dt".into()), (1, "hour".into())],
            default_name: "x".into(),
            commit: None,
        };
        let values = ["2024-01-01".to_string(), "10".to_string()];
        assert_eq!(
            spec.partition_time(Some("$dt $hour:00:00"), &values),
            Some(1_704_103_200_000)
        );
        assert_eq!(spec.partition_time(None, &values), Some(1_704_067_200_000));
        assert_eq!(spec.partition_time(Some("$hour"), &values), None);
    }
}
