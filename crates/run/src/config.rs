//! Training settings: one JSON-serializable struct, unknown fields rejected.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trrg_data::{DatasetKind, ImageTransformConfig, ResizeMode, SpecialTokens};
use trrg_model::{ClueOptions, PretrainedPaths, TrrgConfig, VisionEncoderConfig};

use crate::{Error, Precision};

/// Learning-rate decay after warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// Cosine to zero (default).
    #[default]
    Cosine,
    /// Linear to zero (R2GenGPT).
    Linear,
    /// Constant after warm-up.
    Constant,
}

/// Whether a part of the model is trained in stage 2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freeze {
    /// Trained (default).
    #[default]
    Trainable,
    /// Frozen.
    Frozen,
}

/// How the LLM is trained in stage 2.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmTraining {
    /// Every LLM weight is trained (default: the tiny preset's LLM starts from scratch).
    #[default]
    Full,
    /// The LLM is frozen; only the soft prompt (visual and clue paths) learns to drive it.
    Frozen,
    /// The LLM is frozen and low-rank adapters are trained (PEFT names and defaults: r 8,
    /// alpha 16, q/v projections), as R2GenGPT's "delta" setting.
    Lora(trrg_llm::LoraConfig),
}

/// Optimizer and schedule of one stage (AdamW, warm-up, decay, clipping, accumulation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Learning-rate factor of the visual encoder (a second parameter group).
    pub vision_lr_scale: f64,
    /// Learning-rate factor of the clue heads (the refinement, the locator and the per-disease
    /// readout; a third parameter group when not 1). Default 1.
    pub clue_lr_scale: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Fraction of the steps spent warming up linearly from 0.
    pub warmup_ratio: f64,
    /// Decay after warm-up.
    pub decay: Decay,
    /// Per-tensor gradient-norm clipping (each parameter's gradient scaled to norm at most this,
    /// Burn's `GradientClipping::Norm`); 0 = off (the default).
    pub grad_clip: f64,
    /// Global gradient-norm clipping (all trained parameters' gradients scaled together to a
    /// joint L2 norm of at most this, as `torch.nn.utils.clip_grad_norm_`, PyTorch's, HF's and
    /// Lightning's convention); 0 = off. Default 1.0. Applied before `grad_clip` when both are
    /// set (then a `grad_clip` at least as large never acts: each tensor's norm is at most the
    /// joint one).
    pub grad_clip_norm: f64,
    /// Batches whose gradients are summed before one optimizer step.
    pub accumulation: usize,
}

impl Default for StageConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            lr: 5e-4,
            vision_lr_scale: 1.0,
            clue_lr_scale: 1.0,
            weight_decay: 0.01,
            warmup_ratio: 0.05,
            decay: Decay::Cosine,
            grad_clip: 0.0,
            grad_clip_norm: 1.0,
            accumulation: 1,
        }
    }
}

/// How the best checkpoint is chosen on the validation split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// 0.5 * BLEU_4 + 0.5 * CIDEr (R2GenGPT's choice).
    Bleu4Cider,
    /// CE F1 in the r2gen convention (PromptMRG's choice; the default: BLEU and CIDEr reward
    /// the fluent all-normal report, and chose it on validation in docs/results.md).
    #[default]
    CeF1,
}

/// Validation and test decoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Validate every this many stage-2 epochs (and always after the last).
    pub every_epochs: usize,
    /// Beam width of the test evaluation, `trrg predict`, `generate` and `serve`. Default 12
    /// since 2026-12-07, with `clue_rerank` (3 before, R2GenGPT's; a run directory keeps the
    /// width it was written with).
    pub num_beams: usize,
    /// Beam width of validation during training (1 = greedy, much faster on the CPU).
    pub val_num_beams: usize,
    /// Most generated tokens (R2GenGPT IU-Xray: 100).
    pub max_new_tokens: usize,
    /// Fewest generated tokens before EOS may end a report.
    pub min_new_tokens: usize,
    /// Repetition penalty (R2GenGPT: 2.0; 1 = off).
    pub repetition_penalty: f64,
    /// Length penalty of beam search (R2GenGPT: 2.0).
    pub length_penalty: f64,
    /// Forbid repeating n-grams of this size (0 = off), as transformers'
    /// `no_repeat_ngram_size`. Default 6 since 2026-12-06 (0 before; a run directory without the
    /// field is read with 0): on the default synthetic set it removed every report that repeats
    /// a sentence (docs/results.md) and left CE F1 as it was.
    pub no_repeat_ngram_size: usize,
    /// Of beam search's `num_beams` best reports, keep the first whose labels (trrg's labeler)
    /// disagree with the fewest hard clue decisions, instead of the likeliest
    /// ([`crate::most_consistent`]). Only for hard clues and beam search. Default true since
    /// 2026-12-07 (docs/results.md); a run directory of config format 2 or older is read
    /// with false.
    pub clue_rerank: bool,
    /// Score that picks the best checkpoint.
    pub selection: Selection,
    /// Evaluate only the first N validation studies (None = all).
    pub val_limit: Option<usize>,
}

