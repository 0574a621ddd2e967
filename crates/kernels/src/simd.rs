//! Element-wise math that the compiler vectorizes: an erf (a rational approximation on
//! [-4, 4], as Eigen's fast erf), an exp (Cephes' range reduction and polynomial), and GELU
//! forward and backward built on them.
//!
//! Each slice kernel is compiled three times, for AVX-512, AVX2 and the baseline, and
//! [`dispatch`] picks one at run time, so one binary serves every x86-64 CPU. The kernels use
//! no fused multiply-add, so all three give the same bits.

/// erf(x), to about 2e-7 absolute: `x · P(x²) / Q(x²)` with `x` clamped to [-4, 4] (beyond it
/// erf is ±1 in f32).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_6e-3;
    p = x2 * p + -1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    x * p / q
}

/// exp(x), to about 2 ulp: `x = n ln 2 + r` with `|r| ≤ ln 2 / 2`, a degree-6 polynomial in
/// `r`, and `2^n` put into the exponent bits. Underflows to 0 below -87.3, overflows to
/// f32::MAX's neighbourhood above 88.3.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.336_55, 88.376_26);
    // Round x · log2(e) to the nearest integer with the 1.5 · 2^23 trick (no rounding
    // instruction needed, so it vectorizes on the baseline too).
    const SHIFTER: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + SHIFTER) - SHIFTER;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut y = r * 1.987_569_1e-4 + 1.398_199_9e-3;
    y = y * r + 8.333_452e-3;
    y = y * r + 4.166_579_6e-2;
    y = y * r + 1.666_666_5e-1;
    y = y * r + 0.5;
    y = y * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / √(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// GELU, `0.5 x (1 + erf(x / √2))`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// GELU's derivative times `g`: `g (Φ(x) + x φ(x))`.
#[inline(always)]
pub fn gelu_backward(x: f32, g: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
    let pdf = FRAC_1_SQRT_2PI * exp(-0.5 * x * x);
    g * (cdf + x * pdf)
}

/// Defines `pub fn $name` whose body is compiled three times, for AVX-512, for AVX2 and for the
/// baseline, and picked at run time (the inlined element-wise code above vectorizes in each).
macro_rules! dispatch {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $body
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $body
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body
        }
    };
}

dispatch! {
    /// `out[i] = gelu(x[i])`.
    fn gelu_slice(x: &[f32], out: &mut [f32]) {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = gelu(x);
        }
    }
}

dispatch! {
    /// `out[i] = gelu_backward(x[i], g[i])`.
    fn gelu_backward_slice(x: &[f32], g: &[f32], out: &mut [f32]) {
        for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
            *o = gelu_backward(x, g);
        }
    }
}

