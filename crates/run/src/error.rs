//! The error type of trrg-run.

use std::path::PathBuf;

/// A run directory that cannot be read or written, a config that is invalid, or an inference
/// request that does not fit the run.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting is impossible or inconsistent with another.
    #[error("invalid training config `{field}`: {reason}")]
    InvalidConfig {
        /// The setting (a JSON path into the config, e.g. `stage2.lr`).
        field: String,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// The config file is malformed, or has a field that does not exist.
    #[error("malformed config {path} at `{at}`: {source}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// Where in the document.
        at: String,
        /// The parse error (it lists the valid fields for an unknown one).
        #[source]
        source: serde_json::Error,
    },
    /// A file or directory could not be read, written or created.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted, e.g. "cannot write".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file (a record, `state.json`, `clue_thresholds.json`) is missing, of another
    /// format, or does not fit the model.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The run directory has no checkpoint to load.
    #[error("{dir} has no checkpoint (checkpoints/state.json); train it first, or finish it with --resume")]
    NoCheckpoint {
        /// The run directory.
        dir: PathBuf,
    },
    /// A study was given with another number of views than the model reads.
    #[error("this model takes {want} view(s) per study, {got} given")]
    WrongViewCount {
        /// Views the model reads.
        want: usize,
        /// Views given.
        got: usize,
    },
    /// Clue probabilities were asked of a run trained without clues.
    #[error("this run was trained without clues (clues: off)")]
    NoClues,
    /// A file of the run (JSON, a vocabulary) could not be read or written.
    #[error(transparent)]
    File(#[from] trrg_io::Error),
    /// A tokenizer of the run could not be loaded or used.
    #[error(transparent)]
    Tokenize(#[from] trrg_tokenize::Error),
    /// An input image could not be read.
    #[error(transparent)]
    Data(#[from] trrg_data::Error),
    /// The model could not be built or run.
    #[error(transparent)]
    Model(#[from] trrg_model::Error),
    /// The disease set could not be read.
    #[error(transparent)]
    Clue(#[from] trrg_clue::Error),
    /// The LLM could not be built.
    #[error(transparent)]
    Llm(#[from] trrg_llm::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
