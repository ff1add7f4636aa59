//! Late events: dropped and counted, routed to the late side output, or (allowed lateness)
//! folded into windows that fire again with the updated result.

mod common;

use std::sync::Arc;

use common::*;
use datafusion::functions_aggregate::count;
use spate_engine::job::JobReport;
use spate_engine::side_output::{SideOutputKind, SideOutputs};
use spate_engine::window::{LatePolicy, WindowConfig, WindowKind};
use spate_engine::{JobConfig, run};

fn count_only() -> Vec<spate_engine::window::AggregateSpec> {
    vec![agg(count::count_udaf(), vec![c("v")], "cnt", false)]
}

/// Runs `events` one per batch, in order, through one source partition and one window task
/// with a watermark bound of 0 (every event is the watermark), so that lateness is exact.
async fn run_in_order(
    events: &[Event],
    config: WindowConfig,
    side: Option<Arc<SideCollector>>,
) -> (JobReport, SharedStore) {
    let source = SourceSpec::new(vec![
        events
            .iter()
            .map(|e| batch(std::slice::from_ref(e)))
            .collect(),
    ]);
    let store = new_store();
    let graph = window_graph(
        "late",
        &source,
        1,
        watermarks(0, None),
        config,
        1,
        sink_factory(&store, SinkOptions::default()),
    );
    let job = JobConfig {
        side_outputs: match side {
            Some(s) => SideOutputs::new(s),
            None => SideOutputs::default(),
        },
        ..JobConfig::default()
    };
    let report = run(graph, job).await.expect("job runs");
    (report, store)
}

/// (start, end, count) of every row written, in the order written.
fn written(store: &SharedStore) -> Vec<(i64, i64, i64)> {
    rows(&store.lock().unwrap().written_batches())
        .into_iter()
        .map(|r| {
            let V::I(n) = r.vals[0] else { panic!("count") };
            (r.start, r.end, n)
        })
        .collect()
}

