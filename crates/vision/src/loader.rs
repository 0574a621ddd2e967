//! Loading HF checkpoint directories (`config.json` + safetensors, single or sharded) into the
//! ViT (`ViTModel` names, with or without the `vit.` prefix) and Swin (`SwinModel` names, with
//! or without `swin.`) encoders, and the EfficientNet-Lite0 PyTorch state dict. Every tensor must be found with the expected shape and every
//! tensor of the file must be used or deliberately skipped; errors name the tensor and file.

use std::path::Path;

use burn::module::Param;
use serde::Deserialize;
use trrg_io::{EncoderLayerKeys, WeightFile};
use trrg_kernels::TrrgOps;

use crate::{
    EfficientNet, EfficientNetConfig, Error, Swin, SwinConfig, VisionEncoder, VisionEncoderConfig,
    Vit, VitConfig,
};

/// The fields of `config.json` shared by the supported encoders.
#[derive(Deserialize)]
struct HfCommon {
    model_type: Option<String>,
    #[serde(default = "gelu")]
    hidden_act: String,
    #[serde(default = "yes")]
    qkv_bias: bool,
}

#[derive(Deserialize)]
struct HfVitConfig {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "vit_eps")]
    layer_norm_eps: f64,
    #[serde(default = "side_224")]
    image_size: usize,
    #[serde(default = "patch_16")]
    patch_size: usize,
    #[serde(default = "three")]
    num_channels: usize,
}

#[derive(Deserialize)]
struct HfSwinConfig {
    #[serde(default = "side_224")]
    image_size: usize,
    #[serde(default = "patch_4")]
    patch_size: usize,
    #[serde(default = "three")]
    num_channels: usize,
    embed_dim: usize,
    depths: Vec<usize>,
    num_heads: Vec<usize>,
    window_size: usize,
    #[serde(default = "four")]
    mlp_ratio: f64,
    #[serde(default = "swin_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    use_absolute_embeddings: bool,
}

fn gelu() -> String {
    "gelu".into()
}
fn yes() -> bool {
    true
}
fn vit_eps() -> f64 {
    1e-12
}
fn swin_eps() -> f64 {
    1e-5
}
fn side_224() -> usize {
    224
}
fn patch_16() -> usize {
    16
}
fn patch_4() -> usize {
    4
}
fn three() -> usize {
    3
}
fn four() -> f64 {
    4.0
}

fn unsupported(field: &'static str, value: impl std::fmt::Display, path: &Path) -> Error {
    Error::InvalidConfig {
        field,
        reason: format!("`{value}` in {}: not supported", path.display()),
    }
}

impl VisionEncoderConfig {
    /// Reads HF's `config.json` of a ViT (`model_type` "vit") or Swin ("swin") checkpoint; only
    /// what the encoders implement is accepted (GELU, biased q/k/v, no absolute positions in
    /// Swin).
    pub fn from_hf_json(path: impl AsRef<Path>) -> crate::Result<Self> {
        let path = path.as_ref();
        let common: HfCommon = trrg_io::read_json(path)?;
        if common.hidden_act != "gelu" {
            return Err(unsupported("hidden_act", common.hidden_act, path));
        }
        if !common.qkv_bias {
            return Err(unsupported("qkv_bias", false, path));
        }
        match common.model_type.as_deref() {
            Some("vit") => {
                let hf: HfVitConfig = trrg_io::read_json(path)?;
                Ok(Self::Vit(
                    VitConfig::new()
                        .with_image_size(hf.image_size)
                        .with_patch_size(hf.patch_size)
                        .with_num_channels(hf.num_channels)
                        .with_hidden_size(hf.hidden_size)
                        .with_num_hidden_layers(hf.num_hidden_layers)
                        .with_num_attention_heads(hf.num_attention_heads)
                        .with_intermediate_size(hf.intermediate_size)
                        .with_layer_norm_eps(hf.layer_norm_eps),
                ))
            }
            Some("swin") => {
                let hf: HfSwinConfig = trrg_io::read_json(path)?;
                if hf.use_absolute_embeddings {
                    return Err(unsupported("use_absolute_embeddings", true, path));
                }
                Ok(Self::Swin(
                    SwinConfig::new()
                        .with_image_size(hf.image_size)
                        .with_patch_size(hf.patch_size)
                        .with_num_channels(hf.num_channels)
                        .with_embed_dim(hf.embed_dim)
                        .with_depths(hf.depths)
                        .with_num_heads(hf.num_heads)
                        .with_window_size(hf.window_size)
                        .with_mlp_ratio(hf.mlp_ratio)
                        .with_layer_norm_eps(hf.layer_norm_eps),
                ))
            }
            other => Err(unsupported(
                "model_type",
                other.unwrap_or("(missing)"),
                path,
            )),
        }
    }
}

