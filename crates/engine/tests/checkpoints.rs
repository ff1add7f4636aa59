//! Checkpoints and recovery: a job that fails mid-way and is run again from its checkpoints
//! commits exactly what a run without failure commits; checkpoints of another job are refused;
//! a finished job is not run again.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use spate_engine::checkpoint::CheckpointStore;
use spate_engine::window::WindowKind;
use spate_engine::{EngineError, JobConfig, JobGraph, run};

const BOUND: i64 = 1_500;

fn input(seed: u64) -> Vec<Vec<Event>> {
    generate(&Gen {
        seed,
        partitions: 4,
        events_per_partition: 250,
        keys: 12,
        max_step: 150,
        disorder: BOUND,
        value_range: 100,
    })
}

/// A slow source (an `Idle` poll after every batch) over small batches, so that a run spans
/// many checkpoints.
fn slow_source(parts: &[Vec<Event>], fail: Option<Arc<FailPlan>>) -> SourceSpec {
    let mut rng = Rng::new(42);
    let mut s = SourceSpec::from_events(parts, &mut rng, 6);
    s.idle_polls_between = 1;
    s.fail = fail;
    s
}

/// Whether a sliced window's aggregation runs in two phases (local pre-aggregation, then a
/// global merge).
#[derive(Debug, Clone, Copy)]
struct TwoPhase(bool);

fn graph(source: &SourceSpec, kind: WindowKind, phases: TwoPhase, store: &SharedStore) -> JobGraph {
    let config = window_config(kind, standard_aggregates());
    let graph = window_graph(
        "checkpointed",
        source,
        2,
        watermarks(BOUND, None),
        config.clone(),
        2,
        sink_factory(store, SinkOptions::default()),
    );
    match phases {
        TwoPhase(true) => in_two_phases(graph, &config),
        TwoPhase(false) => graph,
    }
}

fn config(dir: &std::path::Path) -> JobConfig {
    JobConfig {
        checkpoints: Some((
            CheckpointStore::local(dir).expect("checkpoint dir"),
            Duration::from_millis(25),
        )),
        idle_poll: Duration::from_millis(2),
        ..JobConfig::default()
    }
}

fn committed(store: &SharedStore) -> Vec<Row> {
    rows(&store.lock().unwrap().committed_batches())
}

