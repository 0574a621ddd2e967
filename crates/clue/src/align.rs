//! Image-text alignment: projections to a shared space, a learnable temperature, and the
//! sentence-level symmetric InfoNCE of stage 1.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use trrg_kernels::TrrgOps;

/// Alignment head settings.
#[derive(Config, Debug)]
pub struct AlignmentConfig {
    /// Width of the visual global token.
    pub d_vision: usize,
    /// Width of the pooled text embedding.
    pub d_text: usize,
    /// Shared embedding width. Default 256.
    #[config(default = 256)]
    pub d_embed: usize,
    /// Initial temperature tau (CLIP: 0.07). Default 0.07.
    #[config(default = 0.07)]
    pub temperature_init: f64,
    /// Largest logit scale 1/tau (CLIP clamps at 100). Default 100.
    #[config(default = 100.0)]
    pub max_logit_scale: f64,
}

impl AlignmentConfig {
    /// Builds the head.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> AlignmentHead<B> {
        AlignmentHead {
            image_proj: LinearConfig::new(self.d_vision, self.d_embed).init(device),
            text_proj: LinearConfig::new(self.d_text, self.d_embed).init(device),
            logit_scale: Param::from_tensor(Tensor::from_floats(
                [(1.0 / self.temperature_init).ln() as f32],
                device,
            )),
            max_logit_scale: self.max_logit_scale,
        }
    }
}

/// Projections and temperature.
#[derive(Module, Debug)]
pub struct AlignmentHead<B: TrrgOps> {
    /// `[d_vision, d_embed]`
    pub image_proj: Linear<B>,
    /// `[d_text, d_embed]`
    pub text_proj: Linear<B>,
    /// log(1 / tau), `[1]`
    pub logit_scale: Param<Tensor<B, 1>>,
    max_logit_scale: f64,
}

fn normalize<B: TrrgOps>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

impl<B: TrrgOps> AlignmentHead<B> {
    /// Unit-norm image embeddings.
    ///
    /// # Shapes
    /// - global: `[batch, d_vision]` -> `[batch, d_embed]`
    pub fn embed_images(&self, global: Tensor<B, 2>) -> Tensor<B, 2> {
        normalize(self.image_proj.forward(global))
    }

    /// Unit-norm text embeddings.
    ///
    /// # Shapes
    /// - pooled: `[n, d_text]` -> `[n, d_embed]`
    pub fn embed_texts(&self, pooled: Tensor<B, 2>) -> Tensor<B, 2> {
        normalize(self.text_proj.forward(pooled))
    }

    /// 1/tau, clamped to `max_logit_scale`, `[1]`.
    pub fn scale(&self) -> Tensor<B, 1> {
        self.logit_scale
            .val()
            .clamp_max(self.max_logit_scale.ln())
            .exp()
    }

    /// Scaled cosine similarities.
    ///
    /// # Shapes
    /// - images: `[batch, d_embed]`, texts: `[n, d_embed]` (unit norm)
    /// - output: `[batch, n]`
    pub fn similarity(&self, images: Tensor<B, 2>, texts: Tensor<B, 2>) -> Tensor<B, 2> {
        self.similarity_with_scale(images, texts, self.scale())
    }

    /// [`AlignmentHead::similarity`] with a given logit scale `[1]` (a detached one, say).
    pub fn similarity_with_scale(
        &self,
        images: Tensor<B, 2>,
        texts: Tensor<B, 2>,
        scale: Tensor<B, 1>,
    ) -> Tensor<B, 2> {
        images.matmul(texts.transpose()) * scale.unsqueeze::<2>()
    }
}

/// Symmetric multi-positive InfoNCE.
///
/// `positive[i, j]` is true when sentence `j` belongs to image `i`'s report. Sentences are
/// expected to be deduplicated across the batch, so a sentence shared by several reports is a
/// positive of each of those images and a negative of none of them. The image-to-text term
/// averages `-log p(j | i)` over each image's positives; the text-to-image term averages
/// `-log p(i | j)` over each sentence's images; the loss is their mean.
///
/// # Shapes
/// - logits: `[batch, n_sentences]`
/// - positive: `[batch, n_sentences]`
/// - output: `[1]`
pub fn info_nce<B: TrrgOps>(logits: Tensor<B, 2>, positive: Tensor<B, 2, Bool>) -> Tensor<B, 1> {
    let pos = positive.float();
    let term = |log_p: Tensor<B, 2>, dim: usize| {
        let per = (log_p * pos.clone()).sum_dim(dim).neg(); // summed over positives
        let count = pos.clone().sum_dim(dim);
        let has = count.clone().greater_elem(0.0).float();
        let mean = per / count.clamp_min(1.0) * has.clone();
        mean.sum() / has.sum().clamp_min(1.0)
    };
    let i2t = term(log_softmax(logits.clone(), 1), 1);
    let t2i = term(log_softmax(logits, 0), 0);
    (i2t + t2i) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn info_nce_with_one_positive_each_is_clip_loss() {
        let device = Default::default();
        let logits = Tensor::<Flex, 2>::from_floats([[2.0, 0.5], [0.1, 1.0]], &device);
        let positive = Tensor::<Flex, 2, Bool>::from_data([[true, false], [false, true]], &device);
        let got = info_nce(logits, positive).into_scalar();
        let lse = |a: f32, b: f32| (a.exp() + b.exp()).ln();
        let i2t = ((lse(2.0, 0.5) - 2.0) + (lse(0.1, 1.0) - 1.0)) / 2.0;
        let t2i = ((lse(2.0, 0.1) - 2.0) + (lse(0.5, 1.0) - 1.0)) / 2.0;
        assert!((got - (i2t + t2i) / 2.0).abs() < 1e-6, "{got}");
    }

    #[test]
    fn a_shared_sentence_is_positive_for_every_image_that_has_it() {
        let device = Default::default();
        // Sentence 0 is in both reports; with equal logits both images predict it equally.
        let logits = Tensor::<Flex, 2>::from_floats([[1.0, 0.0], [1.0, 0.0]], &device);
        let shared = Tensor::<Flex, 2, Bool>::from_data([[true, true], [true, false]], &device);
        let loss = info_nce(logits, shared).into_scalar();
        assert!(loss.is_finite() && loss > 0.0);
    }
}
