//! Lookup joins: each row of a stream is joined with the rows of a dimension table that match
//! its key (`JOIN dim FOR SYSTEM_TIME AS OF s.proc_time ON …`).
//!
//! The dimension table comes from a bounded source that the operator reads to its end into
//! memory (Flink's `FULL` lookup cache), and reads again every reload interval if one is set.
//! Rows whose key has a NULL never match, as in SQL.
//!
//! A connector that can query by key (JDBC) may instead be given a [`KeyedLookup`]: the
//! distinct keys of each batch are fetched with one [`KeyLookup::lookup`] call, and kept in a
//! [`PartialCache`] (Flink's `PARTIAL`) or not at all (`NONE`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use crate::changelog;
use crate::error::{EngineError, Result};
use crate::operator::{Operator, Output, TaskInfo};
use crate::source::{SourceFactory, SourcePoll};

/// Dimension rows fetched by key, for lookup joins that do not hold the whole table.
pub trait KeyLookup: Send {
    /// The dimension rows (of [`LookupJoinSpec::dimension_schema`]) whose lookup keys equal one
    /// of `keys`: one array per key of [`LookupJoinSpec::dimension_keys`], one row per
    /// distinct key, none NULL.
    fn lookup(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch>;
}

/// Builds a [`KeyLookup`] per task of the lookup join.
pub type KeyLookupFactory = Arc<dyn Fn(&TaskInfo) -> Result<Box<dyn KeyLookup>> + Send + Sync>;

/// Flink's `PARTIAL` lookup cache: keys looked up recently, with their rows (none for a key
/// the table does not have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialCache {
    /// Keys kept at most (`lookup.partial-cache.max-rows`); the least recently used go first.
    pub max_rows: usize,
    /// A key is fetched again this long after it was fetched.
    pub expire_after_write: Option<Duration>,
    /// A key is fetched again this long after it was last used.
    pub expire_after_access: Option<Duration>,
    /// Whether a key the table does not have is remembered as missing
    /// (`lookup.partial-cache.cache-missing-key`, true by default as in Flink); when not, it is
    /// asked again in every batch that holds it.
    pub cache_missing_key: bool,
}

/// Lookups by key in place of the `FULL` cache.
#[derive(Clone)]
pub struct KeyedLookup {
    /// Fetches rows by key.
    pub lookup: KeyLookupFactory,
    /// The cache; `None` fetches every batch's keys (Flink's `NONE`).
    pub cache: Option<PartialCache>,
}

/// How a lookup join is made.
#[derive(Clone)]
pub struct LookupJoinSpec {
    /// The dimension table's name, for messages.
    pub table: String,
    /// Its rows: a bounded source.
    pub source: SourceFactory,
    /// The schema of the dimension rows.
    pub dimension_schema: SchemaRef,
    /// Key expressions over the stream's rows.
    pub stream_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Key expressions over the dimension's rows, pairwise equal to `stream_keys`.
    pub dimension_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// A further condition over the joined row (stream columns, then dimension columns).
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// `LEFT JOIN`: stream rows without a match are kept, with NULL dimension columns.
    pub keep_unmatched: bool,
    /// Read the dimension table again this often.
    pub reload_every: Option<Duration>,
    /// The joined rows' schema (without a row kind).
    pub output_schema: SchemaRef,
    /// Fetch rows per key instead of reading `source` whole.
    pub keyed: Option<KeyedLookup>,
}

impl std::fmt::Debug for LookupJoinSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupJoinSpec")
            .field("table", &self.table)
            .field("keep_unmatched", &self.keep_unmatched)
            .field("reload_every", &self.reload_every)
            .finish()
    }
}

/// The dimension table in memory: its rows and, per key, the rows that have it.
struct Dimension {
    rows: RecordBatch,
    by_key: HashMap<OwnedRow, Vec<u32>>,
    loaded_at: Instant,
}

/// A cached key's rows.
struct Cached {
    rows: RecordBatch,
    written: Instant,
    accessed: Instant,
}

