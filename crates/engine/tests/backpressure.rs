//! Backpressure: a slow sink throttles the source through the bounded channels, so the source
//! never runs more than the channels' capacity (plus the batches in hand) ahead.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use datafusion::physical_expr::expressions::{binary, lit};
use spate_engine::exchange::Partitioning;
use spate_engine::job::{JobGraph, Link, SourceStage, Stage};
use spate_engine::operator::{Filter, OperatorFactory, Projection, TaskInfo};
use spate_engine::{JobConfig, run};

async fn run_throttled(capacity: usize, stages: usize) -> (usize, usize, usize) {
    let events: Vec<Event> = (0..300).map(|i| Event::new("a", i, i)).collect();
    // 100 batches of 3 rows.
    let source = SourceSpec::new(vec![events.chunks(3).map(batch).collect()]);
    let total = source.partitions[0].len();
    let store = new_store();
    let options = SinkOptions {
        write_delay: Some(Duration::from_millis(5)),
        polled: Some(Arc::clone(&source.polled)),
    };
    // Stateless operators in between: a filter keeping every row and a projection.
    let filter: OperatorFactory = Arc::new(|_: &TaskInfo| {
        let keep_all = binary(
            c("v"),
            datafusion::logical_expr::Operator::GtEq,
            lit(0i64),
            &schema(),
        )?;
        Ok(Box::new(Filter::new(keep_all)) as _)
    });
    let project: OperatorFactory = Arc::new(|_: &TaskInfo| {
        let s = schema();
        let exprs = (0..s.fields().len())
            .map(|i| c(s.field(i).name()))
            .collect();
        Ok(Box::new(Projection::new(exprs, s)?) as _)
    });
    let mut graph_stages = Vec::new();
    for i in 0..stages {
        let last = i + 1 == stages;
        graph_stages.push(Stage {
            name: format!("stage{i}"),
            input: Partitioning::Forward,
            input_schema: None,
            parallelism: 1,
            chain: vec![Arc::clone(&filter), Arc::clone(&project)],
            sink: last.then(|| sink_factory(&store, options.clone())),
            output: None,
        });
    }
    let graph = JobGraph {
        name: "backpressure".into(),
        sources: vec![SourceStage {
            name: "source".into(),
            source: source.factory(),
            parallelism: 1,
            watermarks: None,
            chain: vec![],
            output: Link::default(),
        }],
        stages: graph_stages,
    };
    let config = JobConfig {
        channel_capacity: capacity,
        ..JobConfig::default()
    };
    let report = run(graph, config).await.expect("job runs");
    assert_eq!(source.polled.load(Ordering::SeqCst), total);
    let s = store.lock().unwrap();
    assert_eq!(s.writes, total, "every batch reached the sink");
    assert_eq!(
        report.sum(&format!("stage{}", stages - 1), |m| &m.rows_out),
        300
    );
    (s.max_lag, total, s.writes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sink_throttles_the_source() {
    for (capacity, stages) in [(1, 1), (2, 1), (4, 1), (2, 3)] {
        let (lag, total, _) = run_throttled(capacity, stages).await;
        // In flight: `capacity` batches in each channel, one being written, one in the hands
        // of each upstream task (blocked sending), one just polled.
        let bound = stages * (capacity + 1) + 2;
        eprintln!(
            "capacity {capacity}, {stages} stage(s): source ahead by at most {lag} (bound {bound})"
        );
        assert!(
            lag <= bound,
            "capacity {capacity}, {stages} stage(s): the source ran {lag} batches ahead of the sink (bound {bound} of {total})"
        );
        assert!(lag >= capacity, "the channels do fill up (lag {lag})");
    }
}
