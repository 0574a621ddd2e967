//! Perception instruments: a linear probe on the visual encoder's features, and the
//! conditioning of the disease identities that the clue heads read.
//!
//! They tell where perception stops. If a logistic regression on the frozen encoder's features
//! separates a finding that the clue heads do not, the heads are the bottleneck; if neither
//! does, the encoder is. The heads read the disease identities `(pos_d + neg_d) / 2` of the
//! prompt embeddings; when those are nearly parallel, gradient descent learns one shared
//! "abnormal" direction far faster than a direction per disease, by the condition number of
//! their Gram matrix (`../shared/reference/truthful_diagnosis.md`, §2.2).

use std::collections::BTreeMap;

use burn::data::dataset::Dataset;
use burn::prelude::*;
use rayon::prelude::*;
use serde::Serialize;
use trrg_clue::pool_patch_grid;
use trrg_data::{ReportBatcher, ReportDataset};
use trrg_kernels::TrrgOps;
use trrg_model::{ClueBank, Trrg};

use crate::data::{epoch_batches, items, study_label};
use crate::evaluate::auc;

/// L2 penalty of the linear probe (on standardized features): fixed, not tuned, so that a probe
/// AUC compares across runs.
pub const PROBE_L2: f64 = 1e-2;
/// Full-batch gradient steps of the linear probe.
pub const PROBE_STEPS: usize = 400;

/// How well-conditioned a set of directions is: the cosine Gram matrix's spread.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conditioning {
    /// Mean pairwise cosine of the directions.
    pub mean_cosine: f64,
    /// Largest over smallest eigenvalue of the cosine Gram matrix; None when it is singular
    /// (more directions than dimensions, or two identical ones).
    pub condition_number: Option<f64>,
}

/// The conditioning of the rows of `rows` (`[n, d]`, row-major).
pub fn conditioning(rows: &[f32], n: usize, d: usize) -> Conditioning {
    let unit: Vec<Vec<f64>> = rows
        .chunks(d.max(1))
        .take(n)
        .map(|r| {
            let norm = r.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
            r.iter().map(|&x| f64::from(x) / norm.max(1e-12)).collect()
        })
        .collect();
    let mut gram = vec![0.0; n * n];
    let mut off_diagonal = 0.0;
    for i in 0..n {
        for j in 0..n {
            let c: f64 = unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum();
            gram[i * n + j] = c;
            if i != j {
                off_diagonal += c;
            }
        }
    }
    let eigen = symmetric_eigenvalues(gram, n);
    let (min, max) = eigen
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &e| {
            (lo.min(e), hi.max(e))
        });
    Conditioning {
        mean_cosine: if n > 1 {
            off_diagonal / (n * (n - 1)) as f64
        } else {
            1.0
        },
        condition_number: (n > 0 && min > 1e-9 * max.abs().max(1.0)).then(|| max / min),
    }
}

/// Eigenvalues of the symmetric `n`×`n` matrix `a` (row-major) by cyclic Jacobi rotations.
pub fn symmetric_eigenvalues(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        let scale: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-24 * scale.max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                // signum(0.0) is 1: a zero angle difference rotates by 45 degrees.
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A <- J^T A J with the rotation in the (p, q) plane.
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..n).map(|i| a[i * n + i]).collect()
}

/// The conditioning of a clue bank's disease identities and of its contrast directions
/// (`pos_d - neg_d`, what the zero-shot term reads).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PromptConditioning {
    /// Of `(pos_d + neg_d) / 2`.
    pub identity: Conditioning,
    /// Of `pos_d - neg_d`.
    pub contrast: Conditioning,
}

impl PromptConditioning {
    /// Of `bank`'s prompt embeddings.
    pub fn of<B: TrrgOps>(bank: &ClueBank<B>) -> Self {
        let of = |t: Tensor<B, 2>| {
            let [n, d] = t.dims();
            conditioning(&trrg_io::f32_values(t), n, d)
        };
        let prompts = &bank.prompts;
        Self {
            identity: of(prompts.identity()),
            contrast: of(prompts.positive.clone() - prompts.negative.clone()),
        }
    }
}

/// An L2-regularized logistic regression on standardized features: `z = b + w . (x - mean) / std`.
#[derive(Clone, Debug, PartialEq)]
pub struct Logistic {
    /// Per feature, on the standardized scale.
    pub weight: Vec<f64>,
    /// The intercept.
    pub bias: f64,
    /// The training features' mean.
    pub mean: Vec<f64>,
    /// The training features' deviation (at least 1e-6).
    pub std: Vec<f64>,
}

