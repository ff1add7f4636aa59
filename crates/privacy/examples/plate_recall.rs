//! Measures plate recall of the PP-OCRv4 + plate-shape detector on labelled photos.
//!
//! `cargo run -p spate-privacy --example plate_recall -- MODELS_DIR LABELS.csv [PLATE_SIDE]`
//! (the plate network's longer side, 640 by default), where each
//! line of LABELS.csv is `photo_path,x1,y1,x2,y2` (one labelled plate per line; paths are
//! relative to the CSV's folder). A plate counts as found when the union of plate boxes
//! covers at least half of its area; for each plate missed, it also prints the text regions
//! (before the plate-shape check) that touch it. `plates/README.md` describes a labelled set
//! and where its photos come from.

use std::path::Path;
use std::time::Instant;

use spate_privacy::models::PPOCR_DET;
use spate_privacy::plate::PlateDetector;
use spate_privacy::{Engine, EngineChoice};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (models, labels, side) = match &args[..] {
        [models, labels] => (models, labels, spate_privacy::detect::DEFAULT_PLATE_SIDE),
        [models, labels, side] => (models, labels, side.parse()?),
        _ => return Err("usage: plate_recall MODELS_DIR LABELS.csv [PLATE_SIDE]".into()),
    };
    let engine = Engine::resolve(EngineChoice::Auto, Path::new(models))?;
    let detector = PlateDetector::load(&PPOCR_DET.path_in(Path::new(models)), &engine)?;
    let base = Path::new(labels).parent().unwrap_or(Path::new("."));
    let (mut found, mut total) = (0, 0);
    for (n, line) in std::fs::read_to_string(labels)?.lines().enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [photo, rest @ ..] = &fields[..] else {
            continue;
        };
        let coords: Vec<u32> = rest
            .iter()
            .map(|v| v.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{labels}:{}: {e}", n + 1))?;
        let [x1, y1, x2, y2] = coords[..] else {
            return Err(format!("{labels}:{}: expected photo,x1,y1,x2,y2", n + 1).into());
        };
        let image = image::open(base.join(photo))?.to_rgb8();
        let started = Instant::now();
        let plates = detector.detect(&image, side)?;
        let elapsed = started.elapsed();
        let covered = (y1..y2)
            .flat_map(|y| (x1..x2).map(move |x| (x as f32 + 0.5, y as f32 + 0.5)))
            .filter(|&(x, y)| {
                plates
                    .iter()
                    .any(|d| d.x1 <= x && x < d.x2 && d.y1 <= y && y < d.y2)
            })
            .count();
        let hit = covered * 2 >= ((x2 - x1) * (y2 - y1)) as usize;
        total += 1;
        found += hit as usize;
        println!(
            "{photo}: {} ({} plate boxes, {:.0}% of the plate covered, {elapsed:?})",
            if hit { "found" } else { "MISSED" },
            plates.len(),
            100.0 * covered as f64 / ((x2 - x1) * (y2 - y1)) as f64
        );
        if !hit {
            // Before the plate-shape check: did the text detector see it at all?
            let touching: Vec<String> = detector
                .text_regions(&image, side)?
                .0
                .iter()
                .filter(|d| {
                    d.x1 < x2 as f32 && d.x2 > x1 as f32 && d.y1 < y2 as f32 && d.y2 > y1 as f32
                })
                .map(|d| {
                    format!(
                        "{:.0}x{:.0}@({:.0},{:.0})",
                        d.width(),
                        d.height(),
                        d.x1,
                        d.y1
                    )
                })
                .collect();
            println!("  text regions touching it: {touching:?}");
        }
    }
    println!("recall {found}/{total}");
    Ok(())
}
