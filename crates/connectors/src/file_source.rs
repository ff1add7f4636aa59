//! The filesystem source: NDJSON, CSV (Flink's layout) or Parquet files, local or in object
//! storage (see [`crate::storage`]), read once (a bounded source, as Flink's `filesystem`
//! connector in batch-like streaming use). Instance *i* reads the files whose index modulo
//! the parallelism is *i*; each file is one partition. As in Flink and Hadoop, names starting
//! with `.` or `_` are skipped (in-progress files, `_SUCCESS` markers), and partition
//! directories (`dt=…/hour=…`) are read through.
//!
//! Text files are read in records: a line, or for CSV several lines while a quoted field is
//! open. A record that does not decode is dead-lettered with its file and line number. Parquet
//! files are read in batches; their columns are matched to the table's by name and cast to the
//! table's types, and a column the file lacks is NULL.
//!
//! A checkpoint keeps, per file, the byte and line after the last record read (text) or the
//! number of rows read (Parquet).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use serde::{Deserialize, Serialize};
use spate_engine::EngineError;
use spate_engine::metrics::TaskMetrics;
use spate_engine::operator::TaskInfo;
use spate_engine::side_output::{SideOutputKind, SideRecord};
use spate_engine::source::{Source, SourcePoll};

use crate::file_sink::FileFormat;
use crate::format::csv::CsvDecoder;
use crate::format::json::{JsonDecoder, Rejected};
use crate::storage::{FileEntry, Location, ObjectFile, StorageError};

/// Records decoded per poll (text formats), and rows per batch (Parquet).
const RECORDS_PER_POLL: usize = 4096;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    byte: u64,
    line: u64,
    /// Rows read (Parquet).
    #[serde(default)]
    rows: u64,
}

/// How text records are decoded.
enum TextDecoder {
    Json(Box<JsonDecoder>),
    Csv(CsvDecoder),
}

/// Text files being read: NDJSON or CSV.
struct TextFiles {
    decoder: TextDecoder,
    readers: Vec<Option<BufReader<Box<dyn Read + Send>>>>,
    /// The records of the current poll, and the line each starts on.
    records: Vec<Vec<u8>>,
    first_lines: Vec<u64>,
}

/// Parquet files being read.
struct ParquetFiles {
    readers: Vec<Option<ParquetRecordBatchReader>>,
}

/// The files of an instance, by format.
enum Files {
    Text(TextFiles),
    Parquet(ParquetFiles),
}

/// One instance of the filesystem source.
pub struct FileSource {
    schema: SchemaRef,
    location: Location,
    files_read: Vec<FileEntry>,
    positions: Vec<Position>,
    finished: Vec<bool>,
    files: Files,
    task: TaskInfo,
}

/// One file of a source: where it is, for reading and for messages.
struct SourceFile<'a> {
    location: &'a Location,
    entry: &'a FileEntry,
}

impl SourceFile<'_> {
    fn display(&self) -> String {
        self.location.display_file(&self.entry.rel)
    }

    fn err(&self, e: StorageError) -> EngineError {
        e.engine(format!("filesystem {}", self.location.display()), false)
    }

    fn read_err(&self, e: impl std::fmt::Display) -> EngineError {
        EngineError::Source {
            name: format!("filesystem {}", self.location.display()),
            message: format!("{}: {e}", self.display()),
        }
    }
}

/// Whether `record` leaves a quoted CSV field open (an odd number of quotes).
fn quote_open(record: &[u8]) -> bool {
    !memchr::memchr_iter(b'"', record).count().is_multiple_of(2)
}

impl FileSource {
    /// Instance `task.instance` reading its share of the files under `location` in
    /// `format`.
    pub fn new(
        location: &Location,
        format: FileFormat,
        schema: SchemaRef,
        task: &TaskInfo,
    ) -> Result<Self, EngineError> {
        let paths: Vec<FileEntry> = location
            .data_files()
            .map_err(|e| e.engine(format!("filesystem {}", location.display()), false))?
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % task.parallelism == task.instance)
            .map(|(_, f)| f)
            .collect();
        let n = paths.len();
        let text = |decoder| {
            Files::Text(TextFiles {
                decoder,
                readers: (0..n).map(|_| None).collect(),
                records: Vec::new(),
                first_lines: Vec::new(),
            })
        };
        let files = match format {
            FileFormat::Json => text(TextDecoder::Json(Box::new(JsonDecoder::new(
                schema.clone(),
            )?))),
            FileFormat::Csv => text(TextDecoder::Csv(CsvDecoder::new(schema.clone()))),
            FileFormat::Parquet => Files::Parquet(ParquetFiles {
                readers: (0..n).map(|_| None).collect(),
            }),
        };
        Ok(FileSource {
            files,
            schema,
            positions: vec![Position::default(); n],
            finished: vec![false; n],
            files_read: paths,
            location: location.clone(),
            task: task.clone(),
        })
    }
}

