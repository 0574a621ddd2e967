//! PNG line plots of training curves (no fonts: the file name says what is drawn, the y range is
//! printed in the run's log).

use std::path::Path;

use image::{Rgb, RgbImage};

const W: u32 = 640;
const H: u32 = 360;
const MARGIN: u32 = 30;
const COLORS: [[u8; 3]; 4] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [148, 103, 189],
];

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: Rgb<u8>) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
            let (px, py) = (x.round() as i64 + dx, y.round() as i64 + dy);
            if px >= 0 && py >= 0 && (px as u32) < W && (py as u32) < H {
                img.put_pixel(px as u32, py as u32, color);
            }
        }
    }
}

/// Draws each series (x, y points) in its own colour on shared axes and writes a PNG.
/// Returns the y range drawn.
pub fn plot(path: &Path, series: &[Vec<(f64, f64)>]) -> crate::Result<Option<(f64, f64)>> {
    let points: Vec<(f64, f64)> = series
        .iter()
        .flatten()
        .copied()
        .filter(|p| p.1.is_finite())
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    let (xmin, xmax) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (ymin, ymax) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let (xspan, yspan) = ((xmax - xmin).max(1e-12), (ymax - ymin).max(1e-12));
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let gray = Rgb([160, 160, 160]);
    let (l, r, t, b) = (
        MARGIN as f64,
        (W - MARGIN) as f64,
        MARGIN as f64,
        (H - MARGIN) as f64,
    );
    for k in 0..=4 {
        let y = t + (b - t) * k as f64 / 4.0;
        line(&mut img, (l, y), (r, y), Rgb([230, 230, 230]));
    }
    line(&mut img, (l, b), (r, b), gray);
    line(&mut img, (l, t), (l, b), gray);
    let to_px = |(x, y): (f64, f64)| {
        (
            l + (x - xmin) / xspan * (r - l),
            b - (y - ymin) / yspan * (b - t),
        )
    };
    for (i, s) in series.iter().enumerate() {
        let color = Rgb(COLORS[i % COLORS.len()]);
        let pts: Vec<(f64, f64)> = s
            .iter()
            .copied()
            .filter(|p| p.1.is_finite())
            .map(to_px)
            .collect();
        for w in pts.windows(2) {
            line(&mut img, w[0], w[1], color);
        }
        if pts.len() == 1 {
            line(&mut img, pts[0], (pts[0].0 + 2.0, pts[0].1), color);
        }
    }
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| crate::Error::Io {
            action: "cannot encode",
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
    trrg_data::write_atomic(path, &bytes)?;
    Ok(Some((ymin, ymax)))
}
