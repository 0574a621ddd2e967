//! Training-curve figures with plotters: one metric per panel, with axes, tick values, axis
//! labels and a legend, written as PNG and SVG. Text is drawn with an embedded DejaVu Sans, so
//! no system font is needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::Error;

/// DejaVu Sans (Bitstream Vera licence; `assets/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const PANEL: (u32, u32) = (760, 280);
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// One line of a panel.
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// (x, y) points; non-finite y values are left out.
    pub points: Vec<(f64, f64)>,
}

/// One panel: one metric, on its own y axis.
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// Y-axis label (the metric).
    pub y_label: String,
    /// Its lines.
    pub series: Vec<Series>,
    /// A vertical dashed line at this x, with its legend entry (the kept checkpoint, say).
    pub marker: Option<(f64, String)>,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded file is a valid TrueType font; failing here would be a build defect.
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans does not parse"));
    });
}

fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return None;
    }
    let pad = ((hi - lo) * 0.05).max(hi.abs().max(1e-3) * 0.02);
    Some((lo - pad, hi + pad))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    x_label: &str,
) -> Result<(), String> {
    let points = || {
        panel
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let marker_x = panel.marker.as_ref().map(|m| m.0);
    let (Some((x0, x1)), Some((y0, y1))) = (
        // Epochs count from 0, the stage's start.
        range(points().map(|p| p.0).chain(marker_x).chain([0.0])),
        range(points().map(|p| p.1)),
    ) else {
        return Ok(());
    };
    // Headroom above the data for the legend (upper right), so it hides no point.
    let entries = panel.series.len() + usize::from(panel.marker.is_some());
    let y1 = y1 + (y1 - y0) * (0.06 + 0.1 * entries as f64);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FAMILY, 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(&panel.y_label)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        })
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    if let Some((x, label)) = &panel.marker {
        let gray = RGBColor(90, 90, 90);
        let dashes = (0..40).map(|k| {
            let (a, b) = (k as f64 / 40.0, (k as f64 + 0.5) / 40.0);
            PathElement::new(
                vec![(*x, y0 + (y1 - y0) * a), (*x, y0 + (y1 - y0) * b)],
                gray.stroke_width(2),
            )
        });
        chart
            .draw_series(dashes)
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], gray.stroke_width(2))
            });
    }
    for (i, series) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = series
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(&series.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        if pts.len() <= 30 {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FAMILY, 13))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
    x_label: &str,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    for (area, panel) in root.split_evenly((panels.len(), 1)).iter().zip(panels) {
        draw_panel(area, panel, x_label)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Draws `panels` stacked (one metric each; x axis `x_label`, from 0) into `{stem}.png` and `{stem}.svg`.
/// Returns false, writing nothing, when no panel has a finite point.
pub fn plot(stem: &Path, panels: &[Panel], x_label: &str) -> crate::Result<bool> {
    let has_points = panels.iter().any(|p| {
        p.series
            .iter()
            .any(|s| s.points.iter().any(|q| q.0.is_finite() && q.1.is_finite()))
    });
    if !has_points {
        return Ok(false);
    }
    register_font();
    let (w, h) = (PANEL.0, PANEL.1 * panels.len() as u32);
    let failed = |path: &Path, reason: String| Error::Io {
        action: "cannot draw",
        path: path.to_path_buf(),
        source: std::io::Error::other(reason),
    };
    let png_path = stem.with_extension("png");
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(
        BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
        panels,
        x_label,
    )
    .map_err(|e| failed(&png_path, e))?;
    let image = image::RgbImage::from_raw(w, h, rgb).expect("buffer sized w x h x 3");
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| failed(&png_path, e.to_string()))?;
    trrg_io::write_atomic(&png_path, &bytes)?;
    let svg_path = stem.with_extension("svg");
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area(),
        panels,
        x_label,
    )
    .map_err(|e| failed(&svg_path, e))?;
    trrg_io::write_atomic(&svg_path, svg.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-panel figure is written as a PNG of the stacked size with ink in both panels, and
    /// as an SVG holding the titles, axis labels and legend entries as text.
    #[test]
    fn figures_have_panels_axes_and_legends() {
        let dir = std::env::temp_dir().join(format!("trrg-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stem = dir.join("fig");
        let panels = [
            Panel {
                title: "Loss".into(),
                y_label: "InfoNCE".into(),
                series: vec![
                    Series {
                        label: "train".into(),
                        points: vec![(0.0, 2.0), (1.0, 1.5), (2.0, f64::NAN), (3.0, 1.0)],
                    },
                    Series {
                        label: "val".into(),
                        points: vec![(1.0, 1.8), (3.0, 1.2)],
                    },
                ],
                marker: None,
            },
            Panel {
                title: "CIDEr".into(),
                y_label: "CIDEr".into(),
                series: vec![Series {
                    label: "val".into(),
                    points: vec![(1.0, 0.5), (3.0, 1.1)],
                }],
                marker: Some((3.0, "kept checkpoint".into())),
            },
        ];
        assert!(plot(&stem, &panels, "epoch").unwrap());
        let png = image::open(stem.with_extension("png")).unwrap().to_rgb8();
        assert_eq!(png.dimensions(), (PANEL.0, 2 * PANEL.1));
        for half in [0..PANEL.1, PANEL.1..2 * PANEL.1] {
            let dark = half
                .flat_map(|y| (0..PANEL.0).map(move |x| (x, y)))
                .filter(|&(x, y)| png.get_pixel(x, y).0.iter().all(|&c| c < 100))
                .count();
            assert!(
                dark > 500,
                "a panel has almost no text or axes ({dark} dark pixels)"
            );
        }
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        for text in [
            "Loss",
            "InfoNCE",
            "CIDEr",
            "train",
            "val",
            "epoch",
            "kept checkpoint",
        ] {
            assert!(svg.contains(text), "SVG lacks `{text}`");
        }
        let empty = [Panel {
            title: "none".into(),
            y_label: "y".into(),
            series: vec![],
            marker: None,
        }];
        assert!(!plot(&dir.join("empty"), &empty, "epoch").unwrap());
        assert!(!dir.join("empty.png").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
