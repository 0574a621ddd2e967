//! Procedural rendering of a frontal (PA) and a lateral radiograph from [`Findings`].
//!
//! Each view is drawn in normalized anatomical coordinates (0..1 across the image, patient's right
//! on the image left), as density: soft tissue ~0.5, aerated lung ~0.15, bone and metal brighter.
//! One per-pixel pass lays down the body, lungs (cut by the diaphragm domes), mediastinum and heart,
//! and the pixel-region findings (effusion, pneumothorax, lobar consolidation); a lung layer, clipped
//! to the lungs, adds vessels and the airspace findings; bones and devices follow; then a small
//! rotation and scale jitter, exposure (gamma) variation and film noise.

use std::f32::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::canvas::{smoothstep, Canvas};
use crate::findings::{Device, Findings, LesionKind, Lobe, Side};

/// Anatomy of one patient: the random variation shared by both views.
#[derive(Clone, Debug)]
struct Anatomy {
    /// Half the thoracic width (lateral lung edge to midline).
    half_width: f32,
    lung_ry: f32,
    lung_cy: f32,
    dome_right: f32,
    dome_left: f32,
    heart_cy: f32,
    rotation: f32,
    scale: f32,
    shift: (f32, f32),
    gamma: f32,
    noise: f32,
}

impl Anatomy {
    fn sample(rng: &mut impl Rng) -> Self {
        Self {
            half_width: rng.random_range(0.31..0.35),
            lung_ry: rng.random_range(0.27..0.31),
            lung_cy: rng.random_range(0.45..0.48),
            dome_right: rng.random_range(0.68..0.72),
            dome_left: rng.random_range(0.71..0.75),
            heart_cy: rng.random_range(0.61..0.64),
            rotation: rng.random_range(-3.0f32..3.0).to_radians(),
            scale: rng.random_range(0.95..1.05),
            shift: (rng.random_range(-0.02..0.02), rng.random_range(-0.02..0.02)),
            gamma: rng.random_range(0.85..1.2),
            noise: rng.random_range(0.012..0.025),
        }
    }

    /// Lateral sign: -1 for the patient's right (image left), +1 for the left.
    fn sign(side: Side) -> f32 {
        match side {
            Side::Right => -1.0,
            Side::Left => 1.0,
        }
    }

    fn lung_cx(&self, side: Side) -> f32 {
        0.5 + Self::sign(side) * self.half_width * 0.52
    }

    fn lung_rx(&self) -> f32 {
        self.half_width * 0.5
    }

    fn dome(&self, side: Side, x: f32) -> f32 {
        let apex = match side {
            Side::Right => self.dome_right,
            Side::Left => self.dome_left,
        };
        apex + 1.6 * (x - self.lung_cx(side)).powi(2)
    }

    /// Centre of a lobe on the frontal view.
    fn lobe_centre(&self, lobe: Lobe) -> (f32, f32) {
        let side = lobe.side();
        let top = self.lung_cy - self.lung_ry;
        let base = self.dome(side, self.lung_cx(side));
        let medial = if lobe == Lobe::RightMiddle { 0.35 } else { 0.0 };
        let x = self.lung_cx(side) - Self::sign(side) * medial * self.lung_rx();
        (x, top + lobe.height() * (base - top) * 0.95)
    }

    /// Centimetres to normalized units (the thorax is about 28 cm wide).
    fn cm(&self, cm: f32) -> f32 {
        cm * 2.0 * self.half_width / 28.0
    }
}

/// Renders the frontal (PA) and lateral views of a study, `size` x `size` pixels each, from the
/// findings and a seed for the anatomy, noise and jitter.
pub fn render_study(
    findings: &Findings,
    seed: u64,
    size: usize,
) -> (image::GrayImage, image::GrayImage) {
    let mut rng = StdRng::seed_from_u64(seed);
    let anatomy = Anatomy::sample(&mut rng);
    let frontal = finish(
        frontal(findings, &anatomy, size, &mut rng),
        &anatomy,
        &mut rng,
    );
    let lateral = finish(
        lateral(findings, &anatomy, size, &mut rng),
        &anatomy,
        &mut rng,
    );
    (frontal, lateral)
}

