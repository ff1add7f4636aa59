//! `cargo bench -p spate-privacy --bench api`: the same measurement as `spate bench api`
//! (see `spate_privacy::bench`), without building the whole `spate` binary in release mode.
//! Models come from `SPATE_MODELS_DIR` (`spate models fetch --models-dir DIR`); optional
//! arguments after `--`: `images clients rate max_side max_concurrent`.

use spate_privacy::bench::{BenchConfig, run};

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
    let config = BenchConfig {
        models_dir: models_dir.into(),
        photo: None,
        images: at(0, 100.0) as usize,
        clients: at(1, 4.0) as usize,
        rate: at(2, 10.0),
        max_side: at(3, 1280.0) as u32,
        max_concurrent: at(4, 2.0) as usize,
    };
    match run(&config) {
        Ok(figures) => println!("{figures}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
