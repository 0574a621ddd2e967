//! `trrg export`: a run directory as a self-contained directory of safetensors and JSON, the
//! LLM in HF Llama layout (transformers' `LlamaForCausalLM.from_pretrained` loads it) and LoRA
//! adapters in PEFT layout. [`crate::ReportGenerator::from_dir`] reads an exported directory in
//! place of a run directory.
//!
//! ```text
//! OUT/
//!   export.json          format, version, source run, checkpoint, provenance
//!   README.md            model card: the run's metrics and data provenance
//!   config.json          the run's TrainConfig (base-preset paths point inside OUT)
//!   vocab.json           word vocabulary (tiny and micro presets)
//!   diseases.json        the disease set; clue_thresholds.json where the run fitted them
//!   model.safetensors    every TRRG parameter outside the LLM, named by its module path
//!                        (`vision.Vit.blocks.0.attn.qkv.weight`, `clue_locator.query.weight`,
//!                        ...), f32, Burn's layout (a Linear weight is `[d_in, d_out]`)
//!   llm/config.json      HF LlamaConfig (`architectures: ["LlamaForCausalLM"]`)
//!   llm/model.safetensors  HF Llama names and layout (`[d_out, d_in]`), f32
//!   llm/adapter_config.json, llm/adapter_model.safetensors   PEFT LoRA, for a LoRA run
//!   llm/trrg_logits.json probe ids and trrg's logits on them, for checking another loader
//!   llm/tokenizer.json, text/, vision/   base preset: the parts' tokenizers and configs
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trrg_io::{write_atomic, NamedTensor, WeightFile};
use trrg_kernels::TrrgOps;
use trrg_llm::{HfTokenIds, LlamaForCausalLM};
use trrg_model::Trrg;

use crate::dir::pretty_json;
use crate::{Error, LlmTraining, Result, RunDir, TrainConfig};

/// The marker file of an exported directory.
pub const EXPORT_FILE: &str = "export.json";
/// The non-LLM parameters of an exported directory.
pub const EXPORT_MODEL_FILE: &str = "model.safetensors";
/// The LLM's subdirectory of an exported directory.
pub const EXPORT_LLM_DIR: &str = "llm";
const EXPORT_FORMAT: &str = "trrg-export";
const EXPORT_VERSION: u32 = 1;

/// `export.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportInfo {
    /// `trrg-export`.
    pub format: String,
    /// 1.
    pub version: u32,
    /// The run directory it was exported from.
    pub source_run: String,
    /// The checkpoint exported (the best one, else the latest).
    pub checkpoint: String,
    /// `synthetic`, `semi-synthetic` or `real` data (from the run's metrics.json), or
    /// `unknown` for a run that has not finished.
    pub provenance: String,
}

/// Names of a module's float parameters by module path, and their values.
struct Collect {
    path: Vec<String>,
    skip: Vec<String>,
    out: Vec<NamedTensor>,
    others: usize,
}

impl Collect {
    fn name(&self) -> String {
        self.path.join(".")
    }

    fn skipped(&self) -> bool {
        self.path.first().is_some_and(|top| self.skip.contains(top))
    }
}

impl<B: TrrgOps> ModuleVisitor<B> for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.skipped() {
            let t = param.val();
            self.out
                .push((self.name(), t.dims().to_vec(), trrg_io::f32_values(t)));
        }
    }

    fn visit_int<const D: usize>(&mut self, _param: &Param<Tensor<B, D, Int>>) {
        self.others += usize::from(!self.skipped());
    }

    fn visit_bool<const D: usize>(&mut self, _param: &Param<Tensor<B, D, Bool>>) {
        self.others += usize::from(!self.skipped());
    }
}

/// Every float parameter of `module` outside the top-level fields `skip`, named by its module
/// path (fields joined by `.`, enum variants and vector indices included).
pub fn named_tensors<B: TrrgOps, M: Module<B>>(module: &M, skip: &[&str]) -> Vec<NamedTensor> {
    let mut collect = Collect {
        path: Vec::new(),
        skip: skip.iter().map(|s| s.to_string()).collect(),
        out: Vec::new(),
        others: 0,
    };
    module.visit(&mut collect);
    assert_eq!(
        collect.others, 0,
        "trrg's modules hold float parameters only"
    );
    collect.out
}

/// Sets every float parameter by name from `file`.
struct Assign<'a, B: TrrgOps> {
    path: Vec<String>,
    skip: Vec<String>,
    file: &'a mut WeightFile,
    device: B::Device,
    error: Option<trrg_io::Error>,
}

