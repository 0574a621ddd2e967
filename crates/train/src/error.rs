//! The error type of trrg-train.

use std::path::PathBuf;

/// What can go wrong while training, evaluating or checkpointing.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A training setting is impossible.
    #[error("invalid training config `{field}`: {reason}")]
    InvalidConfig {
        /// The field (dotted path).
        field: String,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// "cannot read", "cannot write", ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The run directory holds another run's results and would be overwritten.
    #[error("{path} already holds a run; pass --resume to continue it or choose another --out")]
    RunExists {
        /// The run directory.
        path: PathBuf,
    },
    /// A checkpoint is missing, unreadable or does not fit the model.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A directory given as a dataset is not in R2Gen layout.
    #[error("{dir} is not a dataset directory: it has no annotation.json (R2Gen layout: annotation.json + images/)")]
    NotADataset {
        /// The directory.
        dir: PathBuf,
    },
    /// Prediction input or a predictions file is unusable.
    #[error("{what}: {reason}")]
    Predictions {
        /// The file, line or study.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The dataset failed to load.
    #[error(transparent)]
    Data(#[from] trrg_data::Error),
    /// The run directory or its config (see `trrg_run`).
    #[error(transparent)]
    Run(#[from] trrg_run::Error),
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] trrg_io::Error),
    /// A report could not be tokenized or decoded.
    #[error(transparent)]
    Tokenize(#[from] trrg_tokenize::Error),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] trrg_model::Error),
    /// The disease set failed to load.
    #[error(transparent)]
    Clue(#[from] trrg_clue::Error),
    /// The metrics failed.
    #[error(transparent)]
    Metrics(#[from] trrg_metrics::Error),
    /// The LLM failed (e.g. adding LoRA adapters).
    #[error(transparent)]
    Llm(#[from] trrg_llm::Error),
    /// Data-parallel training failed (devices, collective all-reduce).
    #[error("data-parallel training: {0}")]
    Parallel(String),
    /// The run stopped on request ([`crate::StopFlag`]) after an epoch was saved; resume it.
    #[error("stopped on request after stage-{stage} epoch {epochs}; continue with --resume")]
    Stopped {
        /// The stage of the last epoch saved (1 or 2).
        stage: u8,
        /// That stage's epochs finished.
        epochs: usize,
    },
    /// The training produced a non-finite loss.
    #[error("the {stage} loss became {value} at step {step}; lower the learning rate")]
    Diverged {
        /// Stage name.
        stage: &'static str,
        /// Global step.
        step: usize,
        /// The loss value.
        value: f32,
    },
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