impl TextFiles {
    /// The next records of file `i` (at `path`, read up to `position`) as a batch; `None`
    /// at its end.
    fn poll(
        &mut self,
        i: usize,
        file: &SourceFile,
        position: &mut Position,
        task: &TaskInfo,
    ) -> Result<Option<RecordBatch>, EngineError> {
        let count = self.read_records(i, file, position)?;
        if count == 0 {
            self.readers[i] = None;
            return Ok(None);
        }
        let records = &self.records[..count];
        let non_empty = records.iter().map(Vec::as_slice).filter(|r| !r.is_empty());
        let (batch, rejected) = match &mut self.decoder {
            TextDecoder::Json(d) => d.decode(non_empty)?,
            TextDecoder::Csv(d) => d.decode(non_empty)?,
        };
        if !rejected.is_empty() {
            self.dead_letter(&file.display(), count, rejected, task);
        }
        Ok(Some(batch))
    }

    /// Reads up to [`RECORDS_PER_POLL`] records of file `i` into `self.records`.
    fn read_records(
        &mut self,
        i: usize,
        file: &SourceFile,
        position: &mut Position,
    ) -> Result<usize, EngineError> {
        let csv = matches!(self.decoder, TextDecoder::Csv(_));
        let reader = match &mut self.readers[i] {
            Some(reader) => reader,
            empty => {
                let read = file
                    .location
                    .open_read(file.entry, position.byte)
                    .map_err(|e| file.err(e))?;
                empty.insert(BufReader::with_capacity(1 << 20, read))
            }
        };
        let mut count = 0;
        self.first_lines.clear();
        while count < RECORDS_PER_POLL {
            if self.records.len() <= count {
                self.records.push(Vec::new());
            }
            let buf = &mut self.records[count];
            buf.clear();
            let first_line = position.line + 1;
            loop {
                let n = reader
                    .read_until(b'\n', buf)
                    .map_err(|e| file.read_err(e))?;
                if n == 0 {
                    break;
                }
                position.byte += n as u64;
                position.line += 1;
                // A CSV field in quotes may hold line breaks: the record goes on.
                if !(csv && quote_open(buf)) {
                    break;
                }
            }
            if buf.is_empty() {
                break;
            }
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            self.first_lines.push(first_line);
            count += 1;
        }
        Ok(count)
    }

    /// Sends the `rejected` records among the first `count` ones to the dead-letter output.
    fn dead_letter(&self, path: &str, count: usize, rejected: Vec<Rejected>, task: &TaskInfo) {
        let numbered: Vec<(u64, &[u8])> = self.records[..count]
            .iter()
            .zip(&self.first_lines)
            .filter(|(r, _)| !r.is_empty())
            .map(|(r, line)| (*line, r.as_slice()))
            .collect();
        TaskMetrics::add(&task.metrics.dead_letters, rejected.len() as u64);
        for r in rejected {
            let (line, payload) = numbered[r.index];
            task.side_outputs.send(SideRecord {
                kind: SideOutputKind::DeadLetter,
                reason: r.reason,
                origin: format!("{path}:{line}"),
                payload: payload.to_vec(),
            });
        }
    }
}

impl ParquetFiles {
    /// The next batch of file `i` (at `path`, `position.rows` read) in `schema`; `None` at
    /// its end.
    fn poll(
        &mut self,
        i: usize,
        file: &SourceFile,
        position: &mut Position,
        schema: &SchemaRef,
    ) -> Result<Option<RecordBatch>, EngineError> {
        let reader = match &mut self.readers[i] {
            Some(reader) => reader,
            empty => empty.insert(open_parquet(file, position.rows, schema)?),
        };
        let Some(batch) = reader.next() else {
            self.readers[i] = None;
            return Ok(None);
        };
        let batch = batch.map_err(|e| file.read_err(e))?;
        position.rows += batch.num_rows() as u64;
        fit(file, &batch, schema).map(Some)
    }
}

