//! The error type of trrg-llm.

/// What can go wrong when configuring or running the decoder.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is impossible.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The field, as named in the config.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A checkpoint file is unreadable or does not fit the model.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, naming the tensor or metadata key.
        reason: String,
    },
    /// A safetensors checkpoint is unreadable or does not fit (the message names the file and
    /// the tensor).
    #[error(transparent)]
    Weights(#[from] trrg_io::Error),
    /// Inputs have inconsistent shapes.
    #[error("shape mismatch in {what}: {reason}")]
    Shape {
        /// The input concerned.
        what: &'static str,
        /// What did not match.
        reason: String,
    },
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