/// `Σ a[i] b[i]` in eight fixed lanes (so it vectorizes and gives the same bits on every path).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `Σ a[i]` in eight fixed lanes.
#[inline(always)]
fn sum(a: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let a8 = a.chunks_exact(8);
    let tail: f32 = a8.remainder().iter().sum();
    for x in a8 {
        for i in 0..8 {
            lanes[i] += x[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

dispatch! {
    /// Softmax's backward pass on rows of `d`: `dx = y (g − Σ g y)`.
    fn softmax_backward_rows(y: &[f32], g: &[f32], dx: &mut [f32], d: usize) {
        for ((y, g), dx) in y.chunks_exact(d).zip(g.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
            let dot = dot(y, g);
            for ((o, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                *o = y * (g - dot);
            }
        }
    }
}

dispatch! {
    /// Layer norm's backward pass on rows of `d`: writes `dx` and adds each row's
    /// `grad ⊙ x̂` to `partial[..d]` (gamma's gradient) and `grad` to `partial[d..]` (beta's).
    fn layer_norm_backward_rows(
        x: &[f32],
        grad: &[f32],
        gamma: &[f32],
        dx: &mut [f32],
        partial: &mut [f32],
        epsilon: f32
    ) {
        let d = gamma.len();
        let n = d as f32;
        let (dgamma, dbeta) = partial.split_at_mut(d);
        for ((x, g), dx) in x.chunks_exact(d).zip(grad.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
            let mean = sum(x) / n;
            let mut lanes = [0f32; 8];
            let x8 = x.chunks_exact(8);
            let mut tail = 0f32;
            for &v in x8.remainder() {
                tail += (v - mean) * (v - mean);
            }
            for v in x8 {
                for i in 0..8 {
                    lanes[i] += (v[i] - mean) * (v[i] - mean);
                }
            }
            let var = (lanes.iter().sum::<f32>() + tail) / n;
            let rstd = 1.0 / (var + epsilon).sqrt();
            // dx's two row means, with x̂ = (x − mean) rstd and gg = g ⊙ gamma.
            let mut sum_gg = 0f32;
            let mut sum_ggx = 0f32;
            for i in 0..d {
                let x_hat = (x[i] - mean) * rstd;
                let gg = g[i] * gamma[i];
                sum_gg += gg;
                sum_ggx += gg * x_hat;
                dgamma[i] += g[i] * x_hat;
                dbeta[i] += g[i];
            }
            let (mean_gg, mean_ggx) = (sum_gg / n, sum_ggx / n);
            for i in 0..d {
                let x_hat = (x[i] - mean) * rstd;
                dx[i] = rstd * (g[i] * gamma[i] - mean_gg - x_hat * mean_ggx);
            }
        }
    }
}

dispatch! {
    /// Softmax of each row of `d`, in place (the exp above, one division per row).
    fn softmax_rows_in_place(x: &mut [f32], d: usize) {
        for row in x.chunks_exact_mut(d) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
            for v in row.iter_mut() {
                *v = exp(*v - max);
            }
            let inv = 1.0 / sum(row);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

dispatch! {
    /// Attention's score gradient on rows of `d`, in place of `dp`:
    /// `ds = scale · p (dp − Σ dp p)`.
    fn score_gradient_rows(p: &[f32], dp: &mut [f32], d: usize, scale: f32) {
        for (p, dp) in p.chunks_exact(d).zip(dp.chunks_exact_mut(d)) {
            let dot = dot(p, dp);
            for (g, &p) in dp.iter_mut().zip(p) {
                *g = scale * p * (*g - dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf from the f64 standard library is the reference (the relative precision of f32 is
    /// 6e-8).
    fn erf_f64(x: f64) -> f64 {
        // Abramowitz–Stegun 7.1.28 is too coarse; integrate exp(-t²) with Simpson's rule on a
        // fine grid instead (error far below f32's).
        let n = 20_000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut sum = f(0.0) + f(x);
        for i in 1..n {
            sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        sum * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_and_exp_are_accurate() {
        let mut worst_erf = 0f64;
        let mut worst_exp = 0f64;
        for i in -600..=600 {
            let x = i as f32 / 100.0;
            worst_erf = worst_erf.max((erf(x) as f64 - erf_f64(x as f64)).abs());
            let reference = (x as f64).exp();
            worst_exp = worst_exp.max(((exp(x) as f64 - reference) / reference).abs());
        }
        assert!(worst_erf < 5e-7, "erf: worst absolute error {worst_erf:e}");
        assert!(worst_exp < 5e-7, "exp: worst relative error {worst_exp:e}");
        assert_eq!(exp(-200.0), 0.0f32.max(exp(-200.0)));
        assert!(exp(-200.0) < 1e-37);
        assert!(erf(f32::NAN).is_nan());
    }

    #[test]
    fn every_dispatch_path_gives_the_same_bits() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 77.0).collect();
        let g: Vec<f32> = x.iter().map(|v| v.sin()).collect();
        let mut fast = vec![0.0; x.len()];
        let mut fast_backward = vec![0.0; x.len()];
        gelu_slice(&x, &mut fast);
        gelu_backward_slice(&x, &g, &mut fast_backward);
        for i in 0..x.len() {
            assert_eq!(fast[i].to_bits(), gelu(x[i]).to_bits(), "gelu at {}", x[i]);
            assert_eq!(
                fast_backward[i].to_bits(),
                gelu_backward(x[i], g[i]).to_bits(),
                "gelu backward at {}",
                x[i]
            );
        }
    }
}
