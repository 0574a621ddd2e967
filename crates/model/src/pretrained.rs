//! The `base` preset: TRRG at full size from pretrained parts (R2GenGPT's and TRRG's layout:
//! Swin-B, a BERT, a LLaMA-family LLM), each part's config read from its own checkpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use trrg_interact::InteractionConfig;
use trrg_kernels::TrrgOps;
use trrg_llm::{Gguf, GgufLlama, LlamaConfig, LlamaForCausalLM};
use trrg_text::{Bert, BertConfig};
use trrg_vision::{is_pytorch_checkpoint, EfficientNetConfig, VisionEncoder, VisionEncoderConfig};

use crate::{Trrg, TrrgConfig};

/// Where the pretrained parts of the `base` preset come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainedPaths {
    /// Visual encoder: a HF ViT or Swin directory (TRRG and R2GenGPT use
    /// `microsoft/swin-base-patch4-window7-224`) or an EfficientNet-Lite0 `.pth`.
    pub vision: PathBuf,
    /// Text encoder: a HF BERT directory (`config.json`, `model.safetensors`).
    pub text: PathBuf,
    /// LLM: a HF LLaMA-family directory (`config.json`, safetensors, `tokenizer.json`) or a
    /// llama-architecture `.gguf`; the report tokenizer is the LLM's own.
    pub llm: PathBuf,
}

impl PretrainedPaths {
    /// The LLM's own tokenizer, the report tokenizer of the `base` preset: `tokenizer.json` of
    /// the HF directory, or the one rebuilt from the GGUF metadata.
    pub fn llm_tokenizer(&self) -> crate::Result<tokenizers::Tokenizer> {
        if is_gguf(&self.llm) {
            return Ok(open_gguf(&self.llm)?.tokenizer()?);
        }
        let path = self.llm.join("tokenizer.json");
        tokenizers::Tokenizer::from_file(&path).map_err(|e| crate::Error::InvalidConfig {
            field: "pretrained.llm",
            reason: format!("cannot read the LLM's tokenizer {}: {e}", path.display()),
        })
    }
}

/// The `model_type` of a `config.json` that stands for EfficientNet-Lite0 (an exported base run's
/// `vision/config.json`, whose weights travel in the export, not in a `.pth`).
pub const EFFICIENTNET_LITE0: &str = "efficientnet_lite0";

fn is_efficientnet_marker(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .is_ok_and(|v| v["model_type"] == EFFICIENTNET_LITE0)
}

/// The LLM's GGUF, opened (memory-mapped) once per process: the `base` preset reads its
/// tokenizer, its config and its weights at three places, all from this one open. The last file
/// opened is kept, keyed by its path, length and modification time, so a file replaced on disk
/// is opened again.
fn open_gguf(path: &Path) -> crate::Result<Arc<Gguf>> {
    type Key = (PathBuf, u64, Option<std::time::SystemTime>);
    static LAST: Mutex<Option<(Key, Arc<Gguf>)>> = Mutex::new(None);
    let meta = std::fs::metadata(path).ok();
    let key = (
        path.to_path_buf(),
        meta.as_ref().map_or(0, |m| m.len()),
        meta.and_then(|m| m.modified().ok()),
    );
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, gguf)) = last.as_ref().filter(|(k, _)| *k == key) {
        return Ok(gguf.clone());
    }
    let gguf = Arc::new(Gguf::open(path)?);
    *last = Some((key, gguf.clone()));
    Ok(gguf)
}

fn is_gguf(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("gguf")
}

impl TrrgConfig {
    /// The `base` preset: the parts' configs from their checkpoints, an interaction of width 512
    /// (2 blocks, 8 heads), a shared embedding space of 256, and every patch token passed to the
    /// LLM (`llm_patch_grid` 0: Swin-B gives 7x7 per view at 224 px, as R2GenGPT feeds them).
    /// Only configs are read here; [`Trrg::from_pretrained`] loads the weights.
    pub fn base(paths: &PretrainedPaths) -> crate::Result<Self> {
        let vision =
            if is_pytorch_checkpoint(&paths.vision) || is_efficientnet_marker(&paths.vision) {
                VisionEncoderConfig::EfficientNet(EfficientNetConfig::new().with_num_classes(0))
            } else {
                VisionEncoderConfig::from_hf_json(paths.vision.join("config.json"))?
            };
        let text = BertConfig::from_hf_json(paths.text.join("config.json"))?;
        let llm = if is_gguf(&paths.llm) {
            open_gguf(&paths.llm)?.llama_config()?
        } else {
            LlamaConfig::from_hf_json(paths.llm.join("config.json"))?
        };
        Ok(Self::new(
            vision,
            text,
            llm,
            InteractionConfig::new(512).with_n_layers(2).with_n_heads(8),
        )
        .with_d_embed(256)
        .with_llm_patch_grid(0))
    }
}

impl<B: TrrgOps> Trrg<B> {
    /// Builds `config` (normally [`TrrgConfig::base`] of the same paths) with the pretrained
    /// visual encoder, text encoder and LLM loaded from `paths`; the TRRG-specific parts
    /// (alignment head, clue injector, interaction, projections, markers) start random. Each
    /// part must match its config; the checkpoints' own errors name any tensor that does not fit.
    pub fn from_pretrained(
        config: &TrrgConfig,
        paths: &PretrainedPaths,
        device: &B::Device,
    ) -> crate::Result<Self> {
        config.validate()?;
        let vision = match VisionEncoder::<B>::from_pretrained(&paths.vision, device)? {
            // The ImageNet classifier is not part of the encoder.
            (VisionEncoder::EfficientNet(mut net), _) => {
                net.fc = None;
                VisionEncoder::EfficientNet(net)
            }
            (encoder, _) => encoder,
        };
        let (text, _) = Bert::<B>::from_pretrained(&paths.text, device)?;
        let llm = if is_gguf(&paths.llm) {
            LlamaForCausalLM::<B>::from_opened_gguf(&*open_gguf(&paths.llm)?, device)?.0
        } else {
            LlamaForCausalLM::<B>::from_pretrained(&paths.llm, device)?.0
        };
        let parts = [
            ("vision", vision.d_vision(), config.vision.d_vision()),
            ("text", text.d_model(), config.text.hidden_size),
            ("llm", llm.d_model(), config.llm.hidden_size),
        ];
        if let Some((part, got, want)) = parts.into_iter().find(|(_, got, want)| got != want) {
            return Err(crate::Error::InvalidConfig {
                field: "pretrained",
                reason: format!("the {part} checkpoint has width {got}, the config {want}"),
            });
        }
        Trrg::assemble(config, vision, text, llm, device)
    }
}
