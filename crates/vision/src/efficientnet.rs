//! EfficientNet-Lite0 (the TF-Lite variant of EfficientNet-B0: ReLU6, no squeeze-excitation,
//! fixed stem and head), with TensorFlow "SAME" padding as in the PyTorch port
//! (`efficientnet_lite_pytorch`, state-dict names `_conv_stem`, `_blocks.N._depthwise_conv`, ...).
//!
//! Batch norm is folded into the preceding convolution when weights are loaded: each conv has a
//! bias and the network has no BatchNorm modules. Inference equals the checkpoint's eval mode on
//! every backend; when fine-tuned, the folded scale and shift train as ordinary weights (the
//! "frozen batch norm" of detection backbones), so small TRRG batches never see batch statistics.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use trrg_io::WeightFile;
use trrg_kernels::TrrgOps;

use crate::{Error, VisionOutput};

/// One MBConv stage of the Lite0 table: repeats, kernel, stride of the first block, expansion,
/// input and output channels (`efficientnet_lite_builder.py`).
const LITE0_STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];
const STEM: usize = 32;
const HEAD: usize = 1280;
/// Batch-norm epsilon of the checkpoint (TF's 1e-3).
const BN_EPS: f64 = 1e-3;

/// EfficientNet-Lite0 configuration.
#[derive(Config, Debug)]
pub struct EfficientNetConfig {
    /// Nominal input side in pixels (any size works; "SAME" padding follows the input). Default
    /// 224.
    #[config(default = 224)]
    pub image_size: usize,
    /// Channels the stem expects. Default 3 (one gray channel is repeated).
    #[config(default = 3)]
    pub num_channels: usize,
    /// ImageNet classifier outputs; 0 builds the encoder without the classifier. Default 1000.
    #[config(default = 1000)]
    pub num_classes: usize,
}

impl EfficientNetConfig {
    /// Token width of the output: the 1280 channels of the head convolution.
    pub fn d_vision(&self) -> usize {
        HEAD
    }

    /// Builds the network with random weights (Kaiming-uniform convolutions, zero biases).
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> crate::Result<EfficientNet<B>> {
        if !matches!(self.num_channels, 1 | 3) {
            return Err(Error::InvalidConfig {
                field: "num_channels",
                reason: format!("{} must be 1 or 3", self.num_channels),
            });
        }
        let mut blocks = Vec::new();
        for (repeats, kernel, stride, expand, c_in, c_out) in LITE0_STAGES {
            for r in 0..repeats {
                let c_in = if r == 0 { c_in } else { c_out };
                let stride = if r == 0 { stride } else { 1 };
                let hidden = c_in * expand;
                blocks.push(MbConvBlock {
                    expand_conv: (expand != 1)
                        .then(|| SameConv::new(c_in, hidden, 1, 1, 1, device)),
                    depthwise_conv: SameConv::new(hidden, hidden, kernel, stride, hidden, device),
                    project_conv: SameConv::new(hidden, c_out, 1, 1, 1, device),
                    residual: stride == 1 && c_in == c_out,
                });
            }
        }
        Ok(EfficientNet {
            conv_stem: SameConv::new(self.num_channels, STEM, 3, 2, 1, device),
            blocks,
            conv_head: SameConv::new(320, HEAD, 1, 1, 1, device),
            fc: (self.num_classes > 0)
                .then(|| LinearConfig::new(HEAD, self.num_classes).init(device)),
            num_channels: self.num_channels,
        })
    }
}

/// A convolution with TensorFlow "SAME" padding (output side `ceil(input / stride)`, the odd
/// pixel of padding on the bottom/right) and a bias (the folded batch norm).
#[derive(Module, Debug)]
pub struct SameConv<B: TrrgOps> {
    /// `[out, in / groups, k, k]`
    pub weight: Param<Tensor<B, 4>>,
    /// `[out]`
    pub bias: Param<Tensor<B, 1>>,
    stride: usize,
    groups: usize,
}

