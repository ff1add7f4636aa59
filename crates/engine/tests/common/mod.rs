//! Shared test harness: a seeded random generator, an in-memory partitioned source, an
//! in-memory two-phase-commit sink, a side-output collector, aggregate builders and a
//! brute-force reference for windowed aggregates.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType,
    UInt64Type,
};
use datafusion::logical_expr::Operator as BinOp;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::{binary, cast, col, lit};
use spate_engine::exchange::Partitioning;
use spate_engine::job::{JobGraph, Link, SourceStage, Stage};
use spate_engine::operator::{OperatorFactory, TaskInfo};
use spate_engine::side_output::{SideOutputKind, SideOutputSink, SideRecord};
use spate_engine::sink::{Sink, SinkFactory};
use spate_engine::source::{Source, SourceFactory, SourcePoll};
use spate_engine::time::WatermarkStrategy;
use spate_engine::window::{
    AggregateSpec, Aggregation, LatePolicy, LocalWindowAggregate, SlicedWindowAggregate,
    WindowConfig, WindowKind,
};
use spate_engine::{EngineError, Result};

// ---------------------------------------------------------------------------------------------
// Randomness

/// xorshift64*: small, seeded, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// One input row: `key`, `ts` (rowtime, ms), `v` (BIGINT), `vf` (DOUBLE).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub key: String,
    pub ts: i64,
    pub v: i64,
    pub vf: f64,
}

impl Event {
    pub fn new(key: &str, ts: i64, v: i64) -> Self {
        Event {
            key: key.to_string(),
            ts,
            v,
            vf: v as f64,
        }
    }
}

pub const ROWTIME: usize = 1;

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("v", DataType::Int64, false),
        Field::new("vf", DataType::Float64, false),
    ]))
}

pub fn batch(events: &[Event]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            events.iter().map(|e| e.key.as_str()),
        )),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            events.iter().map(|e| e.ts),
        )),
        Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.v))),
        Arc::new(Float64Array::from_iter_values(events.iter().map(|e| e.vf))),
    ];
    RecordBatch::try_new(schema(), cols).expect("valid batch")
}

/// Cuts a partition's events into batches of 1..=max_rows rows, keeping their order.
pub fn chunk(events: &[Event], rng: &mut Rng, max_rows: u64) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < events.len() {
        let n = (1 + rng.below(max_rows) as usize).min(events.len() - at);
        out.push(batch(&events[at..at + n]));
        at += n;
    }
    out
}

/// Parameters of generated out-of-order input.
#[derive(Debug, Clone)]
pub struct Gen {
    pub seed: u64,
    pub partitions: usize,
    pub events_per_partition: usize,
    pub keys: u64,
    /// Largest step of a partition's base clock between two events (ms).
    pub max_step: i64,
    /// Disorder: each event is at base + [0, disorder) (ms). Keep it at most the watermark
    /// bound so that no event is late.
    pub disorder: i64,
    /// Values are uniform in 0..value_range.
    pub value_range: u64,
}

