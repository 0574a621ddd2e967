//! Vision Transformer (HF `ViTModel`): patch embedding, CLS token, learned positions
//! (interpolated for other image sizes), pre-LN encoder blocks with GELU, final LayerNorm; for
//! training from scratch, an optional convolutional stem (with optional BatchNorm).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, LayerNorm, LayerNormConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use trrg_kernels::nn::transformer_encoder;
use trrg_kernels::{layer_norm, TrrgOps};

use crate::batch_norm::batch_norm_2d;
use crate::{Error, VisionOutput};

/// ViT configuration, with HF `ViTConfig` field names.
#[derive(Config, Debug)]
pub struct VitConfig {
    /// Input side in pixels the position table is made for. Default 224.
    #[config(default = 224)]
    pub image_size: usize,
    /// Patch side in pixels. Default 16.
    #[config(default = 16)]
    pub patch_size: usize,
    /// Channels the patch embedding expects. Default 3.
    #[config(default = 3)]
    pub num_channels: usize,
    /// Token width `d_vision`. Default 768.
    #[config(default = 768)]
    pub hidden_size: usize,
    /// Encoder blocks. Default 12.
    #[config(default = 12)]
    pub num_hidden_layers: usize,
    /// Attention heads. Default 12.
    #[config(default = 12)]
    pub num_attention_heads: usize,
    /// MLP inner width. Default 3072.
    #[config(default = 3072)]
    pub intermediate_size: usize,
    /// LayerNorm epsilon. Default 1e-12.
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Dropout inside the blocks. Default 0.
    #[config(default = 0.0)]
    pub hidden_dropout_prob: f64,
    /// Output channels of a convolutional stem before the patch projection: one 3x3, stride 2
    /// convolution with GELU per entry, after which the projection's kernel and stride shrink to
    /// `patch_size / 2^len`, so the patch grid stays the same (Xiao et al. 2021, "Early
    /// convolutions help transformers see better"). Not part of HF's ViT: empty (default) is
    /// HF's linear patchify, and HF checkpoints load only without a stem.
    #[config(default = "Vec::new()")]
    pub conv_stem: Vec<usize>,
    /// BatchNorm after each stem convolution, before its GELU, as in Xiao et al.'s stem: batch
    /// statistics in training (on an autodiff backend), running statistics otherwise. Without
    /// it, a stem trained from scratch learns slowly (docs/results.md). Default false.
    #[config(default = false)]
    pub conv_stem_norm: bool,
}

impl VitConfig {
    /// A small ViT for CPU training from scratch: 128 px, 16 px patches (64 patch tokens),
    /// width 128, 4 blocks of 4 heads, one input channel (radiographs are gray).
    pub fn tiny() -> Self {
        Self::new()
            .with_image_size(128)
            .with_num_channels(1)
            .with_hidden_size(128)
            .with_num_hidden_layers(4)
            .with_num_attention_heads(4)
            .with_intermediate_size(256)
            .with_layer_norm_eps(1e-6)
    }

    /// ViT-B/16 at 224 px (`google/vit-base-patch16-224-in21k`).
    pub fn base_patch16_224() -> Self {
        Self::new()
    }

