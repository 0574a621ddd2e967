//! A float canvas with the few drawing primitives the renderer needs.
//!
//! Coordinates are in pixels; every primitive touches only its bounding box. Values are
//! radiographic density: 0 is air (black on film), about 1 is metal (white).

use image::{GrayImage, Luma};
use rand::Rng;

/// A single-channel float image.
#[derive(Clone, Debug)]
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Smooth step from 0 (x <= 0) to 1 (x >= 1).
pub fn smoothstep(x: f32) -> f32 {
    let t = x.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

impl Canvas {
    /// A canvas filled with `value`.
    pub fn new(width: usize, height: usize, value: f32) -> Self {
        Self {
            width,
            height,
            data: vec![value; width * height],
        }
    }

    /// Value at integer coordinates (callers stay in range).
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Calls `f(x, y, &mut value)` for every pixel centre in the box (clipped to the canvas).
    pub fn for_box(
        &mut self,
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        mut f: impl FnMut(f32, f32, &mut f32),
    ) {
        let clip = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
        let (xa, xb) = (
            clip(x0.floor(), self.width),
            clip(x1.ceil() + 1.0, self.width),
        );
        let (ya, yb) = (
            clip(y0.floor(), self.height),
            clip(y1.ceil() + 1.0, self.height),
        );
        for y in ya..yb {
            let row = &mut self.data[y * self.width..(y + 1) * self.width];
            for (x, v) in row.iter_mut().enumerate().take(xb).skip(xa) {
                f(x as f32 + 0.5, y as f32 + 0.5, v);
            }
        }
    }

    /// Adds `value` inside a (rotated) ellipse, with an edge `soft` pixels wide.
    pub fn add_ellipse(
        &mut self,
        (cx, cy): (f32, f32),
        (rx, ry): (f32, f32),
        angle: f32,
        value: f32,
        soft: f32,
    ) {
        let r = rx.max(ry) + soft;
        let (s, c) = angle.sin_cos();
        self.for_box(cx - r, cy - r, cx + r, cy + r, |x, y, v| {
            let (dx, dy) = (x - cx, y - cy);
            let (u, w) = ((dx * c + dy * s) / rx, (-dx * s + dy * c) / ry);
            let d = (u * u + w * w).sqrt();
            // Distance outside the ellipse, approximately in pixels.
            let outside = (d - 1.0) * rx.min(ry);
            *v += value * (1.0 - smoothstep(outside / soft.max(1e-3) + 0.5));
        });
    }

    /// Adds `value` along a segment of width `width`, with soft edges (a capsule).
    pub fn add_segment(&mut self, a: (f32, f32), b: (f32, f32), width: f32, value: f32) {
        self.segment(a, b, width, |v, coverage| *v += value * coverage);
    }

    /// Calls `f(value, coverage)` for every pixel near the segment `a`-`b` of width `width`.
    fn segment(
        &mut self,
        a: (f32, f32),
        b: (f32, f32),
        width: f32,
        mut f: impl FnMut(&mut f32, f32),
    ) {
        let r = width / 2.0 + 1.0;
        let (x0, x1) = (a.0.min(b.0) - r, a.0.max(b.0) + r);
        let (y0, y1) = (a.1.min(b.1) - r, a.1.max(b.1) + r);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        self.for_box(x0, y0, x1, y1, |x, y, v| {
            let t = (((x - a.0) * dx + (y - a.1) * dy) / len2).clamp(0.0, 1.0);
            let (px, py) = (a.0 + t * dx - x, a.1 + t * dy - y);
            let d = (px * px + py * py).sqrt();
            let coverage = 1.0 - smoothstep(d - width / 2.0 + 0.5);
            if coverage > 0.0 {
                f(v, coverage);
            }
        });
    }

    /// Adds a polyline of width `width`; where segments overlap at joints the value is not doubled.
    pub fn add_polyline(&mut self, points: &[(f32, f32)], width: f32, value: f32) {
        let r = width / 2.0 + 2.0;
        let x0 = (points.iter().map(|p| p.0).fold(f32::INFINITY, f32::min) - r).floor();
        let y0 = (points.iter().map(|p| p.1).fold(f32::INFINITY, f32::min) - r).floor();
        let x1 = (points.iter().map(|p| p.0).fold(f32::NEG_INFINITY, f32::max) + r).ceil();
        let y1 = (points.iter().map(|p| p.1).fold(f32::NEG_INFINITY, f32::max) + r).ceil();
        if !(x0.is_finite() && y0.is_finite()) {
            return;
        }
        // Coverage on a local canvas the size of the bounding box, combined with `max`.
        let mut local = Canvas::new((x1 - x0) as usize + 1, (y1 - y0) as usize + 1, 0.0);
        for pair in points.windows(2) {
            let shift = |p: (f32, f32)| (p.0 - x0, p.1 - y0);
            local.segment(shift(pair[0]), shift(pair[1]), width, |v, c| *v = v.max(c));
        }
        self.for_box(x0, y0, x1, y1, |x, y, v| {
            let (lx, ly) = ((x - 0.5 - x0) as usize, (y - 0.5 - y0) as usize);
            if lx < local.width && ly < local.height {
                *v += value * local.get(lx, ly);
            }
        });
    }

    /// Adds a Gaussian blob of peak `value`.
    pub fn add_gaussian(&mut self, cx: f32, cy: f32, sigma: f32, value: f32) {
        let r = 3.0 * sigma;
        let k = -0.5 / (sigma * sigma);
        self.for_box(cx - r, cy - r, cx + r, cy + r, |x, y, v| {
            let d2 = (x - cx).powi(2) + (y - cy).powi(2);
            *v += value * (k * d2).exp();
        });
    }

    /// Adds Gaussian noise of standard deviation `sigma`.
    pub fn add_noise(&mut self, rng: &mut impl Rng, sigma: f32) {
        for v in &mut self.data {
            // Sum of uniforms: cheap, close enough to normal for film grain.
            let n: f32 = (0..4).map(|_| rng.random::<f32>()).sum::<f32>() - 2.0;
            *v += n * sigma * 1.732;
        }
    }

    /// Box blur of radius `r`, `passes` times (three passes approximate a Gaussian).
    pub fn blur(&mut self, r: usize, passes: usize) {
        let (w, h) = (self.width, self.height);
        let mut tmp = vec![0.0f32; w * h];
        let passes = if r == 0 { 0 } else { passes };
        for _ in 0..passes {
            box_lines(&self.data, &mut tmp, w, 1, h, w, r);
            box_lines(&tmp, &mut self.data, h, w, w, 1, r);
        }
    }

    /// Resamples through an affine map: output pixel `p` reads input at `m * p + t` (bilinear).
    pub fn warp(&self, m: [[f32; 2]; 2], t: [f32; 2], fill: f32) -> Canvas {
        let mut out = Canvas::new(self.width, self.height, fill);
        for y in 0..self.height {
            for x in 0..self.width {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let sx = m[0][0] * px + m[0][1] * py + t[0] - 0.5;
                let sy = m[1][0] * px + m[1][1] * py + t[1] - 0.5;
                if sx < 0.0
                    || sy < 0.0
                    || sx > (self.width - 1) as f32
                    || sy > (self.height - 1) as f32
                {
                    continue;
                }
                let (x0, y0) = (sx as usize, sy as usize);
                let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let top = self.get(x0, y0) * (1.0 - fx) + self.get(x1, y0) * fx;
                let bottom = self.get(x0, y1) * (1.0 - fx) + self.get(x1, y1) * fx;
                out.data[y * self.width + x] = top * (1.0 - fy) + bottom * fy;
            }
        }
        out
    }

    /// Converts to an 8-bit image, clamping to [0, 1].
    pub fn to_gray8(&self) -> GrayImage {
        GrayImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            Luma([(self.get(x as usize, y as usize).clamp(0.0, 1.0) * 255.0).round() as u8])
        })
    }
}

