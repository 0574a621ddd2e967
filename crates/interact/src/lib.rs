//! TRRG's cross-modal clue interaction module, generic over Burn's backend.
//!
//! `L` blocks; in each, clue tokens attend to the global visual tokens and then to the patch
//! tokens (two granularities), visual tokens attend to the clue tokens (padded clues masked), and
//! both sides pass through a pre-LN MLP, all with residuals. Any number of clues works,
//! including none (the visual tokens then pass through the MLPs only).
//!
//! ```
//! use burn::backend::Flex;
//! use burn::prelude::*;
//! use trrg_interact::InteractionConfig;
//!
//! let device = Default::default();
//! let module = InteractionConfig::new(32).init::<Flex>(&device);
//! let out = module.forward(
//!     Tensor::zeros([2, 2, 32], &device),   // global tokens of two views
//!     Tensor::zeros([2, 16, 32], &device),  // patch tokens
//!     Tensor::zeros([2, 14, 32], &device),  // clue tokens
//!     None,
//! );
//! assert_eq!(out.clues.dims(), [2, 14, 32]);
//! ```
#![warn(missing_docs)]

mod block;
mod interaction;

pub use block::{CrossAttentionBlock, FeedForward, InteractionBlock};
pub use interaction::{ClueInteraction, InteractionConfig, InteractionOutput};
