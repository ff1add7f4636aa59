//! Small vehicle photos drawn from a seed: a road and sky, a car body with windows and
//! wheels, and a licence plate with characters, encoded as JPEG, PNG or WebP. Real image files
//! of a few kilobytes, so the API decodes, checks and processes them as uploads.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};
use rand::Rng;

/// One encoded photo and its media type.
#[derive(Debug, Clone)]
pub struct Photo {
    /// The encoded file.
    pub bytes: bytes::Bytes,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: &'static str,
}

/// Draws and encodes `count` photos: mostly JPEG, some PNG and WebP, 240–480 pixels wide.
pub fn photos(rng: &mut impl Rng, count: usize) -> Vec<Photo> {
    (0..count)
        .map(|i| {
            let width = [240, 320, 400, 480][rng.random_range(0..4)];
            let img = draw(rng, width, width * 3 / 4);
            let format = match i % 6 {
                4 => ImageFormat::Png,
                5 => ImageFormat::WebP,
                _ => ImageFormat::Jpeg,
            };
            let mut out = Cursor::new(Vec::new());
            img.write_to(&mut out, format)
                .expect("encoding to memory does not fail");
            Photo {
                bytes: out.into_inner().into(),
                content_type: format.to_mime_type(),
            }
        })
        .collect()
}

fn fill(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, colour: Rgb<u8>) {
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            img.put_pixel(x, y, colour);
        }
    }
}

fn disc(img: &mut RgbImage, cx: i64, cy: i64, r: i64, colour: Rgb<u8>) {
    for y in (cy - r).max(0)..(cy + r).min(img.height() as i64) {
        for x in (cx - r).max(0)..(cx + r).min(img.width() as i64) {
            if (x - cx).pow(2) + (y - cy).pow(2) <= r * r {
                img.put_pixel(x as u32, y as u32, colour);
            }
        }
    }
}

/// A car seen from the side or the back, on a road under a sky.
fn draw(rng: &mut impl Rng, w: u32, h: u32) -> RgbImage {
    let horizon = h * 11 / 20;
    let mut img = RgbImage::from_fn(w, h, |_, y| {
        if y < horizon {
            let t = y as f32 / horizon as f32;
            Rgb([(120.0 + 80.0 * t) as u8, (170.0 + 50.0 * t) as u8, 235])
        } else {
            let shade = 70 + ((y - horizon) * 40 / (h - horizon)) as u8;
            Rgb([shade, shade, shade + 5])
        }
    });
    // Lane markings and a little sensor noise.
    for x in (0..w).step_by(40) {
        fill(
            &mut img,
            x,
            h * 9 / 10,
            x + 20,
            h * 9 / 10 + 3,
            Rgb([230, 230, 210]),
        );
    }
    for px in img.pixels_mut() {
        let n: i16 = rng.random_range(-6..=6);
        for c in px.0.iter_mut() {
            *c = (*c as i16 + n).clamp(0, 255) as u8;
        }
    }
    let paint = [
        Rgb([180, 20, 30]),
        Rgb([20, 40, 120]),
        Rgb([235, 235, 235]),
        Rgb([30, 30, 30]),
        Rgb([140, 140, 150]),
    ][rng.random_range(0..5)];
    let (cx0, cx1) = (w / 6 + rng.random_range(0..w / 10), w * 5 / 6);
    let (cy0, cy1) = (h * 2 / 5, h * 4 / 5);
    fill(&mut img, cx0, cy0 + (cy1 - cy0) / 3, cx1, cy1, paint);
    fill(
        &mut img,
        cx0 + (cx1 - cx0) / 5,
        cy0,
        cx1 - (cx1 - cx0) / 5,
        cy0 + (cy1 - cy0) / 3,
        paint,
    );
    let glass = Rgb([60, 80, 100]);
    fill(
        &mut img,
        cx0 + (cx1 - cx0) / 4,
        cy0 + 4,
        cx1 - (cx1 - cx0) / 4,
        cy0 + (cy1 - cy0) / 3 - 2,
        glass,
    );
    let r = ((cy1 - cy0) / 4) as i64;
    for x in [cx0 + (cx1 - cx0) / 5, cx1 - (cx1 - cx0) / 5] {
        disc(&mut img, x as i64, cy1 as i64, r, Rgb([15, 15, 15]));
        disc(&mut img, x as i64, cy1 as i64, r / 2, Rgb([160, 160, 160]));
    }
    // The plate: white with seven dark characters.
    let pw = (cx1 - cx0) / 4;
    let ph = (pw / 4).max(6);
    let (px0, py0) = ((cx0 + cx1) / 2 - pw / 2, cy1 - (cy1 - cy0) / 3);
    fill(&mut img, px0, py0, px0 + pw, py0 + ph, Rgb([245, 245, 240]));
    let cw = (pw / 9).max(1);
    for i in 0..7 {
        let x = px0 + cw + i * (pw - 2 * cw) / 7;
        let tall = rng.random_bool(0.7);
        let top = if tall { py0 + ph / 5 } else { py0 + ph / 3 };
        fill(
            &mut img,
            x,
            top,
            x + cw * 2 / 3 + 1,
            py0 + ph * 4 / 5,
            Rgb([20, 20, 25]),
        );
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn photos_decode_as_their_type_and_stay_small() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let photos = photos(&mut rng, 6);
        let types: Vec<&str> = photos.iter().map(|p| p.content_type).collect();
        assert_eq!(
            types,
            [
                "image/jpeg",
                "image/jpeg",
                "image/jpeg",
                "image/jpeg",
                "image/png",
                "image/webp"
            ]
        );
        for p in &photos {
            let format = image::guess_format(&p.bytes).unwrap();
            assert_eq!(format.to_mime_type(), p.content_type);
            let img = image::load_from_memory(&p.bytes).unwrap();
            assert!((240..=480).contains(&img.width()));
            assert!(p.bytes.len() < 600_000, "{} bytes", p.bytes.len());
        }
    }

    #[test]
    fn same_seed_same_photos() {
        let a = photos(&mut rand_chacha::ChaCha8Rng::seed_from_u64(9), 2);
        let b = photos(&mut rand_chacha::ChaCha8Rng::seed_from_u64(9), 2);
        assert_eq!(a[0].bytes, b[0].bytes);
        assert_eq!(a[1].bytes, b[1].bytes);
    }
}
