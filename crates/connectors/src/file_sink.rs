//! The filesystem sink: part files in a directory or under an object storage prefix
//! (`s3://`, `oss://`; see [`crate::storage`]), exactly once, in CSV, NDJSON or Parquet.
//!
//! Rows go to an in-progress part file, staged under the hidden `.staging/` (on object storage
//! a multipart upload, completed when the file closes); a Parquet file gets its footer when
//! it is closed. A
//! file is closed when it reaches the rolling policy's size or age (checked as rows arrive),
//! and at every checkpoint barrier; closed files become pending and are stored in the
//! checkpoint. When the checkpoint is complete, pending files are committed (renamed into the
//! directory, or copied there and deleted) as `part-<instance>-<n>.<ext>`, so readers only ever
//! see whole, committed files. After a failure the pending files of the last complete
//! checkpoint are committed and whatever else the instance had staged is dropped.
//!
//! A table `PARTITIONED BY (dt, hour)` writes each row under its partition's directory,
//! `dt=2024-01-01/hour=10/`, Hive-style (as Flink does), and leaves the partition columns out
//! of the files. With a commit policy a partition is also *committed*, by a `_SUCCESS` file in
//! its directory, once its trigger fires after a checkpoint: the processing time passing its
//! creation plus a delay, or the watermark passing its time plus a delay (the time read from
//! its values, `$dt $hour:00:00`). The end of the input commits every partition.

use std::collections::BTreeMap;
use std::io::Write as _;

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
use crate::storage::{Location, PartOutput, Staged, StorageError};

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
    Csv(PartOutput),
    /// NDJSON.
    Json(PartOutput),
    /// Parquet.
    Parquet {
        writer: Box<ArrowWriter<PartOutput>>,
        schema: SchemaRef,
    },
}

impl PartWriter {
    /// Writes to `output` rows shaped like `batch`.
    fn new(
        output: PartOutput,
        format: FileFormat,
        batch: &RecordBatch,
    ) -> Result<Self, parquet::errors::ParquetError> {
        Ok(match format {
            FileFormat::Csv => PartWriter::Csv(output),
            FileFormat::Json => PartWriter::Json(output),
            FileFormat::Parquet => {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let schema = batch.schema();
                let writer = ArrowWriter::try_new(output, schema.clone(), Some(properties))?;
                PartWriter::Parquet {
                    writer: Box::new(writer),
                    schema,
                }
            }
        })
    }

    /// The file's size so far, counting a Parquet row group not yet written out.
    fn size(&self) -> u64 {
        match self {
            PartWriter::Csv(output) | PartWriter::Json(output) => output.written(),
            PartWriter::Parquet { writer, .. } => {
                (writer.bytes_written() + writer.in_progress_size()) as u64
            }
        }
    }
}

/// How big and how old an in-progress file may grow before it is closed
/// (`sink.rolling-policy.file-size` and `.rollover-interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollingPolicy {
    /// Bytes.
    pub file_size: u64,
    /// Milliseconds since the file was opened.
    pub rollover_ms: i64,
}

impl Default for RollingPolicy {
    /// Flink's defaults: 128 MiB and 30 minutes.
    fn default() -> Self {
        RollingPolicy {
            file_size: 128 << 20,
            rollover_ms: 30 * 60_000,
        }
    }
}

/// A part file being written.
struct OpenFile {
    /// Its path once committed, relative to the sink's location.
    rel: String,
    writer: PartWriter,
    /// When it was opened, wall-clock ms.
    opened_ms: i64,
}

/// A closed part file, to be committed with its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    checkpoint: u64,
    /// Its path once committed, relative to the sink's location.
    committed: String,
    staged: Staged,
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
    location: Location,
    format: FileFormat,
    instance: usize,
    partitions: Option<PartitionSpec>,
    rolling: RollingPolicy,
    /// The in-progress file of each partition directory (`""` when not partitioned).
    current: BTreeMap<String, OpenFile>,
    /// Files closed by the rolling policy since the last checkpoint barrier.
    rolled: Vec<(String, Staged)>,
    pending: Vec<Pending>,
    open: BTreeMap<String, OpenPartition>,
    watermark: Option<i64>,
    text: String,
    seq: u64,
}

