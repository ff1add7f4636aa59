//! Time per run of each network on one engine, in wall time and in this thread's CPU time (so
//! that a busy machine shows as wall time above CPU time, not as a slower network).
//!
//! `cargo run --release -p spate-privacy --example engine_profile -- MODELS_DIR
//! ENGINE [RUNS] [face|plate HEIGHT WIDTH]…`, e.g. `… /models onnxruntime 10 face 480 800
//! plate 352 640` (the defaults), or `… ENGINE [RUNS] pipeline` for the whole work of one
//! request on city.jpg at 1280×720 (decode, detectors, redaction, encode) in process CPU time.

use std::path::Path;
use std::time::{Duration, Instant};

use spate_privacy::models::{CENTERFACE, PPOCR_DET};
use spate_privacy::onnx::OnnxModel;
use spate_privacy::{Engine, EngineChoice};

/// CPU time of the calling thread so far (Linux: the first field of `schedstat`, in ns).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, engine, rest @ ..] = &args[..] else {
        return Err("usage: engine_profile MODELS_DIR ENGINE [RUNS] [face|plate H W]…".into());
    };
    let dir = Path::new(dir);
    let engine = Engine::resolve(engine.parse::<EngineChoice>()?, dir)?;
    let (runs, rest) = match rest.first().and_then(|r| r.parse::<usize>().ok()) {
        Some(runs) => (runs, &rest[1..]),
        None => (10, rest),
    };
    if rest.first().map(String::as_str) == Some("pipeline") {
        return pipeline(dir, engine.choice(), runs);
    }
    let mut jobs = Vec::new();
    for job in rest.chunks(3) {
        let [net, h, w] = job else {
            return Err("each network is `face|plate HEIGHT WIDTH`".into());
        };
        jobs.push((net.clone(), h.parse::<usize>()?, w.parse::<usize>()?));
    }
    if jobs.is_empty() {
        jobs = vec![("face".into(), 480, 800), ("plate".into(), 352, 640)];
    }
    println!("engine {}", engine.describe());
    for (net, h, w) in jobs {
        let asset = if net == "face" { CENTERFACE } else { PPOCR_DET };
        let model = OnnxModel::load(&asset.path_in(dir), &engine)?;
        let input = vec![0.5f32; 3 * h * w];
        let started = Instant::now();
        model.run(input.clone(), h, w)?;
        let first = started.elapsed();
        let (wall, cpu) = (Instant::now(), thread_cpu());
        for _ in 0..runs {
            model.run(input.clone(), h, w)?;
        }
        let per = |d: Duration| d.as_secs_f64() * 1e3 / runs as f64;
        println!(
            "{net} 1x3x{h}x{w}: first run {:.0} ms, then {:.1} ms wall, {:.1} ms CPU of this thread per run",
            first.as_secs_f64() * 1e3,
            per(wall.elapsed()),
            per(thread_cpu() - cpu),
        );
    }
    Ok(())
}

/// CPU time of the whole process so far (Linux: utime + stime of `/proc/self/stat`, in clock
/// ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the name.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn pipeline(
    dir: &Path,
    engine: EngineChoice,
    runs: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use spate_privacy::Detector;
    use spate_privacy::models::CITY_JPG;
    let detector = spate_privacy::ModelDetector::load(
        dir,
        spate_privacy::DetectorConfig {
            engine,
            ..Default::default()
        },
    )?;
    let photo = image::open(CITY_JPG.path_in(dir))?
        .resize_exact(1280, 720, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut jpeg = std::io::Cursor::new(Vec::new());
    photo.write_to(&mut jpeg, image::ImageFormat::Jpeg)?;
    let jpeg = jpeg.into_inner();
    let step = |name: &str, f: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>| {
        f()?;
        let (wall, cpu) = (Instant::now(), process_cpu());
        for _ in 0..runs {
            f()?;
        }
        println!(
            "{name:<28} {:>7.1} ms wall {:>7.1} ms process CPU per image",
            wall.elapsed().as_secs_f64() * 1e3 / runs as f64,
            (process_cpu() - cpu).as_secs_f64() * 1e3 / runs as f64
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let decode = || image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg);
    step("decode 1280x720 JPEG", &mut || {
        decode()?;
        Ok(())
    })?;
    let image = decode()?.into_rgb8();
    step("detect (faces and plates)", &mut || {
        detector.detect(&image)?;
        Ok(())
    })?;
    let found = detector.detect(&image)?;
    step("redact", &mut || {
        let mut copy = image.clone();
        spate_privacy::redact::redact(&mut copy, &found, Default::default());
        Ok(())
    })?;
    step("encode JPEG q90 (jpeg-encoder)", &mut || {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
        encoder.encode(image.as_raw(), 1280, 720, jpeg_encoder::ColorType::Rgb)?;
        Ok(())
    })?;
    step("encode JPEG q90 (image)", &mut || {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&image)?;
        Ok(())
    })?;
    detector.take_stage_times();
    for _ in 0..runs {
        detector.detect(&image)?;
    }
    println!("{}", serde_json::to_string(&detector.take_stage_times())?);
    Ok(())
}
