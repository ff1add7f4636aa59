//! Processing-time behaviour while a job runs: early firing of open windows, and idle
//! partitions that must not hold the watermark back.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use datafusion::functions_aggregate::count;
use spate_engine::window::{AggregateSpec, WindowKind};
use spate_engine::{JobConfig, JobGraph, run};

fn count_only() -> Vec<AggregateSpec> {
    vec![agg(count::count_udaf(), vec![c("v")], "cnt", false)]
}

fn counts(store: &SharedStore) -> Vec<(i64, i64, String, i64)> {
    rows(&store.lock().unwrap().written_batches())
        .into_iter()
        .map(|r| {
            let V::I(n) = r.vals[0] else { panic!("count") };
            (r.start, r.end, r.key, n)
        })
        .collect()
}

/// Spawns the job; returns its handle.
fn spawn(
    graph: JobGraph,
) -> tokio::task::JoinHandle<spate_engine::Result<spate_engine::JobReport>> {
    tokio::spawn(run(graph, JobConfig::default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_fire_emits_partial_results_of_open_windows() {
    let e = Event::new;
    let release = Arc::new(AtomicBool::new(false));
    let mut source = SourceSpec::new(vec![vec![
        batch(&[e("a", 1_000, 1)]),
        batch(&[e("b", 1_500, 1)]),
        batch(&[e("a", 2_000, 1)]),
        // Held back until released:
        batch(&[e("a", 3_000, 1)]),
        batch(&[e("a", 12_000, 1)]),
    ]]);
    source.hold_open = Some(Arc::clone(&release));
    source.gate_after = 3;
    let store = new_store();
    let mut config = window_config(WindowKind::Tumble { size_ms: 10_000 }, count_only());
    config.early_fire = Some(Duration::from_millis(50));
    let graph = window_graph(
        "early",
        &source,
        1,
        watermarks(1_000, None),
        config,
        2,
        sink_factory(&store, SinkOptions::default()),
    );
    let job = spawn(graph);
    let partial = wait_until(Duration::from_secs(10), || {
        let c = counts(&store);
        c.contains(&(0, 10_000, "a".into(), 2)) && c.contains(&(0, 10_000, "b".into(), 1))
    })
    .await;
    assert!(
        partial,
        "partial results of [0, 10000) appear while it is open: {:?}",
        counts(&store)
    );
    assert!(!job.is_finished(), "the job is still running");
    assert!(
        !counts(&store).iter().any(|r| r.3 == 3),
        "no final result yet"
    );
    release.store(true, Ordering::SeqCst);
    job.await.unwrap().expect("job runs");
    let c = counts(&store);
    // The last result of each window and key is the final one.
    let last = |start: i64, key: &str| {
        c.iter()
            .rev()
            .find(|r| r.0 == start && r.2 == key)
            .map(|r| r.3)
    };
    assert_eq!(last(0, "a"), Some(3));
    assert_eq!(last(0, "b"), Some(1));
    assert_eq!(last(10_000, "a"), Some(1));
    let first_final = c
        .iter()
        .position(|r| *r == (0, 10_000, "a".into(), 3))
        .unwrap();
    let first_partial = c
        .iter()
        .position(|r| *r == (0, 10_000, "a".into(), 2))
        .unwrap();
    assert!(first_partial < first_final);
    // Once final, a window is not fired early again.
    assert!(
        c[first_final..]
            .iter()
            .all(|r| !(r.0 == 0 && r.2 == "a" && r.3 != 3)),
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_fire_for_sliding_windows_covers_every_open_window() {
    let e = Event::new;
    let release = Arc::new(AtomicBool::new(false));
    let mut source = SourceSpec::new(vec![vec![batch(&[e("a", 1_000, 1), e("a", 5_000, 1)])]]);
    source.hold_open = Some(Arc::clone(&release));
    let store = new_store();
    let kind = WindowKind::Hop {
        size_ms: 10_000,
        slide_ms: 4_000,
    };
    let mut config = window_config(kind, count_only());
    config.early_fire = Some(Duration::from_millis(50));
    let graph = window_graph(
        "early-hop",
        &source,
        1,
        watermarks(20_000, None),
        config,
        1,
        sink_factory(&store, SinkOptions::default()),
    );
    let job = spawn(graph);
    let events = [e("a", 1_000, 1), e("a", 5_000, 1)];
    let expected: Vec<(i64, i64, String, i64)> =
        reference(kind, &events, |evs| vec![V::I(evs.len() as i64)])
            .into_iter()
            .map(|r| (r.start, r.end, r.key, r.vals[0].f64() as i64))
            .collect();
    assert_eq!(
        expected.len(),
        4,
        "[-8000,2000) [-4000,6000) [0,10000) [4000,14000)"
    );
    let seen = wait_until(Duration::from_secs(10), || {
        let c = counts(&store);
        expected.iter().all(|x| c.contains(x))
    })
    .await;
    assert!(seen, "every open window fired early: {:?}", counts(&store));
    assert!(!job.is_finished());
    release.store(true, Ordering::SeqCst);
    job.await.unwrap().expect("job runs");
}

/// A source with two partitions, one of which never produces; tumbling windows of 5 s.
fn idle_job(idle: Option<Duration>, release: &Arc<AtomicBool>, store: &SharedStore) -> JobGraph {
    let events: Vec<Event> = (0..200)
        .map(|i| Event::new(if i % 2 == 0 { "a" } else { "b" }, i * 100, 1))
        .collect();
    let mut rng = Rng::new(9);
    let mut source = SourceSpec::new(vec![chunk(&events, &mut rng, 10), vec![]]);
    source.hold_open = Some(Arc::clone(release));
    // Partition 0 keeps producing (a batch every ~20 ms, below the idle timeout) while
    // partition 1 stays silent.
    source.idle_polls_between = 3;
    window_graph(
        "idle",
        &source,
        1,
        watermarks(0, idle),
        window_config(WindowKind::Tumble { size_ms: 5_000 }, count_only()),
        2,
        sink_factory(store, SinkOptions::default()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_partition_does_not_hold_back_the_watermark() {
    let release = Arc::new(AtomicBool::new(false));
    let store = new_store();
    let job = spawn(idle_job(Some(Duration::from_millis(200)), &release, &store));
    // All windows before the last event's (19900) fire while the job runs.
    let fired = wait_until(Duration::from_secs(10), || {
        let c = counts(&store);
        [0, 5_000, 10_000]
            .iter()
            .all(|s| c.contains(&(*s, s + 5_000, "a".into(), 25)))
    })
    .await;
    assert!(fired, "windows fire while running: {:?}", counts(&store));
    assert!(!job.is_finished());
    assert!(
        !counts(&store).iter().any(|r| r.0 == 15_000),
        "the last window stays open"
    );
    release.store(true, Ordering::SeqCst);
    job.await.unwrap().expect("job runs");
    assert_eq!(counts(&store).len(), 8, "4 windows x 2 keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idle_timeout_a_silent_partition_holds_the_watermark() {
    let release = Arc::new(AtomicBool::new(false));
    let store = new_store();
    let job = spawn(idle_job(None, &release, &store));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        counts(&store).is_empty(),
        "nothing fires while a partition has produced nothing"
    );
    release.store(true, Ordering::SeqCst);
    job.await.unwrap().expect("job runs");
    assert_eq!(counts(&store).len(), 8);
}

/// Two source instances with one partition each. The second produces one early event and
/// then falls silent: once idle, its source instance must report itself idle downstream even
/// though it already emitted a watermark, or the window waits on it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_instance_idle_after_its_first_watermark_does_not_hold_back() {
    let release = Arc::new(AtomicBool::new(false));
    let events: Vec<Event> = (0..200).map(|i| Event::new("a", i * 100, 1)).collect();
    let mut rng = Rng::new(10);
    let mut source = SourceSpec::new(vec![
        chunk(&events, &mut rng, 10),
        vec![batch(&[Event::new("b", 100, 1)])],
    ]);
    source.hold_open = Some(Arc::clone(&release));
    source.idle_polls_between = 3;
    let store = new_store();
    let graph = window_graph(
        "idle2",
        &source,
        2,
        watermarks(0, Some(Duration::from_millis(200))),
        window_config(WindowKind::Tumble { size_ms: 5_000 }, count_only()),
        1,
        sink_factory(&store, SinkOptions::default()),
    );
    let job = spawn(graph);
    let fired = wait_until(Duration::from_secs(10), || {
        counts(&store).contains(&(10_000, 15_000, "a".into(), 50))
    })
    .await;
    assert!(fired, "windows fire while running: {:?}", counts(&store));
    assert!(counts(&store).contains(&(0, 5_000, "b".into(), 1)));
    assert!(!job.is_finished());
    release.store(true, Ordering::SeqCst);
    job.await.unwrap().expect("job runs");
    assert_eq!(counts(&store).len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_fire_emits_partial_results_of_open_sessions() {
    let e = Event::new;
    let release = Arc::new(AtomicBool::new(false));
    let mut source = SourceSpec::new(vec![vec![
        batch(&[e("a", 1_000, 1), e("b", 1_200, 1)]),
        batch(&[e("a", 3_000, 1)]), // 2000 after 1000: a second session of a
        batch(&[e("a", 2_000, 1)]), // bridges both: a is [1000, 4500) with 3 events
        // Held back until released:
        batch(&[e("a", 3_500, 1)]),
    ]]);
    source.hold_open = Some(Arc::clone(&release));
    source.gate_after = 3;
    let store = new_store();
    let mut config = window_config(WindowKind::Session { gap_ms: 1_500 }, count_only());
    config.early_fire = Some(Duration::from_millis(50));
    let graph = window_graph(
        "early-session",
        &source,
        1,
        watermarks(10_000, None),
        config,
        2,
        sink_factory(&store, SinkOptions::default()),
    );
    let job = spawn(graph);
    let partial = wait_until(Duration::from_secs(10), || {
        let c = counts(&store);
        c.contains(&(1_000, 4_500, "a".into(), 3)) && c.contains(&(1_200, 2_700, "b".into(), 1))
    })
    .await;
    assert!(
        partial,
        "partial results of open sessions appear: {:?}",
        counts(&store)
    );
    assert!(!job.is_finished());
    release.store(true, Ordering::SeqCst);
    job.await.unwrap().expect("job runs");
    let c = counts(&store);
    let last_a = c.iter().rev().find(|r| r.2 == "a").unwrap();
    assert_eq!(*last_a, (1_000, 5_000, "a".into(), 4), "{c:?}");
    let last_b = c.iter().rev().find(|r| r.2 == "b").unwrap();
    assert_eq!(*last_b, (1_200, 2_700, "b".into(), 1));
}