impl EvalConfig {
    /// Reports beam search returns per study at width `num_beams`: all of them for
    /// `clue_rerank` to choose from, else the likeliest.
    pub fn returned_sequences(&self, num_beams: usize) -> usize {
        match self.clue_rerank {
            true => num_beams,
            false => 1,
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every_epochs: 2,
            num_beams: 12,
            val_num_beams: 1,
            max_new_tokens: 100,
            min_new_tokens: 0,
            repetition_penalty: 1.0,
            length_penalty: 1.0,
            no_repeat_ngram_size: 6,
            clue_rerank: true,
            selection: Selection::CeF1,
            val_limit: None,
        }
    }
}

/// Model size presets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// CPU-sized model trained from scratch ([`TrrgConfig::tiny`]).
    #[default]
    Tiny,
    /// The smallest working model (width 32, one block each) for tests and smoke runs.
    Micro,
    /// Pretrained visual encoder, text encoder and LLM ([`TrrgConfig::base`]), named by
    /// [`TrainConfig::base`]; reports use the LLM's tokenizer, sentences the text encoder's.
    Base,
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tiny => "tiny",
            Self::Micro => "micro",
            Self::Base => "base",
        })
    }
}

/// The checkpoints of the `base` preset and their tokenizers' special tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseParts {
    /// Visual encoder: a HF ViT or Swin directory, or an EfficientNet-Lite0 `.pth`.
    pub vision: PathBuf,
    /// Text encoder: a HF BERT directory with `tokenizer.json`.
    pub text: PathBuf,
    /// LLM: a HF LLaMA-family directory with `tokenizer.json`, or a `.gguf`.
    ///
    /// Each of the three may also be a Hub model id (`org/name`) cached locally; training
    /// replaces it by the cached snapshot's directory (see [`BaseParts::resolve_hub_ids`]).
    pub llm: PathBuf,
    /// The LLM tokenizer's report start, end and padding tokens. Default LLaMA's `<s>`, `</s>`,
    /// `</s>`; SmolLM2 uses `<|im_start|>`, `<|im_end|>`, `<|endoftext|>`.
    #[serde(default = "llama_tokens")]
    pub llm_tokens: SpecialTokens,
    /// The text encoder's sentence start, end and padding tokens. Default BERT's `[CLS]`,
    /// `[SEP]`, `[PAD]`.
    #[serde(default = "bert_tokens")]
    pub text_tokens: SpecialTokens,
}

fn llama_tokens() -> SpecialTokens {
    SpecialTokens {
        bos: "<s>".into(),
        eos: "</s>".into(),
        pad: "</s>".into(),
    }
}

fn bert_tokens() -> SpecialTokens {
    SpecialTokens {
        bos: "[CLS]".into(),
        eos: "[SEP]".into(),
        pad: "[PAD]".into(),
    }
}

impl BaseParts {
    /// The three checkpoints as the model crate names them.
    pub fn paths(&self) -> PretrainedPaths {
        PretrainedPaths {
            vision: self.vision.clone(),
            text: self.text.clone(),
            llm: self.llm.clone(),
        }
    }

    /// The parts with each Hub model id (`org/name`, not a path) replaced by its snapshot
    /// directory in the local Hugging Face cache ([`trrg_io::resolve_model`]; offline only).
    pub fn resolve_hub_ids(&self) -> crate::Result<Self> {
        Ok(Self {
            vision: trrg_io::resolve_model(&self.vision)?,
            text: trrg_io::resolve_model(&self.text)?,
            llm: trrg_io::resolve_model(&self.llm)?,
            ..self.clone()
        })
    }
}