impl Logistic {
    /// The logit of `row`.
    pub fn logit(&self, row: &[f32]) -> f64 {
        self.bias
            + row
                .iter()
                .zip(&self.weight)
                .zip(self.mean.iter().zip(&self.std))
                .map(|((&x, w), (m, s))| (f64::from(x) - m) / s * w)
                .sum::<f64>()
    }
}

/// The logistic regression fitted on `train` (L2 [`PROBE_L2`], [`PROBE_STEPS`] full-batch
/// gradient steps from the prior's log-odds); labels None are left out. None when the split
/// lacks a class.
pub fn fit_logistic(train: &[Vec<f32>], train_y: &[Option<bool>]) -> Option<Logistic> {
    fit_logistic_columns(train, &[train_y.to_vec()]).pop()?
}

/// One [`fit_logistic`] regression per label column (`columns[k][i]`: row `i`'s label in
/// column `k`) on the same features, fitted in parallel. Columns that leave out the same rows
/// share one standardization and one Gram matrix ([`Design`]), which is most of the work when
/// the rows have more features than there are rows (the patch grids).
pub fn fit_logistic_columns(
    train: &[Vec<f32>],
    columns: &[Vec<Option<bool>>],
) -> Vec<Option<Logistic>> {
    let masks: Vec<Vec<bool>> = columns
        .iter()
        .map(|column| column.iter().map(Option::is_some).collect())
        .collect();
    let mut designs: BTreeMap<&[bool], Option<Design>> =
        masks.iter().map(|m| (m.as_slice(), None)).collect();
    designs.par_iter_mut().for_each(|(known, design)| {
        let rows: Vec<&[f32]> = train
            .iter()
            .zip(known.iter())
            .filter(|(_, &k)| k)
            .map(|(r, _)| r.as_slice())
            .collect();
        *design = Design::new(&rows);
    });
    columns
        .par_iter()
        .zip(&masks)
        .map(|(column, known)| {
            let y: Vec<f64> = column
                .iter()
                .flatten()
                .map(|&v| f64::from(u8::from(v)))
                .collect();
            designs[known.as_slice()].as_ref()?.fit(&y)
        })
        .collect()
}

/// Training rows standardized, with their Gram matrix, for gradient descent on the logistic
/// loss in the span of the rows: with `w = sum_i a_i x_i` (true at `w = 0` and kept by every
/// step, since the gradient `l2 w + sum_i err_i x_i` lies in that span), each step needs only
/// `K a` (`n^2`) instead of `X w` and `X^T err` (`2 n d`). The iterates are plain gradient
/// descent's up to float rounding.
struct Design {
    mean: Vec<f64>,
    std: Vec<f64>,
    /// The standardized rows, `[n][d]`.
    xs: Vec<Vec<f64>>,
    /// `xs xs^T`, row-major `[n, n]`.
    gram: Vec<f64>,
}

