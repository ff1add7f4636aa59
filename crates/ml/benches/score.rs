//! Scoring throughput on one core: `Classifier::predict_proba` over 1M rows of 15 features
//! (5% missing), against a baseline that only sums the same 15 columns per row.
//!
//! Run with `cargo bench -p spate-ml --bench score`; prints rows/s for both and their ratio.
//! Rates are per second of this thread's CPU time (the fastest of five runs), so that other
//! work on the machine does not count against them; wall-clock rates are printed beside.

use std::hint::black_box;
use std::time::{Duration, Instant};

use spate_ml::{Classifier, Dataset, TrainOptions};

const FEATURES: usize = 15;
const TRAINING_ROWS: usize = 20_000;
const SCORED_ROWS: usize = 1_000_000;
const RUNS: usize = 5;

/// xorshift64*: deterministic inputs without a dependency.
struct Inputs(u64);

impl Inputs {
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Column-major features in [-2, 2), 5% missing, and labels from a rule on four of them.
    fn windows(&mut self, rows: usize) -> (Vec<Vec<f64>>, Vec<bool>) {
        let mut columns: Vec<Vec<f64>> = (0..FEATURES).map(|_| Vec::with_capacity(rows)).collect();
        let mut labels = Vec::with_capacity(rows);
        for _ in 0..rows {
            for column in columns.iter_mut() {
                let value = self.next_unit() * 4.0 - 2.0;
                column.push(if self.next_unit() < 0.05 {
                    f64::NAN
                } else {
                    value
                });
            }
            let row = labels.len();
            let hot_under_load = columns[0][row] > 1.0 && columns[1][row] > 0.0;
            let sensor_lost = columns[2][row].is_nan() && columns[3][row] > 0.5;
            labels.push(hot_under_load || sensor_lost || self.next_unit() < 0.01);
        }
        (columns, labels)
    }
}

/// CPU time used so far by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec for the call's duration.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// The fastest of `RUNS` runs of `work`: (thread CPU time, wall time).
fn fastest(mut work: impl FnMut()) -> (Duration, Duration) {
    let runs: Vec<(Duration, Duration)> = (0..RUNS)
        .map(|_| {
            let (cpu_start, wall_start) = (thread_cpu_time(), Instant::now());
            work();
            (thread_cpu_time() - cpu_start, wall_start.elapsed())
        })
        .collect();
    let cpu = runs
        .iter()
        .map(|run| run.0)
        .min()
        .expect("at least one run");
    let wall = runs
        .iter()
        .map(|run| run.1)
        .min()
        .expect("at least one run");
    (cpu, wall)
}

fn main() {
    let mut inputs = Inputs(0x5eed);
    let (training_columns, labels) = inputs.windows(TRAINING_ROWS);
    let names = (0..FEATURES).map(|index| format!("f{index}")).collect();
    let training = Dataset::new(names, training_columns, labels).expect("valid dataset");
    let options = TrainOptions::default();
    let start = Instant::now();
    let model = Classifier::train(&training, &options).expect("training");
    let training_time = start.elapsed();

    let (columns, _) = inputs.windows(SCORED_ROWS);
    let slices: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();

    let predict = fastest(|| {
        black_box(model.predict_proba(black_box(&slices)).expect("scoring"));
    });
    let baseline = fastest(|| {
        let slices = black_box(&slices);
        let sums: Vec<f64> = (0..SCORED_ROWS)
            .map(|row| slices.iter().map(|column| column[row]).sum())
            .collect();
        black_box(sums);
    });

    let rows_per_second = |time: Duration| SCORED_ROWS as f64 / time.as_secs_f64();
    println!(
        "model: {} trees of depth {}, trained on {TRAINING_ROWS} rows × {FEATURES} features in {:.2} s",
        options.trees,
        options.max_depth,
        training_time.as_secs_f64()
    );
    for (name, (cpu, wall)) in [("predict_proba", predict), ("sum baseline", baseline)] {
        println!(
            "{name:<14} {:>12.0} rows/s of CPU time ({:.1} ms for {SCORED_ROWS} rows; wall clock {:.0} rows/s)",
            rows_per_second(cpu),
            cpu.as_secs_f64() * 1e3,
            rows_per_second(wall)
        );
    }
    println!(
        "predict_proba takes {:.1}× the CPU time of the baseline",
        predict.0.as_secs_f64() / baseline.0.as_secs_f64()
    );
}
