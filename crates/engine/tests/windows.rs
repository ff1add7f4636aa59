//! Windowed aggregation end to end: TUMBLE, HOP, CUMULATE and SESSION over out-of-order input
//! with bounded-out-of-orderness watermarks, two source and two window instances, compared with
//! a brute-force reference; approximate aggregates within their error bounds.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampMillisecondType};
use common::*;
use datafusion::functions_aggregate::{approx_distinct, approx_percentile_cont, count};
use datafusion::physical_expr::expressions::lit;
use spate_engine::window::{Aggregation, WindowKind};
use spate_engine::{JobConfig, run};

/// Runs `kind` over generated input and compares every window with the reference: in one
/// phase and, for sliced windows, in two (local pre-aggregation, then a global merge).
async fn check_against_reference(kind: WindowKind, g: Gen) {
    check_phases(kind, g.clone(), false).await;
    if !matches!(kind, WindowKind::Session { .. }) {
        check_phases(kind, g, true).await;
    }
}

async fn check_phases(kind: WindowKind, g: Gen, two_phase: bool) {
    let parts = generate(&g);
    let inversions: usize = parts
        .iter()
        .map(|p| p.windows(2).filter(|w| w[1].ts < w[0].ts).count())
        .sum();
    assert!(
        inversions > 100,
        "input should be out of order ({inversions} inversions)"
    );
    let mut rng = Rng::new(g.seed ^ 0x5eed);
    let source = SourceSpec::from_events(&parts, &mut rng, 20);
    let store = new_store();
    let config = window_config(kind, standard_aggregates());
    let mut graph = window_graph(
        "windows",
        &source,
        2,
        watermarks(g.disorder, None),
        config.clone(),
        2,
        sink_factory(&store, SinkOptions::default()),
    );
    if two_phase {
        graph = in_two_phases(graph, &config);
    }
    let label = format!("{kind:?}, two phases: {two_phase}");
    let report = run(graph, JobConfig::default()).await.expect("job runs");
    let late = report.sum("window", |m| &m.late_events) + report.sum("source", |m| &m.late_events);
    assert_eq!(
        late, 0,
        "{label}: no event is late when disorder stays within the bound"
    );
    let all: Vec<Event> = parts.concat();
    let expected = reference(kind, &all, standard_values);
    assert!(expected.len() > 20, "enough windows: {}", expected.len());
    let s = store.lock().unwrap();
    assert!(s.prepared.is_empty(), "everything prepared was committed");
    // Without early firing or lateness each window fires exactly once, so what was written is
    // what was committed.
    assert_rows_eq(
        rows(&s.written_batches()),
        expected.clone(),
        &format!("{label}: written"),
    );
    assert_rows_eq(
        rows(&s.committed_batches()),
        expected,
        &format!("{label}: committed"),
    );
    // Counters: every input row entered a window task once (in two phases, fewer partial
    // aggregates than rows did); every result row left once.
    let window_in = report.sum("window", |m| &m.rows_in);
    match two_phase {
        false => assert_eq!(window_in, all.len() as u64, "rows_in of the window tasks"),
        true => assert!(
            window_in < all.len() as u64 / 2,
            "{label}: {window_in} partial aggregates of {} rows crossed the exchange",
            all.len()
        ),
    }
    assert_eq!(
        report.sum("window", |m| &m.rows_out),
        rows(&s.written_batches()).len() as u64,
        "rows_out of the window tasks"
    );
    assert_eq!(report.sum("source", |m| &m.rows_in), all.len() as u64);
    if !two_phase {
        assert_eq!(report.sum("source", |m| &m.rows_out), all.len() as u64);
    }
    // Both window instances did work.
    for i in 0..2 {
        let name = format!("window[{i}]");
        let (_, m) = report.tasks.iter().find(|(n, _)| *n == name).unwrap();
        assert!(
            m.rows_in.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "{name} got rows"
        );
    }
}

