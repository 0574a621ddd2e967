//! Visual encoders for trrg, generic over Burn's backend.
//!
//! Every encoder maps images `[batch, channels, height, width]` to patch tokens
//! `[batch, n_patches, d_vision]` and a global token `[batch, d_vision]` ([`VisionOutput`]), the
//! two granularities TRRG's clue interaction attends to. [`VisionEncoder`] wraps the available
//! architectures so models can hold any of them; [`VisionEncoder::from_pretrained`] loads HF ViT
//! and Swin checkpoint directories.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::prelude::*;
//! use trrg_vision::VitConfig;
//!
//! let device = Default::default();
//! let vit = VitConfig::tiny().init::<Flex>(&device)?;
//! let out = vit.forward_features(Tensor::zeros([2, 1, 128, 128], &device))?;
//! assert_eq!(out.patch_tokens.dims(), [2, 64, 128]);
//! assert_eq!(out.global.dims(), [2, 128]);
//! # Ok::<(), trrg_vision::Error>(())
//! ```
#![warn(missing_docs)]

mod batch_norm;
mod efficientnet;
mod encoder;
mod error;
mod loader;
mod swin;
mod vit;

pub use efficientnet::{EfficientNet, EfficientNetConfig, MbConvBlock, SameConv};
pub use encoder::{VisionEncoder, VisionEncoderConfig, VisionOutput};
pub use error::{Error, Result};
pub use loader::{is_pytorch_checkpoint, VIT_LAYER_KEYS};
pub use swin::{PatchMerging, Swin, SwinBlock, SwinConfig, SwinStage, WindowAttention};
pub use vit::{Vit, VitConfig};