/// The state of a join by key.
struct Keyed {
    lookup: Box<dyn KeyLookup>,
    cache: Option<PartialCache>,
    entries: HashMap<OwnedRow, Cached>,
}

impl Keyed {
    /// Whether `entry` may still be used.
    fn fresh(&self, entry: &Cached, now: Instant) -> bool {
        let Some(cache) = self.cache else {
            return false;
        };
        (cache.cache_missing_key || entry.rows.num_rows() > 0)
            && cache
                .expire_after_write
                .is_none_or(|d| now.duration_since(entry.written) < d)
            && cache
                .expire_after_access
                .is_none_or(|d| now.duration_since(entry.accessed) < d)
    }

    /// Drops expired entries, then the least recently used, down to the maximum.
    fn evict(&mut self, now: Instant) {
        let Some(cache) = self.cache else {
            self.entries.clear();
            return;
        };
        if self.entries.len() <= cache.max_rows {
            return;
        }
        let expired: Vec<OwnedRow> = self
            .entries
            .iter()
            .filter(|(_, e)| !self.fresh(e, now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.entries.remove(&key);
        }
        if self.entries.len() > cache.max_rows {
            let mut by_age: Vec<(Instant, OwnedRow)> = self
                .entries
                .iter()
                .map(|(k, e)| (e.accessed, k.clone()))
                .collect();
            by_age.sort_by_key(|(t, _)| *t);
            let excess = self.entries.len() - cache.max_rows;
            for (_, key) in by_age.into_iter().take(excess) {
                self.entries.remove(&key);
            }
        }
    }
}

/// The lookup join operator.
pub struct LookupJoin {
    spec: LookupJoinSpec,
    task: TaskInfo,
    converter: RowConverter,
    dimension: Option<Dimension>,
    keyed: Option<Keyed>,
    /// The output schema, with the row kind when the stream is a changelog.
    output: Option<SchemaRef>,
}

impl std::fmt::Debug for LookupJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupJoin")
            .field("spec", &self.spec)
            .finish()
    }
}

