//! Patch-level clue evidence: each disease attends over the patch tokens and reads what it finds.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use trrg_kernels::TrrgOps;

/// Locator settings.
#[derive(Config, Debug)]
pub struct ClueLocatorConfig {
    /// Width of the visual patch tokens.
    pub d_vision: usize,
    /// Width of the prompt (text) embeddings.
    pub d_text: usize,
    /// Width of the attention space. Default 64.
    #[config(default = 64)]
    pub d_locate: usize,
}

impl ClueLocatorConfig {
    /// Builds the locator; its readout starts at zero, so the logits it adds start at zero.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> ClueLocator<B> {
        ClueLocator {
            query: LinearConfig::new(self.d_text, self.d_locate).init(device),
            key: LinearConfig::new(self.d_vision, self.d_locate).init(device),
            value: LinearConfig::new(self.d_vision, self.d_locate).init(device),
            readout: LinearConfig::new(self.d_text, self.d_locate)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }
}

/// A logit correction from the patch tokens, per disease:
/// `a_d = softmax_i(<Q e_d, K x_i> / sqrt(d_locate))`, `logit_d = <R e_d, sum_i a_di V x_i>`, with
/// `e_d = (pos_d + neg_d) / 2` the disease's mean prompt embedding and `x_i` the patch tokens of
/// every view.
///
/// The zero-shot logits and the [`ClueRefiner`](crate::ClueRefiner) see only the pooled global
/// token, in which a small finding (a nodule, a thin line, a sliver of pneumothorax) is a few
/// patches out of hundreds. Here each disease looks for its own evidence where it is. No
/// per-disease parameters (any disease set works); the consistency loss trains it.
#[derive(Module, Debug)]
pub struct ClueLocator<B: TrrgOps> {
    /// `Q`, `[d_text, d_locate]`
    pub query: Linear<B>,
    /// `K`, `[d_vision, d_locate]`
    pub key: Linear<B>,
    /// `V`, `[d_vision, d_locate]`
    pub value: Linear<B>,
    /// `R`, `[d_text, d_locate]`
    pub readout: Linear<B>,
}

impl<B: TrrgOps> ClueLocator<B> {
    /// The correction to add to the clue logits.
    ///
    /// # Shapes
    /// - patches: `[batch, n_patches, d_vision]` (all views' patch tokens)
    /// - identity: `[n_clues, d_text]`, the disease identities
    ///   ([`crate::PromptEmbeddings::identity`], or whitened)
    /// - output: `[batch, n_clues]`
    pub fn forward(&self, patches: Tensor<B, 3>, identity: Tensor<B, 2>) -> Tensor<B, 2> {
        let (query, readout) = self.disease_vectors(identity);
        self.forward_with(patches, query, readout)
    }

    /// Each disease's query `Q e_d` and readout `R e_d`.
    ///
    /// # Shapes
    /// - identity: `[n_clues, d_text]` -> two `[n_clues, d_locate]`
    pub fn disease_vectors(&self, identity: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        (
            self.query.forward(identity.clone()),
            self.readout.forward(identity),
        )
    }

    /// [`ClueLocator::forward`] with the queries and readouts given (from
    /// [`ClueLocator::disease_vectors`], plus a [`crate::ClueReadout`]'s own offsets).
    ///
    /// # Shapes
    /// - patches: `[batch, n_patches, d_vision]`
    /// - query, readout: `[n_clues, d_locate]`
    /// - output: `[batch, n_clues]`
    pub fn forward_with(
        &self,
        patches: Tensor<B, 3>,
        query: Tensor<B, 2>,
        readout: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        let [batch, _, _] = patches.dims();
        let [n_clues, _] = query.dims();
        let values = self.value.forward(patches.clone()); // [batch, n_patches, d_locate]
        let found = self.attention_with(patches, query).matmul(values); // [batch, n_clues, d_locate]
        (found * readout.unsqueeze::<3>())
            .sum_dim(2)
            .reshape([batch, n_clues])
    }

    /// Where each disease looks: `a_d` over the patches (each row sums to 1), the evidence map
    /// that `trrg serve` draws over the image.
    ///
    /// # Shapes
    /// - patches: `[batch, n_patches, d_vision]`
    /// - identity: `[n_clues, d_text]`
    /// - output: `[batch, n_clues, n_patches]`
    pub fn attention(&self, patches: Tensor<B, 3>, identity: Tensor<B, 2>) -> Tensor<B, 3> {
        self.attention_with(patches, self.query.forward(identity))
    }

    /// [`ClueLocator::attention`] with the queries given, `[n_clues, d_locate]`.
    pub fn attention_with(&self, patches: Tensor<B, 3>, query: Tensor<B, 2>) -> Tensor<B, 3> {
        let d_locate = query.dims()[1];
        let keys = self.key.forward(patches); // [batch, n_patches, d_locate]
        let scores = query
            .unsqueeze::<3>()
            .matmul(keys.swap_dims(1, 2)) // [batch, n_clues, n_patches]
            / (d_locate as f64).sqrt();
        trrg_kernels::softmax(scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PromptEmbeddings;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    #[test]
    fn starts_at_zero_and_follows_the_evidence_patch() {
        let device = Default::default();
        let mut locator = ClueLocatorConfig::new(8, 6).init::<Flex>(&device);
        let prompts = PromptEmbeddings {
            positive: Tensor::random([3, 6], Distribution::Normal(0.0, 1.0), &device),
            negative: Tensor::random([3, 6], Distribution::Normal(0.0, 1.0), &device),
        };
        let patches = Tensor::<Flex, 3>::random([2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let out = locator.forward(patches.clone(), prompts.identity());
        assert_eq!(out.dims(), [2, 3]);
        assert_eq!(out.abs().max().into_scalar(), 0.0);

        // With a nonzero readout the logits depend on the patches, and permuting the patches
        // (the same evidence elsewhere) changes nothing: attention pooling is order-free.
        locator.readout = LinearConfig::new(6, 64).init(&device);
        let out = locator.forward(patches.clone(), prompts.identity());
        let flipped = locator.forward(patches.clone().flip([1]), prompts.identity());
        assert!((out.clone() - flipped).abs().max().into_scalar() < 1e-5);
        let other = locator.forward(patches.narrow(1, 0, 2), prompts.identity());
        assert!((out - other).abs().max().into_scalar() > 1e-4);
    }
}
