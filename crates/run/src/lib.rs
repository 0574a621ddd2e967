//! # trrg-run: the run directory, and inference from it
//!
//! A training run writes one directory; this crate owns its format, so that training
//! (`trrg-train`) writes it and inference ([`ReportGenerator`]) reads it, and inference does not
//! compile the training crate (autodiff, data parallelism, the synthetic renderer, the metrics).
//!
//! ```text
//! RUN/
//!   config.json            TrainConfig + format  RunDir::{write,read}_config
//!   vocab.json             WordVocab             RunDir::{write,read}_vocab   (not for `base`)
//!   diseases.json          DiseaseSet            RunDir::{write,read}_diseases
//!   checkpoints/state.json RunState              Checkpoints::{write,read}_state
//!   checkpoints/*.mpk      burn records          Checkpoints::{save,load}_record
//!   clue_thresholds.json   {disease: threshold}  RunDir::{write,read}_clue_thresholds
//!   log.jsonl, metrics.json, samples.jsonl, plots/   (written by trrg-train)
//! ```
//!
//! [`export_run`] writes a self-contained copy (safetensors, the LLM in HF layout) that
//! [`ReportGenerator::from_dir`] reads in place of a run directory.
#![warn(missing_docs)]

mod checkpoint;
mod config;
mod consistent;
mod dir;
mod error;
mod export;
mod generator;
mod inspect;
mod precision;
mod thresholds;
mod tokenizers;

pub use checkpoint::{param_shapes, Best, Checkpoints, RunState, RUN_STATE_FORMAT};
pub use config::{
    migrate_config, BaseParts, Decay, EvalConfig, Freeze, LlmTraining, Preset, Selection,
    StageConfig, TrainConfig, CONFIG_FORMAT,
};
pub use consistent::{most_consistent, report_text};
pub use dir::RunDir;
pub use error::{Error, Result};
pub use export::{
    export_run, hf_llama_names, load_named_tensors, named_tensors, ExportInfo, ExportSummary,
    EXPORT_FILE, EXPORT_LLM_DIR, EXPORT_MODEL_FILE,
};
pub use generator::{Evidence, Report, ReportGenerator};
pub use inspect::{inspect_trrg, param_table, ModelSummary};
pub use precision::Precision;
pub use thresholds::{
    kept_threshold, read_clue_thresholds, thresholds_by_name, CLUE_THRESHOLDS_FILE,
};
pub use tokenizers::RunTokenizers;