fn sliced_gen(seed: u64) -> Gen {
    Gen {
        seed,
        partitions: 4,
        events_per_partition: 400,
        keys: 8,
        max_step: 150,
        disorder: 2000,
        value_range: 100,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tumble_matches_reference() {
    check_against_reference(WindowKind::Tumble { size_ms: 5_000 }, sliced_gen(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_matches_reference() {
    check_against_reference(
        WindowKind::Hop {
            size_ms: 9_000,
            slide_ms: 3_000,
        },
        sliced_gen(2),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_with_size_not_a_multiple_of_slide_matches_reference() {
    check_against_reference(
        WindowKind::Hop {
            size_ms: 10_000,
            slide_ms: 4_000,
        },
        sliced_gen(3),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cumulate_matches_reference() {
    check_against_reference(
        WindowKind::Cumulate {
            step_ms: 2_000,
            max_size_ms: 10_000,
        },
        sliced_gen(4),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_matches_reference() {
    let g = Gen {
        seed: 5,
        partitions: 4,
        events_per_partition: 400,
        keys: 20,
        max_step: 300,
        disorder: 2000,
        value_range: 100,
    };
    // With a gap below the disorder, events often arrive after later ones of their session
    // and bridge sessions that were apart.
    let gap = 1_000;
    let all: Vec<Event> = generate(&g).concat();
    let sessions = sessions(&all, gap);
    let multi = sessions.iter().filter(|s| s.3.len() > 1).count();
    assert!(
        multi > 20 && sessions.len() > multi + 20,
        "data makes both long sessions ({multi}) and several sessions per key ({})",
        sessions.len()
    );
    check_against_reference(WindowKind::Session { gap_ms: gap }, g).await;
}

/// Runs one source partition of `batches` (in that order) through a session window.
async fn run_sessions(batches: Vec<Vec<Event>>, gap: i64, bound: i64) -> Vec<Row> {
    let source = SourceSpec::new(vec![batches.iter().map(|b| batch(b)).collect()]);
    let store = new_store();
    let graph = window_graph(
        "sessions",
        &source,
        1,
        watermarks(bound, None),
        window_config(WindowKind::Session { gap_ms: gap }, standard_aggregates()),
        2,
        sink_factory(&store, SinkOptions::default()),
    );
    run(graph, JobConfig::default()).await.expect("job runs");
    rows(&store.lock().unwrap().committed_batches())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_bridging_event_merges_two_sessions() {
    let e = Event::new;
    let gap = 1_500;
    // The watermark trails by 5000 ms, so nothing fires before the bridge arrives.
    let all = [
        e("a", 1_000, 1),
        e("a", 3_000, 60),
        e("b", 4_000, 7),
        e("a", 2_000, 60), // 1000 and 3000 are 2000 apart: two sessions until this arrives
        e("a", 30_000, 9),
    ];
    let expected = vec![
        Row {
            start: 1_000,
            end: 4_500,
            key: "a".into(),
            vals: standard_values(
                &all[..2]
                    .iter()
                    .chain([&all[3]])
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
        },
        Row {
            start: 4_000,
            end: 5_500,
            key: "b".into(),
            vals: standard_values(&all[2..3]),
        },
        Row {
            start: 30_000,
            end: 31_500,
            key: "a".into(),
            vals: standard_values(&all[4..5]),
        },
    ];
    assert_rows_eq(
        reference(WindowKind::Session { gap_ms: gap }, &all, standard_values),
        expected.clone(),
        "reference",
    );
    // One event per batch: the bridge arrives after both sessions exist.
    let actual = run_sessions(all.iter().map(|x| vec![x.clone()]).collect(), gap, 5_000).await;
    assert_rows_eq(actual, expected.clone(), "bridge in its own batch");
    // All in one batch: the merge happens within a batch.
    let actual = run_sessions(vec![all.to_vec()], gap, 5_000).await;
    assert_rows_eq(actual, expected, "bridge in the same batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_chain_of_bridges_merges_into_one() {
    let e = Event::new;
    let gap = 1_500;
    // Three sessions apart by 2000 ms, then two bridges in one batch join all three, then a
    // single event that bridges into the result from the far side.
    let batches = vec![
        vec![e("a", 1_000, 1), e("a", 3_000, 2), e("a", 5_000, 3)],
        vec![e("a", 4_000, 4), e("x", 4_000, 5), e("a", 2_000, 6)],
        vec![e("a", 6_400, 70)],
        vec![e("a", 40_000, 8)],
    ];
    let all: Vec<Event> = batches.concat();
    let expected = reference(WindowKind::Session { gap_ms: gap }, &all, standard_values);
    assert_eq!(expected.len(), 3, "a:[1000,7900), x, a:[40000,...)");
    assert_eq!((expected[0].start, expected[0].end), (1_000, 7_900));
    let actual = run_sessions(batches, gap, 10_000).await;
    assert_rows_eq(actual, expected, "chain of bridges");
}

/// A window aggregate without grouping keys (`SELECT count(*) … GROUP BY TUMBLE(…)`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_window_without_keys() {
    let g = sliced_gen(6);
    let parts = generate(&g);
    let mut rng = Rng::new(66);
    let source = SourceSpec::from_events(&parts, &mut rng, 20);
    for kind in [
        WindowKind::Tumble { size_ms: 5_000 },
        WindowKind::Hop {
            size_ms: 10_000,
            slide_ms: 4_000,
        },
        WindowKind::Session { gap_ms: 50 },
    ] {
        let store = new_store();
        let mut config = window_config(kind, standard_aggregates());
        config.aggregation =
            Aggregation::new(&schema(), vec![], vec![], standard_aggregates()).unwrap();
        let mut graph = window_graph(
            "global",
            &source,
            2,
            watermarks(g.disorder, None),
            config,
            1,
            sink_factory(&store, SinkOptions::default()),
        );
        graph.stages[0].input = spate_engine::exchange::Partitioning::Rebalance;
        run(graph, JobConfig::default()).await.expect("job runs");
        let mut all: Vec<Event> = parts.concat();
        for e in &mut all {
            e.key = String::new();
        }
        let expected = reference(kind, &all, standard_values);
        let batches = store.lock().unwrap().committed_batches();
        // Put an empty key column in so the rows read like keyed ones.
        let keyed: Vec<RecordBatch> = batches
            .iter()
            .map(|b| {
                assert_eq!(b.num_columns(), 2 + 7, "no key column");
                let mut cols = b.columns().to_vec();
                cols.insert(
                    2,
                    Arc::new(arrow::array::StringArray::from(vec![""; b.num_rows()])),
                );
                RecordBatch::try_from_iter(
                    [
                        "window_start",
                        "window_end",
                        "key",
                        "a",
                        "b",
                        "c",
                        "d",
                        "e",
                        "f",
                        "g",
                    ]
                    .into_iter()
                    .zip(cols),
                )
                .unwrap()
            })
            .collect();
        assert_rows_eq(rows(&keyed), expected, &format!("global {kind:?}"));
    }
}

/// approx_distinct (HyperLogLog) and approx_percentile_cont (t-digest) through slices and
/// their merges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approximate_aggregates_within_error_bounds() {
    let g = Gen {
        seed: 7,
        partitions: 2,
        events_per_partition: 15_000,
        keys: 3,
        max_step: 2,
        disorder: 500,
        value_range: 1_000_000,
    };
    let mut parts = generate(&g);
    let mut rng = Rng::new(77);
    // Values trend with time, so every slice of a window covers a different range: a slice
    // lost or counted twice in a merge moves the quantiles.
    for e in parts.iter_mut().flatten() {
        e.vf = e.ts as f64 / 10.0 + rng.unit() * 100.0;
    }
    let source = SourceSpec::from_events(&parts, &mut rng, 500);
    let kind = WindowKind::Hop {
        size_ms: 10_000,
        slide_ms: 5_000,
    };
    let v = c("v");
    let vf = c("vf");
    let aggregates = vec![
        agg(
            approx_distinct::approx_distinct_udaf(),
            vec![v.clone()],
            "approx_nd",
            false,
        ),
        agg(count::count_udaf(), vec![v], "nd", true),
        agg(
            approx_percentile_cont::approx_percentile_cont_udaf(),
            vec![vf.clone(), lit(0.5f64)],
            "p50",
            false,
        ),
        agg(
            approx_percentile_cont::approx_percentile_cont_udaf(),
            vec![vf, lit(0.99f64)],
            "p99",
            false,
        ),
    ];
    let store = new_store();
    let graph = window_graph(
        "approx",
        &source,
        2,
        watermarks(g.disorder, None),
        window_config(kind, aggregates),
        2,
        sink_factory(&store, SinkOptions::default()),
    );
    run(graph, JobConfig::default()).await.expect("job runs");
    let all: Vec<Event> = parts.concat();
    let groups: BTreeMap<(i64, i64, String), Vec<Event>> = reference_groups(kind, &all)
        .into_iter()
        .map(|(s, e, k, evs)| ((s, e, k), evs))
        .collect();
    let out = rows(&store.lock().unwrap().committed_batches());
    assert_eq!(out.len(), groups.len(), "one row per window and key");
    let mut worst = [0f64; 3];
    let mut large = 0;
    for row in out {
        let evs = &groups[&(row.start, row.end, row.key.clone())];
        let exact_nd = evs
            .iter()
            .map(|e| e.v)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as f64;
        assert_eq!(row.vals[1].f64(), exact_nd, "exact count distinct");
        let approx_nd = row.vals[0].f64();
        let rel = (approx_nd - exact_nd).abs() / exact_nd;
        worst[0] = worst[0].max(rel);
        assert!(
            rel <= 0.02,
            "approx_distinct {approx_nd} vs exact {exact_nd} ({:.2}% off) in {row:?}",
            rel * 100.0
        );
        // Percentiles: compare rank error (what t-digest bounds) and value error.
        let values: Vec<f64> = evs.iter().map(|e| e.vf).collect();
        for (i, q) in [(2usize, 0.5f64), (3, 0.99)] {
            let approx = row.vals[i].f64();
            let exact = percentile_cont(&values, q);
            let rank = values.iter().filter(|x| **x <= approx).count() as f64 / values.len() as f64;
            let rank_err = (rank - q).abs();
            worst[i - 1] = worst[i - 1].max(rank_err);
            // t-digest (100 centroids) bounds the rank error, tighter at the tails.
            let tol = if q == 0.5 { 0.015 } else { 0.003 };
            assert!(
                rank_err <= tol,
                "approx_percentile_cont({q}) = {approx}, exact {exact}: rank {rank} (±{tol}) in {row:?}"
            );
            let range = values.iter().cloned().fold(f64::MIN, f64::max)
                - values.iter().cloned().fold(f64::MAX, f64::min);
            assert!(
                (approx - exact).abs() <= 0.015 * range,
                "approx_percentile_cont({q}) = {approx}, exact {exact}, range {range}"
            );
        }
        if exact_nd > 1000.0 {
            large += 1;
        }
    }
    assert!(large >= 6, "enough large groups: {large}");
    eprintln!(
        "worst: approx_distinct {:.3}%, p50 rank {:.4}, p99 rank {:.4}",
        worst[0] * 100.0,
        worst[1],
        worst[2]
    );
}

/// Window bounds are TIMESTAMP(3) and agree with the reference windows of every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_bounds_are_timestamps_and_cover_their_rows() {
    let e = Event::new;
    let source = SourceSpec::new(vec![vec![batch(&[
        e("a", 0, 1),
        e("a", 3_999, 1),
        e("a", 4_000, 1),
        e("a", -1, 1),
    ])]]);
    let store = new_store();
    let kind = WindowKind::Hop {
        size_ms: 10_000,
        slide_ms: 4_000,
    };
    let graph = window_graph(
        "bounds",
        &source,
        1,
        watermarks(0, None),
        window_config(kind, standard_aggregates()),
        1,
        sink_factory(&store, SinkOptions::default()),
    );
    run(graph, JobConfig::default()).await.unwrap();
    let batches = store.lock().unwrap().committed_batches();
    let mut got = Vec::new();
    for b in &batches {
        let s = b.column(0).as_primitive::<TimestampMillisecondType>();
        let en = b.column(1).as_primitive::<TimestampMillisecondType>();
        let cnt = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            got.push((s.value(i), en.value(i), cnt.value(i)));
        }
    }
    got.sort();
    // -1 is in [-8000,2000), [-4000,6000); 0 in those and [0,10000); 3999 in [-4000,6000)
    // and [0,10000); 4000 in [-4000,6000), [0,10000), [4000,14000).
    assert_eq!(
        got,
        vec![
            (-8_000, 2_000, 2),
            (-4_000, 6_000, 4),
            (0, 10_000, 3),
            (4_000, 14_000, 1)
        ]
    );
}

/// Grouped state keyed by two string columns keeps interning after its state was copied out
/// (as every checkpoint of an open window does). DataFusion's multi-column group values
/// panicked on the first new key after `EmitTo::All`.
#[test]
fn grouped_state_with_two_string_keys_survives_a_copy() {
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::binary;
    let suffixed = binary(c("key"), Operator::StringConcat, lit("-x"), &schema()).unwrap();
    let aggregation = Aggregation::new(
        &schema(),
        vec![c("key"), suffixed],
        vec!["key".into(), "key2".into()],
        standard_aggregates(),
    )
    .unwrap();
    let mut state = aggregation.new_state().unwrap();
    let first = batch(&[Event::new("alpha", 1, 10), Event::new("beta", 2, 70)]);
    state
        .update(&aggregation.evaluate(&first).unwrap())
        .unwrap();
    let copied = state.copy_state().unwrap();
    assert_eq!(copied.len(), 2);
    let second = batch(&[
        Event::new("gamma-long-key", 3, 5),
        Event::new("alpha", 4, 60),
        Event::new("delta", 5, 1),
    ]);
    state
        .update(&aggregation.evaluate(&second).unwrap())
        .unwrap();
    let (keys, values) = state.evaluate().unwrap();
    let names = keys[0].as_string::<i32>();
    use arrow::array::Array;
    let mut by_key: Vec<(String, i64)> = (0..names.len())
        .map(|i| {
            let count = values[0].as_primitive::<Int64Type>().value(i);
            (names.value(i).to_string(), count)
        })
        .collect();
    by_key.sort();
    assert_eq!(
        by_key,
        [
            ("alpha".to_string(), 2),
            ("beta".to_string(), 1),
            ("delta".to_string(), 1),
            ("gamma-long-key".to_string(), 1)
        ]
    );
}
