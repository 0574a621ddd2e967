//! What trrg's own files hold: a run directory, an export, or a run's `.mpk` checkpoint
//! (`trrg inspect`).

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use trrg_kernels::TrrgOps;
use trrg_model::{Trrg, VisionEncoderConfig};

use crate::{Error, ExportInfo, LlmTraining, Result, RunDir, TrainConfig, EXPORT_FILE};

/// A trrg model as stored: what kind of file, which weights, the architecture and every
/// parameter.
#[derive(Clone, Debug)]
pub struct ModelSummary {
    /// What the path is: a run directory, an export, or a checkpoint of a run.
    pub kind: String,
    /// The weights read and their on-disk format.
    pub weights: String,
    /// One line per part of the model.
    pub architecture: Vec<String>,
    /// Every float parameter: dotted module path, shape and dtype, in visiting order.
    pub params: Vec<(String, Vec<usize>, String)>,
}

impl ModelSummary {
    /// The number of parameter values.
    pub fn n_values(&self) -> usize {
        self.params
            .iter()
            .map(|(_, s, _)| s.iter().product::<usize>())
            .sum()
    }

    /// How many tensors have each dtype.
    pub fn dtypes(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (_, _, dtype) in &self.params {
            *out.entry(dtype.clone()).or_default() += 1;
        }
        out
    }
}

/// Reads `path` as one of trrg's own files: a run directory (its best, else latest,
/// checkpoint), an export directory, or a `.mpk` model checkpoint inside a run's
/// `checkpoints/`. None when it is none of these (a Hugging Face directory, a `.pth`, ...).
pub fn inspect_trrg<B: TrrgOps>(path: &Path, device: &B::Device) -> Result<Option<ModelSummary>> {
    if path.is_dir() {
        let dir = RunDir::new(path);
        if dir.path(EXPORT_FILE).is_file() {
            let info: ExportInfo = trrg_io::read_json(&dir.path(EXPORT_FILE))?;
            let generator = crate::ReportGenerator::<B>::from_dir(path, device)?;
            return Ok(Some(summary(
                format!(
                    "trrg export ({} v{}) of the run {}, its checkpoint {}",
                    info.format, info.version, info.source_run, info.checkpoint
                ),
                "model.safetensors and llm/model.safetensors (safetensors; the LLM in Hugging \
                 Face Llama layout)"
                    .into(),
                generator.config(),
                generator.model(),
            )?));
        }
        if !dir.state_path().is_file() || !dir.config_path().is_file() {
            return Ok(None);
        }
        let (model, config, _, file) = crate::generator::load_run_model::<B>(&dir, device)?;
        return Ok(Some(summary(
            "trrg run directory (its best checkpoint, else the latest)".into(),
            format!("checkpoints/{file} (Burn named MessagePack record)"),
            &config,
            &model,
        )?));
    }
    let is_mpk = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mpk"));
    if !is_mpk {
        return Ok(None);
    }
    let not_a_model = |reason: &str| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| not_a_model("has no file name"))?;
    if !name.ends_with(".model.mpk") {
        return Err(not_a_model(
            "is not a model checkpoint (trrg writes models as `stageN-epochNNN.model.mpk`; \
             `.optim.mpk` files hold optimizer state)",
        ));
    }
    let run_root = path
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "checkpoints"))
        .and_then(Path::parent)
        .filter(|root| root.join("config.json").is_file())
        .ok_or_else(|| {
            not_a_model(
                "is read with its run's config.json: keep it in RUN/checkpoints/ (or inspect \
                 the run directory)",
            )
        })?;
    let dir = RunDir::new(run_root);
    let config = dir.read_config()?;
    let tokenizers = dir.tokenizers(&config)?;
    let model: Trrg<B> =
        crate::generator::load_checkpoint(&dir, &config, &tokenizers, name, device)?;
    Ok(Some(summary(
        format!("checkpoint of the trrg run {}", run_root.display()),
        format!("{name} (Burn named MessagePack record)"),
        &config,
        &model,
    )?))
}

fn summary<B: TrrgOps>(
    kind: String,
    weights: String,
    config: &TrainConfig,
    model: &Trrg<B>,
) -> Result<ModelSummary> {
    let vocab = model.llm.vocab_size();
    let m = config.model_config(vocab)?;
    let vision = match &m.vision {
        VisionEncoderConfig::Vit(c) => format!(
            "ViT, {} px, {} px patches, width {}, {} layers",
            c.image_size, c.patch_size, c.hidden_size, c.num_hidden_layers
        ),
        VisionEncoderConfig::Swin(_) => format!("Swin, width {}", m.vision.d_vision()),
        VisionEncoderConfig::EfficientNet(_) => {
            format!("EfficientNet-Lite0, width {}", m.vision.d_vision())
        }
    };
    let lora = match &config.stage2_llm {
        LlmTraining::Lora(l) => format!(", LoRA r {} on {}", l.r, l.target_modules.join("/")),
        LlmTraining::Frozen => ", frozen in stage 2".into(),
        LlmTraining::Full => String::new(),
    };
    Ok(ModelSummary {
        kind,
        weights,
        architecture: vec![
            format!(
                "TRRG, preset {}, clues {}, {} view(s)",
                config.preset, config.clue.mode, m.max_views
            ),
            format!("visual encoder: {vision}"),
            format!(
                "text encoder: BERT, width {}, {} layers, vocabulary {}",
                m.text.hidden_size, m.text.num_hidden_layers, m.text.vocab_size
            ),
            format!(
                "LLM: LLaMA, width {}, {} layers, {} heads, vocabulary {}{lora}",
                m.llm.hidden_size, m.llm.num_hidden_layers, m.llm.num_attention_heads, vocab
            ),
            format!(
                "clue interaction: width {}, {} layers",
                m.interaction.d_model, m.interaction.n_layers
            ),
        ],
        params: param_table(model),
    })
}

/// Every float parameter's dotted path, shape and dtype, in visiting order.
pub fn param_table<B: TrrgOps, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>, String)> {
    // Burn's derived `visit` enters each field (parameters included) by name, and each list
    // element by index, before visiting it: the stack is the parameter's path.
    struct Table {
        path: Vec<String>,
        rows: Vec<(String, Vec<usize>, String)>,
    }
    impl<B: TrrgOps> ModuleVisitor<B> for Table {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let tensor = param.val();
            self.rows.push((
                self.path.join("."),
                tensor.dims().to_vec(),
                format!("{:?}", tensor.dtype()),
            ));
        }
    }
    let mut table = Table {
        path: Vec::new(),
        rows: Vec::new(),
    };
    module.visit(&mut table);
    table.rows
}
