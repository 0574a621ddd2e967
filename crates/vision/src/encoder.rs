//! One type for any supported visual encoder.

use burn::prelude::*;
use trrg_kernels::TrrgOps;

use crate::{EfficientNet, EfficientNetConfig, Swin, SwinConfig, Vit, VitConfig};

/// Output of a visual encoder.
#[derive(Clone, Debug)]
pub struct VisionOutput<B: TrrgOps> {
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
    /// A Swin Transformer.
    Swin(SwinConfig),
    /// EfficientNet-Lite0.
    EfficientNet(EfficientNetConfig),
}

impl VisionEncoderConfig {
    /// Token width of the encoder.
    pub fn d_vision(&self) -> usize {
        match self {
            Self::Vit(c) => c.hidden_size,
            Self::Swin(c) => c.num_features(),
            Self::EfficientNet(c) => c.d_vision(),
        }
    }

    /// Nominal input side in pixels.
    pub fn image_size(&self) -> usize {
        match self {
            Self::Vit(c) => c.image_size,
            Self::Swin(c) => c.image_size,
            Self::EfficientNet(c) => c.image_size,
        }
    }

    /// Sets the input channels (1 for gray radiographs) and the nominal side in pixels.
    pub fn set_input(&mut self, channels: usize, image_size: usize) {
        match self {
            Self::Vit(c) => (c.num_channels, c.image_size) = (channels, image_size),
            Self::Swin(c) => (c.num_channels, c.image_size) = (channels, image_size),
            Self::EfficientNet(c) => (c.num_channels, c.image_size) = (channels, image_size),
        }
    }

    /// Input channels the encoder is built for.
    pub fn channels(&self) -> usize {
        match self {
            Self::Vit(c) => c.num_channels,
            Self::Swin(c) => c.num_channels,
            Self::EfficientNet(c) => c.num_channels,
        }
    }

    /// Builds the encoder with random weights.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> crate::Result<VisionEncoder<B>> {
        Ok(match self {
            Self::Vit(c) => VisionEncoder::Vit(c.init(device)?),
            Self::Swin(c) => VisionEncoder::Swin(c.init(device)?),
            Self::EfficientNet(c) => VisionEncoder::EfficientNet(c.init(device)?),
        })
    }
}

/// Any supported visual encoder.
#[derive(Module, Debug)]
pub enum VisionEncoder<B: TrrgOps> {
    /// A Vision Transformer.
    Vit(Vit<B>),
    /// A Swin Transformer.
    Swin(Swin<B>),
    /// EfficientNet-Lite0.
    EfficientNet(EfficientNet<B>),
}

impl<B: TrrgOps> VisionEncoder<B> {
    /// Token width.
    pub fn d_vision(&self) -> usize {
        match self {
            Self::Vit(m) => m.d_vision(),
            Self::Swin(m) => m.d_vision(),
            Self::EfficientNet(m) => m.d_vision(),
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
            Self::Swin(m) => m.forward_features(images),
            Self::EfficientNet(m) => m.forward_features(images),
        }
    }
}
