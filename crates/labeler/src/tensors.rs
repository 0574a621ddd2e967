//! Disease labels of a batch as tensors, as the batcher builds them and the clue losses consume
//! them (the `burn` feature).

use burn::prelude::*;

/// Disease labels of a batch (built by `trrg-data`'s batcher, consumed by `trrg-clue`'s
/// consistency and alignment losses).
#[derive(Clone, Debug)]
pub struct DiseaseLabels<B: Backend> {
    /// - values: `[batch, n_clues]`: 1 positive, 0 negative, -1 uncertain, 0 where blank.
    pub values: Tensor<B, 2>,
    /// - known: `[batch, n_clues]`: false where the label is blank.
    pub known: Tensor<B, 2, Bool>,
}
