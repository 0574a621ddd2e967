//! Zero-shot disease perception from the aligned image and prompt embeddings.

use burn::prelude::*;
use trrg_kernels::TrrgOps;

use crate::{AlignmentHead, DiseaseSet, Error};

/// Regularizer of [`whiten`], relative to the mean squared norm of the rows.
pub const WHITEN_EPS: f64 = 1e-2;
/// Newton-Schulz iterations of [`whiten`]: enough for a smallest scaled eigenvalue of
/// `WHITEN_EPS / n_clues` (n_clues up to about 100) to converge.
pub const WHITEN_STEPS: usize = 24;

/// Rows whitened against each other: `(G / s + eps I)^(-1/2) E / sqrt(s)`, with `G = E E^T` the
/// rows' Gram matrix, `s` its mean diagonal and `eps` [`WHITEN_EPS`]. Directions shared by many
/// rows are shrunk and the rest stretched, so the output rows are nearly orthonormal (exactly,
/// up to `eps`, when the rows are linearly independent), yet each stays a function of its own
/// and its set's rows: a set never trained on whitens the same way. The inverse square root is a
/// coupled Newton-Schulz iteration, matrix products only, so it runs on the device and carries
/// gradient.
///
/// # Shapes
/// - rows: `[n, d]` -> `[n, d]`
pub fn whiten<B: TrrgOps>(rows: Tensor<B, 2>) -> Tensor<B, 2> {
    let [n, _] = rows.dims();
    if n == 0 {
        return rows;
    }
    let device = rows.device();
    let eye = Tensor::<B, 2>::eye(n, &device);
    let gram = rows.clone().matmul(rows.clone().transpose()); // [n, n]
    let scale = (gram.clone() * eye.clone()).sum() / n as f64 + 1e-12; // [1], mean diagonal
    let a = gram / scale.clone().unsqueeze::<2>() + eye.clone() * WHITEN_EPS; // [n, n]
                                                                              // Newton-Schulz converges for eigenvalues in (0, 1]: divide by the Frobenius norm.
    let norm = a.clone().powi_scalar(2).sum().sqrt(); // [1]
    let mut y = a / norm.clone().unsqueeze::<2>();
    let mut z = eye.clone();
    for _ in 0..WHITEN_STEPS {
        let t = (eye.clone() * 3.0 - z.clone().matmul(y.clone())) / 2.0; // [n, n]
        y = y.matmul(t.clone());
        z = t.matmul(z);
    }
    // z = (a / norm)^(-1/2), so a^(-1/2) = z / sqrt(norm).
    z.matmul(rows) / (norm * scale).sqrt().unsqueeze::<2>() // [n, d]
}

/// Prompt embeddings of a disease set, averaged over templates (text encoder output, before the
/// alignment projection), computed once and reused.
#[derive(Clone, Debug)]
pub struct PromptEmbeddings<B: TrrgOps> {
    /// `[n_clues, d_text]`
    pub positive: Tensor<B, 2>,
    /// `[n_clues, d_text]`
    pub negative: Tensor<B, 2>,
}

impl<B: TrrgOps> PromptEmbeddings<B> {
    /// Each disease's identity: the mean of its positive and negative prompt embeddings.
    ///
    /// # Shapes
    /// - output: `[n_clues, d_text]`
    pub fn identity(&self) -> Tensor<B, 2> {
        (self.positive.clone() + self.negative.clone()) / 2.0
    }

    /// The identities whitened across the disease set ([`whiten`]): nearly orthonormal rows, so
    /// heads that read them learn a direction per disease as fast as the shared one.
    ///
    /// # Shapes
    /// - output: `[n_clues, d_text]`
    pub fn whitened_identity(&self) -> Tensor<B, 2> {
        whiten(self.identity())
    }