/// Options of the visual encoder that the tiny preset trains from scratch (a ViT with a
/// convolutional stem, [`trrg_model::TrrgConfig::tiny`]); the micro and base presets ignore
/// them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScratchVision {
    /// BatchNorm after each convolution of the stem (`VitConfig::conv_stem_norm`). Default
    /// true since 2026-12-03; a run directory written before has no `vision` field and is read
    /// with false, as it was trained.
    pub stem_norm: bool,
    /// Output channels of the stem's 3x3, stride-2 convolutions (`VitConfig::conv_stem`); the
    /// patch projection's kernel shrinks to `16 / 2^len`, so at most 4 entries keep the 8 x 8
    /// patch grid. Default `[16, 32, 64]`.
    pub conv_stem: Vec<usize>,
    /// Transformer blocks of the encoder. Default 4.
    pub layers: usize,
    /// MLP inner width of each block. Default 256.
    pub mlp: usize,
}

impl Default for ScratchVision {
    fn default() -> Self {
        Self {
            stem_norm: true,
            conv_stem: vec![16, 32, 64],
            layers: 4,
            mlp: 256,
        }
    }
}

/// Everything a training run needs besides the data directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// IU-Xray (two views) or MIMIC-CXR (one view) layout and cleaning.
    pub dataset: DatasetKind,
    /// Model preset.
    pub preset: Preset,
    /// The pretrained parts of the `base` preset (required with it, unused otherwise).
    pub base: Option<BaseParts>,
    /// The clue path: the ablation switch, the consistency loss, teacher forcing, hard and
    /// fitted clue thresholds, lexical clues, refinement and localization (see
    /// [`ClueOptions`]; `"clue": {"mode": "off"}` in a config file).
    pub clue: ClueOptions,
    /// Disease set JSON (None = the 14 CheXpert observations).
    pub diseases: Option<std::path::PathBuf>,
    /// Seed of initialization, data order, augmentation and dropout.
    pub seed: u64,
    /// Studies per batch.
    pub batch_size: usize,
    /// Image preprocessing.
    pub image: ImageTransformConfig,
    /// The visual encoder the tiny preset trains from scratch (the other presets ignore it).
    pub vision: ScratchVision,
    /// Word-vocabulary threshold (None = the dataset's R2Gen default).
    pub vocab_threshold: Option<usize>,
    /// Longest report in tokens with BOS/EOS (None = the dataset's R2Gen default).
    pub max_seq_length: Option<usize>,
    /// Longest sentence or prompt for the text encoder.
    pub max_sentence_length: usize,
    /// Stage 1 (contrastive pre-training); 0 epochs skips it.
    pub stage1: StageConfig,
    /// Stage 2 (clue-enhanced fine-tuning); 0 epochs makes a stage-1-only run, the perception
    /// probe: no stage 2 and no test, and `metrics.json` holds the validation split's zero-shot
    /// and full clue AUC, a linear probe on the encoder's features and the prompts'
    /// conditioning.
    pub stage2: StageConfig,
    /// Label-aware positives in stage 1's InfoNCE (MedCLIP's idea, with trrg's labeler): besides
    /// its own report's sentences, each study is positive with every sentence of the batch that
    /// is true of it by its labels ("no pleural effusion" for any study without an effusion),
    /// instead of treating it as a negative. Validation keeps the plain InfoNCE, so its loss
    /// compares across settings. Default false.
    pub stage1_label_positives: bool,
    /// Lead each CheXpert disease's prompts with the training corpus's own phrasing: the most
    /// frequent training sentence that states it present (absent), alone, by trrg's labeler. The
    /// first positive prompt is a disease's clue words, so the LLM reads the sentence the
    /// reports use; the zero-shot prompts then average over sentences that occur. The run's
    /// `diseases.json` holds the result, which inference reads. Default false.
    pub corpus_prompts: bool,
    /// Report edits in stage 2: each epoch, this share of the training studies have one
    /// finding flipped in their report and their teacher-forced clues, while the image and
    /// the consistency loss's labels stay. A finding absent from the study is written in (the
    /// report's sentences mentioning it give way to a training sentence stating it alone), a
    /// present one is written out (its sentences give way to one stating it absent, where the
    /// corpus has one); No Finding follows the label rule. The sentences and what they state
    /// come from the training corpus and trrg's labeler. The reader then meets reports that
    /// only the clues explain, and has to read them (`trrg obey` measures it). Needs clues and
    /// teacher forcing. Default 0 (no edits).
    pub stage2_report_edits: f64,
    /// Rare positives oversampled in stage 2: each training study with a positive label of an
    /// observation that fewer than 5 % of the training studies have appears this many more
    /// times in each stage-2 epoch, shuffled among the rest, so the consistency loss and the
    /// reader meet the rare findings (and their clue words) more often. The epoch grows by as
    /// many rows (149 studies of the default synthetic set's 840). Default 1 since late on
    /// 2026-12-07: with reranked beams it wins validation in every seed and the fresh set
    /// confirms it (docs/results.md); 0 before (a version-0 config without the field reads 0).
    pub stage2_rare_repeats: usize,
    /// Visual encoder in stage 2.
    pub stage2_vision: Freeze,
    /// LLM in stage 2: `"full"`, `"frozen"` or `{"lora": {"r": 8, "lora_alpha": 16, ...}}`.
    pub stage2_llm: LlmTraining,
    /// Data-parallel workers of stage 2: each batch is split into this many contiguous shards,
    /// each trained by a worker thread holding a replica of the model, and their gradients are
    /// summed before one optimizer step (see `trrg_train::DataParallel`). The workers take the
    /// devices in turn: with one device (the CPU) they share it, which keeps two cores busy
    /// where one batch alone keeps one; with `--devices` listing more devices than this, there
    /// is one worker per device. Workers run their forward passes side by side, each drawing
    /// from its own random stream (`parallel_forward`), so a run repeats exactly. The count
    /// is part of the computation (the LM loss is a mean over each shard's tokens, as in
    /// PyTorch's DDP), so it lives in the config, not in the machine. Default 2 since
    /// 2026-12-03; a run directory written before has no such field and is read with 1, as it
    /// was trained.
    pub stage2_workers: usize,
    /// Data-parallel workers of stage 1, as `stage2_workers`, with the InfoNCE over the global
    /// batch: each worker embeds a contiguous shard of the batch's studies and of its
    /// deduplicated sentences, the workers exchange their embeddings, and each scores the
    /// whole batch's similarities with gradient through its own embeddings only (open_clip's
    /// gather with the local part differentiable, `local_loss` off), so the summed gradients
    /// equal the one-worker InfoNCE's. The negation contrast is a mean over each shard's
    /// studies, weighted by the shard's share; batch statistics (the stem's BatchNorm) are each
    /// shard's. Default 2 since the evening of 2026-12-07 (with `parallel_forward`, two workers
    /// keep both cores busy); a run directory written before has no such field and is read
    /// with 1, as it was trained (one worker: the InfoNCE on the calling thread).
    pub stage1_workers: usize,
    /// Data-parallel workers that share a device (the CPU) run their forward passes side by
    /// side, each drawing its dropout masks and teacher-forcing coins from a stream of its own
    /// (`trrg_io::random`, seeded by the run seed, stage, epoch, batch and worker), so a run
    /// still repeats exactly. False: in turn, from the backend's one generator, as runs before
    /// the evening of 2026-12-07 did (side by side, their draws would interleave in thread
    /// order). Workers also take turns where an encoder's burn `TransformerEncoder` has a
    /// dropout (`Trrg::backend_dropout`), which draws from the backend. Default true; a run
    /// written before (format version 0 or 1) is read with false.
    pub parallel_forward: bool,
    /// Validation and test decoding.
    pub eval: EvalConfig,
    /// Checkpoints kept besides the best.
    pub keep_last: usize,
    /// Float type of the whole run: `"f32"` (default), `"bf16"` or `"f16"` where the backend
    /// computes in it (see [`Precision`]); set once per process.
    pub precision: Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::IuXray,
            preset: Preset::Tiny,
            base: None,
            clue: ClueOptions::default(),
            diseases: None,
            seed: 42,
            batch_size: 16,
            image: ImageTransformConfig {
                resize: 144,
                resize_mode: ResizeMode::Square,
                crop: 128,
                hflip_prob: 0.0,
                channels: 1,
                mean: vec![0.5],
                std: vec![0.25],
            },
            vision: ScratchVision::default(),
            vocab_threshold: None,
            max_seq_length: None,
            max_sentence_length: 32,
            stage1: StageConfig {
                epochs: 5,
                lr: 5e-4,
                weight_decay: 0.05,
                ..StageConfig::default()
            },
            stage2: StageConfig {
                epochs: 12,
                lr: 1e-3,
                ..StageConfig::default()
            },
            stage1_label_positives: false,
            corpus_prompts: false,
            stage2_report_edits: 0.0,
            stage2_rare_repeats: 1,
            stage2_vision: Freeze::Trainable,
            stage2_llm: LlmTraining::Full,
            stage2_workers: 2,
            stage1_workers: 2,
            parallel_forward: true,
            eval: EvalConfig::default(),
            keep_last: 1,
            precision: Precision::F32,
        }
    }
}

