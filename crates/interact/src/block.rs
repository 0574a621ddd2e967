//! One interaction block.

use burn::nn::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use trrg_io::random::dropout;
use trrg_kernels::{gelu, layer_norm, TrrgOps, LAYER_NORM_EPS};

use crate::InteractionConfig;

/// Pre-LN two-layer GELU MLP with a residual.
#[derive(Module, Debug)]
pub struct FeedForward<B: TrrgOps> {
    norm: LayerNorm<B>,
    inner: Linear<B>,
    outer: Linear<B>,
    dropout: Dropout,
}

impl<B: TrrgOps> FeedForward<B> {
    fn new(config: &InteractionConfig, device: &B::Device) -> Self {
        Self {
            norm: LayerNormConfig::new(config.d_model)
                .with_epsilon(LAYER_NORM_EPS)
                .init(device),
            inner: LinearConfig::new(config.d_model, config.d_ff()).init(device),
            outer: LinearConfig::new(config.d_ff(), config.d_model).init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// `x + MLP(LN(x))`.
    ///
    /// # Shapes
    /// - x: `[batch, n, d_model]` -> `[batch, n, d_model]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = self.outer.forward(gelu(self.inner.forward(layer_norm(
            &self.norm,
            x.clone(),
            LAYER_NORM_EPS,
        ))));
        x + dropout(&self.dropout, h)
    }
}

/// Pre-LN cross-attention with a residual: `q + Attn(LN(q), LN(kv))`.
#[derive(Module, Debug)]
pub struct CrossAttentionBlock<B: TrrgOps> {
    norm_q: LayerNorm<B>,
    norm_kv: LayerNorm<B>,
    attention: MultiHeadAttention<B>,
    dropout: Dropout,
}