impl LookupJoin {
    /// A lookup join run by `task`.
    pub fn new(spec: LookupJoinSpec, task: &TaskInfo) -> Result<Self> {
        if spec.stream_keys.len() != spec.dimension_keys.len() || spec.stream_keys.is_empty() {
            return Err(EngineError::plan(format!(
                "a lookup join on {} needs equal numbers (at least one) of keys on each side",
                spec.table
            )));
        }
        let fields = spec
            .dimension_keys
            .iter()
            .map(|k| Ok(SortField::new(k.data_type(&spec.dimension_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        let keyed = match &spec.keyed {
            Some(k) => Some(Keyed {
                lookup: (k.lookup)(task)?,
                cache: k.cache,
                entries: HashMap::new(),
            }),
            None => None,
        };
        Ok(LookupJoin {
            keyed,
            converter: RowConverter::new(fields)?,
            task: task.clone(),
            spec,
            dimension: None,
            output: None,
        })
    }

    /// Reads the dimension table to its end.
    fn load(&self) -> Result<Dimension> {
        // Every instance joins against the whole table: read it as its only reader.
        let whole = TaskInfo {
            instance: 0,
            parallelism: 1,
            ..self.task.clone()
        };
        let mut source = (self.spec.source)(&whole)?;
        source.restore(None)?;
        let mut batches = Vec::new();
        loop {
            match source.poll()? {
                SourcePoll::Batch { batch, .. } => batches.push(batch),
                SourcePoll::Finished => break,
                SourcePoll::Idle => std::thread::sleep(Duration::from_millis(1)),
                _ => {}
            }
        }
        let rows = concat_batches(&self.spec.dimension_schema, &batches)?;
        let keys = evaluate(&self.spec.dimension_keys, &rows)?;
        let converted = self.converter.convert_columns(&keys)?;
        let mut by_key: HashMap<OwnedRow, Vec<u32>> = HashMap::new();
        for i in 0..rows.num_rows() {
            if keys.iter().any(|k| k.is_null(i)) {
                continue;
            }
            by_key
                .entry(converted.row(i).owned())
                .or_default()
                .push(i as u32);
        }
        tracing::debug!(table = %self.spec.table, rows = rows.num_rows(), "lookup table loaded");
        Ok(Dimension {
            rows,
            by_key,
            loaded_at: Instant::now(),
        })
    }

    /// The dimension rows of the distinct non-NULL keys `keys` of a batch (`probe` converted),
    /// from the cache or fetched.
    fn fetch(&mut self, keys: &[ArrayRef], probe: &arrow::row::Rows) -> Result<Dimension> {
        let keyed = self.keyed.as_mut().expect("a keyed lookup join");
        let now = Instant::now();
        let mut distinct: HashMap<OwnedRow, usize> = HashMap::new();
        for i in 0..probe.num_rows() {
            if keys.iter().any(|k| k.is_null(i)) {
                continue;
            }
            distinct.entry(probe.row(i).owned()).or_insert(i);
        }
        let mut missing: Vec<u32> = distinct
            .iter()
            .filter(|(k, _)| !keyed.entries.get(*k).is_some_and(|e| keyed.fresh(e, now)))
            .map(|(_, &i)| i as u32)
            .collect();
        missing.sort_unstable();
        if !missing.is_empty() {
            let indices = UInt32Array::from(missing.clone());
            let wanted = keys
                .iter()
                .map(|k| take(k.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()?;
            let rows = keyed.lookup.lookup(&wanted)?;
            let found_keys = evaluate(&self.spec.dimension_keys, &rows)?;
            let found = self.converter.convert_columns(&found_keys)?;
            let mut by_key: HashMap<OwnedRow, Vec<u32>> = HashMap::new();
            for j in 0..rows.num_rows() {
                by_key
                    .entry(found.row(j).owned())
                    .or_default()
                    .push(j as u32);
            }
            for &i in &missing {
                let key = probe.row(i as usize).owned();
                let matches = UInt32Array::from(by_key.remove(&key).unwrap_or_default());
                let columns = rows
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &matches, None))
                    .collect::<Result<Vec<_>, _>>()?;
                let cached = Cached {
                    rows: RecordBatch::try_new(rows.schema(), columns)?,
                    written: now,
                    accessed: now,
                };
                keyed.entries.insert(key, cached);
            }
        }
        let mut batches = Vec::with_capacity(distinct.len());
        let mut by_key: HashMap<OwnedRow, Vec<u32>> = HashMap::new();
        let mut offset = 0u32;
        for key in distinct.into_keys() {
            let entry = keyed.entries.get_mut(&key).expect("fetched above");
            entry.accessed = now;
            let n = entry.rows.num_rows() as u32;
            if n > 0 {
                by_key.insert(key, (offset..offset + n).collect());
                batches.push(entry.rows.clone());
                offset += n;
            }
        }
        keyed.evict(now);
        Ok(Dimension {
            rows: concat_batches(&self.spec.dimension_schema, &batches)?,
            by_key,
            loaded_at: now,
        })
    }

    /// Loads the dimension table, or reloads it when due.
    fn refresh(&mut self) -> Result<()> {
        let stale = match (&self.dimension, self.spec.reload_every) {
            (None, _) => true,
            (Some(d), Some(every)) => d.loaded_at.elapsed() >= every,
            (Some(_), None) => false,
        };
        if stale {
            self.dimension = Some(self.load()?);
        }
        Ok(())
    }
}

fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| Ok(e.evaluate(batch)?.into_array(batch.num_rows())?))
        .collect()
}

impl Operator for LookupJoin {
    fn name(&self) -> String {
        format!("lookup join {}", self.spec.table)
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let is_changelog = changelog::is_changelog(batch.schema_ref());
        let schema = if is_changelog {
            let spec = &self.spec;
            Arc::clone(
                self.output
                    .get_or_insert_with(|| changelog::with_row_kind(&spec.output_schema)),
            )
        } else {
            Arc::clone(&self.spec.output_schema)
        };
        let stream = changelog::without_row_kind(&batch);
        let keys = evaluate(&self.spec.stream_keys, &stream)?;
        let probe = self.converter.convert_columns(&keys)?;
        let fetched;
        let dimension = if self.keyed.is_some() {
            fetched = self.fetch(&keys, &probe)?;
            &fetched
        } else {
            self.refresh()?;
            self.dimension.as_ref().expect("refreshed above")
        };
        // Candidate pairs: (stream row, dimension row).
        let mut left = Vec::new();
        let mut right = Vec::new();
        for i in 0..stream.num_rows() {
            if keys.iter().any(|k| k.is_null(i)) {
                continue;
            }
            if let Some(matches) = dimension.by_key.get(&probe.row(i).owned()) {
                for &j in matches {
                    left.push(i as u32);
                    right.push(Some(j));
                }
            }
        }
        let joined = |left: &[u32], right: &[Option<u32>]| -> Result<Vec<ArrayRef>> {
            let left = UInt32Array::from(left.to_vec());
            let right = UInt32Array::from(right.to_vec());
            let mut columns = stream
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &left, None))
                .collect::<Result<Vec<_>, _>>()?;
            for c in dimension.rows.columns() {
                columns.push(take(c.as_ref(), &right, None)?);
            }
            Ok(columns)
        };
        if let Some(filter) = &self.spec.filter {
            let candidates =
                RecordBatch::try_new(Arc::clone(&self.spec.output_schema), joined(&left, &right)?)?;
            let passed = filter
                .evaluate(&candidates)?
                .into_array(candidates.num_rows())?;
            let passed = passed
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| EngineError::plan("a join condition must be BOOLEAN"))?;
            let keep: Vec<usize> = (0..passed.len())
                .filter(|&k| passed.is_valid(k) && passed.value(k))
                .collect();
            left = keep.iter().map(|&k| left[k]).collect();
            right = keep.iter().map(|&k| right[k]).collect();
        }
        if self.spec.keep_unmatched {
            let mut matched = vec![false; stream.num_rows()];
            for &i in &left {
                matched[i as usize] = true;
            }
            for (i, m) in matched.iter().enumerate() {
                if !m {
                    left.push(i as u32);
                    right.push(None);
                }
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        let mut columns = joined(&left, &right)?;
        if is_changelog {
            let kinds = batch.column(batch.num_columns() - 1);
            columns.push(take(kinds.as_ref(), &UInt32Array::from(left), None)?);
        }
        out.data(RecordBatch::try_new(schema, columns)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::physical_expr::expressions::Column;

    use super::*;
    use crate::metrics::TaskMetrics;
    use crate::operator::Emitted;

    /// Dimension rows id → "n<id>" for ids 1..=3, recording the keys asked for.
    struct Fake {
        asked: Arc<Mutex<Vec<Vec<i64>>>>,
        schema: SchemaRef,
    }

    impl KeyLookup for Fake {
        fn lookup(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch> {
            let mut ids: Vec<i64> = keys[0].as_primitive::<Int64Type>().values().to_vec();
            ids.sort();
            self.asked.lock().unwrap().push(ids.clone());
            let found: Vec<i64> = ids.into_iter().filter(|id| (1..=3).contains(id)).collect();
            let names: Vec<String> = found.iter().map(|id| format!("n{id}")).collect();
            Ok(RecordBatch::try_new(
                Arc::clone(&self.schema),
                vec![
                    Arc::new(Int64Array::from(found)),
                    Arc::new(StringArray::from(names)),
                ],
            )?)
        }
    }

    fn join(cache: Option<PartialCache>) -> (LookupJoin, Arc<Mutex<Vec<Vec<i64>>>>) {
        let dimension = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (schema, calls) = (Arc::clone(&dimension), Arc::clone(&asked));
        let spec = LookupJoinSpec {
            table: "dim".into(),
            source: Arc::new(|_| Err(EngineError::plan("read by key only"))),
            dimension_schema: Arc::clone(&dimension),
            stream_keys: vec![Arc::new(Column::new("k", 0))],
            dimension_keys: vec![Arc::new(Column::new("id", 0))],
            filter: None,
            keep_unmatched: true,
            reload_every: None,
            output_schema: Arc::new(Schema::new(vec![
                Field::new("k", DataType::Int64, true),
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
            ])),
            keyed: Some(KeyedLookup {
                lookup: Arc::new(move |_| {
                    Ok(Box::new(Fake {
                        asked: Arc::clone(&calls),
                        schema: Arc::clone(&schema),
                    }) as Box<_>)
                }),
                cache,
            }),
        };
        let task = TaskInfo {
            name: "lookup[0]".into(),
            instance: 0,
            parallelism: 1,
            side_outputs: Default::default(),
            metrics: Arc::new(TaskMetrics::new()),
        };
        (LookupJoin::new(spec, &task).unwrap(), asked)
    }

    /// Joins `keys` and returns (k, name) of the output, "" for no match.
    fn run(join: &mut LookupJoin, keys: &[Option<i64>]) -> Vec<(Option<i64>, String)> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(keys.to_vec()))]).unwrap();
        let mut out = Output::default();
        join.process_batch(batch, &mut out).unwrap();
        let mut rows = Vec::new();
        for item in out.take() {
            let Emitted::Data(b) = item else { continue };
            let (k, name) = (
                b.column(0).as_primitive::<Int64Type>(),
                b.column(2).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                rows.push((
                    k.is_valid(i).then(|| k.value(i)),
                    if name.is_valid(i) {
                        name.value(i).to_string()
                    } else {
                        String::new()
                    },
                ));
            }
        }
        rows.sort();
        rows
    }