/// The format of a run's `config.json`, written in it as `"format_version"`. Version 0 (no
/// such key) is every file written before the key existed (2026-12-07). Version 1 writes
/// every field, so a later change of a default needs no migration; a new field whose default
/// is not how older runs trained raises the version and teaches [`migrate_config`] the value
/// those runs were trained with.
pub const CONFIG_FORMAT: u64 = 3;

/// The key of [`CONFIG_FORMAT`] in `config.json`.
pub(crate) const FORMAT_KEY: &str = "format_version";

/// Brings a `config.json` document written at `version` to [`CONFIG_FORMAT`]: each step
/// writes in the values that runs of that version were trained with where today's default
/// differs. Version 0 files were written with or without the fields added since (they hold
/// the fields the config had then), so a version-0 field that is absent is the only sign of
/// an older run: no stem BatchNorm without `vision`, no clue words without `clue.words`, no
/// spatial clue readout without `clue.spatial`, its 4 x 4 grid without `clue.spatial_grid`,
/// unshrunk clue thresholds without `clue.threshold_shrinkage`, one stage-2 worker without
/// `stage2_workers`, one stage-1 worker without `stage1_workers`, no n-gram ban without
/// `eval.no_repeat_ngram_size`, no repeated rare positives without `stage2_rare_repeats`.
/// Versions 0 and 1 ran data-parallel workers' forward passes in turn (`parallel_forward`
/// false). Versions 0 to 2 kept beam search's likeliest report (`eval.clue_rerank` false).
pub fn migrate_config(doc: &mut serde_json::Value, version: u64) {
    use serde_json::json;
    if version == 0 {
        // (the field whose absence marks an older run, the values that run was trained with)
        let older = [
            ("/vision", vec![("/vision/stem_norm", json!(false))]),
            ("/clue/words", vec![("/clue/words", json!(false))]),
            (
                "/clue/spatial",
                vec![
                    ("/clue/spatial", json!(false)),
                    ("/clue/spatial_fit", json!(false)),
                ],
            ),
            ("/clue/spatial_grid", vec![("/clue/spatial_grid", json!(4))]),
            (
                "/clue/threshold_shrinkage",
                vec![("/clue/threshold_shrinkage", json!(0.0))],
            ),
            ("/stage2_workers", vec![("/stage2_workers", json!(1))]),
            ("/stage1_workers", vec![("/stage1_workers", json!(1))]),
            (
                "/stage2_rare_repeats",
                vec![("/stage2_rare_repeats", json!(0))],
            ),
            (
                "/eval/no_repeat_ngram_size",
                vec![("/eval/no_repeat_ngram_size", json!(0))],
            ),
        ];
        for (marker, values) in older {
            if doc.pointer(marker).is_none() {
                for (pointer, value) in values {
                    insert_at(doc, pointer, value);
                }
            }
        }
    }
    if version < 2 {
        insert_at(doc, "/parallel_forward", json!(false));
    }
    if version < 3 {
        insert_at(doc, "/eval/clue_rerank", json!(false));
    }
}