    /// Averages pooled prompt embeddings given in [`DiseaseSet::prompts`] order.
    ///
    /// # Shapes
    /// - pooled: `[n_prompts, d_text]`
    pub fn from_pooled(set: &DiseaseSet, pooled: Tensor<B, 2>) -> crate::Result<Self> {
        let prompts = set.prompts();
        let [n, d] = pooled.dims();
        if n != prompts.len() {
            return Err(Error::Shape {
                what: "pooled prompt embeddings",
                reason: format!("{n} rows for {} prompts", prompts.len()),
            });
        }
        let mut pos = Vec::with_capacity(set.len());
        let mut neg = Vec::with_capacity(set.len());
        let mut row = 0;
        for disease in &set.diseases {
            let take = |k: usize, row: usize| {
                pooled.clone().narrow(0, row, k).mean_dim(0) // [1, d_text]
            };
            pos.push(take(disease.positive.len(), row));
            row += disease.positive.len();
            neg.push(take(disease.negative.len(), row));
            row += disease.negative.len();
        }
        let device = pooled.device();
        let stack = |v: Vec<Tensor<B, 2>>| {
            if v.is_empty() {
                Tensor::zeros([0, d], &device)
            } else {
                Tensor::cat(v, 0)
            }
        };
        Ok(Self {
            positive: stack(pos),
            negative: stack(neg),
        })
    }

    /// Number of diseases.
    pub fn n_clues(&self) -> usize {
        self.positive.dims()[0]
    }
}

/// Zero-shot disease logits: `scale * (cos(image, positive_d) - cos(image, negative_d))`, so that
/// `sigmoid(logit_d) = softmax([s_pos, s_neg] / tau)[0]`, the CheXzero-style probability.
///
/// # Shapes
/// - images: `[batch, d_embed]` (from [`AlignmentHead::embed_images`])
/// - output: `[batch, n_clues]`
pub fn zero_shot_logits<B: TrrgOps>(
    head: &AlignmentHead<B>,
    images: Tensor<B, 2>,
    prompts: &PromptEmbeddings<B>,
) -> Tensor<B, 2> {
    let pos = head.embed_texts(prompts.positive.clone());
    let neg = head.embed_texts(prompts.negative.clone());
    head.similarity(images, pos - neg)
}

#[cfg(test)]
mod whiten_tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn whitened_rows_are_nearly_orthonormal() {
        let device = Default::default();
        // Five rows at pairwise cosine about 0.96: a shared direction plus small distinct parts.
        let (n, d) = (5, 8);
        let values: Vec<f32> = (0..n * d)
            .map(|k| {
                let (i, j) = (k / d, k % d);
                let shared = if j == 0 { 3.0 } else { 0.0 };
                shared + if j == i + 1 { 0.45 } else { 0.0 } + 0.01 * (k as f32).sin()
            })
            .collect();
        let rows = Tensor::<Flex, 2>::from_data(TensorData::new(values, [n, d]), &device);
        let gram = |t: Tensor<Flex, 2>| t.clone().matmul(t.transpose()).into_data();
        let before = gram(rows.clone()).to_vec::<f32>().unwrap();
        assert!(before[1] / (before[0] * before[n + 1]).sqrt() > 0.95);
        let after = gram(whiten(rows)).to_vec::<f32>().unwrap();
        // eps shrinks the rows' own directions (here to about 0.7 of the shared one's length,
        // a condition number of about 1.4 where it was about 100): equal norms, and cosines
        // near 0.1 instead of 0.96.
        for i in 0..n {
            assert!(
                (after[i * n + i] - after[0]).abs() < 0.02 * after[0] && after[0] > 0.5,
                "norms {after:?}"
            );
            for j in (0..n).filter(|&j| j != i) {
                let cosine = after[i * n + j] / after[0];
                assert!(cosine.abs() < 0.15, "{i},{j}: cosine {cosine}");
            }
        }
        let empty = Tensor::<Flex, 2>::zeros([0, d], &device);
        assert_eq!(whiten(empty).dims(), [0, d]);
    }
}