/// Running-sum box filter along `lines` lines of `n` samples (`stride` apart, lines `line_stride`
/// apart), clamping at the ends.
fn box_lines(
    from: &[f32],
    to: &mut [f32],
    n: usize,
    stride: usize,
    lines: usize,
    line_stride: usize,
    r: usize,
) {
    let (n, r) = (n as isize, r as isize);
    let norm = 1.0 / (2 * r + 1) as f32;
    for line in 0..lines {
        let base = line * line_stride;
        let at = |i: isize| from[base + i.clamp(0, n - 1) as usize * stride];
        let mut sum: f32 = (-r..=r).map(at).sum();
        for i in 0..n {
            to[base + i as usize * stride] = sum * norm;
            sum += at(i + r + 1) - at(i - r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_stay_in_their_boxes() {
        let mut c = Canvas::new(32, 32, 0.0);
        c.add_ellipse((16.0, 16.0), (6.0, 4.0), 0.3, 1.0, 1.0);
        assert!(c.get(16, 16) > 0.99 && c.get(2, 2) == 0.0);
        c.add_segment((0.0, 0.0), (31.0, 0.0), 2.0, 0.5);
        assert!(c.get(10, 0) > 0.4);
        let before: f32 = c.data.iter().sum();
        c.blur(2, 3);
        let after: f32 = c.data.iter().sum();
        assert!((before - after).abs() / before < 0.05);
    }

    #[test]
    fn identity_warp_keeps_pixels() {
        let mut c = Canvas::new(8, 8, 0.0);
        c.data[3 * 8 + 4] = 1.0;
        let w = c.warp([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], 0.0);
        assert!((w.get(4, 3) - 1.0).abs() < 1e-6);
    }
}