/// Per partition, events in arrival order. Within a partition, each event is at its base
/// clock plus a jitter below `disorder`, and the base clock never goes backwards: with a
/// watermark bound of at least `disorder`, no event is ever late.
pub fn generate(g: &Gen) -> Vec<Vec<Event>> {
    let mut rng = Rng::new(g.seed);
    (0..g.partitions)
        .map(|_| {
            let mut base = rng.range(0, 1000);
            (0..g.events_per_partition)
                .map(|_| {
                    base += rng.range(0, g.max_step + 1);
                    let ts = base + rng.range(0, g.disorder.max(1));
                    let key = format!("k{}", rng.below(g.keys));
                    let v = rng.below(g.value_range) as i64;
                    let vf = rng.unit() * 1000.0;
                    Event { key, ts, v, vf }
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Source

/// Makes a job fail once: the source returns an error when `after` batches were handed out.
#[derive(Debug)]
pub struct FailPlan {
    armed: AtomicBool,
    after: usize,
    emitted: AtomicUsize,
}

impl FailPlan {
    pub fn new(after: usize) -> Arc<Self> {
        Arc::new(FailPlan {
            armed: AtomicBool::new(true),
            after,
            emitted: AtomicUsize::new(0),
        })
    }

    pub fn fired(&self) -> bool {
        !self.armed.load(Ordering::SeqCst)
    }
}

/// An in-memory source: global partitions of pre-built batches, partition `g` read by
/// instance `g % parallelism`.
#[derive(Clone)]
pub struct SourceSpec {
    pub schema: SchemaRef,
    pub partitions: Arc<Vec<Vec<RecordBatch>>>,
    /// Polls answered with `Idle` after each batch (to make the source slow).
    pub idle_polls_between: usize,
    /// If set, the source stays open (answers `Idle`) once its data is read, until the flag
    /// is raised; then it reports its partitions finished.
    pub hold_open: Option<Arc<AtomicBool>>,
    /// With `hold_open`: batches at this index or later of each partition are held back too
    /// until the flag is raised.
    pub gate_after: usize,
    /// Fail once after this many batches (over all instances).
    pub fail: Option<Arc<FailPlan>>,
    /// Batches handed out, over all instances.
    pub polled: Arc<AtomicUsize>,
}

impl SourceSpec {
    pub fn new(partitions: Vec<Vec<RecordBatch>>) -> Self {
        SourceSpec {
            schema: schema(),
            partitions: Arc::new(partitions),
            idle_polls_between: 0,
            hold_open: None,
            gate_after: usize::MAX,
            fail: None,
            polled: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn from_events(partitions: &[Vec<Event>], rng: &mut Rng, max_rows: u64) -> Self {
        SourceSpec::new(partitions.iter().map(|p| chunk(p, rng, max_rows)).collect())
    }

    pub fn factory(&self) -> SourceFactory {
        let spec = self.clone();
        Arc::new(move |task: &TaskInfo| {
            let mine: Vec<usize> = (0..spec.partitions.len())
                .filter(|g| g % task.parallelism == task.instance)
                .collect();
            Ok(Box::new(TestSource {
                spec: spec.clone(),
                positions: vec![0; mine.len()],
                reported: vec![false; mine.len()],
                mine,
                next: 0,
                pending_idle: 0,
            }) as Box<dyn Source>)
        })
    }
}

pub struct TestSource {
    spec: SourceSpec,
    mine: Vec<usize>,
    positions: Vec<usize>,
    reported: Vec<bool>,
    next: usize,
    pending_idle: usize,
}

impl Source for TestSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.spec.schema)
    }

    fn partitions(&self) -> Vec<String> {
        self.mine.iter().map(|g| format!("test/{g}")).collect()
    }

    fn poll(&mut self) -> Result<SourcePoll> {
        if self.pending_idle > 0 {
            self.pending_idle -= 1;
            return Ok(SourcePoll::Idle);
        }
        let n = self.mine.len();
        let gated = self
            .spec
            .hold_open
            .as_ref()
            .is_some_and(|f| !f.load(Ordering::SeqCst));
        for k in 0..n {
            let p = (self.next + k) % n;
            let data = &self.spec.partitions[self.mine[p]];
            if gated && self.positions[p] >= self.spec.gate_after {
                continue;
            }
            if self.positions[p] < data.len() {
                if let Some(plan) = &self.spec.fail
                    && plan.armed.load(Ordering::SeqCst)
                    && plan.emitted.fetch_add(1, Ordering::SeqCst) >= plan.after
                {
                    plan.armed.store(false, Ordering::SeqCst);
                    return Err(EngineError::Source {
                        name: "test".into(),
                        message: "injected failure".into(),
                    });
                }
                let batch = data[self.positions[p]].clone();
                self.positions[p] += 1;
                self.next = p + 1;
                self.pending_idle = self.spec.idle_polls_between;
                self.spec.polled.fetch_add(1, Ordering::SeqCst);
                return Ok(SourcePoll::Batch {
                    partition: p,
                    batch,
                });
            }
        }
        if gated {
            return Ok(SourcePoll::Idle);
        }
        if let Some(p) = self.reported.iter().position(|r| !r) {
            self.reported[p] = true;
            return Ok(SourcePoll::PartitionFinished(p));
        }
        Ok(SourcePoll::Finished)
    }

    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        Ok(self
            .positions
            .iter()
            .flat_map(|p| (*p as u64).to_le_bytes())
            .collect())
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        if let Some(state) = state {
            assert_eq!(state.len(), 8 * self.positions.len(), "source state size");
            for (i, c) in state.chunks(8).enumerate() {
                self.positions[i] = u64::from_le_bytes(c.try_into().unwrap()) as usize;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Sink

/// What the in-memory "external system" holds. Shared between runs of a job, as a real
/// transactional store would be.
#[derive(Default)]
pub struct SinkStore {
    /// Pre-committed transactions (durable, not visible), by (instance, checkpoint).
    pub prepared: BTreeMap<(usize, u64), Vec<RecordBatch>>,
    /// Committed transactions (visible), by (instance, checkpoint).
    pub committed: BTreeMap<(usize, u64), Vec<RecordBatch>>,
    /// Every write in order, committed or not (to watch progress while a job runs).
    pub written: Vec<(Instant, RecordBatch)>,
    /// Number of `write` calls.
    pub writes: usize,
    /// Largest (batches polled by the source − batches written), seen at each write.
    pub max_lag: usize,
    /// Rows of transactions aborted on restore.
    pub aborted_rows: usize,
}

pub type SharedStore = Arc<Mutex<SinkStore>>;

pub fn new_store() -> SharedStore {
    Arc::new(Mutex::new(SinkStore::default()))
}

impl SinkStore {
    pub fn committed_batches(&self) -> Vec<RecordBatch> {
        self.committed.values().flatten().cloned().collect()
    }

    pub fn written_batches(&self) -> Vec<RecordBatch> {
        self.written.iter().map(|(_, b)| b.clone()).collect()
    }
}

#[derive(Clone, Default)]
pub struct SinkOptions {
    /// Sleep this long in every write.
    pub write_delay: Option<Duration>,
    /// Source poll counter, to record how far ahead of the sink the source got.
    pub polled: Option<Arc<AtomicUsize>>,
}

/// A two-phase-commit sink: rows written between two checkpoints form a transaction that is
/// pre-committed at the barrier and committed once the checkpoint is durable.
pub struct CollectSink {
    instance: usize,
    store: SharedStore,
    buffer: Vec<RecordBatch>,
    /// Pre-committed, not yet committed transactions.
    open: Vec<u64>,
    options: SinkOptions,
}

pub fn sink_factory(store: &SharedStore, options: SinkOptions) -> SinkFactory {
    let store = Arc::clone(store);
    Arc::new(move |task: &TaskInfo| {
        Ok(Box::new(CollectSink {
            instance: task.instance,
            store: Arc::clone(&store),
            buffer: Vec::new(),
            open: Vec::new(),
            options: options.clone(),
        }) as Box<dyn Sink>)
    })
}

fn encode_ids(ids: &[u64]) -> Vec<u8> {
    ids.iter().flat_map(|i| i.to_le_bytes()).collect()
}

fn decode_ids(b: &[u8]) -> Vec<u64> {
    b.chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

impl CollectSink {
    fn commit_txn(&self, store: &mut SinkStore, id: u64) {
        let k = (self.instance, id);
        if let Some(rows) = store.prepared.remove(&k) {
            let prev = store.committed.insert(k, rows);
            assert!(prev.is_none(), "transaction {k:?} committed twice");
        }
    }
}

impl Sink for CollectSink {
    fn name(&self) -> String {
        "collect".into()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if let Some(d) = self.options.write_delay {
            std::thread::sleep(d);
        }
        let mut s = self.store.lock().unwrap();
        s.writes += 1;
        if let Some(p) = &self.options.polled {
            let lag = p.load(Ordering::SeqCst).saturating_sub(s.writes);
            s.max_lag = s.max_lag.max(lag);
        }
        s.written.push((Instant::now(), batch.clone()));
        self.buffer.push(batch.clone());
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<u8>> {
        let mut s = self.store.lock().unwrap();
        let k = (self.instance, checkpoint);
        assert!(
            !s.prepared.contains_key(&k) && !s.committed.contains_key(&k),
            "transaction {k:?} prepared twice"
        );
        s.prepared.insert(k, std::mem::take(&mut self.buffer));
        self.open.push(checkpoint);
        Ok(encode_ids(&self.open))
    }

    fn commit(&mut self, checkpoint: u64) -> Result<()> {
        let mut s = self.store.lock().unwrap();
        let (done, keep): (Vec<u64>, Vec<u64>) =
            self.open.iter().partition(|id| **id <= checkpoint);
        for id in done {
            self.commit_txn(&mut s, id);
        }
        self.open = keep;
        Ok(())
    }

    fn restore(&mut self, pending: Option<&[u8]>) -> Result<()> {
        let mut s = self.store.lock().unwrap();
        let ids = pending.map(decode_ids).unwrap_or_default();
        for id in &ids {
            self.commit_txn(&mut s, *id);
        }
        // Abort whatever this instance pre-committed after the restored checkpoint.
        let stale: Vec<(usize, u64)> = s
            .prepared
            .keys()
            .filter(|(i, _)| *i == self.instance)
            .copied()
            .collect();
        for k in stale {
            let rows: usize = s
                .prepared
                .remove(&k)
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum();
            s.aborted_rows += rows;
        }
        self.buffer.clear();
        self.open.clear();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Side outputs

#[derive(Debug, Default)]
pub struct SideCollector {
    pub records: Mutex<Vec<SideRecord>>,
}

impl SideOutputSink for SideCollector {
    fn send(&self, record: SideRecord) {
        self.records.lock().unwrap().push(record);
    }
}

impl SideCollector {
    pub fn late(&self) -> Vec<SideRecord> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.kind == SideOutputKind::Late)
            .cloned()
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Aggregates

pub fn c(name: &str) -> Arc<dyn PhysicalExpr> {
    col(name, &schema()).expect("column")
}

pub fn agg(
    f: Arc<datafusion::logical_expr::AggregateUDF>,
    args: Vec<Arc<dyn PhysicalExpr>>,
    alias: &str,
    distinct: bool,
) -> AggregateSpec {
    let function = AggregateExprBuilder::new(f, args)
        .schema(schema())
        .alias(alias)
        .with_distinct(distinct)
        .build()
        .expect("aggregate builds");
    AggregateSpec {
        function: Arc::new(function),
        filter: None,
    }
}

/// `count(v), sum(v), min(v), max(v), avg(CAST(v AS DOUBLE)), count(v) FILTER (WHERE v > 50),
/// count(DISTINCT v)`, in that order.
pub fn standard_aggregates() -> Vec<AggregateSpec> {
    use datafusion::functions_aggregate::{average, count, min_max, sum};
    let v = c("v");
    let mut filtered = agg(count::count_udaf(), vec![v.clone()], "cnt_big", false);
    filtered.filter =
        Some(binary(v.clone(), BinOp::Gt, lit(50i64), &schema()).expect("predicate builds"));
    vec![
        agg(count::count_udaf(), vec![v.clone()], "cnt", false),
        agg(sum::sum_udaf(), vec![v.clone()], "total", false),
        agg(min_max::min_udaf(), vec![v.clone()], "lo", false),
        agg(min_max::max_udaf(), vec![v.clone()], "hi", false),
        // AVG takes DOUBLE; the SQL planner would insert this cast (type coercion).
        agg(
            average::avg_udaf(),
            vec![cast(v.clone(), &schema(), DataType::Float64).expect("cast")],
            "mean",
            false,
        ),
        filtered,
        agg(count::count_udaf(), vec![v], "cnt_distinct", true),
    ]
}

pub fn by_key(aggregates: Vec<AggregateSpec>) -> Aggregation {
    Aggregation::new(&schema(), vec![c("key")], vec!["key".into()], aggregates)
        .expect("aggregation")
}

pub fn window_config(kind: WindowKind, aggregates: Vec<AggregateSpec>) -> WindowConfig {
    WindowConfig {
        kind,
        rowtime_column: ROWTIME,
        aggregation: by_key(aggregates),
        late: LatePolicy::Drop,
        early_fire: None,
    }
}

pub fn watermarks(bound_ms: i64, idle: Option<Duration>) -> WatermarkStrategy {
    WatermarkStrategy {
        rowtime_column: ROWTIME,
        max_out_of_orderness_ms: bound_ms,
        idle_timeout: idle,
    }
}

/// source (parallelism `src_par`) → HASH(key) → window (parallelism `par`) → sink.
pub fn window_graph(
    name: &str,
    source: &SourceSpec,
    src_par: usize,
    wm: WatermarkStrategy,
    config: WindowConfig,
    par: usize,
    sink: SinkFactory,
) -> JobGraph {
    let factory: OperatorFactory = Arc::new(move |t: &TaskInfo| config.build(t));
    JobGraph {
        name: name.into(),
        sources: vec![SourceStage {
            name: "source".into(),
            source: source.factory(),
            parallelism: src_par,
            watermarks: Some(wm),
            chain: vec![],
            output: Link::default(),
        }],
        stages: vec![Stage {
            name: "window".into(),
            input: Partitioning::Hash(vec![c("key")]),
            input_schema: None,
            parallelism: par,
            chain: vec![factory],
            sink: Some(sink),
            output: None,
        }],
    }
}

/// A [`window_graph`] with its aggregation `config` in two phases: a local pre-aggregation
/// chained onto the source, partial aggregates hashed by key to the global phase.
pub fn in_two_phases(mut graph: JobGraph, config: &WindowConfig) -> JobGraph {
    let local = config.clone();
    graph.sources[0].chain.push(Arc::new(move |t: &TaskInfo| {
        Ok(Box::new(LocalWindowAggregate::new(local.clone(), t.clone())?) as Box<_>)
    }));
    let global = config.clone();
    let stage = &mut graph.stages[0];
    stage.input = Partitioning::Hash(config.aggregation.partial_keys());
    stage.chain[0] = Arc::new(move |t: &TaskInfo| {
        Ok(Box::new(SlicedWindowAggregate::global(global.clone(), t.clone())?) as Box<_>)
    });
    graph
}

// ---------------------------------------------------------------------------------------------
// Reading results

/// A value of an output cell.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum V {
    I(i64),
    U(u64),
    F(f64),
    S(String),
    Null,
}

impl V {
    pub fn f64(&self) -> f64 {
        match self {
            V::I(v) => *v as f64,
            V::U(v) => *v as f64,
            V::F(v) => *v,
            other => panic!("not a number: {other:?}"),
        }
    }
}

/// One output row: window start, window end, key, aggregate values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub start: i64,
    pub end: i64,
    pub key: String,
    pub vals: Vec<V>,
}

fn cell(a: &ArrayRef, i: usize) -> V {
    if a.is_null(i) {
        return V::Null;
    }
    match a.data_type() {
        DataType::Int64 => V::I(a.as_primitive::<Int64Type>().value(i)),
        DataType::UInt64 => V::U(a.as_primitive::<UInt64Type>().value(i)),
        DataType::Float64 => V::F(a.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            V::I(a.as_primitive::<TimestampMillisecondType>().value(i))
        }
        DataType::Utf8 => V::S(a.as_string::<i32>().value(i).to_string()),
        other => panic!("unexpected output type {other}"),
    }
}

/// Rows of window output batches (`window_start, window_end, key, aggregates…`).
pub fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let s = b.schema();
        assert_eq!(s.field(0).name(), "window_start");
        assert_eq!(s.field(1).name(), "window_end");
        assert_eq!(s.field(2).name(), "key");
        for i in 0..b.num_rows() {
            let V::I(start) = cell(b.column(0), i) else {
                panic!("window_start")
            };
            let V::I(end) = cell(b.column(1), i) else {
                panic!("window_end")
            };
            let V::S(key) = cell(b.column(2), i) else {
                panic!("key")
            };
            let vals = (3..b.num_columns()).map(|c| cell(b.column(c), i)).collect();
            out.push(Row {
                start,
                end,
                key,
                vals,
            });
        }
    }
    out
}

pub fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| {
        (a.start, a.end, &a.key)
            .cmp(&(b.start, b.end, &b.key))
            .then_with(|| a.vals.partial_cmp(&b.vals).unwrap())
    });
    rows
}

/// Asserts two row sets are equal, printing the first difference.
pub fn assert_rows_eq(actual: Vec<Row>, expected: Vec<Row>, what: &str) {
    let (a, e) = (sorted(actual), sorted(expected));
    if a != e {
        let first = a.iter().zip(&e).position(|(x, y)| x != y);
        match first {
            Some(i) => panic!(
                "{what}: {} rows vs {} expected; first difference at {i}:\n  got      {:?}\n  expected {:?}",
                a.len(),
                e.len(),
                a[i],
                e[i]
            ),
            None => panic!(
                "{what}: {} rows vs {} expected (one is a prefix of the other); extra: {:?}",
                a.len(),
                e.len(),
                if a.len() > e.len() {
                    &a[e.len()]
                } else {
                    &e[a.len()]
                }
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reference

/// The windows (start, end) of a sliced kind that contain `ts`.
pub fn windows_of(kind: WindowKind, ts: i64) -> Vec<(i64, i64)> {
    match kind {
        WindowKind::Tumble { size_ms } => {
            let s = ts - ts.rem_euclid(size_ms);
            vec![(s, s + size_ms)]
        }
        WindowKind::Hop { size_ms, slide_ms } => {
            let mut out = Vec::new();
            let mut w = ts - ts.rem_euclid(slide_ms);
            while w > ts - size_ms {
                out.push((w, w + size_ms));
                w -= slide_ms;
            }
            out
        }
        WindowKind::Cumulate {
            step_ms,
            max_size_ms,
        } => {
            let p = ts - ts.rem_euclid(max_size_ms);
            (1..=max_size_ms / step_ms)
                .map(|i| (p, p + i * step_ms))
                .filter(|(_, e)| ts < *e)
                .collect()
        }
        WindowKind::Session { .. } => panic!("sessions are not assigned per event"),
    }
}

/// Per key, sessions of events at most `gap` apart (touching windows merge, as in Flink):
/// (start, end = last + gap, events).
pub fn sessions(events: &[Event], gap: i64) -> Vec<(i64, i64, String, Vec<Event>)> {
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_key.entry(&e.key).or_default().push(e);
    }
    let mut out = Vec::new();
    for (key, mut evs) in by_key {
        evs.sort_by_key(|e| e.ts);
        let mut cur: Vec<Event> = Vec::new();
        for e in evs {
            if let Some(last) = cur.last()
                && e.ts - last.ts > gap
            {
                let (s, l) = (cur[0].ts, last.ts);
                out.push((s, l + gap, key.to_string(), std::mem::take(&mut cur)));
            }
            cur.push(e.clone());
        }
        if let Some(last) = cur.last() {
            out.push((cur[0].ts, last.ts + gap, key.to_string(), cur.clone()));
        }
    }
    out
}

/// The values of [`standard_aggregates`] over `events`.
pub fn standard_values(events: &[Event]) -> Vec<V> {
    let vs: Vec<i64> = events.iter().map(|e| e.v).collect();
    let n = vs.len() as i64;
    let sum: i64 = vs.iter().sum();
    let distinct: BTreeSet<i64> = vs.iter().copied().collect();
    vec![
        V::I(n),
        V::I(sum),
        V::I(*vs.iter().min().unwrap()),
        V::I(*vs.iter().max().unwrap()),
        V::F(sum as f64 / n as f64),
        V::I(vs.iter().filter(|v| **v > 50).count() as i64),
        V::I(distinct.len() as i64),
    ]
}

/// Groups events by (window, key) for a sliced kind, or by session.
pub fn reference_groups(kind: WindowKind, events: &[Event]) -> Vec<(i64, i64, String, Vec<Event>)> {
    if let WindowKind::Session { gap_ms } = kind {
        return sessions(events, gap_ms);
    }
    let mut groups: BTreeMap<(i64, i64, String), Vec<Event>> = BTreeMap::new();
    for e in events {
        for (s, end) in windows_of(kind, e.ts) {
            groups
                .entry((s, end, e.key.clone()))
                .or_default()
                .push(e.clone());
        }
    }
    groups
        .into_iter()
        .map(|((s, e, k), evs)| (s, e, k, evs))
        .collect()
}

pub fn reference(
    kind: WindowKind,
    events: &[Event],
    values: impl Fn(&[Event]) -> Vec<V>,
) -> Vec<Row> {
    reference_groups(kind, events)
        .into_iter()
        .map(|(start, end, key, evs)| Row {
            start,
            end,
            key,
            vals: values(&evs),
        })
        .collect()
}

/// Exact percentile_cont (linear interpolation between closest ranks).
pub fn percentile_cont(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Waits (polling) until `cond` holds, up to `timeout`.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}