fn late_input() -> Vec<Event> {
    let e = Event::new;
    vec![
        e("a", 1_000, 1),
        e("a", 5_000, 2),   // watermark 4999: [0,2000) and [2000,4000) have fired
        e("a", 1_500, 777), // late for [0,2000)
        e("a", 2_500, 778), // late for [2000,4000)
        e("a", 9_000, 3),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_counts_late_events_and_never_emits_them() {
    let side = Arc::new(SideCollector::default());
    let config = window_config(WindowKind::Tumble { size_ms: 2_000 }, count_only());
    let (report, store) = run_in_order(&late_input(), config, Some(Arc::clone(&side))).await;
    assert_eq!(report.sum("window", |m| &m.late_events), 2);
    assert_eq!(
        written(&store),
        vec![(0, 2_000, 1), (4_000, 6_000, 1), (8_000, 10_000, 1)]
    );
    assert!(
        side.late().is_empty(),
        "policy drop sends nothing to the side output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_output_receives_late_events() {
    let side = Arc::new(SideCollector::default());
    let mut config = window_config(WindowKind::Tumble { size_ms: 2_000 }, count_only());
    config.late = LatePolicy::SideOutput;
    let (report, store) = run_in_order(&late_input(), config, Some(Arc::clone(&side))).await;
    assert_eq!(report.sum("window", |m| &m.late_events), 2);
    assert_eq!(
        written(&store),
        vec![(0, 2_000, 1), (4_000, 6_000, 1), (8_000, 10_000, 1)]
    );
    let late = side.late();
    assert_eq!(late.len(), 2, "{late:?}");
    for (r, v) in late.iter().zip(["777", "778"]) {
        assert_eq!(r.kind, SideOutputKind::Late);
        assert_eq!(r.origin, "window[0]");
        let json: serde_json::Value = serde_json::from_slice(&r.payload).expect("JSON payload");
        assert_eq!(json["key"], "a");
        assert_eq!(json["v"].to_string(), v, "{json}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_output_receives_late_session_events() {
    let side = Arc::new(SideCollector::default());
    let mut config = window_config(WindowKind::Session { gap_ms: 1_000 }, count_only());
    config.late = LatePolicy::SideOutput;
    let e = Event::new;
    let input = vec![
        e("a", 1_000, 1),
        e("a", 5_000, 2),   // watermark 4999 closes session [1000, 2000)
        e("a", 1_500, 777), // its own session [1500, 2500) is closed too: late
        e("a", 4_500, 4),   // joins [5000, 6000): not late
    ];
    let (report, store) = run_in_order(&input, config, Some(Arc::clone(&side))).await;
    assert_eq!(report.sum("window", |m| &m.late_events), 1);
    assert_eq!(written(&store), vec![(1_000, 2_000, 1), (4_500, 6_000, 2)]);
    let late = side.late();
    assert_eq!(late.len(), 1);
    let json: serde_json::Value = serde_json::from_slice(&late[0].payload).unwrap();
    assert_eq!(json["v"], 777);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_lateness_fires_windows_again_with_updated_results() {
    let mut config = window_config(WindowKind::Tumble { size_ms: 2_000 }, count_only());
    config.late = LatePolicy::Allow { lateness_ms: 5_000 };
    let mut input = late_input();
    // At watermark 8999, [0,2000) is past its lateness (1999 + 5000): dropped and counted.
    input.push(Event::new("a", 1_800, 779));
    let (report, store) = run_in_order(&input, config, None).await;
    assert_eq!(
        written(&store),
        vec![
            (0, 2_000, 1),
            (0, 2_000, 2),     // 1500 arrives: fired again
            (2_000, 4_000, 1), // 2500 arrives after [2000,4000) was due: fires late
            (4_000, 6_000, 1),
            (8_000, 10_000, 1),
        ]
    );
    assert_eq!(report.sum("window", |m| &m.late_events), 1);
}

/// A late row that is still within the lateness of some of its HOP windows must not re-fire
/// windows whose lateness has expired: their other slices are gone, so the "updated" result
/// would be wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_lateness_on_hop_refires_only_windows_within_lateness() {
    let mut config = window_config(
        WindowKind::Hop {
            size_ms: 10_000,
            slide_ms: 4_000,
        },
        count_only(),
    );
    config.late = LatePolicy::Allow { lateness_ms: 1_000 };
    let e = Event::new;
    let input = vec![
        e("a", 13_000, 1),
        e("a", 21_000, 2),
        e("a", 30_000, 3), // watermark 29999: windows up to [20000,30000) fired
        // In [12000,22000) (expired at 22999), [16000,26000) (expired at 26999) and
        // [20000,30000) (within lateness until 30999).
        e("a", 21_500, 4),
    ];
    let (report, store) = run_in_order(&input, config, None).await;
    assert_eq!(
        written(&store),
        vec![
            (4_000, 14_000, 1),
            (8_000, 18_000, 1),
            (12_000, 22_000, 2),
            (16_000, 26_000, 1),
            (20_000, 30_000, 1),
            (20_000, 30_000, 2), // the only window updated by 21500
            (24_000, 34_000, 1),
            (28_000, 38_000, 1),
        ]
    );
    assert_eq!(report.sum("window", |m| &m.late_events), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_lateness_is_refused_for_sessions() {
    let mut config = window_config(WindowKind::Session { gap_ms: 1_000 }, count_only());
    config.late = LatePolicy::Allow { lateness_ms: 1_000 };
    let source = SourceSpec::new(vec![vec![batch(&[Event::new("a", 1, 1)])]]);
    let store = new_store();
    let graph = window_graph(
        "late",
        &source,
        1,
        watermarks(0, None),
        config,
        1,
        sink_factory(&store, SinkOptions::default()),
    );
    let err = run(graph, JobConfig::default()).await.unwrap_err();
    assert!(matches!(err, spate_engine::EngineError::Plan(_)), "{err}");
}

/// HOP with a size below its slide samples time: rows between two windows belong to no window.
/// They are not results, and not late events either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_with_gaps_ignores_rows_between_windows() {
    let side = Arc::new(SideCollector::default());
    let kind = WindowKind::Hop {
        size_ms: 2_000,
        slide_ms: 5_000,
    };
    let mut config = window_config(kind, count_only());
    config.late = LatePolicy::SideOutput;
    let e = Event::new;
    let input = vec![
        e("a", 1_000, 1),
        e("a", 3_000, 2), // between [0,2000) and [5000,7000)
        e("a", 6_000, 3),
        e("a", 4_000, 4), // between windows, after the watermark passed it
        e("a", 9_000, 5),
    ];
    assert_eq!(
        reference(kind, &input, |evs| vec![V::I(evs.len() as i64)]).len(),
        2
    );
    let (report, store) = run_in_order(&input, config, Some(Arc::clone(&side))).await;
    assert_eq!(written(&store), vec![(0, 2_000, 1), (5_000, 7_000, 1)]);
    assert_eq!(report.sum("window", |m| &m.late_events), 0);
    assert!(side.late().is_empty(), "{:?}", side.late());
}