/// The highest number among the files named `<prefix><n>…` under `location`: the part files
/// of one instance, `part-<instance>-<n>.<ext>` (with older files named
/// `part-<instance>-<checkpoint>-<n>.<ext>` counting too).
fn max_seq(location: &Location, prefix: &str) -> Result<u64, StorageError> {
    Ok(location
        .files()?
        .iter()
        .filter_map(|f| {
            let name = f.rel.rsplit('/').next().unwrap_or_default();
            name.strip_prefix(prefix)?
                .split(['-', '.'])
                .filter_map(|n| n.parse::<u64>().ok())
                .max()
        })
        .max()
        .unwrap_or(0))
}

impl FileSink {
    /// Instance `instance` writing into `location` (a local directory is created; a bucket
    /// is checked to answer to the credentials).
    pub fn new(
        location: Location,
        format: FileFormat,
        instance: usize,
    ) -> Result<Self, EngineError> {
        let name = format!("filesystem {} ({format:?})", location.display());
        location
            .prepare_for_writing()
            .map_err(|e| e.engine(name, true))?;
        Ok(FileSink {
            location,
            format,
            instance,
            partitions: None,
            rolling: RollingPolicy::default(),
            current: BTreeMap::new(),
            rolled: Vec::new(),
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

    /// Closes in-progress files as `policy` says, besides at checkpoints.
    pub fn rolling(mut self, policy: RollingPolicy) -> Self {
        self.rolling = policy;
        self
    }

    fn err(&self, e: StorageError) -> EngineError {
        e.engine(self.name(), true)
    }

    fn parquet_err(&self, rel: &str, e: parquet::errors::ParquetError) -> EngineError {
        EngineError::Sink {
            name: self.name(),
            message: format!("{}: {e}", self.location.display_file(rel)),
        }
    }

    /// Writes `batch` into the in-progress file of partition directory `partition`, and
    /// closes the file if the rolling policy says so.
    fn write_part(&mut self, partition: &str, batch: &RecordBatch) -> Result<(), EngineError> {
        if !self.current.contains_key(partition) {
            self.seq += 1;
            let name = format!("part-{}-{}", self.instance, self.seq);
            let file = format!("{name}.{}", self.format.extension());
            let rel = match partition {
                "" => file,
                dir => format!("{dir}/{file}"),
            };
            let output = self
                .location
                .create(&format!("{name}.inprogress"))
                .map_err(|e| self.err(e))?;
            let writer = PartWriter::new(output, self.format, batch)
                .map_err(|e| self.parquet_err(&rel, e))?;
            let opened_ms = chrono::Utc::now().timestamp_millis();
            self.current.insert(
                partition.to_string(),
                OpenFile {
                    rel,
                    writer,
                    opened_ms,
                },
            );
        }
        let name = self.name();
        let file = self.current.get_mut(partition).expect("opened above");
        let shown = || self.location.display_file(&file.rel);
        let text = &mut self.text;
        text.clear();
        let written = match &mut file.writer {
            PartWriter::Csv(w) => {
                write_csv(batch, text)?;
                w.write_all(text.as_bytes()).map_err(|e| e.to_string())
            }
            PartWriter::Json(w) => {
                let mut json = arrow::json::LineDelimitedWriter::new(w);
                json.write(batch)
                    .and_then(|()| json.finish())
                    .map_err(|e| e.to_string())
            }
            PartWriter::Parquet { writer, schema } => {
                // Batches of one sink differ at most in nullability flags: write them all
                // under the file's schema.
                let batch = match batch.schema() == *schema {
                    true => batch.clone(),
                    false => RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?,
                };
                writer.write(&batch).map_err(|e| e.to_string())
            }
        };
        written.map_err(|message| EngineError::Sink {
            name,
            message: format!("{}: {message}", shown()),
        })?;
        let now = chrono::Utc::now().timestamp_millis();
        if file.writer.size() >= self.rolling.file_size
            || now - file.opened_ms >= self.rolling.rollover_ms
        {
            let file = self.current.remove(partition).expect("written above");
            let staged = self.finish(&file.rel, file.writer)?;
            self.rolled.push((file.rel, staged));
        }
        Ok(())
    }

    /// Closes a part file, staged until its commit.
    fn finish(&self, rel: &str, writer: PartWriter) -> Result<Staged, EngineError> {
        let output = match writer {
            PartWriter::Csv(output) | PartWriter::Json(output) => output,
            PartWriter::Parquet { writer, .. } => {
                writer.into_inner().map_err(|e| self.parquet_err(rel, e))?
            }
        };
        output.finish().map_err(|e| self.err(e))
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
        let in_dir = |rel: &str, dir: &str| rel.rsplit_once('/').is_some_and(|(d, _)| d == dir);
        let mut done = Vec::new();
        for (dir, partition) in &self.open {
            // A partition still being written waits for its files to be committed.
            let writing = self.current.contains_key(dir)
                || self.rolled.iter().any(|(rel, _)| in_dir(rel, dir))
                || self.pending.iter().any(|p| in_dir(&p.committed, dir));
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
            let marker = format!("{dir}/{}", commit.success_file);
            self.location
                .put(&marker, Vec::new())
                .map_err(|e| self.err(e))?;
            self.open.remove(&dir);
        }
        Ok(())
    }

    fn commit_pending(&mut self, upto: u64) -> Result<(), EngineError> {
        let (due, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.checkpoint <= upto);
        self.pending = keep;
        for p in due {
            if let Err(e) = self.location.commit(&p.staged, &p.committed) {
                // Kept, to be committed again.
                self.pending.push(p);
                return Err(self.err(e));
            }
        }
        self.location.sync();
        Ok(())
    }
}

impl Sink for FileSink {
    fn name(&self) -> String {
        format!("filesystem {} ({:?})", self.location.display(), self.format)
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
        for (_, file) in std::mem::take(&mut self.current) {
            let staged = self.finish(&file.rel, file.writer)?;
            self.rolled.push((file.rel, staged));
        }
        self.pending
            .extend(self.rolled.drain(..).map(|(committed, staged)| Pending {
                checkpoint,
                committed,
                staged,
            }));
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
        // Whatever else this instance staged was written after the checkpoint.
        let prefix = format!("part-{}-", self.instance);
        self.location
            .discard_staged(&prefix)
            .map_err(|e| self.err(e))?;
        // Continue numbering after the committed files, so names never collide.
        self.seq = max_seq(&self.location, &prefix).map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::fs;
    use std::path::Path;
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
        FileSink::new(Location::Local(dir.to_path_buf()), FileFormat::Csv, 0)
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
        let text = fs::read_to_string(dir.join("dt=2024-01-01/hour=09/part-0-1.csv")).unwrap();
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
        let mut restored = FileSink::new(Location::Local(dir.to_path_buf()), FileFormat::Csv, 0)
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

    /// The part files directly under `dir`.
    fn parts(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("part-"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn files_roll_by_size_and_by_age_between_checkpoints() {
        let tmp = tempfile::tempdir().unwrap();
        let by_size = tmp.path().join("size");
        let mut sink = FileSink::new(Location::Local(by_size.clone()), FileFormat::Csv, 0)
            .unwrap()
            .rolling(RollingPolicy {
                file_size: 20,
                rollover_ms: 3_600_000,
            });
        sink.restore(None).unwrap();
        // Each batch is 18 bytes: the second one takes a file past 20 bytes.
        for _ in 0..4 {
            sink.write(&batch(&[("d", "h", 1), ("d", "h", 2), ("d", "h", 3)]))
                .unwrap();
        }
        assert!(parts(&by_size).is_empty(), "nothing before the checkpoint");
        sink.prepare_commit(1).unwrap();
        sink.commit(1).unwrap();
        assert_eq!(parts(&by_size), ["part-0-1.csv", "part-0-2.csv"]);
        let by_age = tmp.path().join("age");
        let mut sink = FileSink::new(Location::Local(by_age.clone()), FileFormat::Csv, 0)
            .unwrap()
            .rolling(RollingPolicy {
                file_size: 1 << 20,
                rollover_ms: 20,
            });
        sink.restore(None).unwrap();
        sink.write(&batch(&[("d", "h", 1)])).unwrap();
        sink.write(&batch(&[("d", "h", 2)])).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        sink.write(&batch(&[("d", "h", 3)])).unwrap();
        sink.write(&batch(&[("d", "h", 4)])).unwrap();
        sink.prepare_commit(1).unwrap();
        sink.commit(1).unwrap();
        assert_eq!(parts(&by_age), ["part-0-1.csv", "part-0-2.csv"]);
        let first = fs::read_to_string(by_age.join("part-0-1.csv")).unwrap();
        assert_eq!(first, "d,h,1\nd,h,2\nd,h,3\n");
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