/// The weights of one ViT encoder layer, under `encoder.layer.{i}.` (HF `ViTModel`, with or
/// without the `vit.` prefix).
///
/// # Key Mappings
/// | HF | burn's `TransformerEncoderLayer` |
/// |---|---|
/// | `attention.attention.query` | `mha.query` |
/// | `attention.attention.key` | `mha.key` |
/// | `attention.attention.value` | `mha.value` |
/// | `attention.output.dense` | `mha.output` |
/// | `layernorm_before` | `norm_2` (pre-LN: burn applies it before attention) |
/// | `intermediate.dense` | `pwff.linear_inner` |
/// | `output.dense` | `pwff.linear_outer` |
/// | `layernorm_after` | `norm_1` (pre-LN: before the feed-forward block) |
pub const VIT_LAYER_KEYS: EncoderLayerKeys = EncoderLayerKeys {
    query: "attention.attention.query",
    key: "attention.attention.key",
    value: "attention.attention.value",
    attention_output: "attention.output.dense",
    intermediate: "intermediate.dense",
    output: "output.dense",
    norm_1: "layernorm_after",
    norm_2: "layernorm_before",
};

/// Whether `path` is a `torch.save` file (`.pth`/`.pt`) that [`VisionEncoder::from_pretrained`]
/// loads as EfficientNet-Lite0, rather than a HF checkpoint directory.
pub fn is_pytorch_checkpoint(path: &Path) -> bool {
    path.is_file()
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("pth" | "pt")
        )
}

impl<B: TrrgOps> VisionEncoder<B> {
    /// Loads a pretrained encoder from `path`:
    /// - a HF ViT or Swin checkpoint directory: `config.json` and `model.safetensors` (or
    ///   `model.safetensors.index.json` with its shards, or `pytorch_model.bin` and its shards
    ///   when there are no safetensors); pooler weights and the
    ///   `relative_position_index` buffers are skipped;
    /// - a `.pth`/`.pt` file: the EfficientNet-Lite0 state dict of the PyTorch port (zip or
    ///   legacy pickle), batch norms folded, with its ImageNet classifier.
    ///
    /// Any tensor of the checkpoint left unused is an error naming it.
    pub fn from_pretrained(
        path: impl AsRef<Path>,
        device: &B::Device,
    ) -> crate::Result<(Self, VisionEncoderConfig)> {
        let path = path.as_ref();
        if is_pytorch_checkpoint(path) {
            let config = EfficientNetConfig::new();
            let net = EfficientNet::from_pytorch(path, &config, device)?;
            return Ok((
                Self::EfficientNet(net),
                VisionEncoderConfig::EfficientNet(config),
            ));
        }
        let config = VisionEncoderConfig::from_hf_json(path.join("config.json"))?;
        let mut file = WeightFile::open_dir(path)?;
        file.check_memory::<B>(device)?;
        let mut encoder = config.init::<B>(device)?;
        match &mut encoder {
            Self::Vit(vit) => {
                file.detect_prefix("vit.", "embeddings.cls_token");
                vit.load_weights(&mut file, device)?;
                file.skip(["pooler.dense.weight", "pooler.dense.bias"]);
            }
            Self::Swin(swin) => {
                file.detect_prefix("swin.", "embeddings.norm.weight");
                swin.load_weights(&mut file, device)?;
                file.skip(["embeddings.mask_token"]);
            }
            Self::EfficientNet(net) => net.load_weights(&mut file, device)?,
        }
        file.finish()?;
        Ok((encoder, config))
    }
}

