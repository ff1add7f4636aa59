//! `cargo bench -p spate-privacy --bench api`: the same measurement as `spate bench api`
//! (see `spate_privacy::bench`), without building the whole `spate` binary in release mode.
//! Models come from `SPATE_MODELS_DIR` (`spate models fetch --models-dir DIR`); optional
//! arguments after `--`: `images clients rate face_side max_concurrent plate_side`; the engine
//! from `SPATE_ENGINE` (`auto`, `tract` or `onnxruntime`; `auto` by default).

use spate_privacy::DetectorConfig;
use spate_privacy::bench::{BenchConfig, run};
use spate_privacy::detect::{DEFAULT_FACE_SIDE, DEFAULT_PLATE_SIDE};

fn main() {
    let Some(models_dir) = std::env::var_os("SPATE_MODELS_DIR") else {
        println!("SKIPPED: SPATE_MODELS_DIR is not set (run `spate models fetch`)");
        return;
    };
    // cargo bench passes `--bench`; the numbers are what follows it.
    let numbers: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let at = |i: usize, default: f64| numbers.get(i).copied().unwrap_or(default);
    let engine = match std::env::var("SPATE_ENGINE")
        .as_deref()
        .unwrap_or("auto")
        .parse()
    {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("SPATE_ENGINE: {e}");
            std::process::exit(2);
        }
    };
    let config = BenchConfig {
        models_dir: models_dir.into(),
        photo: None,
        images: at(0, 100.0) as usize,
        clients: at(1, 4.0) as usize,
        rate: at(2, 10.0),
        max_concurrent: at(4, 2.0) as usize,
        detector: DetectorConfig {
            face_side: at(3, DEFAULT_FACE_SIDE as f64) as u32,
            plate_side: at(5, DEFAULT_PLATE_SIDE as f64) as u32,
            engine,
        },
    };
    match run(&config) {
        Ok(figures) => println!("{figures}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
