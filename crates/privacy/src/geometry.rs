//! Boxes, non-maximum suppression and scaling.

use serde::Serialize;

/// What a detection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A human face.
    Face,
    /// A licence plate.
    Plate,
    /// A car, bus, truck or motorcycle (kept sharp by `background=blur`, never redacted).
    Vehicle,
}

impl Kind {
    /// The lower-case name used in JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Face => "face",
            Kind::Plate => "plate",
            Kind::Vehicle => "vehicle",
        }
    }
}

/// An axis-aligned box in image pixels (x2, y2 exclusive) with a confidence score. In JSON it
/// is `{"kind", "x", "y", "w", "h", "score"}`: the top-left corner, width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// What was found.
    pub kind: Kind,
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
    /// Model confidence in 0..=1.
    pub score: f32,
}

impl Serialize for Detection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // Pixels to a tenth, scores to a thousandth: what the models can tell apart.
        let round = |v: f32, per: f64| (v as f64 * per).round() / per;
        let mut s = serializer.serialize_struct("Detection", 6)?;
        s.serialize_field("kind", &self.kind)?;
        s.serialize_field("x", &round(self.x1, 10.0))?;
        s.serialize_field("y", &round(self.y1, 10.0))?;
        s.serialize_field("w", &round(self.width(), 10.0))?;
        s.serialize_field("h", &round(self.height(), 10.0))?;
        s.serialize_field("score", &round(self.score, 1000.0))?;
        s.end()
    }
}

impl Detection {
    /// Width of the box.
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height of the box.
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area of the box.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union with `other`.
    pub fn iou(&self, other: &Detection) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box grown about its centre by `factor` (deface's `mask_scale`), clamped to
    /// `width` × `height`.
    pub fn scaled(&self, factor: f32, width: u32, height: u32) -> Detection {
        let dw = self.width() * (factor - 1.0) / 2.0;
        let dh = self.height() * (factor - 1.0) / 2.0;
        Detection {
            x1: (self.x1 - dw).max(0.0),
            y1: (self.y1 - dh).max(0.0),
            x2: (self.x2 + dw).min(width as f32),
            y2: (self.y2 + dh).min(height as f32),
            ..*self
        }
    }

    /// Integer pixel bounds `(x1, y1, x2, y2)` covering the box, clamped to the image.
    pub fn pixel_bounds(&self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
        (
            clamp(self.x1.floor(), width),
            clamp(self.y1.floor(), height),
            clamp(self.x2.ceil(), width),
            clamp(self.y2.ceil(), height),
        )
    }
}

/// Greedy non-maximum suppression: keeps the best-scoring box of each group whose IoU is at
/// least `threshold`, as CenterFace's reference code does. Returns the kept boxes, best first.
pub fn nms(mut dets: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        if kept.iter().all(|k| k.iou(&d) < threshold) {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Detection {
        Detection {
            kind: Kind::Face,
            x1,
            y1,
            x2,
            y2,
            score,
        }
    }

    #[test]
    fn iou_of_half_overlap() {
        let a = det(0.0, 0.0, 10.0, 10.0, 1.0);
        let b = det(5.0, 0.0, 15.0, 10.0, 1.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&det(20.0, 20.0, 30.0, 30.0, 1.0)), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_overlapping_and_all_disjoint() {
        let kept = nms(
            vec![
                det(0.0, 0.0, 10.0, 10.0, 0.6),
                det(1.0, 1.0, 11.0, 11.0, 0.9),
                det(50.0, 50.0, 60.0, 60.0, 0.3),
            ],
            0.3,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].x1, 50.0);
    }

    #[test]
    fn scaled_grows_about_centre_and_clamps() {
        let d = det(10.0, 10.0, 20.0, 30.0, 1.0).scaled(1.5, 22, 100);
        assert_eq!((d.x1, d.y1, d.x2, d.y2), (7.5, 5.0, 22.0, 35.0));
        assert_eq!(d.pixel_bounds(22, 100), (7, 5, 22, 35));
    }
}
