//! The filesystem source: NDJSON files, read once (a bounded source, as Flink's `filesystem`
//! connector in batch-like streaming use). Instance *i* reads the files whose index modulo the
//! parallelism is *i*; each file is one partition. A malformed line is dead-lettered with its
//! file and line number.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use spate_engine::EngineError;
use spate_engine::metrics::TaskMetrics;
use spate_engine::operator::TaskInfo;
use spate_engine::side_output::{SideOutputKind, SideRecord};
use spate_engine::source::{Source, SourcePoll};

use crate::format::json::JsonDecoder;

/// Lines decoded per poll.
const LINES_PER_POLL: usize = 4096;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    byte: u64,
    line: u64,
}

/// One instance of the filesystem NDJSON source.
pub struct FileSource {
    schema: SchemaRef,
    files: Vec<PathBuf>,
    positions: Vec<Position>,
    readers: Vec<Option<BufReader<File>>>,
    finished: Vec<bool>,
    decoder: JsonDecoder,
    lines: Vec<Vec<u8>>,
    task: TaskInfo,
}

fn io_err(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// The files under `path`: the file itself, or the regular files of a directory (sorted,
/// hidden files skipped).
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| io_err(path, e))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

impl FileSource {
    /// Instance `task.instance` reading its share of the files under `path`.
    pub fn new(path: &Path, schema: SchemaRef, task: &TaskInfo) -> Result<Self, EngineError> {
        let files: Vec<PathBuf> = list_files(path)?
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % task.parallelism == task.instance)
            .map(|(_, f)| f)
            .collect();
        let n = files.len();
        Ok(FileSource {
            decoder: JsonDecoder::new(schema.clone())?,
            schema,
            positions: vec![Position::default(); n],
            readers: (0..n).map(|_| None).collect(),
            finished: vec![false; n],
            files,
            lines: Vec::new(),
            task: task.clone(),
        })
    }

    fn read_lines(&mut self, i: usize) -> Result<usize, EngineError> {
        let path = self.files[i].clone();
        if self.readers[i].is_none() {
            let mut f = File::open(&path).map_err(|e| io_err(&path, e))?;
            f.seek(SeekFrom::Start(self.positions[i].byte))
                .map_err(|e| io_err(&path, e))?;
            self.readers[i] = Some(BufReader::with_capacity(1 << 20, f));
        }
        let reader = self.readers[i].as_mut().expect("opened above");
        let mut count = 0;
        while count < LINES_PER_POLL {
            if self.lines.len() <= count {
                self.lines.push(Vec::new());
            }
            let buf = &mut self.lines[count];
            buf.clear();
            let n = reader
                .read_until(b'\n', buf)
                .map_err(|e| io_err(&path, e))?;
            if n == 0 {
                break;
            }
            self.positions[i].byte += n as u64;
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            count += 1;
        }
        Ok(count)
    }
}

impl Source for FileSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn partitions(&self) -> Vec<String> {
        self.files.iter().map(|f| f.display().to_string()).collect()
    }

    fn poll(&mut self) -> Result<SourcePoll, EngineError> {
        let Some(i) = self.finished.iter().position(|f| !f) else {
            return Ok(SourcePoll::Finished);
        };
        let count = self.read_lines(i)?;
        if count == 0 {
            self.finished[i] = true;
            self.readers[i] = None;
            return Ok(SourcePoll::PartitionFinished(i));
        }
        let first_line = self.positions[i].line;
        self.positions[i].line += count as u64;
        let lines = &self.lines[..count];
        let non_empty = lines.iter().map(Vec::as_slice).filter(|l| !l.is_empty());
        let (batch, rejected) = self.decoder.decode(non_empty.clone())?;
        if !rejected.is_empty() {
            let numbered: Vec<(u64, &[u8])> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.is_empty())
                .map(|(k, l)| (first_line + k as u64 + 1, l.as_slice()))
                .collect();
            TaskMetrics::add(&self.task.metrics.dead_letters, rejected.len() as u64);
            for r in rejected {
                let (line, payload) = numbered[r.index];
                self.task.side_outputs.send(SideRecord {
                    kind: SideOutputKind::DeadLetter,
                    reason: r.reason,
                    origin: format!("{}:{line}", self.files[i].display()),
                    payload: payload.to_vec(),
                });
            }
        }
        Ok(SourcePoll::Batch {
            partition: i,
            batch,
        })
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, EngineError> {
        Ok(serde_json::to_vec(&self.positions).expect("positions serialize"))
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<(), EngineError> {
        if let Some(bytes) = state {
            let positions: Vec<Position> =
                serde_json::from_slice(bytes).map_err(|e| EngineError::CorruptState {
                    task: self.task.name.clone(),
                    reason: format!("file positions: {e}"),
                })?;
            if positions.len() != self.files.len() {
                return Err(EngineError::CorruptState {
                    task: self.task.name.clone(),
                    reason: format!(
                        "checkpoint has {} files, this instance reads {}",
                        positions.len(),
                        self.files.len()
                    ),
                });
            }
            self.positions = positions;
            self.readers.iter_mut().for_each(|r| *r = None);
        }
        Ok(())
    }
}