    #[test]
    fn keyed_lookups_fetch_distinct_keys_once_and_cache_them() {
        let cache = PartialCache {
            max_rows: 3,
            expire_after_write: None,
            expire_after_access: None,
            cache_missing_key: true,
        };
        let (mut join, asked) = join(Some(cache));
        let got = run(&mut join, &[Some(1), Some(2), Some(1), Some(9), None]);
        assert_eq!(
            got,
            vec![
                (None, String::new()),
                (Some(1), "n1".into()),
                (Some(1), "n1".into()),
                (Some(2), "n2".into()),
                (Some(9), String::new()),
            ]
        );
        // Cached keys, found or missing, are not asked again; new ones are.
        run(&mut join, &[Some(1), Some(9), Some(3)]);
        assert_eq!(*asked.lock().unwrap(), vec![vec![1, 2, 9], vec![3]]);
        // Four keys were used and three are kept: the least recently used (2) went.
        run(&mut join, &[Some(2), Some(3)]);
        assert_eq!(asked.lock().unwrap().last(), Some(&vec![2]));
    }

    #[test]
    fn keyed_lookups_refetch_after_expiry_or_without_cache() {
        let cache = PartialCache {
            max_rows: 100,
            expire_after_write: Some(Duration::ZERO),
            expire_after_access: None,
            cache_missing_key: true,
        };
        let (mut join, asked) = join(Some(cache));
        run(&mut join, &[Some(1)]);
        run(&mut join, &[Some(1)]);
        assert_eq!(*asked.lock().unwrap(), vec![vec![1], vec![1]]);
        let (mut join, asked) = self::join(None);
        assert_eq!(run(&mut join, &[Some(3)]), vec![(Some(3), "n3".into())]);
        run(&mut join, &[Some(3)]);
        assert_eq!(*asked.lock().unwrap(), vec![vec![3], vec![3]]);
    }

    #[test]
    fn missing_keys_are_asked_again_unless_cached() {
        let cache = PartialCache {
            max_rows: 100,
            expire_after_write: None,
            expire_after_access: None,
            cache_missing_key: false,
        };
        let (mut join, asked) = join(Some(cache));
        assert_eq!(
            run(&mut join, &[Some(1), Some(9)]),
            vec![(Some(1), "n1".into()), (Some(9), String::new())]
        );
        assert_eq!(
            run(&mut join, &[Some(1), Some(9)]),
            vec![(Some(1), "n1".into()), (Some(9), String::new())]
        );
        // The found key is cached; the missing one is asked again.
        assert_eq!(*asked.lock().unwrap(), vec![vec![1, 9], vec![9]]);
    }
}