impl<B: TrrgOps> ModuleMapper<B> for Assign<'_, B> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.error.is_some() || self.path.first().is_some_and(|top| self.skip.contains(top)) {
            return param;
        }
        let name = self.path.join(".");
        let shape: [usize; D] = param.dims();
        match self.file.values(&name, &shape) {
            Ok(values) => {
                let tensor = Tensor::from_data(TensorData::new(values, shape), &self.device);
                let tensor = if param.is_require_grad() {
                    tensor.require_grad()
                } else {
                    tensor
                };
                Param::initialized(param.id, tensor)
            }
            Err(e) => {
                self.error = Some(e);
                param
            }
        }
    }
}

/// `module` with every float parameter outside the top-level fields `skip` read from `file` by
/// its module path ([`named_tensors`]); each must be there with its shape, and every tensor of
/// the file must be used.
pub fn load_named_tensors<B: TrrgOps, M: Module<B>>(
    module: M,
    mut file: WeightFile,
    skip: &[&str],
    device: &B::Device,
) -> Result<M> {
    let mut assign = Assign::<B> {
        path: Vec::new(),
        skip: skip.iter().map(|s| s.to_string()).collect(),
        file: &mut file,
        device: device.clone(),
        error: None,
    };
    let module = module.map(&mut assign);
    if let Some(e) = assign.error {
        return Err(e.into());
    }
    file.finish()?;
    Ok(module)
}

/// The LLM's token ids for `config.json`.
fn token_ids(vocab: &dyn trrg_tokenize::ReportTokenizer) -> HfTokenIds {
    HfTokenIds {
        bos: Some(vocab.bos_id()),
        eos: Some(vocab.eos_id()),
        pad: Some(vocab.pad_id()),
    }
}

/// Probe ids (the first 16 ids of the vocabulary) and trrg's logits on them
/// (`[1, len, vocab]`), for checking that another loader reads the same model.
fn probe_logits<B: TrrgOps>(llm: &LlamaForCausalLM<B>, device: &B::Device) -> Result<Value> {
    let vocab = llm.model.embed_tokens.weight.dims()[0];
    let ids: Vec<i64> = (0..vocab.min(16) as i64).collect();
    let len = ids.len();
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [1, len]), device);
    let logits = llm.forward_embeds(llm.embed(input), trrg_llm::real_mask(1, len, device), None)?;
    let values = trrg_io::f32_values(logits);
    let rows: Vec<&[f32]> = values.chunks(vocab).collect();
    Ok(serde_json::json!({
        "input_ids": [ids],
        "logits": [rows],
        "note": "trrg's logits of LlamaForCausalLM on input_ids, no attention mask (all ones)",
    }))
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|source| Error::Io {
        action: "cannot read",
        path: from.to_path_buf(),
        source,
    })?;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "cannot create",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(write_atomic(to, &bytes)?)
}

/// The model card.
fn model_card(info: &ExportInfo, config: &TrainConfig, metrics: Option<&Value>) -> String {
    let mut card = format!(
        "# TRRG report generator (trrg export)\n\n\
         Exported by trrg from the run `{}` (checkpoint `{}`).\n\n\
         - Data provenance: **{}**{}\n\
         - Dataset layout: {}, preset `{}`, clues `{}`, consistency loss {}, seed {}\n\n",
        info.source_run,
        info.checkpoint,
        info.provenance,
        match info.provenance.as_str() {
            "synthetic" =>
                " (procedurally drawn radiographs with template reports; not for clinical use)",
            "semi-synthetic" =>
                " (real report text, synthetic images drawn from its labels; not for clinical use)",
            _ => "",
        },
        config.dataset.name(),
        config.preset,
        config.clue.mode,
        config.clue.consistency_loss,
        config.seed,
    );
    match metrics.and_then(|m| m.get("test")) {
        Some(test) => {
            card += "## Test-split metrics of the run\n\n| metric | value |\n|---|---|\n";
            for key in [
                "BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr",
            ] {
                if let Some(v) = test[key].as_f64() {
                    card += &format!("| {key} | {v:.4} |\n");
                }
            }
            if let Some(f1) = test["CE"]["f1"].as_f64() {
                card += &format!(
                    "| CE micro-F1 (r2gen convention, labeler on both reports) | {f1:.4} |\n"
                );
            }
            if let Some(f1) = test["CE_vs_ground_truth"]["f1"].as_f64() {
                card += &format!(
                    "| CE micro-F1 against the dataset's ground-truth labels | {f1:.4} |\n"
                );
            }
            if let Some(m) = test["METEOR_modules"].as_str() {
                card += &format!("\nMETEOR modules: {m}.\n");
            }
        }
        None => card += "The run has no test metrics (metrics.json) yet.\n",
    }
    card += "\n## Files\n\n\
        - `llm/`: the language model in Hugging Face Llama layout \
        (`transformers.LlamaForCausalLM.from_pretrained(\"llm\")`); LoRA adapters, when trained, \
        in PEFT layout beside it (`adapter_config.json`, `adapter_model.safetensors`).\n\
        - `model.safetensors`: the visual encoder, text encoder, alignment head, clue injector, \
        interaction and projections, named by their trrg module paths.\n\
        - `config.json`, `vocab.json`, `diseases.json`, `clue_thresholds.json`: what trrg needs to \
        run it: `trrg generate --checkpoint DIR`, `trrg predict --checkpoint DIR`, \
        `trrg serve --checkpoint DIR`.\n";
    card
}

