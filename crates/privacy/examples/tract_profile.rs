//! Where tract spends its time in one network: each operation of the optimised plan timed over
//! a few runs, summed by operation kind, largest first.
//!
//! `cargo run --release -p spate-privacy --example tract_profile -- MODEL.onnx HEIGHT WIDTH
//! [RUNS]`, e.g. `centerface.onnx 480 800` for the face network at its default input size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{SimpleState, eval};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, height, width, runs) = match &args[..] {
        [path, h, w] => (path, h.parse::<usize>()?, w.parse::<usize>()?, 3),
        [path, h, w, runs] => (path, h.parse()?, w.parse()?, runs.parse::<usize>()?),
        _ => return Err("usage: tract_profile MODEL.onnx HEIGHT WIDTH [RUNS]".into()),
    };
    let mut model = tract_onnx::onnx().model_for_path(path)?;
    for i in 0..model.output_outlets()?.len() {
        model.set_output_fact(i, InferenceFact::default())?;
    }
    let plan = model
        .with_input_fact(0, f32::fact([1, 3, height, width]).into())?
        .into_optimized()?
        .into_runnable()?;
    let input = || {
        Tensor::from(tract_ndarray::Array4::<f32>::from_elem(
            (1, 3, height, width),
            0.5,
        ))
        .into_tvalue()
    };
    plan.run(tvec!(input()))?;
    let mut by_op: HashMap<String, (Duration, usize)> = HashMap::new();
    let mut state = SimpleState::new(&plan)?;
    let started = Instant::now();
    for _ in 0..runs {
        state.run_plan_with_eval(tvec!(input()), |session, op_state, node, inputs| {
            let t = Instant::now();
            let out = eval(session, op_state, node, inputs);
            let entry = by_op.entry(node.op().name().to_string()).or_default();
            entry.0 += t.elapsed();
            entry.1 += 1;
            out
        })?;
    }
    let total = started.elapsed();
    let mut rows: Vec<_> = by_op.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1.0));
    println!(
        "{path} at 1x3x{height}x{width}: {:.1} ms per run over {runs} runs",
        total.as_secs_f64() * 1e3 / runs as f64
    );
    for (op, (time, count)) in rows {
        println!(
            "{op:<28} {:>9.1} ms/run {:>5.1}% {:>5} nodes",
            time.as_secs_f64() * 1e3 / runs as f64,
            100.0 * time.as_secs_f64() / total.as_secs_f64(),
            count / runs
        );
    }
    Ok(())
}
