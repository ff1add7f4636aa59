//! Plain SVG charts, written as strings: the ROC curve ([`roc_svg`]) and feature importance
//! ([`importance_svg`]).

use std::fmt::Write;

/// Side of the ROC chart's square plotting area, in SVG units.
const ROC_PLOT_SIZE: f64 = 320.0;
/// Space left of and below the ROC plotting area, for tick and axis labels.
const ROC_MARGIN: f64 = 50.0;

/// Width of the importance chart's bar area, in SVG units.
const BAR_AREA_WIDTH: f64 = 300.0;
/// Width left of the bars for feature names.
const NAME_WIDTH: f64 = 180.0;
/// Height of one bar row.
const BAR_ROW_HEIGHT: f64 = 22.0;

/// Escapes text for SVG content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The ROC curve (as from [`crate::roc_curve`]) over its axes, with the chance diagonal, tick
/// labels and the AUC written in the corner.
pub fn roc_svg(curve: &[(f64, f64)], auc: f64) -> String {
    let size = ROC_PLOT_SIZE + 2.0 * ROC_MARGIN;
    let left = ROC_MARGIN;
    let bottom = ROC_MARGIN + ROC_PLOT_SIZE;
    let x = |rate: f64| left + rate.clamp(0.0, 1.0) * ROC_PLOT_SIZE;
    let y = |rate: f64| bottom - rate.clamp(0.0, 1.0) * ROC_PLOT_SIZE;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect x="{left}" y="{top}" width="{ROC_PLOT_SIZE}" height="{ROC_PLOT_SIZE}" fill="none" stroke="black"/>"#,
        top = ROC_MARGIN
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="4 4"/>"##,
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0)
    );
    for tick in [0.0, 0.5, 1.0] {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{tick:.1}</text>"#,
            x(tick),
            bottom + 16.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{tick:.1}</text>"#,
            left - 6.0,
            y(tick) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">False positive rate</text>"#,
        x(0.5),
        bottom + 36.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">True positive rate</text>"#,
        left - 34.0,
        y(0.5),
        left - 34.0,
        y(0.5)
    );
    let points: Vec<String> = curve
        .iter()
        .map(|&(false_positive_rate, true_positive_rate)| {
            format!("{:.2},{:.2}", x(false_positive_rate), y(true_positive_rate))
        })
        .collect();
    let _ = writeln!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##,
        points.join(" ")
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end" font-size="14">AUC = {auc:.3}</text>"#,
        x(1.0) - 8.0,
        y(0.0) - 10.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// Horizontal bars, one per feature, longest (most important) on top, each labelled with the
/// feature name and its value.
pub fn importance_svg(importance: &[(String, f64)]) -> String {
    let mut sorted: Vec<&(String, f64)> = importance.iter().collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
    let largest = sorted
        .iter()
        .map(|(_, value)| *value)
        .fold(0.0_f64, f64::max);
    let width = NAME_WIDTH + BAR_AREA_WIDTH + 70.0;
    let height = BAR_ROW_HEIGHT * sorted.len() as f64 + 20.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    for (index, (name, value)) in sorted.iter().enumerate() {
        let top = 10.0 + BAR_ROW_HEIGHT * index as f64;
        let bar_width = if largest > 0.0 {
            value.max(0.0) / largest * BAR_AREA_WIDTH
        } else {
            0.0
        };
        let text_y = top + BAR_ROW_HEIGHT / 2.0 + 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{text_y}" text-anchor="end">{}</text>"#,
            NAME_WIDTH - 8.0,
            escape(name)
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{NAME_WIDTH}" y="{}" width="{bar_width:.2}" height="{}" fill="#1f77b4"/>"##,
            top + 3.0,
            BAR_ROW_HEIGHT - 6.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{text_y}">{value:.3}</text>"#,
            NAME_WIDTH + bar_width + 6.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_svg_is_well_formed_with_curve_diagonal_and_auc() {
        let curve = [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)];
        let svg = roc_svg(&curve, 0.875);
        let document = roxmltree::Document::parse(&svg).unwrap();
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        let polyline = root
            .descendants()
            .find(|node| node.has_tag_name("polyline"))
            .unwrap();
        let points: Vec<&str> = polyline.attribute("points").unwrap().split(' ').collect();
        // (0, 0) is the bottom-left corner of the plot; (1, 1) the top-right.
        assert_eq!(
            points,
            [
                "50.00,370.00",
                "50.00,210.00",
                "210.00,50.00",
                "370.00,50.00"
            ]
        );
        assert_eq!(
            root.descendants()
                .filter(|node| node.has_tag_name("line"))
                .count(),
            1
        );
        assert!(
            root.descendants()
                .any(|node| node.text() == Some("AUC = 0.875"))
        );
    }

    #[test]
    fn importance_svg_sorts_bars_and_escapes_names() {
        let importance = vec![
            ("speed".to_string(), 0.2),
            ("oil <temp> & \"pressure\"".to_string(), 0.8),
        ];
        let svg = importance_svg(&importance);
        let document = roxmltree::Document::parse(&svg).unwrap();
        let bars: Vec<f64> = document
            .descendants()
            .filter(|node| node.has_tag_name("rect"))
            .map(|node| node.attribute("width").unwrap().parse().unwrap())
            .collect();
        assert_eq!(bars, vec![300.0, 75.0]);
        let labels: Vec<&str> = document
            .descendants()
            .filter(|node| {
                node.has_tag_name("text") && node.attribute("text-anchor") == Some("end")
            })
            .filter_map(|node| node.text())
            .collect();
        assert_eq!(labels, vec!["oil <temp> & \"pressure\"", "speed"]);
    }
}