/// What [`export_run`] wrote.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    /// `export.json`.
    pub info: ExportInfo,
    /// Tensors in `model.safetensors`.
    pub model_tensors: usize,
    /// Tensors in `llm/model.safetensors`.
    pub llm_tensors: usize,
    /// Whether LoRA adapters were written.
    pub lora: bool,
}

/// An export writes only into a new or empty folder, or over an earlier export of the same run:
/// never into the run directory, nor over a folder that holds anything else.
fn check_export_target(run_dir: &Path, out: &Path) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::InvalidConfig {
            field: "out".into(),
            reason,
        })
    };
    if out.is_file() {
        return refuse(format!("{} is a file; give a new folder", out.display()));
    }
    let Ok(mut entries) = std::fs::read_dir(out) else {
        return Ok(()); // not there yet: created below
    };
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(out, run_dir) {
        return refuse(format!(
            "{} is the run directory itself; give a new folder, e.g. {}",
            out.display(),
            run_dir.join("export").display()
        ));
    }
    if entries.next().is_none() {
        return Ok(());
    }
    let earlier: Option<ExportInfo> = trrg_io::read_json(&out.join(EXPORT_FILE)).ok();
    match earlier {
        Some(info) if same(Path::new(&info.source_run), run_dir) => Ok(()),
        Some(info) => refuse(format!(
            "{} holds an export of another run ({}); give a new folder, or remove it first",
            out.display(),
            info.source_run
        )),
        None => refuse(format!(
            "{} is not empty and is not an export of this run; give a new or empty folder, or \
             remove it first",
            out.display()
        )),
    }
}