impl<B: TrrgOps> SameConv<B> {
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        device: &B::Device,
    ) -> Self {
        let fan_in = c_in / groups * kernel * kernel;
        Self {
            weight: Initializer::KaimingUniform {
                gain: 1.0 / 3f64.sqrt(),
                fan_out_only: false,
            }
            .init_with(
                [c_out, c_in / groups, kernel, kernel],
                Some(fan_in),
                Some(c_out * kernel * kernel),
                device,
            ),
            bias: Initializer::Zeros.init([c_out], device),
            stride,
            groups,
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let k = self.weight.dims()[2];
        let s = self.stride;
        let pad = |size: usize| ((size.div_ceil(s) - 1) * s + k).saturating_sub(size);
        let (pad_h, pad_w) = (pad(h), pad(w));
        // Symmetric padding goes to the convolution; an odd extra pixel is padded explicitly.
        let (x, sym_h, sym_w) = if pad_h % 2 == 0 && pad_w % 2 == 0 {
            (x, pad_h / 2, pad_w / 2)
        } else {
            let x = x.pad(
                (pad_w / 2, pad_w - pad_w / 2, pad_h / 2, pad_h - pad_h / 2),
                PadMode::Constant(0.0),
            );
            (x, 0, 0)
        };
        conv2d(
            x,
            self.weight.val(),
            Some(self.bias.val()),
            ConvOptions::new([s, s], [sym_h, sym_w], [1, 1], self.groups),
        )
    }
}

/// ReLU6.
fn relu6<B: TrrgOps>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    x.clamp(0.0, 6.0)
}

/// Inverted residual block: 1x1 expansion (absent when the ratio is 1), depthwise kxk, 1x1
/// projection; ReLU6 after the first two; identity shortcut when shape is kept.
#[derive(Module, Debug)]
pub struct MbConvBlock<B: TrrgOps> {
    /// `_expand_conv` + `_bn0`.
    pub expand_conv: Option<SameConv<B>>,
    /// `_depthwise_conv` + `_bn1`.
    pub depthwise_conv: SameConv<B>,
    /// `_project_conv` + `_bn2`.
    pub project_conv: SameConv<B>,
    residual: bool,
}

impl<B: TrrgOps> MbConvBlock<B> {
    fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = match &self.expand_conv {
            Some(conv) => relu6(conv.forward(input.clone())),
            None => input.clone(),
        };
        let x = self
            .project_conv
            .forward(relu6(self.depthwise_conv.forward(x)));
        if self.residual {
            x + input
        } else {
            x
        }
    }
}

/// EfficientNet-Lite0.
#[derive(Module, Debug)]
pub struct EfficientNet<B: TrrgOps> {
    /// `_conv_stem` + `_bn0`: 3x3, stride 2, 32 channels.
    pub conv_stem: SameConv<B>,
    /// The 16 MBConv blocks.
    pub blocks: Vec<MbConvBlock<B>>,
    /// `_conv_head` + `_bn1`: 1x1 to 1280 channels.
    pub conv_head: SameConv<B>,
    /// `_fc`: the ImageNet classifier, when built.
    pub fc: Option<Linear<B>>,
    num_channels: usize,
}

impl<B: TrrgOps> EfficientNet<B> {
    /// Token width (1280).
    pub fn d_vision(&self) -> usize {
        self.conv_head.weight.dims()[0]
    }

    /// The head's feature map as patch tokens (`[batch, (h/32) * (w/32), 1280]`, row-major) and
    /// their mean as the global token (the network's average pooling).
    ///
    /// # Shapes
    /// - images: `[batch, channels, height, width]`
    /// - output: see [`VisionOutput`]
    pub fn forward_features(&self, images: Tensor<B, 4>) -> crate::Result<VisionOutput<B>> {
        let batch = images.dims()[0];
        let images = crate::vit::match_channels(images, self.num_channels)?;
        let mut x = relu6(self.conv_stem.forward(images));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = relu6(self.conv_head.forward(x));
        let [_, d, h, w] = x.dims();
        let tokens = x.reshape([batch, d, h * w]).swap_dims(1, 2);
        Ok(VisionOutput {
            global: tokens.clone().mean_dim(1).squeeze_dim(1),
            patch_tokens: tokens,
        })
    }

