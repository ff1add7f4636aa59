//! Truncation checks. Decoders fill a cut-off image with grey and report success, so the
//! API looks for each format's end marker itself before decoding.

use image::ImageFormat;

/// Checks that `bytes` hold a whole file of `format`; the error says what is missing.
pub fn check_complete(format: ImageFormat, bytes: &[u8]) -> Result<(), String> {
    let rfind = |pat: &[u8]| bytes.windows(pat.len()).rposition(|w| w == pat);
    match format {
        ImageFormat::Jpeg => {
            // Entropy-coded data never holds 0xFF 0xD9 (0xFF is stuffed), so the end-of-image
            // marker must follow the last start-of-scan marker.
            match (rfind(&[0xFF, 0xDA]), rfind(&[0xFF, 0xD9])) {
                (Some(sos), Some(eoi)) if eoi > sos => Ok(()),
                (None, _) => Err("JPEG image is truncated: it has no scan data".into()),
                _ => Err(format!(
                    "JPEG image is truncated: no end-of-image marker after the last scan ({} bytes received)",
                    bytes.len()
                )),
            }
        }
        ImageFormat::Png => match rfind(b"IEND") {
            Some(_) => Ok(()),
            None => Err(format!(
                "PNG image is truncated: no IEND chunk ({} bytes received)",
                bytes.len()
            )),
        },
        ImageFormat::WebP => {
            let declared = bytes
                .get(4..8)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize + 8);
            match declared {
                Some(n) if n <= bytes.len() => Ok(()),
                Some(n) => Err(format!(
                    "WebP image is truncated: its header declares {n} bytes, {} received",
                    bytes.len()
                )),
                None => Err("WebP image is truncated: no RIFF header".into()),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn encode(format: ImageFormat) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 90]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn whole_files_pass_and_cut_files_fail() {
        for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP] {
            let bytes = encode(format);
            assert_eq!(check_complete(format, &bytes), Ok(()), "{format:?}");
            let cut = &bytes[..bytes.len() - 5];
            let err = check_complete(format, cut).unwrap_err();
            assert!(err.contains("truncated"), "{format:?}: {err}");
        }
    }

    #[test]
    fn jpeg_trailer_after_end_marker_is_accepted() {
        let mut bytes = encode(ImageFormat::Jpeg);
        bytes.extend_from_slice(b"camera trailer");
        assert_eq!(check_complete(ImageFormat::Jpeg, &bytes), Ok(()));
    }
}