impl Design {
    fn new(rows: &[&[f32]]) -> Option<Self> {
        let d = rows.first()?.len();
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..d)
            .map(|j| rows.iter().map(|r| f64::from(r[j])).sum::<f64>() / n)
            .collect();
        let std: Vec<f64> = (0..d)
            .map(|j| {
                let var = rows
                    .iter()
                    .map(|r| (f64::from(r[j]) - mean[j]).powi(2))
                    .sum::<f64>()
                    / n;
                var.sqrt().max(1e-6)
            })
            .collect();
        let xs: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, &v)| (f64::from(v) - mean[j]) / std[j])
                    .collect()
            })
            .collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let upper: Vec<Vec<f64>> = (0..xs.len())
            .into_par_iter()
            .map(|i| xs[i..].iter().map(|r| dot(&xs[i], r)).collect())
            .collect();
        let m = xs.len();
        let mut gram = vec![0.0; m * m];
        for (i, row) in upper.iter().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                gram[i * m + i + k] = v;
                gram[(i + k) * m + i] = v;
            }
        }
        Some(Self {
            mean,
            std,
            xs,
            gram,
        })
    }

    /// The regression on targets `y` (0 or 1, one per row); None when they are all one class.
    fn fit(&self, y: &[f64]) -> Option<Logistic> {
        let m = self.xs.len();
        let positives = y.iter().filter(|&&v| v > 0.5).count();
        if positives == 0 || positives == m {
            return None;
        }
        let n = m as f64;
        // Gradient descent on the mean log loss; its curvature is at most (|x|^2 / 4) per row,
        // so a step of 4 / (mean |x|^2 + 4 l2) is stable.
        let mean_sq = (0..m).map(|i| self.gram[i * m + i]).sum::<f64>() / n;
        let step = 4.0 / (mean_sq + 1.0 + 4.0 * PROBE_L2);
        let prior = (positives as f64 / n).clamp(1e-6, 1.0 - 1e-6);
        let (mut a, mut b) = (vec![0.0; m], (prior / (1.0 - prior)).ln());
        for _ in 0..PROBE_STEPS {
            let err: Vec<f64> = self
                .gram
                .chunks(m)
                .zip(y)
                .map(|(k, &t)| {
                    let z = b + k.iter().zip(&a).map(|(g, c)| g * c).sum::<f64>();
                    (1.0 / (1.0 + (-z).exp()) - t) / n
                })
                .collect();
            // w <- w - step (l2 w + X^T err), in the coefficients of the rows.
            for (ai, e) in a.iter_mut().zip(&err) {
                *ai = *ai * (1.0 - step * PROBE_L2) - step * e;
            }
            b -= step * err.iter().sum::<f64>();
        }
        let d = self.mean.len();
        let weight = (0..d)
            .map(|j| self.xs.iter().zip(&a).map(|(r, c)| r[j] * c).sum())
            .collect();
        Some(Logistic {
            weight,
            bias: b,
            mean: self.mean.clone(),
            std: self.std.clone(),
        })
    }
}

/// The AUC on `val` of the [`fit_logistic`] regression fitted on `train`; labels None are left
/// out. None when either split lacks a class.
pub fn logistic_probe_auc(
    train: &[Vec<f32>],
    train_y: &[Option<bool>],
    val: &[Vec<f32>],
    val_y: &[Option<bool>],
) -> Option<f64> {
    scored_auc(&fit_logistic(train, train_y)?, val, val_y)
}

/// The AUC of `fit`'s logits on `val` (labels None left out; None with one class).
fn scored_auc(fit: &Logistic, val: &[Vec<f32>], val_y: &[Option<bool>]) -> Option<f64> {
    let (scores, truth): (Vec<f32>, Vec<bool>) = val
        .iter()
        .zip(val_y)
        .filter_map(|(r, y)| y.map(|y| (fit.logit(r) as f32, y)))
        .unzip();
    auc(&scores, &truth)
}

/// Each study's features and labels: the view-mean of the encoder's global tokens (what the
/// clue heads read), the views' global tokens side by side, the views' pooled patch grids side
/// by side, and the label per disease of `bank`, present against the rest as the test's clue
/// AUC counts (None for a study without labels or a disease outside the label set).
struct Features {
    pooled: Vec<Vec<f32>>,
    views: Vec<Vec<f32>>,
    patches: Vec<Vec<f32>>,
    labels: Vec<Vec<Option<bool>>>,
}

impl Features {
    /// The labels by disease: `columns(n)[d][i]` is study `i`'s label for disease `d < n`.
    fn columns(&self, n_diseases: usize) -> Vec<Vec<Option<bool>>> {
        (0..n_diseases)
            .map(|d| self.labels.iter().map(|l| l[d]).collect())
            .collect()
    }
}