/// Fails the job `failures.len()` times (after so many batches each), runs it to the end,
/// and checks the committed output against the reference and a run without failure.
async fn exactly_once_after_failures(
    kind: WindowKind,
    phases: TwoPhase,
    seed: u64,
    failures: &[usize],
) {
    let parts = input(seed);
    let all: Vec<Event> = parts.concat();
    let expected = reference(kind, &all, standard_values);
    let total_batches: usize = slow_source(&parts, None)
        .partitions
        .iter()
        .map(Vec::len)
        .sum();

    // Without failure.
    let clean_dir = tempfile::tempdir().unwrap();
    let clean_store = new_store();
    let report = run(
        graph(&slow_source(&parts, None), kind, phases, &clean_store),
        config(clean_dir.path()),
    )
    .await
    .expect("clean run");
    assert!(
        report.checkpoints > 3,
        "several checkpoints: {}",
        report.checkpoints
    );
    let clean = committed(&clean_store);
    assert_rows_eq(clean.clone(), expected.clone(), "run without failure");

    // With failures, then to the end, all against one checkpoint directory and one sink.
    let dir = tempfile::tempdir().unwrap();
    let store = new_store();
    let mut restored = Vec::new();
    for (attempt, after) in failures.iter().enumerate() {
        assert!(*after < total_batches);
        let plan = FailPlan::new(*after);
        let err = run(
            graph(
                &slow_source(&parts, Some(Arc::clone(&plan))),
                kind,
                phases,
                &store,
            ),
            config(dir.path()),
        )
        .await
        .expect_err("the injected failure fails the job");
        assert!(plan.fired());
        assert!(
            err.to_string().contains("injected failure"),
            "the failure reported is the source's, not a consequence: {err}"
        );
        let seen = committed(&store).len();
        assert!(
            seen < expected.len(),
            "attempt {attempt}: the job failed mid-way ({seen} of {} rows committed)",
            expected.len()
        );
        restored.push(seen);
    }
    let report = run(
        graph(&slow_source(&parts, None), kind, phases, &store),
        config(dir.path()),
    )
    .await
    .expect("restored run");
    assert!(
        report.restored_from.is_some(),
        "the last run resumed from a checkpoint"
    );
    assert!(!report.already_finished);
    assert!(
        restored.iter().any(|n| *n > 0),
        "output was committed before a failure: {restored:?}"
    );
    let after = committed(&store);
    assert_rows_eq(after.clone(), expected.clone(), "restored run vs reference");
    assert_rows_eq(after, clean, "restored run vs run without failure");
    {
        let s = store.lock().unwrap();
        assert!(s.prepared.is_empty(), "nothing left pre-committed");
        eprintln!(
            "{kind:?}: committed before failures {restored:?}, aborted {} rows",
            s.aborted_rows
        );
    }

    // Run again: the job had finished; nothing runs and nothing is committed twice.
    let again = run(
        graph(&slow_source(&parts, None), kind, phases, &store),
        config(dir.path()),
    )
    .await
    .expect("finished job re-run");
    assert!(again.already_finished);
    assert!(again.restored_from.is_some());
    assert_rows_eq(
        committed(&store),
        expected,
        "after re-running a finished job",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tumble_is_exactly_once_across_a_failure() {
    exactly_once_after_failures(
        WindowKind::Tumble { size_ms: 3_000 },
        TwoPhase(false),
        11,
        &[150],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tumble_in_two_phases_is_exactly_once_across_failures() {
    exactly_once_after_failures(
        WindowKind::Tumble { size_ms: 3_000 },
        TwoPhase(true),
        15,
        &[60, 150],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_is_exactly_once_across_failures() {
    exactly_once_after_failures(
        WindowKind::Hop {
            size_ms: 10_000,
            slide_ms: 4_000,
        },
        TwoPhase(false),
        12,
        &[80, 120],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cumulate_in_two_phases_is_exactly_once_across_a_failure() {
    exactly_once_after_failures(
        WindowKind::Cumulate {
            step_ms: 2_000,
            max_size_ms: 8_000,
        },
        TwoPhase(true),
        13,
        &[200],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_is_exactly_once_across_failures() {
    exactly_once_after_failures(
        WindowKind::Session { gap_ms: 800 },
        TwoPhase(false),
        14,
        &[100, 100],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_of_another_job_are_refused() {
    let parts = input(15);
    let dir = tempfile::tempdir().unwrap();
    let store = new_store();
    run(
        graph(
            &slow_source(&parts, None),
            WindowKind::Tumble { size_ms: 3_000 },
            TwoPhase(false),
            &store,
        ),
        config(dir.path()),
    )
    .await
    .expect("first job");
    let other_store = new_store();
    let err = run(
        graph(
            &slow_source(&parts, None),
            WindowKind::Tumble { size_ms: 4_000 },
            TwoPhase(false),
            &other_store,
        ),
        config(dir.path()),
    )
    .await
    .expect_err("a different graph refuses the checkpoint");
    match err {
        EngineError::IncompatibleCheckpoint {
            expected, found, ..
        } => assert!(!found.starts_with(&expected), "{found} vs {expected}"),
        other => panic!("expected IncompatibleCheckpoint, got {other}"),
    }
    assert!(
        other_store.lock().unwrap().written.is_empty(),
        "nothing ran"
    );

    // Also refused mid-way: a failed job's checkpoints do not fit another job either.
    let dir = tempfile::tempdir().unwrap();
    let plan = FailPlan::new(150);
    run(
        graph(
            &slow_source(&parts, Some(plan)),
            WindowKind::Session { gap_ms: 800 },
            TwoPhase(false),
            &new_store(),
        ),
        config(dir.path()),
    )
    .await
    .expect_err("injected failure");
    let err = run(
        graph(
            &slow_source(&parts, None),
            WindowKind::Session { gap_ms: 900 },
            TwoPhase(false),
            &new_store(),
        ),
        config(dir.path()),
    )
    .await
    .expect_err("a different graph refuses the checkpoint");
    assert!(
        matches!(err, EngineError::IncompatibleCheckpoint { .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_job_reports_already_finished() {
    let parts = input(16);
    let dir = tempfile::tempdir().unwrap();
    let store = new_store();
    let kind = WindowKind::Tumble { size_ms: 3_000 };
    let first = run(
        graph(&slow_source(&parts, None), kind, TwoPhase(false), &store),
        config(dir.path()),
    )
    .await
    .unwrap();
    assert!(!first.already_finished);
    assert_eq!(first.restored_from, None);
    let before = committed(&store);
    let polled = store.lock().unwrap().writes;
    let second = run(
        graph(&slow_source(&parts, None), kind, TwoPhase(false), &store),
        config(dir.path()),
    )
    .await
    .unwrap();
    assert!(second.already_finished);
    assert!(second.restored_from.is_some());
    assert_eq!(second.checkpoints, 0);
    assert_eq!(store.lock().unwrap().writes, polled, "nothing was written");
    assert_rows_eq(committed(&store), before, "unchanged");
}

/// Stopped through its control while it runs (Flink's stop with savepoint), the job commits
/// its last checkpoint and ends; run again, it resumes from there and the output is exactly
/// the reference, as if it had never stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_job_commits_its_final_checkpoint_and_resumes_exactly_once() {
    let kind = WindowKind::Tumble { size_ms: 3_000 };
    let parts = input(23);
    let expected = reference(kind, &parts.concat(), standard_values);
    let dir = tempfile::tempdir().unwrap();
    let store = new_store();
    let control = spate_engine::JobControl::default();
    let job = tokio::spawn(run(
        graph(&slow_source(&parts, None), kind, TwoPhase(false), &store),
        JobConfig {
            control: control.clone(),
            ..config(dir.path())
        },
    ));
    // Stop once some output is committed, well before the input ends.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while committed(&store).is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing committed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(control.status().checkpoints >= 1);
    control.stop();
    let report = job
        .await
        .unwrap()
        .expect("a stopped job ends without error");
    assert!(report.stopped, "{report:?}");
    let last = control
        .status()
        .last_checkpoint
        .expect("the stopping checkpoint");
    assert_eq!(report.checkpoints, control.status().checkpoints);
    let at_stop = committed(&store).len();
    assert!(
        at_stop < expected.len(),
        "stopped mid-way: {at_stop} of {} rows",
        expected.len()
    );
    assert!(
        store.lock().unwrap().prepared.is_empty(),
        "the sink committed what the stopping checkpoint prepared"
    );

    let report = run(
        graph(&slow_source(&parts, None), kind, TwoPhase(false), &store),
        config(dir.path()),
    )
    .await
    .expect("resumed run");
    assert_eq!(report.restored_from, Some(last.id), "resumed from the stop");
    assert!(!report.stopped);
    assert_rows_eq(
        committed(&store),
        expected,
        "stopped and resumed vs reference",
    );
}