impl<B: TrrgOps> CrossAttentionBlock<B> {
    fn new(config: &InteractionConfig, device: &B::Device) -> Self {
        Self {
            norm_q: LayerNormConfig::new(config.d_model)
                .with_epsilon(LAYER_NORM_EPS)
                .init(device),
            norm_kv: LayerNormConfig::new(config.d_model)
                .with_epsilon(LAYER_NORM_EPS)
                .init(device),
            attention: MultiHeadAttentionConfig::new(config.d_model, config.n_heads)
                .with_dropout(config.dropout)
                // f16's lowest finite value, as `trrg_llm::MASKED_SCORE`: finite in every
                // float type, so fully masked rows give no NaN in f16.
                .with_min_float(-65504.0)
                .init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// # Shapes
    /// - query: `[batch, n_q, d_model]`
    /// - kv: `[batch, n_kv, d_model]`
    /// - kv_padding: `[batch, n_kv]`, true where a key is padding
    /// - output: `[batch, n_q, d_model]`
    fn forward(
        &self,
        query: Tensor<B, 3>,
        kv: Tensor<B, 3>,
        kv_padding: Option<Tensor<B, 2, Bool>>,
    ) -> Tensor<B, 3> {
        let q = layer_norm(&self.norm_q, query.clone(), LAYER_NORM_EPS);
        let kv = layer_norm(&self.norm_kv, kv, LAYER_NORM_EPS);
        let context = attend(&self.attention, q, kv, kv_padding);
        query + dropout(&self.dropout, context)
    }
}

/// `MultiHeadAttention::forward` of burn 0.21 on `(query, kv, kv)` with a padding mask
/// ([`trrg_kernels::nn::attention`]), with the dropout mask drawn through [`trrg_io::random`],
/// so that workers running side by side draw from their own streams.
///
/// # Shapes
/// - query: `[batch, n_q, d_model]`, kv: `[batch, n_kv, d_model]`, padding: `[batch, n_kv]`
/// - output: `[batch, n_q, d_model]`
fn attend<B: TrrgOps>(
    mha: &MultiHeadAttention<B>,
    query: Tensor<B, 3>,
    kv: Tensor<B, 3>,
    padding: Option<Tensor<B, 2, Bool>>,
) -> Tensor<B, 3> {
    trrg_kernels::nn::attention(mha, query, kv, padding, |scores| {
        dropout(&mha.dropout, scores)
    })
}

/// Clue tokens read the global tokens, then the patch tokens; visual tokens (global and patch)
/// read the clues; then each side goes through its MLP.
#[derive(Module, Debug)]
pub struct InteractionBlock<B: TrrgOps> {
    /// Clues attend to the global (per-view) tokens.
    pub clue_from_global: CrossAttentionBlock<B>,
    /// Clues attend to the patch tokens.
    pub clue_from_patches: CrossAttentionBlock<B>,
    /// Visual tokens attend to the clues.
    pub visual_from_clues: CrossAttentionBlock<B>,
    /// MLP of the clue tokens.
    pub clue_ffn: FeedForward<B>,
    /// MLP of the visual tokens.
    pub visual_ffn: FeedForward<B>,
}

impl<B: TrrgOps> InteractionBlock<B> {
    pub(crate) fn new(config: &InteractionConfig, device: &B::Device) -> Self {
        Self {
            clue_from_global: CrossAttentionBlock::new(config, device),
            clue_from_patches: CrossAttentionBlock::new(config, device),
            visual_from_clues: CrossAttentionBlock::new(config, device),
            clue_ffn: FeedForward::new(config, device),
            visual_ffn: FeedForward::new(config, device),
        }
    }

    /// The block without clues: the visual tokens pass through the visual MLP only.
    ///
    /// # Shapes
    /// - global: `[batch, n_global, d_model]`, patches: `[batch, n_patches, d_model]`, both
    ///   kept
    pub fn forward_visual_only(
        &self,
        global: Tensor<B, 3>,
        patches: Tensor<B, 3>,
    ) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let n_global = global.dims()[1];
        let visual = self
            .visual_ffn
            .forward(Tensor::cat(vec![global, patches], 1));
        let n_patches = visual.dims()[1] - n_global;
        (
            visual.clone().narrow(1, 0, n_global),
            visual.narrow(1, n_global, n_patches),
        )
    }

    /// # Shapes
    /// - global: `[batch, n_global, d_model]`, patches: `[batch, n_patches, d_model]`
    /// - clues: `[batch, n_clues, d_model]` (n_clues > 0), clue_padding: `[batch, n_clues]`
    /// - clue_present: `[batch, 1, 1]`, 0 for rows whose clues are all padding
    /// - output: (global, patches, clues) with the input shapes
    pub(crate) fn forward(
        &self,
        global: Tensor<B, 3>,
        patches: Tensor<B, 3>,
        clues: Tensor<B, 3>,
        clue_padding: Tensor<B, 2, Bool>,
        clue_present: Tensor<B, 3>,
    ) -> (Tensor<B, 3>, Tensor<B, 3>, Tensor<B, 3>) {
        let n_global = global.dims()[1];
        let clues = self.clue_from_global.forward(clues, global.clone(), None);
        let clues = self.clue_from_patches.forward(clues, patches.clone(), None);
        let visual = Tensor::cat(vec![global, patches], 1); // [batch, n_global + n_patches, d_model]
        let updated =
            self.visual_from_clues
                .forward(visual.clone(), clues.clone(), Some(clue_padding));
        // A row without any real clue has nothing to read: keep its visual tokens.
        let visual = visual.clone() + (updated - visual) * clue_present;
        let visual = self.visual_ffn.forward(visual);
        let clues = self.clue_ffn.forward(clues);
        let n_patches = visual.dims()[1] - n_global;
        (
            visual.clone().narrow(1, 0, n_global),
            visual.narrow(1, n_global, n_patches),
            clues,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use burn::nn::attention::MhaInput;
    use burn::tensor::Distribution;
    use trrg_io::random::with_stream;

    type A = Autodiff<Flex>;

    fn values(t: Tensor<A, 3>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// `attend` is burn's `MultiHeadAttention::forward` to 1e-6 (the fused attention sums in
    /// another order), in training (with the dropout at 0: the backend's generator is one per
    /// process, which tests on other threads draw from) and in inference, with and without
    /// padding; with a dropout, a stream's draws move the output and repeat.
    #[test]
    fn attend_is_burns_multi_head_attention() {
        let device = Default::default();
        let mha = MultiHeadAttentionConfig::new(16, 4)
            .with_min_float(-65504.0)
            .with_dropout(0.0)
            .init::<A>(&device);
        let q = Tensor::<A, 3>::random([2, 3, 16], Distribution::Normal(0.0, 1.0), &device);
        let kv = Tensor::<A, 3>::random([2, 5, 16], Distribution::Normal(0.0, 1.0), &device);
        let padding = Tensor::<A, 2, Bool>::from_data(
            [[false; 5], [false, false, true, true, true]],
            &device,
        );
        let burns = |mha: &MultiHeadAttention<A>, pad: Option<Tensor<A, 2, Bool>>| {
            let mut input = MhaInput::new(q.clone(), kv.clone(), kv.clone());
            if let Some(mask) = pad {
                input = input.mask_pad(mask);
            }
            values(mha.forward(input).context)
        };
        for pad in [None, Some(padding.clone())] {
            let ours = values(attend(&mha, q.clone(), kv.clone(), pad.clone()));
            for (a, b) in ours.iter().zip(burns(&mha, pad.clone())) {
                assert!((a - b).abs() <= 1e-6, "{a} against burn's {b}");
            }
            let inner = mha.valid();
            let mut input =
                MhaInput::new(q.clone().inner(), kv.clone().inner(), kv.clone().inner());
            if let Some(mask) = pad.clone() {
                input = input.mask_pad(mask.inner());
            }
            let ours = attend(
                &inner,
                q.clone().inner(),
                kv.clone().inner(),
                pad.map(|p| p.inner()),
            );
            let burns = inner.forward(input).context;
            let diff = (ours - burns).abs().max().into_scalar();
            assert!(diff <= 1e-6, "inference: {diff} from burn's");
        }
        let plain = values(attend(&mha, q.clone(), kv.clone(), Some(padding.clone())));
        let mut dropped = mha;
        dropped.dropout = burn::nn::DropoutConfig::new(0.3).init();
        let run = |seed| {
            with_stream(seed, || {
                values(attend(
                    &dropped,
                    q.clone(),
                    kv.clone(),
                    Some(padding.clone()),
                ))
            })
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        assert_ne!(run(1), plain);
    }
}