impl<B: TrrgOps> Vit<B> {
    /// Copies HF `ViTModel` weights from `file` into this encoder.
    pub fn load_weights(&mut self, file: &mut WeightFile, device: &B::Device) -> crate::Result<()> {
        if !self.stem.is_empty() {
            return Err(crate::Error::InvalidConfig {
                field: "conv_stem",
                reason: "HF ViT checkpoints have no convolutional stem; load them with an empty \
                         conv_stem"
                    .into(),
            });
        }
        let d = self.d_vision();
        self.cls_token =
            Param::from_tensor(file.tensor("embeddings.cls_token", [1, 1, d], device)?);
        let positions = self.position_embeddings.dims();
        self.position_embeddings =
            Param::from_tensor(file.tensor("embeddings.position_embeddings", positions, device)?);
        file.load_conv2d(
            &mut self.patch_embedding,
            "embeddings.patch_embeddings.projection",
            device,
        )?;
        for (i, layer) in self.encoder.layers.iter_mut().enumerate() {
            file.load_encoder_layer(
                layer,
                &format!("encoder.layer.{i}"),
                &VIT_LAYER_KEYS,
                device,
            )?;
        }
        file.load_layer_norm(&mut self.layernorm, "layernorm", device)?;
        Ok(())
    }
}

impl<B: TrrgOps> Swin<B> {
    /// Copies HF `SwinModel` weights from `file` into this encoder.
    pub fn load_weights(&mut self, file: &mut WeightFile, device: &B::Device) -> crate::Result<()> {
        file.load_conv2d(
            &mut self.patch_embedding,
            "embeddings.patch_embeddings.projection",
            device,
        )?;
        file.load_layer_norm(&mut self.embeddings_norm, "embeddings.norm", device)?;
        for (i, stage) in self.stages.iter_mut().enumerate() {
            for (j, block) in stage.blocks.iter_mut().enumerate() {
                let p = format!("encoder.layers.{i}.blocks.{j}");
                let attention = &mut block.attention;
                for (linear, name) in [
                    (&mut attention.query, "attention.self.query"),
                    (&mut attention.key, "attention.self.key"),
                    (&mut attention.value, "attention.self.value"),
                    (&mut attention.output, "attention.output.dense"),
                    (&mut block.intermediate, "intermediate.dense"),
                    (&mut block.output, "output.dense"),
                ] {
                    file.load_linear(linear, &format!("{p}.{name}"), device)?;
                }
                let table = attention.relative_position_bias_table.dims();
                attention.relative_position_bias_table = Param::from_tensor(file.tensor(
                    &format!("{p}.attention.self.relative_position_bias_table"),
                    table,
                    device,
                )?);
                // Older checkpoints store the index buffer; it is recomputed from the window.
                file.skip([format!("{p}.attention.self.relative_position_index")]);
                file.load_layer_norm(
                    &mut block.layernorm_before,
                    &format!("{p}.layernorm_before"),
                    device,
                )?;
                file.load_layer_norm(
                    &mut block.layernorm_after,
                    &format!("{p}.layernorm_after"),
                    device,
                )?;
            }
            if let Some(merge) = &mut stage.downsample {
                let p = format!("encoder.layers.{i}.downsample");
                file.load_layer_norm(&mut merge.norm, &format!("{p}.norm"), device)?;
                file.load_linear(&mut merge.reduction, &format!("{p}.reduction"), device)?;
            }
        }
        file.load_layer_norm(&mut self.layernorm, "layernorm", device)?;
        Ok(())
    }
}