    /// Checks that the shapes fit together.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.patch_size == 0 || !self.image_size.is_multiple_of(self.patch_size) {
            return bad(
                "patch_size",
                format!(
                    "{} must divide image_size {}",
                    self.patch_size, self.image_size
                ),
            );
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return bad(
                "num_attention_heads",
                format!(
                    "{} must divide hidden_size {}",
                    self.num_attention_heads, self.hidden_size
                ),
            );
        }
        let reduction = 1usize << self.conv_stem.len().min(16);
        if self.conv_stem.len() > 16
            || !self.patch_size.is_multiple_of(reduction)
            || self.conv_stem.contains(&0)
        {
            return bad(
                "conv_stem",
                format!(
                    "{} stride-2 convolutions need a patch_size divisible by 2^{0} (got {}) and \
                     nonzero channel counts",
                    self.conv_stem.len(),
                    self.patch_size
                ),
            );
        }
        if !matches!(self.num_channels, 1 | 3) {
            return bad(
                "num_channels",
                format!("{} must be 1 or 3", self.num_channels),
            );
        }
        Ok(())
    }

    /// Builds the encoder with random weights.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> crate::Result<Vit<B>> {
        self.validate()?;
        let grid = self.image_size / self.patch_size;
        let d = self.hidden_size;
        let normal = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let mut channels = self.num_channels;
        let stem = self
            .conv_stem
            .iter()
            .map(|&out| {
                let conv = Conv2dConfig::new([channels, out], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device);
                channels = out;
                conv
            })
            .collect();
        let kernel = self.patch_size >> self.conv_stem.len();
        let stem_norm = match self.conv_stem_norm {
            true => self
                .conv_stem
                .iter()
                .map(|&c| BatchNormConfig::new(c).init(device))
                .collect(),
            false => Vec::new(),
        };
        Ok(Vit {
            stem,
            stem_norm,
            patch_embedding: Conv2dConfig::new([channels, d], [kernel, kernel])
                .with_stride([kernel, kernel])
                .init(device),
            cls_token: normal.init([1, 1, d], device),
            position_embeddings: normal.init([1, grid * grid + 1, d], device),
            encoder: TransformerEncoderConfig::new(
                d,
                self.intermediate_size,
                self.num_attention_heads,
                self.num_hidden_layers,
            )
            .with_norm_first(true)
            .with_dropout(self.hidden_dropout_prob)
            .with_layer_norm_eps(self.layer_norm_eps)
            .init(device),
            layernorm: LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device),
            patch_size: self.patch_size,
            num_channels: self.num_channels,
            layer_norm_eps: self.layer_norm_eps,
        })
    }
}

/// The ViT encoder.
#[derive(Module, Debug)]
pub struct Vit<B: TrrgOps> {
    /// Convolutional stem (3x3, stride 2, GELU), empty for HF's ViT.
    pub stem: Vec<Conv2d<B>>,
    /// One BatchNorm per stem convolution with `conv_stem_norm`, empty otherwise.
    pub stem_norm: Vec<BatchNorm<B>>,
    /// Patch projection, `[d_vision, channels, k, k]` with stride `k` = the patch side divided
    /// by the stem's reduction.
    pub patch_embedding: Conv2d<B>,
    /// `[1, 1, d_vision]`
    pub cls_token: Param<Tensor<B, 3>>,
    /// `[1, 1 + n_patches, d_vision]` for the configured image size.
    pub position_embeddings: Param<Tensor<B, 3>>,
    /// Pre-LN transformer blocks.
    pub encoder: TransformerEncoder<B>,
    /// Final LayerNorm.
    pub layernorm: LayerNorm<B>,
    patch_size: usize,
    num_channels: usize,
    /// The LayerNorms' epsilon (burn keeps the modules' own private).
    layer_norm_eps: f64,
}

impl<B: TrrgOps> Vit<B> {
    /// Token width.
    pub fn d_vision(&self) -> usize {
        self.cls_token.dims()[2]
    }

    /// Position table for a `grid_h x grid_w` patch grid: the stored one, or its bicubic
    /// interpolation with half-pixel
    /// centers (as HF's `interpolate_pos_encoding`).
    fn positions(&self, grid_h: usize, grid_w: usize) -> Tensor<B, 3> {
        let table = self.position_embeddings.val();
        let [_, n, d] = table.dims();
        if n == grid_h * grid_w + 1 && grid_h == grid_w {
            return table;
        }
        let side = ((n - 1) as f64).sqrt().round() as usize;
        let cls = table.clone().narrow(1, 0, 1);
        let grid = table
            .narrow(1, 1, n - 1)
            .reshape([1, side, side, d])
            .permute([0, 3, 1, 2]); // [1, d_vision, side, side]
        let grid = interpolate(
            grid,
            [grid_h, grid_w],
            InterpolateOptions::new(InterpolateMode::Bicubic).with_align_corners(false),
        )
        .permute([0, 2, 3, 1])
        .reshape([1, grid_h * grid_w, d]); // [1, n_patches, d_vision]
        Tensor::cat(vec![cls, grid], 1)
    }