/// `grid`: the side of the grid each view's patch tokens are averaged to
/// ([`trrg_clue::pool_patch_grid`], the spatial readout's pooling).
fn features<B: TrrgOps>(
    model: &Trrg<B>,
    dataset: &ReportDataset,
    batcher: &ReportBatcher,
    batch_size: usize,
    bank: &ClueBank<B>,
    grid: usize,
    device: &B::Device,
) -> crate::Result<Features> {
    let mut out = Features {
        pooled: Vec::new(),
        views: Vec::new(),
        patches: Vec::new(),
        labels: Vec::new(),
    };
    for indices in epoch_batches(dataset.len(), batch_size, 0, 0, false) {
        let items = items(dataset, &indices);
        let batch = batcher.try_batch::<B>(&items, device)?;
        // [batch, n_views, d_vision], [batch, n_views, n_patches, d_vision]
        let (views, patches) = model.view_features(batch.images)?;
        let [n, n_views, d] = views.dims();
        let n_patches = patches.dims()[2];
        let pooled = trrg_io::f32_values(views.clone().mean_dim(1).reshape([n, d]));
        let views = trrg_io::f32_values(views);
        let patches = trrg_io::f32_values(pool_patch_grid(
            patches.reshape([n * n_views, n_patches, d]),
            grid,
        ));
        let per_study = patches.len() / n.max(1);
        for (b, item) in items.iter().enumerate() {
            out.pooled.push(pooled[b * d..(b + 1) * d].to_vec());
            out.views
                .push(views[b * n_views * d..(b + 1) * n_views * d].to_vec());
            out.patches
                .push(patches[b * per_study..(b + 1) * per_study].to_vec());
            out.labels.push(
                bank.label_columns
                    .iter()
                    .map(|&c| {
                        // Present against the rest; a disease outside the label set has none.
                        (item.labels.is_some() && c.is_some())
                            .then(|| study_label(item, c) == Some(1))
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// The linear probe's validation AUC for one disease.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProbeAuc {
    /// On the view-mean of the global tokens (what the clue heads read).
    pub pooled: Option<f64>,
    /// On every view's global token side by side (what the encoder holds).
    pub views: Option<f64>,
    /// On every view's patch tokens, averaged to a grid (`clue.spatial_grid` a side), side by
    /// side: whether
    /// the encoder holds a finding in its place, as a thumbnail does for the raw-pixel probe
    /// (`scripts/pixel-probe.py`), when its global token does not.
    pub patches: Option<f64>,
}

/// The linear probe per disease of `bank`: fitted on `train`'s encoder features, scored on
/// `val`; the patch column on each view's patch tokens averaged to the model's
/// `clue.spatial_grid` cells a side.
pub fn feature_probe<B: TrrgOps>(
    model: &Trrg<B>,
    train: &ReportDataset,
    val: &ReportDataset,
    batcher: &ReportBatcher,
    batch_size: usize,
    bank: &ClueBank<B>,
    device: &B::Device,
) -> crate::Result<BTreeMap<String, ProbeAuc>> {
    let grid = model.settings().clue.spatial_grid;
    let fit = features(model, train, batcher, batch_size, bank, grid, device)?;
    let score = features(model, val, batcher, batch_size, bank, grid, device)?;
    let n = bank.names.len();
    let (fit_y, score_y) = (fit.columns(n), score.columns(n));
    // Per disease, the validation AUC of the regression fitted on one feature set.
    let aucs = |train: &[Vec<f32>], val: &[Vec<f32>]| -> Vec<Option<f64>> {
        fit_logistic_columns(train, &fit_y)
            .iter()
            .zip(&score_y)
            .map(|(l, y)| scored_auc(l.as_ref()?, val, y))
            .collect()
    };
    let pooled = aucs(&fit.pooled, &score.pooled);
    let views = aucs(&fit.views, &score.views);
    let patches = aucs(&fit.patches, &score.patches);
    Ok(bank
        .names
        .iter()
        .enumerate()
        .map(|(d, name)| {
            let probe = ProbeAuc {
                pooled: pooled[d],
                views: views[d],
                patches: patches[d],
            };
            (name.clone(), probe)
        })
        .collect())
}

/// The spatial readout's weights and biases (row-major, its shapes) with each CheXpert slot of
/// `bank` set to the [`fit_logistic`] regression on the training split's patch grids, the patch
/// probe's fit (slots without a fit keep their values): the head starts stage 2 at the optimum
/// the probe finds on today's encoder instead of at zero. None without a spatial readout.
///
/// The head computes `b_s + <W_s, g> / sqrt(|g|)` and the regression
/// `b + sum_j w_j (g_j - mean_j) / std_j`, so `W_s,j = w_j sqrt(|g|) / std_j` and
/// `b_s = b - sum_j w_j mean_j / std_j`.
pub fn fit_spatial<B: TrrgOps>(
    model: &Trrg<B>,
    train: &ReportDataset,
    batcher: &ReportBatcher,
    batch_size: usize,
    bank: &ClueBank<B>,
    device: &B::Device,
) -> crate::Result<Option<(Vec<f32>, Vec<f32>)>> {
    let Some(spatial) = &model.clue_spatial else {
        return Ok(None);
    };
    let [n_slots, max_views, n_cells, d_vision] = spatial.weight.dims();
    let fit = features(
        model,
        train,
        batcher,
        batch_size,
        bank,
        spatial.cells(),
        device,
    )?;
    let mut weight = trrg_io::f32_values(spatial.weight.val());
    let mut bias = trrg_io::f32_values(spatial.bias.val());
    let per_slot = max_views * n_cells * d_vision;
    let jobs: Vec<(usize, usize)> = bank
        .label_columns
        .iter()
        .enumerate()
        .filter_map(|(k, slot)| slot.filter(|&s| s < n_slots).map(|s| (k, s)))
        .collect();
    let columns = fit.columns(bank.names.len());
    let picked: Vec<Vec<Option<bool>>> = jobs.iter().map(|&(k, _)| columns[k].clone()).collect();
    let fits = fit_logistic_columns(&fit.patches, &picked);
    for (&(_, s), logistic) in jobs.iter().zip(fits) {
        let Some(l) = logistic.filter(|l| l.weight.len() <= per_slot) else {
            continue;
        };
        let (row, b) = spatial_row(&l);
        weight[s * per_slot..s * per_slot + row.len()].copy_from_slice(&row);
        bias[s] = b;
    }
    Ok(Some((weight, bias)))
}

/// The spatial readout's weights and bias that compute `logistic`'s logit from a grid of
/// `logistic.weight.len()` features: `W_j = w_j sqrt(n) / std_j`, `b - sum_j w_j mean_j / std_j`.
fn spatial_row(logistic: &Logistic) -> (Vec<f32>, f32) {
    let l = logistic;
    let scale = (l.weight.len() as f64).sqrt();
    let row = (0..l.weight.len())
        .map(|j| (l.weight[j] * scale / l.std[j]) as f32)
        .collect();
    let shift: f64 = (0..l.weight.len())
        .map(|j| l.weight[j] * l.mean[j] / l.std[j])
        .sum();
    (row, (l.bias - shift) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_finds_the_eigenvalues_of_an_equicorrelated_matrix() {
        // n directions with pairwise cosine rho: 1 + (n-1) rho once, 1 - rho n-1 times.
        let (n, rho) = (14, 0.9);
        let gram: Vec<f64> = (0..n * n)
            .map(|k| if k / n == k % n { 1.0 } else { rho })
            .collect();
        let mut e = symmetric_eigenvalues(gram, n);
        e.sort_by(f64::total_cmp);
        assert!((e[n - 1] - (1.0 + 13.0 * rho)).abs() < 1e-9, "{e:?}");
        assert!(e[..n - 1].iter().all(|v| (v - (1.0 - rho)).abs() < 1e-9));
    }

    #[test]
    fn conditioning_of_orthogonal_and_of_nearly_parallel_rows() {
        let eye = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let c = conditioning(&eye, 3, 3);
        assert_eq!(c.mean_cosine, 0.0);
        assert!((c.condition_number.unwrap() - 1.0).abs() < 1e-9);
        // Two rows at cosine 0.8 (scaled rows: the norm does not matter).
        let c = conditioning(&[2.0, 0.0, 0.8, 0.6], 2, 2);
        assert!((c.mean_cosine - 0.8).abs() < 1e-6);
        assert!((c.condition_number.unwrap() - 9.0).abs() < 1e-5, "{c:?}");
        // More rows than dimensions: singular.
        assert_eq!(
            conditioning(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 3, 2).condition_number,
            None
        );
    }

    #[test]
    fn a_spatial_row_computes_the_regressions_logit() {
        use burn::backend::Flex;
        // One view, a 1x1 grid of 3 features: the head's term equals the regression's logit.
        let logistic = Logistic {
            weight: vec![0.5, -1.0, 2.0],
            bias: 0.25,
            mean: vec![1.0, -2.0, 0.5],
            std: vec![2.0, 0.5, 4.0],
        };
        let (row, bias) = spatial_row(&logistic);
        let device = Default::default();
        let spatial = trrg_clue::ClueSpatialConfig::new(1, 1, 3)
            .with_cells(1)
            .init::<Flex>(&device)
            .with_values(row, &[bias])
            .unwrap();
        let x = [3.0f32, 1.0, -2.0];
        let patches = Tensor::<Flex, 3>::from_data(TensorData::new(x.to_vec(), [1, 1, 3]), &device);
        let term = spatial.forward(patches, 1, 1, &[Some(0)]).into_scalar();
        assert!(
            (f64::from(term) - logistic.logit(&x)).abs() < 1e-5,
            "{term}"
        );
    }

    /// A deterministic pseudo-random stream, uniform in [-0.5, 0.5).
    fn uniform(mut state: u64) -> impl FnMut() -> f32 {
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        }
    }

    /// Gradient descent in the span of the rows (through their Gram matrix) follows plain
    /// gradient descent on the weights, here written out as the reference; columns that leave
    /// out different rows get their own standardization.
    #[test]
    fn the_gram_fit_is_plain_gradient_descent() {
        let mut next = uniform(99);
        // More features than rows, as the patch grids have.
        let (n, d) = (30, 50);
        let x: Vec<Vec<f32>> = (0..n).map(|_| (0..d).map(|_| next()).collect()).collect();
        let y: Vec<Option<bool>> = x.iter().map(|r| Some(r[0] + r[7] > 0.1)).collect();
        let mut partial = y.clone();
        partial[3] = None;
        let fits = fit_logistic_columns(&x, &[y.clone(), partial.clone()]);
        for (column, fit) in [y, partial].iter().zip(&fits) {
            let fit = fit.as_ref().unwrap();
            let rows: Vec<&Vec<f32>> = x
                .iter()
                .zip(column)
                .filter(|(_, l)| l.is_some())
                .map(|(r, _)| r)
                .collect();
            let t: Vec<f64> = column
                .iter()
                .flatten()
                .map(|&v| f64::from(u8::from(v)))
                .collect();
            let m = rows.len() as f64;
            let xs: Vec<Vec<f64>> = rows
                .iter()
                .map(|r| {
                    (0..d)
                        .map(|j| (f64::from(r[j]) - fit.mean[j]) / fit.std[j])
                        .collect()
                })
                .collect();
            let mean_sq = xs.iter().flatten().map(|v| v * v).sum::<f64>() / m;
            let step = 4.0 / (mean_sq + 1.0 + 4.0 * PROBE_L2);
            let prior = t.iter().sum::<f64>() / m;
            let (mut w, mut b) = (vec![0.0; d], (prior / (1.0 - prior)).ln());
            for _ in 0..PROBE_STEPS {
                let mut gw: Vec<f64> = w.iter().map(|wj| PROBE_L2 * wj).collect();
                let mut gb = 0.0;
                for (r, &target) in xs.iter().zip(&t) {
                    let z = b + r.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>();
                    let err = (1.0 / (1.0 + (-z).exp()) - target) / m;
                    gb += err;
                    gw.iter_mut().zip(r).for_each(|(g, a)| *g += err * a);
                }
                w.iter_mut().zip(&gw).for_each(|(wj, g)| *wj -= step * g);
                b -= step * gb;
            }
            assert!((fit.bias - b).abs() < 1e-9, "{} {b}", fit.bias);
            assert!(fit.weight.iter().zip(&w).all(|(a, c)| (a - c).abs() < 1e-9));
            // The mean of the rows it was fitted on.
            let mean0 = rows.iter().map(|r| f64::from(r[0])).sum::<f64>() / m;
            assert!((fit.mean[0] - mean0).abs() < 1e-12);
        }
        assert_ne!(fits[0], fits[1]);
    }

    #[test]
    fn the_probe_separates_a_linear_finding_and_not_noise() {
        let mut next = uniform(12345);
        let mut rows = |n: usize| -> Vec<Vec<f32>> {
            (0..n).map(|_| (0..8).map(|_| next()).collect()).collect()
        };
        let (train, val) = (rows(300), rows(200));
        // The label is the sign of feature 3 minus feature 5; row 7 is unknown.
        let label = |r: &[f32], i: usize| (i % 50 != 7).then_some(r[3] - r[5] > 0.0);
        let ty: Vec<_> = train.iter().enumerate().map(|(i, r)| label(r, i)).collect();
        let vy: Vec<_> = val.iter().enumerate().map(|(i, r)| label(r, i)).collect();
        let separable = logistic_probe_auc(&train, &ty, &val, &vy).unwrap();
        assert!(separable > 0.97, "{separable}");
        // Labels that no feature carries: about chance.
        let noise: Vec<_> = (0..300).map(|i| Some((i * 7919) % 13 < 6)).collect();
        let vnoise: Vec<_> = (0..200).map(|i| Some((i * 104729) % 11 < 5)).collect();
        let chance = logistic_probe_auc(&train, &noise, &val, &vnoise).unwrap();
        assert!((chance - 0.5).abs() < 0.15, "{chance}");
        // One class only: no AUC.
        let all = vec![Some(true); 300];
        assert_eq!(logistic_probe_auc(&train, &all, &val, &vy), None);
    }
}