/// Opens the Parquet file `file` after its first `rows` rows, reading the columns `schema`
/// names.
fn open_parquet(
    file: &SourceFile,
    rows: u64,
    schema: &SchemaRef,
) -> Result<ParquetRecordBatchReader, EngineError> {
    match ObjectFile::open(file.location, file.entry).map_err(|e| file.err(e))? {
        Some(object) => read_parquet(file, object, rows, schema),
        None => {
            let path = file.display();
            let local = File::open(&path).map_err(|source| EngineError::Io {
                path: path.into(),
                source,
            })?;
            read_parquet(file, local, rows, schema)
        }
    }
}

/// Reads the Parquet `data` of `file` as [`open_parquet`] says.
fn read_parquet(
    file: &SourceFile,
    data: impl parquet::file::reader::ChunkReader + 'static,
    rows: u64,
    schema: &SchemaRef,
) -> Result<ParquetRecordBatchReader, EngineError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(data).map_err(|e| file.read_err(e))?;
    let wanted: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| schema.field_with_name(f.name()).is_ok())
        .map(|(k, _)| k)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    builder
        .with_projection(mask)
        .with_batch_size(RECORDS_PER_POLL)
        .with_offset(usize::try_from(rows).unwrap_or(usize::MAX))
        .build()
        .map_err(|e| file.read_err(e))
}

/// `batch`, read from `file`, with the columns of `schema` in its types.
fn fit(
    file: &SourceFile,
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, EngineError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(col) if col.data_type() == field.data_type() => Ok(col.clone()),
            Some(col) => arrow::compute::cast(col, field.data_type()).map_err(|e| {
                file.read_err(format!(
                    "column {} is {} in the file and does not cast to {}: {e}",
                    field.name(),
                    col.data_type(),
                    field.data_type()
                ))
            }),
            None if field.is_nullable() => Ok(new_null_array(field.data_type(), batch.num_rows())),
            None => Err(file.read_err(format!(
                "the file has no column {}, which is NOT NULL",
                field.name()
            ))),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
        .map_err(|e| file.read_err(e))
}

impl Source for FileSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn partitions(&self) -> Vec<String> {
        self.files_read
            .iter()
            .map(|f| self.location.display_file(&f.rel))
            .collect()
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        let Some(i) = self.finished.iter().position(|f| !f) else {
            return Ok(SourcePoll::Finished);
        };
        let file = SourceFile {
            location: &self.location,
            entry: &self.files_read[i],
        };
        let position = &mut self.positions[i];
        let batch = match &mut self.files {
            Files::Text(files) => files.poll(i, &file, position, &self.task)?,
            Files::Parquet(files) => files.poll(i, &file, position, &self.schema)?,
        };
        Ok(match batch {
            Some(batch) => SourcePoll::Batch {
                partition: i,
                batch,
            },
            None => {
                self.finished[i] = true;
                SourcePoll::PartitionFinished(i)
            }
        })
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        Ok(serde_json::to_vec(&self.positions).expect("positions serialize"))
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<(), EngineError> {
        if let Some(bytes) = state {
            let positions: Vec<Position> =
                serde_json::from_slice(bytes).map_err(|e| EngineError::CorruptState {
                    task: self.task.name.clone(),
                    reason: format!("file positions: {e}"),
                })?;
            if positions.len() != self.files_read.len() {
                return Err(EngineError::CorruptState {
                    task: self.task.name.clone(),
                    reason: format!(
                        "checkpoint has {} files, this instance reads {}",
                        positions.len(),
                        self.files_read.len()
                    ),
                });
            }
            self.positions = positions;
            match &mut self.files {
                Files::Text(files) => files.readers.iter_mut().for_each(|r| *r = None),
                Files::Parquet(files) => files.readers.iter_mut().for_each(|r| *r = None),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use arrow::array::{
        Array, AsArray, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use spate_engine::side_output::{SideOutputSink, SideOutputs};
    use spate_engine::sink::Sink;

    use super::*;
    use crate::file_sink::FileSink;
    use crate::testing::task;

    #[test]
    fn list_files_reads_partition_directories_and_skips_markers() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "dt=2026-12-01/hour=23/part-0-1.parquet",
            "dt=2026-12-01/hour=23/_SUCCESS",
            "dt=2026-12-02/hour=00/part-0-2.parquet",
            ".staging/part-0-3.inprogress",
            "_temporary/part-0-4.parquet",
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let files: Vec<String> = Location::Local(dir.path().into())
            .data_files()
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(
            files,
            [
                "dt=2026-12-01/hour=23/part-0-1.parquet",
                "dt=2026-12-02/hour=00/part-0-2.parquet"
            ]
        );
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("score", DataType::Float64, true),
            Field::new("price", DataType::Decimal128(8, 2), true),
            Field::new("day", DataType::Date32, true),
        ]))
    }