    /// ImageNet logits `[batch, num_classes]` (dropout is off at inference).
    pub fn classify(&self, images: Tensor<B, 4>) -> crate::Result<Tensor<B, 2>> {
        let fc = self.fc.as_ref().ok_or_else(|| Error::InvalidConfig {
            field: "num_classes",
            reason: "the network was built without a classifier (num_classes 0)".into(),
        })?;
        Ok(fc.forward(self.forward_features(images)?.global))
    }

    /// Loads the PyTorch port's state dict (`efficientnet-lite0-*.pth`, zip or legacy pickle),
    /// folding each batch norm into its convolution. With `num_classes` 0 the `_fc` weights are
    /// skipped; every other tensor must be used.
    pub fn from_pytorch(
        path: impl AsRef<Path>,
        config: &EfficientNetConfig,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let mut net = config.init::<B>(device)?;
        let mut file = WeightFile::open_pytorch(path)?;
        net.load_weights(&mut file, device)?;
        file.finish()?;
        Ok(net)
    }

    /// Copies the state dict's weights from `file`, folding batch norms.
    pub fn load_weights(&mut self, file: &mut WeightFile, device: &B::Device) -> crate::Result<()> {
        if self.num_channels != 3 {
            return Err(Error::InvalidConfig {
                field: "num_channels",
                reason: "pretrained weights take 3 channels; gray images are repeated".into(),
            });
        }
        load_conv_bn(file, &mut self.conv_stem, "_conv_stem", "_bn0", device)?;
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let p = format!("_blocks.{i}");
            if let Some(conv) = &mut block.expand_conv {
                load_conv_bn(
                    file,
                    conv,
                    &format!("{p}._expand_conv"),
                    &format!("{p}._bn0"),
                    device,
                )?;
            }
            load_conv_bn(
                file,
                &mut block.depthwise_conv,
                &format!("{p}._depthwise_conv"),
                &format!("{p}._bn1"),
                device,
            )?;
            load_conv_bn(
                file,
                &mut block.project_conv,
                &format!("{p}._project_conv"),
                &format!("{p}._bn2"),
                device,
            )?;
        }
        load_conv_bn(file, &mut self.conv_head, "_conv_head", "_bn1", device)?;
        match &mut self.fc {
            Some(fc) => file.load_linear(fc, "_fc", device)?,
            None => file.skip(["_fc.weight", "_fc.bias"]),
        }
        Ok(())
    }
}

/// Loads `{conv}.weight` (no bias) and batch norm `{bn}` into `target` as one biased conv:
/// `w' = w * s`, `b' = beta - mean * s` with `s = gamma / sqrt(var + eps)` per output channel.
fn load_conv_bn<B: TrrgOps>(
    file: &mut WeightFile,
    target: &mut SameConv<B>,
    conv: &str,
    bn: &str,
    device: &B::Device,
) -> crate::Result<()> {
    let dims = target.weight.dims();
    let out = dims[0];
    let mut weight = file.values(&format!("{conv}.weight"), &dims)?;
    let mut bn_param = |name: &str| file.values(&format!("{bn}.{name}"), &[out]);
    let (gamma, beta) = (bn_param("weight")?, bn_param("bias")?);
    let (mean, var) = (bn_param("running_mean")?, bn_param("running_var")?);
    file.skip([format!("{bn}.num_batches_tracked")]);
    let per_channel = weight.len() / out;
    let mut bias = Vec::with_capacity(out);
    for o in 0..out {
        let scale = f64::from(gamma[o]) / (f64::from(var[o]) + BN_EPS).sqrt();
        for w in &mut weight[o * per_channel..(o + 1) * per_channel] {
            *w = (f64::from(*w) * scale) as f32;
        }
        bias.push((f64::from(beta[o]) - f64::from(mean[o]) * scale) as f32);
    }
    target.weight = Param::from_tensor(Tensor::from_data(
        burn::tensor::TensorData::new(weight, dims),
        device,
    ));
    target.bias = Param::from_tensor(Tensor::from_data(
        burn::tensor::TensorData::new(bias, [out]),
        device,
    ));
    Ok(())
}