/// Blur, geometric jitter, exposure and noise, then 8-bit conversion.
fn finish(mut c: Canvas, a: &Anatomy, rng: &mut StdRng) -> image::GrayImage {
    c.blur(1, 2);
    let s = c.width as f32;
    let (sin, cos) = a.rotation.sin_cos();
    let k = 1.0 / a.scale;
    let m = [[k * cos, -k * sin], [k * sin, k * cos]];
    let centre = s / 2.0;
    let t = [
        centre - (m[0][0] + m[0][1]) * centre + a.shift.0 * s,
        centre - (m[1][0] + m[1][1]) * centre + a.shift.1 * s,
    ];
    let mut out = c.warp(m, t, 0.03);
    for v in &mut out.data {
        *v = v.clamp(0.0, 1.2).powf(a.gamma);
    }
    out.add_noise(rng, a.noise);
    out.to_gray8()
}

/// Soft membership of a point in an axis-aligned ellipse, edge `edge` (normalized units) wide.
fn in_ellipse(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32, edge: f32) -> f32 {
    let d = (((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2)).sqrt();
    1.0 - smoothstep(((d - 1.0) * rx.min(ry)) / edge + 0.5)
}

/// Soft membership in a superellipse of exponent 4 (a rounded rectangle: the torso).
fn in_torso(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32, edge: f32) -> f32 {
    let d = (((x - cx) / rx).powi(4) + ((y - cy) / ry).powi(4)).powf(0.25);
    1.0 - smoothstep(((d - 1.0) * rx.min(ry)) / edge + 0.5)
}

/// Soft `y > line` (1 below the line).
fn below(y: f32, line: f32, edge: f32) -> f32 {
    smoothstep((y - line) / edge + 0.5)
}

fn blend(v: &mut f32, target: f32, amount: f32) {
    *v += (target - *v) * amount.clamp(0.0, 1.0);
}

fn quad_bezier(p0: (f32, f32), p1: (f32, f32), p2: (f32, f32), n: usize) -> Vec<(f32, f32)> {
    (0..=n)
        .map(|i| {
            let t = i as f32 / n as f32;
            let u = 1.0 - t;
            (
                u * u * p0.0 + 2.0 * u * t * p1.0 + t * t * p2.0,
                u * u * p0.1 + 2.0 * u * t * p1.1 + t * t * p2.1,
            )
        })
        .collect()
}

fn scaled(points: &[(f32, f32)], s: f32) -> Vec<(f32, f32)> {
    points.iter().map(|&(x, y)| (x * s, y * s)).collect()
}

fn frontal(f: &Findings, a: &Anatomy, size: usize, rng: &mut StdRng) -> Canvas {
    let s = size as f32;
    let px = 1.0 / s;
    let mut c = Canvas::new(size, size, 0.0);
    let mut lung_mask = Canvas::new(size, size, 0.0);
    let mut ptx_mask = Canvas::new(size, size, 0.0);
    let rx = a.lung_rx();
    let ctr_width = f.cardiothoracic_ratio * 2.0 * a.half_width;
    let heart_cx = 0.5 + ctr_width * 0.15;
    let heart_rx = ctr_width / 2.0;
    let heart_ry = 0.11 + 0.1 * (f.cardiothoracic_ratio - 0.45);
    let mediastinum_top = if f.enlarged_mediastinum { 0.085 } else { 0.05 };
    let consolidation_phase: f32 = rng.random_range(0.0..6.0);
    let ptx = f
        .pneumothorax
        .map(|(side, size)| (side, 1.0 - (0.16 + 0.12 * size.level()), size));
    for y_px in 0..size {
        for x_px in 0..size {
            let (x, y) = ((x_px as f32 + 0.5) * px, (y_px as f32 + 0.5) * px);
            let neck =
                smoothstep((0.11 - (x - 0.5).abs()) / 0.02 + 0.5) * (1.0 - below(y, 0.2, 0.02));
            let body = in_torso(x, y, 0.5, 0.62, 0.46, 0.56, 0.03).max(neck);
            let mut v = 0.03 + 0.47 * body + 0.05 * body * (y - 0.5);
            let mut lung = 0.0f32;
            let mut ptx_here = 0.0f32;
            for side in [Side::Right, Side::Left] {
                let cx = a.lung_cx(side);
                let m_side = in_ellipse(x, y, cx, a.lung_cy, rx, a.lung_ry, 0.018)
                    * (1.0 - below(y, a.dome(side, x), 0.012));
                let medial = 0.5 + Anatomy::sign(side) * (0.045 + 0.02 * y);
                let m_side = m_side * smoothstep((Anatomy::sign(side) * (x - medial)) / 0.01 + 0.5);
                lung += m_side;
                if let Some((p_side, inner, _)) = ptx {
                    if p_side == side && y < a.dome(side, x) - 0.04 {
                        let d = (((x - cx) / rx).powi(2) + ((y - a.lung_cy) / a.lung_ry).powi(2))
                            .sqrt();
                        let lateral = Anatomy::sign(side) * (x - cx) > -0.2 * rx
                            || y < a.lung_cy - 0.5 * a.lung_ry;
                        if lateral {
                            ptx_here = m_side * smoothstep((d - inner) / 0.01 + 0.5);
                        }
                    }
                }
            }
            let lung = lung.min(1.0);
            // Aerated lung is darkest laterally and at the apices.
            let periphery = ((x - 0.5).abs() / a.half_width).min(1.0);
            v -= lung * (0.27 + 0.08 * periphery + 0.04 * (0.5 - y).max(0.0)) + 0.09 * ptx_here;
            // Trachea and mediastinum.
            let half = mediastinum_top + 0.03 * (y - 0.1).max(0.0);
            let mediastinum = smoothstep((half - (x - 0.5).abs()) / 0.01 + 0.5)
                * (1.0 - below(y, 0.72, 0.02))
                * below(y, 0.04, 0.02);
            blend(&mut v, 0.6, mediastinum);
            let trachea =
                smoothstep((0.017 - (x - 0.5).abs()) / 0.006 + 0.5) * (1.0 - below(y, 0.36, 0.02));
            v -= 0.17 * trachea;
            // Heart.
            let heart = in_ellipse(x, y, heart_cx, a.heart_cy, heart_rx, heart_ry, 0.02);
            blend(&mut v, 0.6, heart);
            // Pleural effusion: fluid with a meniscus that rises laterally.
            if let Some((side, size)) = f.effusion {
                let cx = a.lung_cx(side);
                let depth = 0.05 + 0.06 * size.level();
                let lateral = (Anatomy::sign(side) * (x - cx) / rx + 1.0).max(0.0) / 2.0;
                let top =
                    a.dome(side, cx) - depth - (0.03 + 0.02 * size.level()) * lateral * lateral;
                let region = in_ellipse(
                    x,
                    y,
                    cx,
                    a.lung_cy + 0.04,
                    rx * 1.02,
                    a.lung_ry + 0.04,
                    0.01,
                ) * smoothstep((Anatomy::sign(side) * (x - 0.5) - 0.05) / 0.01 + 0.5);
                blend(&mut v, 0.55, region * below(y, top, 0.012));
            }
            // Lobar consolidation: dense, blotchy-edged region of the lobe.
            if let Some(lobe) = f.consolidation {
                let (lx, ly) = a.lobe_centre(lobe);
                let wobble = 0.012
                    * ((x * 40.0 + consolidation_phase).sin()
                        + (y * 35.0 - consolidation_phase).cos());
                let region = in_ellipse(x, y, lx, ly, rx * 0.75 + wobble, 0.085 + wobble, 0.012);
                blend(&mut v, 0.5, 0.85 * region * lung);
            }
            let i = y_px * size + x_px;
            c.data[i] = v;
            lung_mask.data[i] = lung;
            ptx_mask.data[i] = ptx_here;
        }
    }

    // Lung layer: vessels and airspace findings, clipped to aerated lung.
    let mut layer = Canvas::new(size, size, 0.0);
    for side in [Side::Right, Side::Left] {
        let hilum = (0.5 + Anatomy::sign(side) * 0.1, a.lung_cy + 0.02);
        layer.add_gaussian(hilum.0 * s, hilum.1 * s, 0.025 * s, 0.06);
        for _ in 0..16 {
            let angle = if side == Side::Right { PI } else { 0.0 } + rng.random_range(-1.3f32..1.3);
            let length = rng.random_range(0.08..0.2);
            let mut p = (
                hilum.0 + rng.random_range(-0.02..0.02),
                hilum.1 + rng.random_range(-0.04..0.04),
            );
            for step in 0..3 {
                let bend = angle + rng.random_range(-0.3f32..0.3);
                let q = (
                    p.0 + bend.cos() * length / 3.0,
                    p.1 + bend.sin() * length / 3.0 * 1.2,
                );
                let w = (2.2 - 0.6 * step as f32).max(0.8);
                layer.add_segment(
                    (p.0 * s, p.1 * s),
                    (q.0 * s, q.1 * s),
                    w * s / 256.0,
                    0.045 - 0.01 * step as f32,
                );
                p = q;
            }
        }
    }
    if let Some(lobe) = f.pneumonia {
        let (lx, ly) = a.lobe_centre(lobe);
        for _ in 0..rng.random_range(4..8) {
            let (dx, dy) = (rng.random_range(-0.06..0.06), rng.random_range(-0.06..0.06));
            layer.add_gaussian(
                (lx + dx) * s,
                (ly + dy) * s,
                rng.random_range(0.018..0.035) * s,
                rng.random_range(0.12..0.2),
            );
        }
    }
    if let Some(lobe) = f.consolidation {
        let (lx, ly) = a.lobe_centre(lobe);
        for k in 0..3 {
            let angle = rng.random_range(0.0..2.0 * PI) + k as f32;
            let end = (lx + angle.cos() * 0.06, ly + angle.sin() * 0.05);
            layer.add_segment(
                (lx * s, ly * s),
                (end.0 * s, end.1 * s),
                1.4 * s / 256.0,
                -0.14,
            );
        }
    }
    if let Some((lobe, faint)) = f.opacity {
        let (lx, ly) = a.lobe_centre(lobe);
        layer.add_gaussian(lx * s, ly * s, 0.055 * s, if faint { 0.07 } else { 0.14 });
    }
    if f.edema {
        for side in [Side::Right, Side::Left] {
            let hx = 0.5 + Anatomy::sign(side) * 0.11;
            layer.add_gaussian(hx * s, (a.lung_cy + 0.03) * s, 0.085 * s, 0.2);
            for k in 0..4 {
                let x0 = a.lung_cx(side) + Anatomy::sign(side) * rx * 0.95;
                let y0 = a.dome(side, a.lung_cx(side)) - 0.02 - 0.02 * k as f32;
                let x1 = x0 - Anatomy::sign(side) * 0.03;
                layer.add_segment((x0 * s, y0 * s), (x1 * s, y0 * s), 1.0 * s / 256.0, 0.12);
            }
        }
    }
    if let Some(side) = f.atelectasis {
        let cx = a.lung_cx(side);
        let base = a.dome(side, cx);
        layer.add_segment(
            ((cx - 0.6 * rx) * s, (base - 0.055) * s),
            ((cx + 0.55 * rx) * s, (base - 0.085) * s),
            0.011 * s,
            0.2,
        );
    }
    if let Some((kind, lobe, cm)) = f.lesion {
        let (lx, ly) = a.lobe_centre(lobe);
        let r = a.cm(cm) / 2.0;
        layer.add_ellipse((lx * s, ly * s), (r * s, r * s * 0.95), 0.0, 0.24, 1.5);
        if kind == LesionKind::Mass {
            layer.add_ellipse(
                ((lx + r * 0.5) * s, (ly - r * 0.4) * s),
                (r * 0.7 * s, r * 0.6 * s),
                0.5,
                0.1,
                2.0,
            );
        }
    }
    if let Some(lobe) = f.granuloma {
        let (lx, ly) = a.lobe_centre(lobe);
        let (gx, gy) = (
            lx + rng.random_range(-0.03..0.03),
            ly + rng.random_range(-0.03..0.03),
        );
        layer.add_ellipse((gx * s, gy * s), (0.006 * s, 0.006 * s), 0.0, 0.5, 0.7);
    }
    for i in 0..c.data.len() {
        c.data[i] += layer.data[i] * lung_mask.data[i] * (1.0 - ptx_mask.data[i]);
    }

    // Pleural line of a pneumothorax.
    if let Some((side, inner, _)) = ptx {
        let cx = a.lung_cx(side);
        let points: Vec<(f32, f32)> = (0..=24)
            .map(|k| {
                let t = if side == Side::Right {
                    PI * 0.95 + k as f32 / 24.0 * PI * 0.6
                } else {
                    PI * 1.45 + k as f32 / 24.0 * PI * 0.6
                };
                (
                    cx + t.cos() * rx * inner,
                    a.lung_cy + t.sin() * a.lung_ry * inner,
                )
            })
            .collect();
        c.add_polyline(&scaled(&points, s), 1.2 * s / 256.0, 0.13);
    }
    let mut bones = Canvas::new(size, size, 0.0);
    draw_frontal_bones(&mut bones, f, a, s);
    for i in 0..c.data.len() {
        c.data[i] += bones.data[i] * (0.45 + 0.55 * lung_mask.data[i]);
    }
    if let Some(side) = f.pleural_thickening {
        let cx = a.lung_cx(side);
        let points: Vec<(f32, f32)> = (0..=16)
            .map(|k| {
                let t = PI * (1.15 + 0.7 * k as f32 / 16.0);
                (
                    cx + t.cos() * rx * 0.97,
                    a.lung_cy + t.sin() * a.lung_ry * 0.97,
                )
            })
            .filter(|&(x, _)| Anatomy::sign(side) * (x - cx) > -0.5 * rx)
            .collect();
        c.add_polyline(&scaled(&points, s), 0.013 * s, 0.16);
    }
    draw_frontal_devices(&mut c, f, a, s, heart_cx);
    c
}

fn draw_frontal_bones(c: &mut Canvas, f: &Findings, a: &Anatomy, s: f32) {
    // Spine: vertebral bodies behind the mediastinum.
    let mut y: f32 = 0.05;
    while y < 0.97 {
        c.add_ellipse((0.5 * s, y * s), (0.034 * s, 0.017 * s), 0.0, 0.07, 1.5);
        y += 0.045;
    }
    for side in [Side::Right, Side::Left] {
        let sg = Anatomy::sign(side);
        // Clavicle.
        let clav = quad_bezier(
            (0.5 + sg * 0.045, 0.165),
            (0.5 + sg * 0.16, 0.15),
            (0.5 + sg * 0.27, 0.11),
            10,
        );
        c.add_polyline(&scaled(&clav, s), 0.022 * s, 0.15);
        // Posterior ribs.
        for i in 0..9 {
            let y0 = 0.14 + i as f32 * 0.058;
            let p0 = (0.5 + sg * 0.03, y0);
            let p2 = (
                0.5 + sg * (a.half_width + 0.035),
                y0 + 0.1 + 0.01 * i as f32,
            );
            let p1 = (0.5 + sg * (a.half_width * 0.5), y0 - 0.04);
            let rib = quad_bezier(p0, p1, p2, 14);
            let fractured = f.rib_fracture == Some(side) && i == 5;
            if fractured {
                c.add_polyline(&scaled(&rib[..11], s), 0.016 * s, 0.075);
                let displaced: Vec<(f32, f32)> =
                    rib[12..].iter().map(|&(x, y)| (x, y + 0.014)).collect();
                c.add_polyline(&scaled(&displaced, s), 0.016 * s, 0.09);
            } else {
                c.add_polyline(&scaled(&rib, s), 0.016 * s, 0.07);
            }
        }
        // Anterior ribs, fainter, sloping down medially.
        for i in 0..5 {
            let y0 = 0.2 + i as f32 * 0.08;
            let rib = quad_bezier(
                (0.5 + sg * (a.half_width + 0.02), y0),
                (0.5 + sg * 0.2, y0 + 0.06),
                (0.5 + sg * 0.09, y0 + 0.1),
                8,
            );
            c.add_polyline(&scaled(&rib, s), 0.012 * s, 0.03);
        }
    }
}

fn draw_frontal_devices(c: &mut Canvas, f: &Findings, a: &Anatomy, s: f32, heart_cx: f32) {
    let wire = 2.0 * s / 256.0;
    for device in &f.devices {
        match device {
            Device::Pacemaker => {
                let g = (0.5 + a.half_width * 0.8, 0.2);
                c.add_ellipse((g.0 * s, g.1 * s), (0.05 * s, 0.034 * s), 0.2, 0.7, 1.0);
                for end in [
                    (heart_cx - 0.06, a.heart_cy - 0.07),
                    (heart_cx + 0.02, a.heart_cy + 0.05),
                ] {
                    let lead = quad_bezier(g, (0.52, 0.2), end, 16);
                    c.add_polyline(&scaled(&lead, s), wire, 0.55);
                }
            }
            Device::SternotomyWires => {
                for k in 0..5 {
                    let (cx, cy) = (0.5, 0.3 + 0.065 * k as f32);
                    let ring: Vec<(f32, f32)> = (0..=12)
                        .map(|j| {
                            (
                                cx + 0.012 * (j as f32 * PI / 6.0).cos(),
                                cy + 0.008 * (j as f32 * PI / 6.0).sin(),
                            )
                        })
                        .collect();
                    c.add_polyline(&scaled(&ring, s), wire, 0.6);
                }
            }
            Device::CentralLine => {
                let line = quad_bezier((0.41, 0.0), (0.45, 0.2), (0.485, 0.4), 16);
                c.add_polyline(&scaled(&line, s), wire * 1.2, 0.5);
            }
            Device::EndotrachealTube => {
                for dx in [-0.009, 0.009] {
                    c.add_segment(((0.5 + dx) * s, 0.0), ((0.5 + dx) * s, 0.27 * s), wire, 0.4);
                }
            }
        }
    }
}

/// Position on the lateral view of a lobe (anterior is image left).
fn lateral_lobe(lobe: Lobe) -> (f32, f32) {
    match lobe {
        Lobe::RightUpper | Lobe::LeftUpper => (0.47, 0.3),
        Lobe::RightMiddle => (0.36, 0.52),
        Lobe::RightLower | Lobe::LeftLower => (0.64, 0.58),
    }
}

fn lateral(f: &Findings, a: &Anatomy, size: usize, rng: &mut StdRng) -> Canvas {
    let s = size as f32;
    let px = 1.0 / s;
    let mut c = Canvas::new(size, size, 0.0);
    let dome = |x: f32| (a.dome_right + a.dome_left) / 2.0 + 1.2 * (x - 0.55).powi(2);
    let heart_r = 0.13 * f.cardiothoracic_ratio / 0.45;
    let mut lung_mask = Canvas::new(size, size, 0.0);
    for y_px in 0..size {
        for x_px in 0..size {
            let (x, y) = ((x_px as f32 + 0.5) * px, (y_px as f32 + 0.5) * px);
            let body = in_torso(x, y, 0.5, 0.6, 0.38, 0.58, 0.03);
            let mut v = 0.03 + 0.5 * body;
            let lung = in_ellipse(x, y, 0.52, a.lung_cy, 0.27, a.lung_ry + 0.01, 0.02)
                * (1.0 - below(y, dome(x), 0.012));
            v -= lung * (0.22 + 0.06 * ((y - a.lung_cy).abs() / a.lung_ry).min(1.0));
            let heart = in_ellipse(
                x,
                y,
                0.36 + heart_r * 0.2,
                a.heart_cy - 0.01,
                heart_r,
                0.14,
                0.025,
            );
            blend(&mut v, 0.56, heart);
            if f.enlarged_mediastinum {
                blend(
                    &mut v,
                    0.56,
                    0.7 * in_ellipse(x, y, 0.47, 0.27, 0.09, 0.09, 0.015),
                );
            }
            let trachea_x = 0.5 + 0.15 * y;
            v -= 0.08
                * smoothstep((0.016 - (x - trachea_x).abs()) / 0.006 + 0.5)
                * (1.0 - below(y, 0.36, 0.04))
                * below(y, 0.04, 0.02);
            if let Some((_, size)) = f.effusion {
                let depth = 0.04 + 0.05 * size.level();
                let top = dome(x) - depth * ((x - 0.4) / 0.35).clamp(0.0, 1.0);
                let region = in_ellipse(x, y, 0.55, a.lung_cy + 0.05, 0.27, a.lung_ry + 0.05, 0.01)
                    * smoothstep((x - 0.45) / 0.02 + 0.5);
                blend(&mut v, 0.55, region * below(y, top, 0.012));
            }
            if let Some(lobe) = f.consolidation {
                let (lx, ly) = lateral_lobe(lobe);
                blend(
                    &mut v,
                    0.5,
                    0.8 * lung * in_ellipse(x, y, lx, ly, 0.1, 0.08, 0.015),
                );
            }
            let i = y_px * size + x_px;
            c.data[i] = v;
            lung_mask.data[i] = lung;
        }
    }
    let mut layer = Canvas::new(size, size, 0.0);
    for _ in 0..16 {
        let (x0, y0) = (0.55, a.lung_cy);
        let angle = rng.random_range(0.0..2.0 * PI);
        let len = rng.random_range(0.08..0.18);
        layer.add_segment(
            (x0 * s, y0 * s),
            ((x0 + angle.cos() * len) * s, (y0 + angle.sin() * len) * s),
            1.6 * s / 256.0,
            0.05,
        );
    }
    if let Some(lobe) = f.pneumonia {
        let (lx, ly) = lateral_lobe(lobe);
        for _ in 0..rng.random_range(3..6) {
            layer.add_gaussian(
                (lx + rng.random_range(-0.05..0.05)) * s,
                (ly + rng.random_range(-0.05..0.05)) * s,
                0.03 * s,
                0.15,
            );
        }
    }
    if let Some((lobe, faint)) = f.opacity {
        let (lx, ly) = lateral_lobe(lobe);
        layer.add_gaussian(lx * s, ly * s, 0.06 * s, if faint { 0.06 } else { 0.12 });
    }
    if f.edema {
        layer.add_gaussian(0.52 * s, (a.lung_cy + 0.02) * s, 0.12 * s, 0.14);
    }
    if f.atelectasis.is_some() {
        layer.add_segment((0.52 * s, 0.6 * s), (0.7 * s, 0.63 * s), 0.01 * s, 0.16);
    }
    if let Some((_, lobe, cm)) = f.lesion {
        let (lx, ly) = lateral_lobe(lobe);
        let r = a.cm(cm) / 2.0;
        layer.add_ellipse((lx * s, ly * s), (r * s, r * s), 0.0, 0.22, 1.5);
    }
    if let Some(lobe) = f.granuloma {
        let (lx, ly) = lateral_lobe(lobe);
        layer.add_ellipse(
            ((lx + 0.02) * s, ly * s),
            (0.006 * s, 0.006 * s),
            0.0,
            0.45,
            0.7,
        );
    }
    if f.pleural_thickening.is_some() {
        let cap = quad_bezier((0.36, 0.24), (0.5, 0.1), (0.68, 0.22), 12);
        layer.add_polyline(&scaled(&cap, s), 0.012 * s, 0.12);
    }
    for i in 0..c.data.len() {
        c.data[i] += layer.data[i] * lung_mask.data[i];
    }
    // Spine (posterior) and sternum (anterior).
    let mut y: f32 = 0.06;
    while y < 0.95 {
        c.add_ellipse(
            ((0.8 + 0.02 * (y * 3.0).sin()) * s, y * s),
            (0.04 * s, 0.02 * s),
            0.0,
            0.1,
            2.5,
        );
        y += 0.05;
    }
    c.add_segment((0.15 * s, 0.22 * s), (0.19 * s, 0.62 * s), 0.02 * s, 0.14);
    for k in 0..6 {
        let y0 = 0.2 + 0.09 * k as f32;
        c.add_segment(
            (0.72 * s, y0 * s),
            (0.86 * s, (y0 - 0.06) * s),
            0.012 * s,
            0.05,
        );
    }
    let wire = 2.0 * s / 256.0;
    for device in &f.devices {
        match device {
            Device::Pacemaker => {
                c.add_ellipse((0.2 * s, 0.2 * s), (0.02 * s, 0.04 * s), 0.0, 0.7, 1.0);
                let lead = quad_bezier((0.21, 0.21), (0.4, 0.3), (0.34, a.heart_cy + 0.04), 14);
                c.add_polyline(&scaled(&lead, s), wire, 0.5);
            }
            Device::SternotomyWires => {
                for k in 0..5 {
                    let y0 = 0.28 + 0.065 * k as f32;
                    c.add_segment(
                        (0.155 * s, y0 * s),
                        (0.185 * s, (y0 + 0.006) * s),
                        wire * 1.5,
                        0.6,
                    );
                }
            }
            Device::CentralLine => {
                let line = quad_bezier((0.42, 0.0), (0.47, 0.2), (0.5, 0.38), 12);
                c.add_polyline(&scaled(&line, s), wire * 1.2, 0.45);
            }
            Device::EndotrachealTube => {
                c.add_segment((0.49 * s, 0.0), (0.535 * s, 0.28 * s), wire * 2.0, 0.35);
            }
        }
    }
    c
}