    /// Patch tokens and the global (CLS) token, both after the final LayerNorm.
    ///
    /// One-channel images feed a three-channel patch embedding by repeating the gray value
    /// (the same as summing the weights over input channels).
    ///
    /// # Shapes
    /// - images: `[batch, channels, height, width]`, height and width multiples of the patch
    /// - output.patch_tokens: `[batch, n_patches, d_vision]`
    /// - output.global: `[batch, d_vision]`
    pub fn forward_features(&self, images: Tensor<B, 4>) -> crate::Result<VisionOutput<B>> {
        let [batch, _, height, width] = images.dims();
        let p = self.patch_size;
        if height % p != 0 || width % p != 0 || height == 0 || width == 0 {
            return Err(Error::Shape {
                what: "images",
                reason: format!("{height}x{width} is not a multiple of the {p} px patch"),
            });
        }
        let mut images = match_channels(images, self.num_channels)?;
        for (i, conv) in self.stem.iter().enumerate() {
            images = conv.forward(images);
            if let Some(norm) = self.stem_norm.get(i) {
                images = batch_norm_2d(norm, images);
            }
            images = trrg_kernels::gelu(images); // [batch, stem channels, height / 2^k, width / 2^k]
        }
        let (gh, gw) = (height / p, width / p);
        let d = self.d_vision();
        let patches = self
            .patch_embedding
            .forward(images) // [batch, d_vision, gh, gw]
            .reshape([batch, d, gh * gw])
            .swap_dims(1, 2); // [batch, n_patches, d_vision]
        let cls = self.cls_token.val().expand([batch, 1, d]);
        let tokens = Tensor::cat(vec![cls, patches], 1) + self.positions(gh, gw);
        let eps = self.layer_norm_eps;
        let hidden = transformer_encoder(&self.encoder, tokens, None, eps);
        let hidden = layer_norm(&self.layernorm, hidden, eps); // [batch, 1 + n_patches, d_vision]
        Ok(VisionOutput {
            global: hidden.clone().narrow(1, 0, 1).reshape([batch, d]),
            patch_tokens: hidden.narrow(1, 1, gh * gw),
        })
    }
}

/// Feeds `images` to an encoder built for `expected` channels: equal counts pass, one gray
/// channel is repeated for a three-channel encoder (the same as summing the pretrained weights
/// over input channels), anything else (or an empty image) is an error.
pub(crate) fn match_channels<B: TrrgOps>(
    images: Tensor<B, 4>,
    expected: usize,
) -> crate::Result<Tensor<B, 4>> {
    let [_, channels, height, width] = images.dims();
    if height == 0 || width == 0 {
        return Err(Error::Shape {
            what: "images",
            reason: format!("{height}x{width} is empty"),
        });
    }
    match (channels, expected) {
        (c, e) if c == e => Ok(images),
        (1, 3) => Ok(images.repeat_dim(1, 3)),
        (c, e) => Err(Error::Shape {
            what: "images",
            reason: format!("{c} channels, the encoder takes {e} (or 1 for 3)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn a_conv_stem_keeps_the_patch_grid_and_is_checked() {
        let device = Default::default();
        let config = VitConfig::tiny()
            .with_image_size(32)
            .with_hidden_size(16)
            .with_num_hidden_layers(1)
            .with_intermediate_size(32);
        let stem = config.clone().with_conv_stem(vec![4, 8, 8]);
        let images = Tensor::<Flex, 4>::ones([2, 1, 32, 32], &device);
        let plain = config.init::<Flex>(&device).unwrap();
        let with_stem = stem.init::<Flex>(&device).unwrap();
        assert_eq!(with_stem.stem.len(), 3);
        assert!(with_stem.stem_norm.is_empty());
        let normed = stem
            .clone()
            .with_conv_stem_norm(true)
            .init::<Flex>(&device)
            .unwrap();
        assert_eq!(normed.stem_norm.len(), 3);
        let tokens = normed
            .forward_features(images.clone())
            .unwrap()
            .patch_tokens;
        assert_eq!(tokens.dims(), [2, 4, 16]);
        assert_eq!(with_stem.patch_embedding.weight.dims(), [16, 8, 2, 2]);
        assert_eq!(
            with_stem
                .forward_features(images.clone())
                .unwrap()
                .patch_tokens
                .dims(),
            plain.forward_features(images).unwrap().patch_tokens.dims()
        );
        let error = stem
            .with_conv_stem(vec![4; 5])
            .init::<Flex>(&device)
            .unwrap_err()
            .to_string();
        assert!(error.contains("conv_stem"), "{error}");
    }
}
