//! Swin Transformer (HF `SwinModel`): patch embedding with LayerNorm, stages of windowed
//! attention with a relative position bias, shifted windows with the attention mask, patch
//! merging between stages, final LayerNorm and average pooling.
//!
//! Feature maps that are not a multiple of the window are zero-padded after `layernorm_before`
//! (the padded tokens take part in attention, unmasked, as in HF); odd maps are padded before
//! patch merging; a stage whose map is no larger than the window uses one unshifted window.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Gelu, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::ops::PadMode;
use burn::tensor::{Int, TensorData};
use trrg_kernels::TrrgOps;

use crate::{Error, VisionOutput};

/// Swin configuration, with HF `SwinConfig` field names.
#[derive(Config, Debug)]
pub struct SwinConfig {
    /// Nominal input side in pixels (any size at least one window per stage works). Default 224.
    #[config(default = 224)]
    pub image_size: usize,
    /// Patch side in pixels. Default 4.
    #[config(default = 4)]
    pub patch_size: usize,
    /// Channels the patch embedding expects. Default 3.
    #[config(default = 3)]
    pub num_channels: usize,
    /// Width of the first stage; doubles at each patch merging. Default 96.
    #[config(default = 96)]
    pub embed_dim: usize,
    /// Blocks per stage. Default `[2, 2, 6, 2]` (Swin-T).
    #[config(default = "vec![2, 2, 6, 2]")]
    pub depths: Vec<usize>,
    /// Attention heads per stage. Default `[3, 6, 12, 24]`.
    #[config(default = "vec![3, 6, 12, 24]")]
    pub num_heads: Vec<usize>,
    /// Window side in tokens. Default 7.
    #[config(default = 7)]
    pub window_size: usize,
    /// MLP width over token width. Default 4.
    #[config(default = 4.0)]
    pub mlp_ratio: f64,
    /// LayerNorm epsilon. Default 1e-5.
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
}

impl SwinConfig {
    /// Swin-T (`microsoft/swin-tiny-patch4-window7-224`).
    pub fn tiny_patch4_window7_224() -> Self {
        Self::new()
    }

    /// Swin-B (`microsoft/swin-base-patch4-window7-224`), R2GenGPT's and TRRG's encoder.
    pub fn base_patch4_window7_224() -> Self {
        Self::new()
            .with_embed_dim(128)
            .with_depths(vec![2, 2, 18, 2])
            .with_num_heads(vec![4, 8, 16, 32])
    }

    /// Width of the output tokens: `embed_dim * 2^(stages - 1)`.
    pub fn num_features(&self) -> usize {
        self.embed_dim << self.depths.len().saturating_sub(1)
    }

