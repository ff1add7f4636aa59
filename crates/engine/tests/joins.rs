//! Interval joins of two sources through the runtime: each source feeds its own input of the
//! join stage, hashed by its own key; the result matches a brute-force join, also after a
//! failure and a restore from checkpoints aligned across both inputs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Field, Int64Type, Schema, TimestampMillisecondType};
use common::*;
use spate_engine::checkpoint::CheckpointStore;
use spate_engine::exchange::Partitioning;
use spate_engine::join::{IntervalBounds, JoinKind, StreamJoin, StreamJoinSpec};
use spate_engine::operator::{OperatorFactory, TaskInfo};
use spate_engine::{JobConfig, JobGraph, Link, SourceStage, Stage, run};

const BOUND: i64 = 1_500;
/// left.ts - right.ts in [LOWER, UPPER].
const LOWER: i64 = -400;
const UPPER: i64 = 250;

fn input(seed: u64) -> Vec<Vec<Event>> {
    generate(&Gen {
        seed,
        partitions: 3,
        events_per_partition: 200,
        keys: 10,
        max_step: 150,
        disorder: BOUND,
        value_range: 1_000_000,
    })
}

fn source(parts: &[Vec<Event>], seed: u64, fail: Option<Arc<FailPlan>>) -> SourceSpec {
    let mut rng = Rng::new(seed);
    let mut s = SourceSpec::from_events(parts, &mut rng, 6);
    s.idle_polls_between = 1;
    s.fail = fail;
    s
}

fn graph(left: &SourceSpec, right: &SourceSpec, kind: JoinKind, store: &SharedStore) -> JobGraph {
    let schema = schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .chain(schema.fields())
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let spec = StreamJoinSpec {
        kind,
        left_schema: Arc::clone(&schema),
        right_schema: Arc::clone(&schema),
        left_keys: vec![c("key")],
        right_keys: vec![c("key")],
        filter: None,
        interval: Some(IntervalBounds {
            left_time: ROWTIME,
            right_time: ROWTIME,
            lower_ms: LOWER,
            upper_ms: UPPER,
        }),
        state_ttl: None,
        output_schema: Arc::new(Schema::new(fields)),
    };
    let join: OperatorFactory =
        Arc::new(move |t: &TaskInfo| Ok(Box::new(StreamJoin::new(spec.clone(), t)?) as Box<_>));
    let side = |name: &str, spec: &SourceSpec, input: usize| SourceStage {
        name: name.into(),
        source: spec.factory(),
        parallelism: 2,
        watermarks: Some(watermarks(BOUND, None)),
        chain: vec![],
        output: Link {
            stage: 0,
            input,
            partitioning: Some(Partitioning::Hash(vec![c("key")])),
        },
    };
    JobGraph {
        name: "interval-join".into(),
        sources: vec![side("left", left, 0), side("right", right, 1)],
        stages: vec![Stage {
            name: "join".into(),
            input: Partitioning::Rebalance,
            input_schema: None,
            parallelism: 2,
            chain: vec![join],
            sink: Some(sink_factory(store, SinkOptions::default())),
            output: None,
        }],
    }
}

/// Joined rows as `left v,left ts|right v,right ts` (v is unique per event), sorted.
fn joined(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let side = |at: usize, i: usize| {
            if b.column(at).is_null(i) {
                return "null".to_string();
            }
            let ts = b.column(at + 1).as_primitive::<TimestampMillisecondType>();
            let v = b.column(at + 2).as_primitive::<Int64Type>();
            format!("{},{}", v.value(i), ts.value(i))
        };
        for i in 0..b.num_rows() {
            out.push(format!("{}|{}", side(0, i), side(4, i)));
        }
    }
    out.sort();
    out
}

fn reference(left: &[Event], right: &[Event], kind: JoinKind) -> Vec<String> {
    let mut out = Vec::new();
    let mut right_matched = vec![false; right.len()];
    for l in left {
        let mut matched = false;
        for (j, r) in right.iter().enumerate() {
            if l.key == r.key && l.ts - r.ts >= LOWER && l.ts - r.ts <= UPPER {
                matched = true;
                right_matched[j] = true;
                out.push(format!("{},{}|{},{}", l.v, l.ts, r.v, r.ts));
            }
        }
        if !matched && kind == JoinKind::LeftOuter {
            out.push(format!("{},{}|null", l.v, l.ts));
        }
    }
    out.sort();
    out
}

fn config(dir: &std::path::Path) -> JobConfig {
    JobConfig {
        checkpoints: Some((
            CheckpointStore::local(dir).expect("checkpoint dir"),
            Duration::from_millis(20),
        )),
        idle_poll: Duration::from_millis(2),
        ..JobConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_join_through_the_runtime_is_exactly_once_across_a_failure() {
    let (left, right) = (input(7), input(8));
    for kind in [JoinKind::Inner, JoinKind::LeftOuter] {
        let expected = reference(&left.concat(), &right.concat(), kind);
        assert!(expected.len() > 200, "{}", expected.len());

        let clean = new_store();
        let dir = tempfile::tempdir().unwrap();
        let report = run(
            graph(
                &source(&left, 1, None),
                &source(&right, 2, None),
                kind,
                &clean,
            ),
            config(dir.path()),
        )
        .await
        .expect("clean run");
        assert!(report.checkpoints > 2, "{}", report.checkpoints);
        assert_eq!(
            joined(&clean.lock().unwrap().committed_batches()),
            expected,
            "{kind:?} without failure"
        );

        let store = new_store();
        let dir = tempfile::tempdir().unwrap();
        let plan = FailPlan::new(60);
        let err = run(
            graph(
                &source(&left, 1, None),
                &source(&right, 2, Some(Arc::clone(&plan))),
                kind,
                &store,
            ),
            config(dir.path()),
        )
        .await
        .expect_err("the injected failure fails the job");
        assert!(err.to_string().contains("injected failure"), "{err}");
        let report = run(
            graph(
                &source(&left, 1, None),
                &source(&right, 2, None),
                kind,
                &store,
            ),
            config(dir.path()),
        )
        .await
        .expect("restored run");
        assert!(report.restored_from.is_some());
        assert_eq!(
            joined(&store.lock().unwrap().committed_batches()),
            expected,
            "{kind:?} after a failure"
        );
    }
}
