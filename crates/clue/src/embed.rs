//! The clue embedder: perception probabilities and prompt embeddings to clue tokens.

use burn::module::Param;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use trrg_kernels::{layer_norm, TrrgOps, LAYER_NORM_EPS};

use crate::PromptEmbeddings;

/// Clue embedder settings.
#[derive(Config, Debug)]
pub struct ClueEmbedderConfig {
    /// Width of the prompt (text) embeddings.
    pub d_text: usize,
    /// Width of the clue tokens.
    pub d_model: usize,
}

impl ClueEmbedderConfig {
    /// Builds the embedder.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> ClueEmbedder<B> {
        ClueEmbedder {
            prompt_proj: LinearConfig::new(self.d_text, self.d_model).init(device),
            identity_proj: LinearConfig::new(self.d_text, self.d_model).init(device),
            // Unit scale, like the normalized part, so the belief is visible from the first step.
            state: Initializer::Normal {
                mean: 0.0,
                std: 1.0,
            }
            .init([2, self.d_model], device),
            norm: LayerNormConfig::new(self.d_model)
                .with_epsilon(LAYER_NORM_EPS)
                .init(device),
        }
    }
}

/// Turns per-disease probabilities into clue tokens.
///
/// For disease `d` with probability `p_d`:
/// `clue_d = LN(W_p (p_d pos_d + (1 - p_d) neg_d) + W_i (pos_d + neg_d) / 2) + p_d s_present + (1 - p_d) s_absent`:
/// the probability-weighted prompt says what is believed, the mean prompt says which disease
/// this is (so any number of diseases works without per-disease parameters), and two learned
/// state vectors, added after the normalization and initialized at unit scale, carry the belief
/// itself strongly enough for the LLM to read it from the start (positive and negative prompts
/// differ by a word or two, so their embeddings alone separate the states only weakly).
#[derive(Module, Debug)]
pub struct ClueEmbedder<B: TrrgOps> {
    /// `W_p`, `[d_text, d_model]`
    pub prompt_proj: Linear<B>,
    /// `W_i`, `[d_text, d_model]`
    pub identity_proj: Linear<B>,
    /// `[s_present; s_absent]`, `[2, d_model]`
    pub state: Param<Tensor<B, 2>>,
    /// Output LayerNorm.
    pub norm: LayerNorm<B>,
}

impl<B: TrrgOps> ClueEmbedder<B> {
    /// Clue tokens.
    ///
    /// # Shapes
    /// - probabilities: `[batch, n_clues]`
    /// - output: `[batch, n_clues, d_model]`
    pub fn forward(
        &self,
        probabilities: Tensor<B, 2>,
        prompts: &PromptEmbeddings<B>,
    ) -> Tensor<B, 3> {
        let [batch, n_clues] = probabilities.dims();
        let d_model = self.state.dims()[1];
        let p = probabilities.reshape([batch, n_clues, 1]); // [batch, n_clues, 1]
        let q = p.clone().neg() + 1.0;
        let pos = prompts.positive.clone().unsqueeze::<3>(); // [1, n_clues, d_text]
        let neg = prompts.negative.clone().unsqueeze::<3>();
        let mix = p.clone() * pos + q.clone() * neg; // [batch, n_clues, d_text]
        let identity = self
            .identity_proj
            .forward(prompts.identity().unsqueeze::<3>()); // [1, n_clues, d_model]
        let state = self.state.val();
        let present = state.clone().narrow(0, 0, 1).reshape([1, 1, d_model]);
        let absent = state.narrow(0, 1, 1).reshape([1, 1, d_model]);
        let x = layer_norm(
            &self.norm,
            self.prompt_proj.forward(mix) + identity,
            LAYER_NORM_EPS,
        );
        x + p * present + q * absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    #[test]
    fn belief_moves_the_clue_token_by_the_state_difference() {
        let device = Default::default();
        let embedder = ClueEmbedderConfig::new(16, 32).init::<Flex>(&device);
        let prompts = PromptEmbeddings {
            positive: Tensor::random([3, 16], Distribution::Normal(0.0, 1.0), &device),
            negative: Tensor::random([3, 16], Distribution::Normal(0.0, 1.0), &device),
        };
        let present = embedder.forward(Tensor::ones([1, 3], &device), &prompts);
        let absent = embedder.forward(Tensor::zeros([1, 3], &device), &prompts);
        assert_eq!(present.dims(), [1, 3, 32]);
        // Per disease, the two states differ by at least the learned state difference minus the
        // normalized part's maximal change (2 * sqrt(d_model)).
        let state = embedder.state.val();
        let gap = (state.clone().narrow(0, 0, 1) - state.narrow(0, 1, 1))
            .powi_scalar(2)
            .sum()
            .sqrt()
            .into_scalar();
        let moved = (present - absent).powi_scalar(2).sum_dim(2).sqrt();
        let min_moved = moved.min().into_scalar();
        assert!(gap > 4.0, "unit-scale state vectors, gap {gap}");
        assert!(
            min_moved > 0.0,
            "a belief change must change every clue token"
        );
    }
}
