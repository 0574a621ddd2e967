//! Zero-shot disease perception from the aligned image and prompt embeddings.

use burn::prelude::*;

use crate::{AlignmentHead, DiseaseSet, Error};

/// Prompt embeddings of a disease set, averaged over templates (text encoder output, before the
/// alignment projection), computed once and reused.
#[derive(Clone, Debug)]
pub struct PromptEmbeddings<B: Backend> {
    /// `[n_clues, d_text]`
    pub positive: Tensor<B, 2>,
    /// `[n_clues, d_text]`
    pub negative: Tensor<B, 2>,
}

impl<B: Backend> PromptEmbeddings<B> {
    /// Each disease's identity: the mean of its positive and negative prompt embeddings.
    ///
    /// # Shapes
    /// - output: `[n_clues, d_text]`
    pub fn identity(&self) -> Tensor<B, 2> {
        (self.positive.clone() + self.negative.clone()) / 2.0
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
pub fn zero_shot_logits<B: Backend>(
    head: &AlignmentHead<B>,
    images: Tensor<B, 2>,
    prompts: &PromptEmbeddings<B>,
) -> Tensor<B, 2> {
    let pos = head.embed_texts(prompts.positive.clone());
    let neg = head.embed_texts(prompts.negative.clone());
    head.similarity(images, pos - neg)
}