/// Exports the best (else latest) checkpoint of `run_dir` to `out` (see the module docs).
pub fn export_run<B: TrrgOps>(
    run_dir: &Path,
    out: &Path,
    device: &B::Device,
) -> Result<ExportSummary> {
    let run = RunDir::new(run_dir);
    if run.root().join(EXPORT_FILE).is_file() {
        return Err(Error::InvalidConfig {
            field: "checkpoint".into(),
            reason: format!("{} is already an exported directory", run_dir.display()),
        });
    }
    check_export_target(run_dir, out)?;
    let (model, config, tokenizers, file) = crate::generator::load_run_model::<B>(&run, device)?;
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        action: "cannot create",
        path: out.to_path_buf(),
        source,
    })?;
    let out_dir = RunDir::new(out);
    let metrics: Option<Value> = trrg_io::read_json(&run.path("metrics.json")).ok();
    let provenance = metrics
        .as_ref()
        .and_then(|m| m["dataset"].as_str())
        .and_then(|d| {
            ["semi-synthetic", "synthetic", "real"]
                .into_iter()
                .find(|k| d.contains(&format!("({k})")))
        })
        .unwrap_or("unknown")
        .to_string();
    let info = ExportInfo {
        format: EXPORT_FORMAT.into(),
        version: EXPORT_VERSION,
        source_run: run_dir.display().to_string(),
        checkpoint: file,
        provenance,
    };
    // The LLM: HF layout, adapters in PEFT layout.
    let llm_dir = out.join(EXPORT_LLM_DIR);
    let lora = match &config.stage2_llm {
        LlmTraining::Lora(l) => Some(l),
        _ => None,
    };
    let llm_config = config.model_config(tokenizers.reports.vocab_size())?.llm;
    model
        .llm
        .save_pretrained(&llm_config, token_ids(&*tokenizers.reports), lora, &llm_dir)?;
    let llm_tensors = model.llm.hf_tensors().len();
    write_atomic(
        &llm_dir.join("trrg_logits.json"),
        pretty_json(&probe_logits(&model.llm, device)?).as_bytes(),
    )?;
    // Everything else under its module path.
    let tensors = named_tensors(&model, &["llm"]);
    let metadata = HashMap::from([
        ("format".to_string(), "trrg".to_string()),
        (
            "note".to_string(),
            "TRRG parameters outside the LLM, named by trrg module path; Linear weights are [d_in, d_out]".to_string(),
        ),
    ]);
    trrg_io::write_safetensors(&out.join(EXPORT_MODEL_FILE), &tensors, Some(metadata))?;
    // What inference reads besides the weights.
    let mut exported = config.clone();
    if let Some(base) = &config.base {
        let mut moved = base.clone();
        let tokenizer = base.paths().llm_tokenizer()?;
        tokenizer
            .save(llm_dir.join("tokenizer.json"), false)
            .map_err(|e| Error::InvalidConfig {
                field: "base.llm".into(),
                reason: format!("cannot write its tokenizer: {e}"),
            })?;
        moved.llm = PathBuf::from(EXPORT_LLM_DIR);
        for name in ["config.json", "tokenizer.json"] {
            copy_file(&base.text.join(name), &out.join("text").join(name))?;
        }
        moved.text = PathBuf::from("text");
        let vision_config = out.join("vision").join("config.json");
        if trrg_vision::is_pytorch_checkpoint(&base.vision) {
            write_atomic(
                &vision_config,
                pretty_json(&serde_json::json!({"model_type": trrg_model::EFFICIENTNET_LITE0}))
                    .as_bytes(),
            )?;
        } else {
            copy_file(&base.vision.join("config.json"), &vision_config)?;
        }
        moved.vision = PathBuf::from("vision");
        exported.base = Some(moved);
    }
    out_dir.write_config(&exported)?;
    if let Some(words) = &tokenizers.words {
        out_dir.write_vocab(words)?;
    }
    for name in ["diseases.json", crate::CLUE_THRESHOLDS_FILE] {
        if run.path(name).is_file() {
            copy_file(&run.path(name), &out.join(name))?;
        }
    }
    write_atomic(
        &out.join("README.md"),
        model_card(&info, &config, metrics.as_ref()).as_bytes(),
    )?;
    write_atomic(&out.join(EXPORT_FILE), pretty_json(&info).as_bytes())?;
    Ok(ExportSummary {
        info,
        model_tensors: tensors.len(),
        llm_tensors,
        lora: lora.is_some(),
    })
}

/// Loads the model of an exported directory `dir` for `config` (already read from it, its
/// base paths resolved): the non-LLM parameters from `model.safetensors`, the LLM from `llm/`.
pub(crate) fn load_exported<B: TrrgOps>(
    dir: &Path,
    model: Trrg<B>,
    config: &TrainConfig,
    device: &B::Device,
) -> Result<Trrg<B>> {
    let file = WeightFile::open(dir.join(EXPORT_MODEL_FILE))?;
    let mut model = load_named_tensors(model, file, &["llm"], device)?;
    let llm_dir = dir.join(EXPORT_LLM_DIR);
    let (llm, _) = LlamaForCausalLM::<B>::from_pretrained(&llm_dir, device)?;
    model.llm = match config.stage2_llm {
        LlmTraining::Lora(_) => llm.load_lora(&llm_dir, device)?.0,
        _ => llm,
    };
    Ok(model)
}

/// An exported directory's config with its relative base-preset paths resolved against `dir`.
pub(crate) fn resolve_exported_paths(dir: &Path, mut config: TrainConfig) -> TrainConfig {
    if let Some(base) = config.base.as_mut() {
        for path in [&mut base.vision, &mut base.text, &mut base.llm] {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    }
    config
}

/// The tensor names an exported directory must hold (for checks without torch): the HF Llama
/// names of `config`'s LLM.
pub fn hf_llama_names(layers: usize, tied: bool) -> HashSet<String> {
    let mut names: HashSet<String> = ["model.embed_tokens.weight", "model.norm.weight"]
        .into_iter()
        .map(String::from)
        .collect();
    if !tied {
        names.insert("lm_head.weight".into());
    }
    for i in 0..layers {
        for n in [
            "input_layernorm",
            "post_attention_layernorm",
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ] {
            names.insert(format!("model.layers.{i}.{n}.weight"));
        }
    }
    names
}
