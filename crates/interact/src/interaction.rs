//! The interaction module: its config, its output and the stack of blocks.

use burn::prelude::*;
use burn::tensor::TensorData;
use trrg_kernels::TrrgOps;

use crate::InteractionBlock;

/// Interaction settings.
#[derive(Config, Debug)]
pub struct InteractionConfig {
    /// Token width (visual and clue tokens are projected to it first).
    pub d_model: usize,
    /// Attention heads. Default 4.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Blocks `L`. Default 2.
    #[config(default = 2)]
    pub n_layers: usize,
    /// MLP inner width. Default 4 * d_model when `None`.
    #[config(default = "None")]
    pub d_ff_override: Option<usize>,
    /// Dropout. Default 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
}

impl InteractionConfig {
    /// MLP inner width.
    pub fn d_ff(&self) -> usize {
        self.d_ff_override.unwrap_or(4 * self.d_model)
    }

    /// Builds the module.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> ClueInteraction<B> {
        ClueInteraction {
            blocks: (0..self.n_layers)
                .map(|_| InteractionBlock::new(self, device))
                .collect(),
        }
    }
}

/// Fused tokens.
#[derive(Clone, Debug)]
pub struct InteractionOutput<B: TrrgOps> {
    /// `[batch, n_global, d_model]`
    pub global: Tensor<B, 3>,
    /// `[batch, n_patches, d_model]`
    pub patches: Tensor<B, 3>,
    /// `[batch, n_clues, d_model]`
    pub clues: Tensor<B, 3>,
}

/// The interaction module.
#[derive(Module, Debug)]
pub struct ClueInteraction<B: TrrgOps> {
    /// The `L` blocks.
    pub blocks: Vec<InteractionBlock<B>>,
}

impl<B: TrrgOps> ClueInteraction<B> {
    /// Runs the blocks.
    ///
    /// # Shapes
    /// - global: `[batch, n_global, d_model]`
    /// - patches: `[batch, n_patches, d_model]`
    /// - clues: `[batch, n_clues, d_model]`, n_clues may be 0
    /// - clue_padding: `[batch, n_clues]`, true for padding clues (None = all real)
    /// - output: [`InteractionOutput`], same shapes
    pub fn forward(
        &self,
        global: Tensor<B, 3>,
        patches: Tensor<B, 3>,
        clues: Tensor<B, 3>,
        clue_padding: Option<Tensor<B, 2, Bool>>,
    ) -> InteractionOutput<B> {
        let [batch, n_clues, _] = clues.dims();
        let device = clues.device();
        let (mut global, mut patches, mut clues) = (global, patches, clues);
        if n_clues == 0 {
            for block in &self.blocks {
                (global, patches) = block.forward_visual_only(global, patches);
            }
            return InteractionOutput {
                global,
                patches,
                clues,
            };
        }
        let padding = clue_padding.unwrap_or_else(|| {
            Tensor::from_data(
                TensorData::new(vec![false; batch * n_clues], [batch, n_clues]),
                &device,
            )
        });
        let present = padding
            .clone()
            .bool_not()
            .float()
            .sum_dim(1)
            .clamp_max(1.0)
            .reshape([batch, 1, 1]); // [batch, 1, 1]
        for block in &self.blocks {
            (global, patches, clues) =
                block.forward(global, patches, clues, padding.clone(), present.clone());
        }
        InteractionOutput {
            global,
            patches,
            clues,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    type B = Flex;

    fn inputs(n_clues: usize) -> (Tensor<B, 3>, Tensor<B, 3>, Tensor<B, 3>) {
        let device = Default::default();
        let r = |shape: [usize; 3]| {
            Tensor::<B, 3>::random(shape, Distribution::Normal(0.0, 1.0), &device)
        };
        (r([3, 2, 32]), r([3, 8, 32]), r([3, n_clues, 32]))
    }

    use trrg_testutil::max_diff;

    #[test]
    fn shapes_for_any_number_of_clues() {
        let module = InteractionConfig::new(32)
            .with_dropout(0.0)
            .init::<B>(&Default::default());
        for n in [0, 1, 14, 18] {
            let (g, p, c) = inputs(n);
            let out = module.forward(g, p, c, None);
            assert_eq!(out.global.dims(), [3, 2, 32]);
            assert_eq!(out.patches.dims(), [3, 8, 32]);
            assert_eq!(out.clues.dims(), [3, n, 32]);
        }
    }

    #[test]
    fn padding_clues_changes_nothing() {
        let device = Default::default();
        let module = InteractionConfig::new(32)
            .with_dropout(0.0)
            .init::<B>(&device);
        let (g, p, c) = inputs(14);
        let plain = module.forward(g.clone(), p.clone(), c.clone(), None);
        let extra = Tensor::<B, 3>::random([3, 4, 32], Distribution::Normal(0.0, 5.0), &device);
        let padded_clues = Tensor::cat(vec![c, extra], 1);
        let mut mask = vec![false; 3 * 18];
        for row in 0..3 {
            for j in 14..18 {
                mask[row * 18 + j] = true;
            }
        }
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(mask, [3, 18]), &device);
        let padded = module.forward(g, p, padded_clues, Some(mask));
        assert!(max_diff(plain.global, padded.global) < 1e-6);
        assert!(max_diff(plain.patches, padded.patches) < 1e-6);
        assert!(max_diff(plain.clues, padded.clues.narrow(1, 0, 14)) < 1e-6);
    }

    #[test]
    fn all_padding_equals_no_clues_and_batch_rows_are_independent() {
        let device = Default::default();
        let module = InteractionConfig::new(32)
            .with_dropout(0.0)
            .init::<B>(&device);
        let (g, p, c) = inputs(5);
        let none = module.forward(
            g.clone(),
            p.clone(),
            Tensor::zeros([3, 0, 32], &device),
            None,
        );
        let all_pad =
            Tensor::<B, 2, Bool>::from_data(TensorData::new(vec![true; 15], [3, 5]), &device);
        let padded = module.forward(g.clone(), p.clone(), c.clone(), Some(all_pad));
        assert!(max_diff(none.patches, padded.patches) < 1e-5);
        let full = module.forward(g.clone(), p.clone(), c.clone(), None);
        let row = module.forward(
            g.narrow(0, 1, 1),
            p.narrow(0, 1, 1),
            c.narrow(0, 1, 1),
            None,
        );
        assert!(max_diff(full.clues.narrow(0, 1, 1), row.clues) < 1e-5);
    }
}