/// Sets the field at the JSON `pointer` (one or two levels: `/field` or `/section/field`),
/// making the section an object where it is absent; a section of another type is left for
/// the deserializer to report.
fn insert_at(doc: &mut serde_json::Value, pointer: &str, value: serde_json::Value) {
    let mut target = doc;
    let mut parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let Some(field) = parts.pop() else { return };
    for section in parts {
        let Some(object) = target.as_object_mut() else {
            return;
        };
        target = object
            .entry(section)
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    if let Some(object) = target.as_object_mut() {
        object.insert(field.into(), value);
    }
}

impl TrainConfig {
    /// Reads a config file; unknown fields and wrong types are errors naming the JSON path.
    pub fn from_path(path: &Path) -> crate::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            action: "cannot read",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Parses and validates the JSON `text` of the config file `path` (named in errors). A
    /// field the file lacks takes today's default; a run's `config.json` (with its
    /// `"format_version"`) is read as [`Self::from_run_json`] reads it.
    pub fn from_json(text: &str, path: &Path) -> crate::Result<Self> {
        Self::parse(text, path, None)
    }

    /// Parses and validates a run's `config.json` (`path` is named in errors), written at any
    /// [`CONFIG_FORMAT`] up to today's; a file without `"format_version"` is version 0.
    /// [`migrate_config`] first brings an older document to today's format, so every field
    /// it lacks takes the value the run was trained with, not today's default.
    pub fn from_run_json(text: &str, path: &Path) -> crate::Result<Self> {
        Self::parse(text, path, Some(0))
    }

    /// The document of a run's `config.json`: the fields and `"format_version"`.
    pub fn to_run_json(&self) -> serde_json::Value {
        let mut doc = serde_json::to_value(self).expect("TrainConfig serializes (string keys)");
        if let Some(fields) = doc.as_object_mut() {
            fields.insert(FORMAT_KEY.into(), CONFIG_FORMAT.into());
        }
        doc
    }

    /// [`Self::from_json`] and [`Self::from_run_json`]: `absent` is the format of a document
    /// without `"format_version"` (None: today's, with no migration).
    fn parse(text: &str, path: &Path, absent: Option<u64>) -> crate::Result<Self> {
        // From the text itself, so that errors give its line and column.
        let from_text = || {
            let de = &mut serde_json::Deserializer::from_str(text);
            Self::checked(serde_path_to_error::deserialize(de), path)
        };
        let mut doc = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(doc @ serde_json::Value::Object(_)) => doc,
            // Not an object (or not JSON): the deserializer says where and why.
            _ => return from_text(),
        };
        let bad = |reason: String| Error::InvalidConfig {
            field: FORMAT_KEY.into(),
            reason: format!("{}: {reason}", path.display()),
        };
        let version = match doc.as_object_mut().and_then(|f| f.remove(FORMAT_KEY)) {
            None => absent,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| bad(format!("{v} is not a whole number")))?,
            ),
        };
        let Some(version) = version else {
            return from_text();
        };
        if version > CONFIG_FORMAT {
            return Err(bad(format!(
                "{version}, and this trrg reads up to {CONFIG_FORMAT} (a newer trrg wrote it)"
            )));
        }
        migrate_config(&mut doc, version);
        Self::checked(serde_path_to_error::deserialize(doc), path)
    }

    /// A deserialized config, validated, or the error naming `path` and the field.
    fn checked(
        parsed: std::result::Result<Self, serde_path_to_error::Error<serde_json::Error>>,
        path: &Path,
    ) -> crate::Result<Self> {
        let config = parsed.map_err(|e| Error::ConfigFile {
            path: path.to_path_buf(),
            at: e.path().to_string(),
            source: e.into_inner(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// This config with `key=value` overrides applied (`--set`): `key` is a dotted path into the
    /// config's JSON (`stage2.epochs`, `clue.consistency_weight`), `value` is read as JSON
    /// (`3`, `true`, `"text"`, `[1, 2]`, `null`) or else taken as a string. Unknown keys and wrong
    /// types are errors naming the override; the result is validated.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> crate::Result<Self> {
        let mut doc = serde_json::to_value(self).expect("TrainConfig serializes (string keys)");
        for (key, raw) in overrides {
            let bad = |reason: String| Error::InvalidConfig {
                field: key.clone(),
                reason,
            };
            let value: serde_json::Value = serde_json::from_str(raw)
                .unwrap_or_else(|_| serde_json::Value::String(raw.clone()));
            let parts: Vec<&str> = key.split('.').collect();
            if parts.iter().any(|p| p.is_empty()) {
                return Err(bad("an empty key segment (write `--set a.b=value`)".into()));
            }
            let (last, parents) = parts.split_last().expect("split yields one part at least");
            let mut node = &mut doc;
            for (depth, part) in parents.iter().enumerate() {
                let here = parts[..=depth].join(".");
                let object = node
                    .as_object_mut()
                    .ok_or_else(|| bad(format!("`{here}` is not a section of the config")))?;
                let child = object
                    .get_mut(*part)
                    .ok_or_else(|| bad(format!("the config has no section `{here}`")))?;
                if child.is_null() {
                    *child = serde_json::Value::Object(Default::default());
                }
                node = child;
            }
            let object = node
                .as_object_mut()
                .ok_or_else(|| bad("its parent is not a section of the config".into()))?;
            object.insert(last.to_string(), value);
        }
        let config: Self = serde_path_to_error::deserialize(doc).map_err(|e| {
            let at = e.path().to_string();
            Error::InvalidConfig {
                field: at,
                reason: format!("{} (from --set)", plain_types(&e.into_inner().to_string())),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field: &str, reason: String| {
            Err(Error::InvalidConfig {
                field: field.into(),
                reason,
            })
        };
        if (self.preset == Preset::Base) != self.base.is_some() {
            return bad(
                "base",
                "`\"preset\": \"base\"` needs `\"base\": {\"vision\", \"text\", \"llm\"}` \
                 (the pretrained checkpoints), and only it"
                    .into(),
            );
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.max_sentence_length < 3 {
            return bad("max_sentence_length", "must be at least 3".into());
        }
        if self.vision.layers == 0 || self.vision.mlp == 0 {
            return bad("vision", "`layers` and `mlp` must be at least 1".into());
        }
        if let Err(e) = self.clue.validate() {
            return match e {
                trrg_model::Error::InvalidConfig { field, reason } => bad(field, reason),
                other => bad("clue", other.to_string()),
            };
        }
        if let Err(e) = self.image.validate() {
            return bad("image", e.to_string());
        }
        for (name, stage) in [("stage1", &self.stage1), ("stage2", &self.stage2)] {
            if stage.lr.is_nan() || stage.lr <= 0.0 || !stage.lr.is_finite() {
                return bad(&format!("{name}.lr"), format!("{} must be > 0", stage.lr));
            }
            if stage.vision_lr_scale.is_nan() || stage.vision_lr_scale < 0.0 {
                return bad(&format!("{name}.vision_lr_scale"), "must be >= 0".into());
            }
            if !(stage.clue_lr_scale > 0.0 && stage.clue_lr_scale.is_finite()) {
                return bad(&format!("{name}.clue_lr_scale"), "must be > 0".into());
            }
            if !(0.0..1.0).contains(&stage.warmup_ratio) {
                return bad(
                    &format!("{name}.warmup_ratio"),
                    format!("{} is not in [0, 1)", stage.warmup_ratio),
                );
            }
            if stage.accumulation == 0 {
                return bad(&format!("{name}.accumulation"), "must be at least 1".into());
            }
            for (field, value) in [
                ("weight_decay", stage.weight_decay),
                ("grad_clip", stage.grad_clip),
                ("grad_clip_norm", stage.grad_clip_norm),
            ] {
                if value.is_nan() || value < 0.0 {
                    return bad(&format!("{name}.{field}"), format!("{value} must be >= 0"));
                }
            }
        }
        if let LlmTraining::Lora(lora) = &self.stage2_llm {
            if let Err(e) = lora.validate() {
                return bad("stage2_llm.lora", e.to_string());
            }
        }
        if self.stage2.epochs == 0 && self.stage1.epochs == 0 {
            return bad(
                "stage2.epochs",
                "0 (a stage-1-only run, the perception probe) needs stage1.epochs of at least 1"
                    .into(),
            );
        }
        if self.stage2_workers == 0 {
            return bad("stage2_workers", "must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.stage2_report_edits) {
            return bad(
                "stage2_report_edits",
                format!("{} is not in [0, 1]", self.stage2_report_edits),
            );
        }
        if self.stage2_report_edits > 0.0
            && (self.clue.mode == trrg_model::ClueMode::Off || self.clue.teacher_forcing == 0.0)
        {
            return bad(
                "stage2_report_edits",
                "edited reports are explained only by their clues: it needs clues \
                 (`clue.mode`) and teacher forcing (`clue.teacher_forcing` > 0)"
                    .into(),
            );
        }
        if self.stage1_workers == 0 {
            return bad("stage1_workers", "must be at least 1".into());
        }
        if self.eval.num_beams == 0
            || self.eval.val_num_beams == 0
            || self.eval.max_new_tokens == 0
            || self.eval.every_epochs == 0
        {
            return bad(
                "eval",
                "num_beams, max_new_tokens and every_epochs must be at least 1".into(),
            );
        }
        Ok(())
    }

    /// Test-time decoding settings (`eval`), ending reports at `eos_id`.
    pub fn generation(&self, eos_id: u32) -> trrg_llm::GenerationConfig {
        trrg_llm::GenerationConfig::new()
            .with_num_beams(self.eval.num_beams)
            .with_max_new_tokens(self.eval.max_new_tokens)
            .with_min_new_tokens(self.eval.min_new_tokens)
            .with_repetition_penalty(self.eval.repetition_penalty)
            .with_length_penalty(self.eval.length_penalty)
            .with_no_repeat_ngram_size(self.eval.no_repeat_ngram_size)
            .with_num_return_sequences(self.eval.returned_sequences(self.eval.num_beams))
            .with_eos_token_ids(vec![eos_id])
    }

    /// The model configuration for a vocabulary size (the `base` preset reads its parts'
    /// configs from the checkpoints instead).
    pub fn model_config(&self, vocab_size: usize) -> crate::Result<TrrgConfig> {
        let config = match (self.preset, &self.base) {
            (Preset::Tiny, _) => TrrgConfig::tiny(vocab_size),
            (Preset::Micro, _) => TrrgConfig::micro(vocab_size),
            (Preset::Base, Some(base)) => TrrgConfig::base(&base.paths())?,
            (Preset::Base, None) => {
                return Err(Error::InvalidConfig {
                    field: "base".into(),
                    reason: "the base preset needs its pretrained checkpoints".into(),
                })
            }
        };
        let mut config = config
            .with_clue(self.clue.clone())
            .with_max_views(self.dataset.n_views());
        // A pretrained encoder keeps its channels (gray images are repeated to three).
        let channels = match self.preset {
            Preset::Base => config.vision.channels(),
            _ => self.image.channels,
        };
        config.vision.set_input(channels, self.image.crop);
        if let (Preset::Tiny, VisionEncoderConfig::Vit(vit)) = (self.preset, &mut config.vision) {
            vit.conv_stem_norm = self.vision.stem_norm;
            vit.conv_stem = self.vision.conv_stem.clone();
            vit.num_hidden_layers = self.vision.layers;
            vit.intermediate_size = self.vision.mlp;
            vit.validate().map_err(|e| Error::InvalidConfig {
                field: "vision".into(),
                reason: e.to_string(),
            })?;
        }
        Ok(config)
    }
}

/// A serde message with Rust's type names in words ("expected usize" -> "expected a whole
/// number, 0 or more").
fn plain_types(message: &str) -> String {
    let mut out = message.to_string();
    for (rust, words) in [
        ("usize", "a whole number, 0 or more"),
        ("u64", "a whole number, 0 or more"),
        ("u32", "a whole number, 0 or more"),
        ("f64", "a number"),
        ("f32", "a number"),
    ] {
        out = out.replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(key: &str, value: &str) -> crate::Result<TrainConfig> {
        TrainConfig::default().with_overrides(&[(key.into(), value.into())])
    }

    #[test]
    fn the_scratch_encoder_shape_is_set_and_checked() {
        let vit = |config: TrainConfig| match config.model_config(50).unwrap().vision {
            VisionEncoderConfig::Vit(vit) => vit,
            other => panic!("the tiny preset builds a ViT, not {other:?}"),
        };
        let default = vit(TrainConfig::default());
        assert_eq!(
            (
                default.conv_stem,
                default.num_hidden_layers,
                default.intermediate_size
            ),
            (vec![16, 32, 64], 4, 256),
            "the defaults are the tiny preset's"
        );
        let deeper = vit(with("vision.layers", "6").unwrap());
        assert_eq!(deeper.num_hidden_layers, 6);
        let stem = vit(with("vision.conv_stem", "[16, 32, 64, 128]").unwrap());
        assert_eq!(stem.conv_stem, vec![16, 32, 64, 128]);
        let error = with("vision.mlp", "0").unwrap_err().to_string();
        assert!(error.contains("vision") && error.contains("mlp"), "{error}");
        // Five stride-2 convolutions do not fit a 16-px patch.
        let error = with("vision.conv_stem", "[8, 8, 8, 8, 8]")
            .unwrap()
            .model_config(50)
            .unwrap_err()
            .to_string();
        assert!(error.contains("conv_stem"), "{error}");
        let error = with("stage1_workers", "0").unwrap_err().to_string();
        assert!(error.contains("stage1_workers"), "{error}");
    }

    #[test]
    fn report_edits_need_a_share_clues_and_teacher_forcing() {
        assert_eq!(
            with("stage2_report_edits", "0.5")
                .unwrap()
                .stage2_report_edits,
            0.5
        );
        let error = with("stage2_report_edits", "1.5").unwrap_err().to_string();
        assert!(error.contains("stage2_report_edits"), "{error}");
        for (key, value) in [("clue.teacher_forcing", "0"), ("clue.mode", "\"off\"")] {
            let error = TrainConfig::default()
                .with_overrides(&[
                    ("stage2_report_edits".into(), "0.5".into()),
                    (key.into(), value.into()),
                ])
                .unwrap_err()
                .to_string();
            assert!(error.contains("teacher forcing"), "{key}: {error}");
        }
    }
}
