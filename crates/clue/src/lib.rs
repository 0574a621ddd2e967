//! TRRG's disease-clue injector, generic over Burn's backend.
//!
//! Stage 1 aligns images and report sentences ([`AlignmentHead`], [`info_nce`]); the aligned
//! pair then perceives diseases zero-shot from positive/negative prompts
//! ([`DiseaseSet`], [`PromptEmbeddings`], [`zero_shot_logits`]): `p_d = sigmoid(logit_d)`,
//! `[batch, n_clues]`. Stage 2 turns `p` into clue tokens `[batch, n_clues, d_model]`
//! ([`ClueEmbedder`]) and keeps them honest with [`consistency_loss`] against report labels.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::prelude::*;
//! use trrg_clue::*;
//!
//! let device = Default::default();
//! let set = DiseaseSet::chexpert();
//! let head = AlignmentConfig::new(64, 32).init::<Flex>(&device);
//! let pooled = Tensor::<Flex, 2>::ones([set.prompts().len(), 32], &device);
//! let prompts = PromptEmbeddings::from_pooled(&set, pooled)?;
//! let images = head.embed_images(Tensor::ones([2, 64], &device));
//! let logits = zero_shot_logits(&head, images, &prompts);
//! let clues = ClueEmbedderConfig::new(32, 48).init(&device).forward(burn::tensor::activation::sigmoid(logits), &prompts);
//! assert_eq!(clues.dims(), [2, 14, 48]);
//! # Ok::<(), trrg_clue::Error>(())
//! ```
#![warn(missing_docs)]

mod align;
mod consistency;
mod disease;
mod embed;
mod error;
mod locate;
mod perceive;
mod readout;
mod refine;
mod spatial;

pub use align::{info_nce, AlignmentConfig, AlignmentHead};
pub use consistency::{consistency_loss, BlankLabel, ConsistencyConfig, UncertainLabel};
pub use disease::{Disease, DiseaseSet};
pub use embed::{ClueEmbedder, ClueEmbedderConfig};
pub use error::{Error, Result};
pub use locate::{ClueLocator, ClueLocatorConfig};
pub use perceive::{whiten, zero_shot_logits, PromptEmbeddings, WHITEN_EPS, WHITEN_STEPS};
pub use readout::{ClueReadout, ClueReadoutConfig, ReadoutRows};
pub use refine::{ClueRefiner, ClueRefinerConfig};
pub use spatial::{pool_patch_grid, ClueSpatial, ClueSpatialConfig};
pub use trrg_labeler::DiseaseLabels;