    /// Checks that the shapes fit together.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.depths.is_empty() || self.depths.len() != self.num_heads.len() {
            return bad(
                "depths",
                format!(
                    "{} stages but {} num_heads entries; both must be equal and non-zero",
                    self.depths.len(),
                    self.num_heads.len()
                ),
            );
        }
        for (stage, &heads) in self.num_heads.iter().enumerate() {
            let dim = self.embed_dim << stage;
            if heads == 0 || !dim.is_multiple_of(heads) {
                return bad(
                    "num_heads",
                    format!("{heads} heads in stage {stage} must divide its width {dim}"),
                );
            }
        }
        if self.patch_size == 0 || self.window_size == 0 {
            return bad(
                "patch_size",
                "patch_size and window_size must be positive".into(),
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
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> crate::Result<Swin<B>> {
        self.validate()?;
        let norm = |d| {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let stages = self
            .depths
            .iter()
            .zip(&self.num_heads)
            .enumerate()
            .map(|(i, (&depth, &heads))| {
                let dim = self.embed_dim << i;
                let blocks = (0..depth)
                    .map(|j| SwinBlock {
                        layernorm_before: norm(dim),
                        attention: WindowAttention::new(dim, heads, self.window_size, device),
                        layernorm_after: norm(dim),
                        intermediate: LinearConfig::new(
                            dim,
                            (dim as f64 * self.mlp_ratio) as usize,
                        )
                        .init(device),
                        output: LinearConfig::new((dim as f64 * self.mlp_ratio) as usize, dim)
                            .init(device),
                        activation: Gelu::new(),
                        window_size: self.window_size,
                        shift_size: if j % 2 == 1 { self.window_size / 2 } else { 0 },
                    })
                    .collect();
                let downsample = (i + 1 < self.depths.len()).then(|| PatchMerging {
                    norm: norm(4 * dim),
                    reduction: LinearConfig::new(4 * dim, 2 * dim)
                        .with_bias(false)
                        .init(device),
                });
                SwinStage { blocks, downsample }
            })
            .collect();
        Ok(Swin {
            patch_embedding: Conv2dConfig::new(
                [self.num_channels, self.embed_dim],
                [self.patch_size, self.patch_size],
            )
            .with_stride([self.patch_size, self.patch_size])
            .init(device),
            embeddings_norm: norm(self.embed_dim),
            stages,
            layernorm: norm(self.num_features()),
            patch_size: self.patch_size,
            num_channels: self.num_channels,
        })
    }
}

/// Multi-head self-attention inside windows, with a learned relative position bias.
#[derive(Module, Debug)]
pub struct WindowAttention<B: TrrgOps> {
    /// Query projection.
    pub query: Linear<B>,
    /// Key projection.
    pub key: Linear<B>,
    /// Value projection.
    pub value: Linear<B>,
    /// Output projection (HF `attention.output.dense`).
    pub output: Linear<B>,
    /// `[(2 * window - 1)^2, heads]`
    pub relative_position_bias_table: Param<Tensor<B, 2>>,
    num_heads: usize,
    window_size: usize,
}

impl<B: TrrgOps> WindowAttention<B> {
    fn new(dim: usize, num_heads: usize, window_size: usize, device: &B::Device) -> Self {
        let linear = || LinearConfig::new(dim, dim).init(device);
        Self {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            relative_position_bias_table: Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([(2 * window_size - 1).pow(2), num_heads], device),
            num_heads,
            window_size,
        }
    }

    /// `[heads, ws^2, ws^2]`: the table entry for each pair of positions in a window (HF's
    /// `relative_position_index`).
    fn relative_bias(&self) -> Tensor<B, 3> {
        let ws = self.window_size;
        let n = ws * ws;
        let mut index = Vec::with_capacity(n * n);
        for i in 0..n {
            for j in 0..n {
                let dy = (i / ws) as i64 - (j / ws) as i64 + ws as i64 - 1;
                let dx = (i % ws) as i64 - (j % ws) as i64 + ws as i64 - 1;
                index.push(dy * (2 * ws as i64 - 1) + dx);
            }
        }
        let table = self.relative_position_bias_table.val();
        let index =
            Tensor::<B, 1, Int>::from_data(TensorData::new(index, [n * n]), &table.device());
        table
            .select(0, index) // [n * n, heads]
            .reshape([n, n, self.num_heads])
            .permute([2, 0, 1])
    }

    /// # Shapes
    /// - windows: `[batch * n_windows, ws^2, dim]`
    /// - mask: `[n_windows, ws^2, ws^2]`, added to the scores (0 or -100)
    /// - output: like windows
    fn forward(&self, windows: Tensor<B, 3>, mask: Option<Tensor<B, 3>>) -> Tensor<B, 3> {
        let [bw, n, dim] = windows.dims();
        let heads = self.num_heads;
        let head_dim = dim / heads;
        let split = |x: Tensor<B, 3>| x.reshape([bw, n, heads, head_dim]).swap_dims(1, 2);
        let q = split(self.query.forward(windows.clone()));
        let k = split(self.key.forward(windows.clone()));
        let v = split(self.value.forward(windows));
        let mut scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((head_dim as f64).sqrt())
            + self.relative_bias().unsqueeze::<4>(); // [bw, heads, n, n]
        if let Some(mask) = mask {
            let n_windows = mask.dims()[0];
            scores = (scores.reshape([bw / n_windows, n_windows, heads, n, n])
                + mask.reshape([1, n_windows, 1, n, n]))
            .reshape([bw, heads, n, n]);
        }
        let context = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([bw, n, dim]);
        self.output.forward(context)
    }
}

/// One Swin block: (shifted) window attention and an MLP, both pre-LN with residuals.
#[derive(Module, Debug)]
pub struct SwinBlock<B: TrrgOps> {
    /// LayerNorm before attention.
    pub layernorm_before: LayerNorm<B>,
    /// Window attention.
    pub attention: WindowAttention<B>,
    /// LayerNorm before the MLP.
    pub layernorm_after: LayerNorm<B>,
    /// MLP input projection.
    pub intermediate: Linear<B>,
    /// MLP output projection.
    pub output: Linear<B>,
    activation: Gelu,
    window_size: usize,
    shift_size: usize,
}

/// HF's shifted-window mask: tokens from different regions of the rolled map do not attend to
/// each other. `[n_windows, ws^2, ws^2]` with 0 or -100.
fn shift_mask<B: TrrgOps>(
    height: usize,
    width: usize,
    ws: usize,
    shift: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    let region = |i: usize, size: usize| {
        if i < size - ws {
            0
        } else if i < size - shift {
            1
        } else {
            2
        }
    };
    let (wh, ww) = (height / ws, width / ws);
    let n = ws * ws;
    let mut mask = Vec::with_capacity(wh * ww * n * n);
    for wy in 0..wh {
        for wx in 0..ww {
            let ids: Vec<usize> = (0..n)
                .map(|t| region(wy * ws + t / ws, height) * 3 + region(wx * ws + t % ws, width))
                .collect();
            for a in &ids {
                for b in &ids {
                    mask.push(if a == b { 0f32 } else { -100.0 });
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(mask, [wh * ww, n, n]), device)
}

impl<B: TrrgOps> SwinBlock<B> {
    /// # Shapes
    /// - tokens: `[batch, height * width, dim]`, output the same
    fn forward(&self, tokens: Tensor<B, 3>, height: usize, width: usize) -> Tensor<B, 3> {
        let [batch, _, dim] = tokens.dims();
        // A map no larger than the window is one window, unshifted.
        let (ws, shift) = if height.min(width) <= self.window_size {
            (height.min(width), 0)
        } else {
            (self.window_size, self.shift_size)
        };
        let pad_h = (ws - height % ws) % ws;
        let pad_w = (ws - width % ws) % ws;
        let (hp, wp) = (height + pad_h, width + pad_w);
        let mut x = self
            .layernorm_before
            .forward(tokens.clone())
            .reshape([batch, height, width, dim]);
        if pad_h + pad_w > 0 {
            x = x.pad([(0, pad_h), (0, pad_w), (0, 0)], PadMode::Constant(0.0));
        }
        // burn's roll moves element i to i - shift (torch.roll's opposite sign).
        if shift > 0 {
            x = x.roll(&[shift, shift], &[1, 2]);
        }
        // Partition into windows: [batch * n_windows, ws^2, dim], windows in row-major order.
        let (wh, ww) = (hp / ws, wp / ws);
        let windows = x
            .reshape([batch, wh, ws, ww, ws, dim])
            .permute([0, 1, 3, 2, 4, 5])
            .reshape([batch * wh * ww, ws * ws, dim]);
        let mask = (shift > 0).then(|| shift_mask(hp, wp, ws, shift, &windows.device()));
        let mut x = self
            .attention
            .forward(windows, mask)
            .reshape([batch, wh, ww, ws, ws, dim])
            .permute([0, 1, 3, 2, 4, 5])
            .reshape([batch, hp, wp, dim]);
        if shift > 0 {
            x = x.roll(&[hp - shift, wp - shift], &[1, 2]);
        }
        if pad_h + pad_w > 0 {
            x = x.slice([0..batch, 0..height, 0..width, 0..dim]);
        }
        let x = tokens + x.reshape([batch, height * width, dim]);
        let mlp = self.output.forward(
            self.activation.forward(
                self.intermediate
                    .forward(self.layernorm_after.forward(x.clone())),
            ),
        );
        x + mlp
    }
}

/// Patch merging: each 2x2 neighbourhood's tokens concatenated (HF order), LayerNorm, and a
/// linear reduction from `4 * dim` to `2 * dim`.
#[derive(Module, Debug)]
pub struct PatchMerging<B: TrrgOps> {
    /// LayerNorm over `4 * dim`.
    pub norm: LayerNorm<B>,
    /// `4 * dim -> 2 * dim`, no bias.
    pub reduction: Linear<B>,
}

impl<B: TrrgOps> PatchMerging<B> {
    /// Returns the merged tokens `[batch, ceil(h/2) * ceil(w/2), 2 * dim]`.
    fn forward(&self, tokens: Tensor<B, 3>, height: usize, width: usize) -> Tensor<B, 3> {
        let [batch, _, dim] = tokens.dims();
        let mut x = tokens.reshape([batch, height, width, dim]);
        if height % 2 == 1 || width % 2 == 1 {
            x = x.pad(
                [(0, height % 2), (0, width % 2), (0, 0)],
                PadMode::Constant(0.0),
            );
        }
        let (h2, w2) = (height.div_ceil(2), width.div_ceil(2));
        // HF concatenates x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]: the
        // column offset varies slowest.
        let x = x
            .reshape([batch, h2, 2, w2, 2, dim])
            .permute([0, 1, 3, 4, 2, 5])
            .reshape([batch, h2 * w2, 4 * dim]);
        self.reduction.forward(self.norm.forward(x))
    }
}

/// One stage: blocks alternating plain and shifted windows, then patch merging (all stages but
/// the last).
#[derive(Module, Debug)]
pub struct SwinStage<B: TrrgOps> {
    /// The blocks.
    pub blocks: Vec<SwinBlock<B>>,
    /// Patch merging at the end of the stage.
    pub downsample: Option<PatchMerging<B>>,
}

/// The Swin encoder.
#[derive(Module, Debug)]
pub struct Swin<B: TrrgOps> {
    /// Patch projection, `[embed_dim, channels, patch, patch]` with stride = patch.
    pub patch_embedding: Conv2d<B>,
    /// LayerNorm after the patch embedding.
    pub embeddings_norm: LayerNorm<B>,
    /// The stages.
    pub stages: Vec<SwinStage<B>>,
    /// Final LayerNorm.
    pub layernorm: LayerNorm<B>,
    patch_size: usize,
    num_channels: usize,
}

impl<B: TrrgOps> Swin<B> {
    /// Token width of the output.
    pub fn d_vision(&self) -> usize {
        self.layernorm.gamma.dims()[0]
    }

    /// Patch tokens of the last stage (after the final LayerNorm) and their mean as the global
    /// token (HF's `pooler_output`).
    ///
    /// Images whose sides are not multiples of the patch are zero-padded right and bottom, as
    /// HF does. One-channel images feed a three-channel patch embedding by repeating the gray
    /// value.
    ///
    /// # Shapes
    /// - images: `[batch, channels, height, width]`
    /// - output.patch_tokens: `[batch, n_patches, d_vision]`, `n_patches` from the last stage
    /// - output.global: `[batch, d_vision]`
    pub fn forward_features(&self, images: Tensor<B, 4>) -> crate::Result<VisionOutput<B>> {
        let [batch, _, height, width] = images.dims();
        let mut images = crate::vit::match_channels(images, self.num_channels)?;
        let p = self.patch_size;
        let (pad_h, pad_w) = ((p - height % p) % p, (p - width % p) % p);
        if pad_h + pad_w > 0 {
            images = images.pad((0, pad_w, 0, pad_h), PadMode::Constant(0.0));
        }
        let (mut h, mut w) = ((height + pad_h) / p, (width + pad_w) / p);
        let d = self.patch_embedding.weight.dims()[0];
        let mut x = self.embeddings_norm.forward(
            self.patch_embedding
                .forward(images)
                .reshape([batch, d, h * w])
                .swap_dims(1, 2),
        ); // [batch, h * w, embed_dim]
        for (i, stage) in self.stages.iter().enumerate() {
            let window = stage.blocks.first().map_or(0, |b| b.window_size);
            if !stage.blocks.is_empty() && h.min(w) < window {
                return Err(Error::Shape {
                    what: "images",
                    reason: format!(
                        "{height}x{width} gives a {h}x{w} map in stage {i}, smaller than the \
                         {window}-token window (HF fails here too); use larger images"
                    ),
                });
            }
            for block in &stage.blocks {
                x = block.forward(x, h, w);
            }
            if let Some(merge) = &stage.downsample {
                x = merge.forward(x, h, w);
                (h, w) = (h.div_ceil(2), w.div_ceil(2));
            }
        }
        let x = self.layernorm.forward(x);
        Ok(VisionOutput {
            global: x.clone().mean_dim(1).squeeze_dim(1),
            patch_tokens: x,
        })
    }
}