    fn rows(from: i64, n: i64) -> RecordBatch {
        let ids: Vec<i64> = (from..from + n).collect();
        let name = |i: &i64| match i % 4 {
            0 => None,
            1 => Some(format!("plain {i}")),
            2 => Some(format!("a, \"quoted\"\nline {i}")),
            _ => Some(String::new()),
        };
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(ids.iter().map(name).collect::<StringArray>()),
                Arc::new(TimestampMillisecondArray::from_iter(
                    ids.iter()
                        .map(|i| (i % 5 != 0).then_some(1_704_067_200_000 + i * 250)),
                )),
                Arc::new(Float64Array::from_iter(
                    ids.iter().map(|i| Some(*i as f64 / 8.0)),
                )),
                Arc::new(
                    Decimal128Array::from_iter(ids.iter().map(|i| Some(i128::from(*i) * 7)))
                        .with_precision_and_scale(8, 2)
                        .unwrap(),
                ),
                Arc::new(Date32Array::from_iter(
                    ids.iter().map(|i| Some(19_723 + *i as i32)),
                )),
            ],
        )
        .unwrap()
    }

    fn local(path: &Path) -> Location {
        Location::Local(path.to_path_buf())
    }

    /// Writes `batches` with a committed filesystem sink into `dir`.
    fn write(dir: &Path, format: FileFormat, batches: &[RecordBatch]) {
        let mut sink = FileSink::new(local(dir), format, 0).unwrap();
        sink.restore(None).unwrap();
        for (k, batch) in batches.iter().enumerate() {
            sink.write(batch).unwrap();
            sink.prepare_commit(k as u64 + 1).unwrap();
            sink.commit(k as u64 + 1).unwrap();
        }
    }

    /// Polls until the source finishes.
    fn drain(source: &mut FileSource) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        loop {
            match source.poll().unwrap() {
                SourcePoll::Batch { batch, .. } => batches.push(batch),
                SourcePoll::Finished => return batches,
                SourcePoll::Idle | SourcePoll::Watermark(_) | SourcePoll::PartitionFinished(_) => {}
            }
        }
    }

    fn sorted(batches: &[RecordBatch]) -> RecordBatch {
        let all = arrow::compute::concat_batches(&schema(), batches).unwrap();
        let order = arrow::compute::sort_to_indices(all.column(0), None, None).unwrap();
        arrow::compute::take_record_batch(&all, &order).unwrap()
    }

    #[test]
    fn parquet_written_by_the_sink_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let written = [rows(0, 5000), rows(5000, 3)];
        write(dir.path(), FileFormat::Parquet, &written);
        let mut source = FileSource::new(
            &local(dir.path()),
            FileFormat::Parquet,
            schema(),
            &task(0, 1),
        )
        .unwrap();
        assert_eq!(source.partitions().len(), 2);
        assert!(source.partitions().iter().all(|p| p.ends_with(".parquet")));
        assert_eq!(sorted(&drain(&mut source)), sorted(&written));
    }

    #[test]
    fn parquet_columns_are_matched_by_name_and_cast() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), FileFormat::Parquet, &[rows(0, 10)]);
        let table = Arc::new(Schema::new(vec![
            Field::new("price", DataType::Decimal128(8, 2), true),
            Field::new("id", DataType::Utf8, false),
            Field::new("missing", DataType::Int32, true),
        ]));
        let mut source = FileSource::new(
            &local(dir.path()),
            FileFormat::Parquet,
            table.clone(),
            &task(0, 1),
        )
        .unwrap();
        let batch = arrow::compute::concat_batches(&table, &drain(&mut source)).unwrap();
        assert_eq!(batch.schema(), table);
        let ids = StringArray::from_iter_values((0..10).map(|i| i.to_string()));
        assert_eq!(batch.column(1).as_string::<i32>(), &ids);
        assert_eq!(batch.column(2).null_count(), 10);
        let strict = Arc::new(Schema::new(vec![Field::new(
            "missing",
            DataType::Int32,
            false,
        )]));
        let mut source =
            FileSource::new(&local(dir.path()), FileFormat::Parquet, strict, &task(0, 1)).unwrap();
        let err = source.poll().unwrap_err().to_string();
        assert!(err.contains("no column missing"), "{err}");
    }

    #[test]
    fn parquet_restore_goes_on_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let written = [rows(0, 10_000), rows(10_000, 10_000)];
        write(dir.path(), FileFormat::Parquet, &written);
        let mut source = FileSource::new(
            &local(dir.path()),
            FileFormat::Parquet,
            schema(),
            &task(0, 1),
        )
        .unwrap();
        source.restore(None).unwrap();
        let mut read = Vec::new();
        while read.iter().map(RecordBatch::num_rows).sum::<usize>() < 14_000 {
            if let SourcePoll::Batch { batch, .. } = source.poll().unwrap() {
                read.push(batch);
            }
        }
        let state = source.snapshot(1).unwrap();
        source.poll().unwrap();
        let mut restored = FileSource::new(
            &local(dir.path()),
            FileFormat::Parquet,
            schema(),
            &task(0, 1),
        )
        .unwrap();
        restored.restore(Some(&state)).unwrap();
        read.extend(drain(&mut restored));
        assert_eq!(sorted(&read), sorted(&written));
    }

    #[derive(Debug, Default)]
    struct Collected(Mutex<Vec<SideRecord>>);

    impl SideOutputSink for Collected {
        fn send(&self, record: SideRecord) {
            self.0.lock().unwrap().push(record);
        }
    }

    #[test]
    fn csv_written_by_the_sink_reads_back_and_bad_records_are_dead_lettered() {
        let dir = tempfile::tempdir().unwrap();
        let written = [rows(1, 4999), rows(5000, 7)];
        write(dir.path(), FileFormat::Csv, &written);
        // Two instances split the files; together they read every row once.
        let mut read = Vec::new();
        for instance in 0..2 {
            let mut source = FileSource::new(
                &local(dir.path()),
                FileFormat::Csv,
                schema(),
                &task(instance, 2),
            )
            .unwrap();
            assert_eq!(source.partitions().len(), 1);
            read.extend(drain(&mut source));
        }
        // CSV has no NULL strings apart from empty ones: empty strings read back as NULL.
        let expected = sorted(&written);
        let got = sorted(&read);
        assert_eq!(got.num_rows(), expected.num_rows());
        for c in [0, 2, 3, 4, 5] {
            assert_eq!(got.column(c), expected.column(c), "column {c}");
        }
        let names = got.column(1).as_string::<i32>();
        for (row, name) in expected.column(1).as_string::<i32>().iter().enumerate() {
            assert_eq!(
                names.is_null(row),
                name.is_none_or(str::is_empty),
                "row {row}"
            );
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                assert_eq!(names.value(row), name);
            }
        }

        let file = dir.path().join("bad.csv");
        std::fs::write(
            &file,
            "1,\"two\nlines\",2024-01-01 00:00:00,1.5,2.50,2024-01-02\n\
             oops,x,,,,\n\
             \n\
             3,short\n\
             4,ok,,,,\n",
        )
        .unwrap();
        let collected = Arc::new(Collected::default());
        let mut bad_task = task(0, 1);
        bad_task.side_outputs = SideOutputs::new(collected.clone());
        let mut source =
            FileSource::new(&local(&file), FileFormat::Csv, schema(), &bad_task).unwrap();
        let batch = arrow::compute::concat_batches(&schema(), &drain(&mut source)).unwrap();
        assert_eq!(
            batch
                .column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values(),
            &[1, 4]
        );
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "two\nlines");
        let origins: Vec<String> = collected
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.origin.clone())
            .collect();
        let name = file.display();
        assert_eq!(origins, vec![format!("{name}:3"), format!("{name}:5")]);
        assert_eq!(
            bad_task
                .metrics
                .dead_letters
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    }

    #[test]
    fn text_positions_restore() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.csv");
        let text: String = (0..10_000)
            .map(|i| format!("{i},\"n\n{i}\",,,,\n"))
            .collect();
        std::fs::write(&file, text).unwrap();
        let narrow = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("c", DataType::Utf8, true),
            Field::new("d", DataType::Utf8, true),
        ]));
        let mut source =
            FileSource::new(&local(&file), FileFormat::Csv, narrow.clone(), &task(0, 1)).unwrap();
        let mut read = Vec::new();
        if let SourcePoll::Batch { batch, .. } = source.poll().unwrap() {
            read.push(batch);
        }
        let state = source.snapshot(1).unwrap();
        source.poll().unwrap();
        let mut restored =
            FileSource::new(&local(&file), FileFormat::Csv, narrow.clone(), &task(0, 1)).unwrap();
        restored.restore(Some(&state)).unwrap();
        read.extend(drain(&mut restored));
        let all = arrow::compute::concat_batches(&narrow, &read).unwrap();
        let ids = all.column(0).as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(ids.values().to_vec(), (0..10_000).collect::<Vec<i32>>());
        assert_eq!(all.column(1).as_string::<i32>().value(9_999), "n\n9999");
    }
}
