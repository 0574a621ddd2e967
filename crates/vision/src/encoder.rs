//! One type for any supported visual encoder.

use burn::prelude::*;

use crate::{Vit, VitConfig};

/// Output of a visual encoder.
#[derive(Clone, Debug)]
pub struct VisionOutput<B: Backend> {
    /// `[batch, n_patches, d_vision]`
    pub patch_tokens: Tensor<B, 3>,
    /// `[batch, d_vision]`
    pub global: Tensor<B, 2>,
}

/// Which encoder to build.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "architecture", rename_all = "snake_case")]
pub enum VisionEncoderConfig {
    /// A Vision Transformer.
    Vit(VitConfig),
}

impl VisionEncoderConfig {
    /// Token width of the encoder.
    pub fn d_vision(&self) -> usize {
        match self {
            Self::Vit(c) => c.hidden_size,
        }
    }

    /// Input channels the encoder is built for.
    pub fn channels(&self) -> usize {
        match self {
            Self::Vit(c) => c.num_channels,
        }
    }

    /// Builds the encoder with random weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> crate::Result<VisionEncoder<B>> {
        Ok(match self {
            Self::Vit(c) => VisionEncoder::Vit(c.init(device)?),
        })
    }
}

/// Any supported visual encoder.
#[derive(Module, Debug)]
pub enum VisionEncoder<B: Backend> {
    /// A Vision Transformer.
    Vit(Vit<B>),
}

impl<B: Backend> VisionEncoder<B> {
    /// Token width.
    pub fn d_vision(&self) -> usize {
        match self {
            Self::Vit(m) => m.d_vision(),
        }
    }

    /// Patch tokens and global token.
    ///
    /// # Shapes
    /// - images: `[batch, channels, height, width]`
    /// - output: see [`VisionOutput`]
    pub fn forward_features(&self, images: Tensor<B, 4>) -> crate::Result<VisionOutput<B>> {
        match self {
            Self::Vit(m) => m.forward_features(images),
        }
    }
}
