//! The error type of trrg-model.

/// What can go wrong when building or running the TRRG model.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is impossible.
    #[error("invalid model config {field}: {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Inputs have inconsistent shapes.
    #[error("shape mismatch in {what}: {reason}")]
    Shape {
        /// The input.
        what: &'static str,
        /// What did not match.
        reason: String,
    },
    /// The visual encoder failed.
    #[error(transparent)]
    Vision(#[from] trrg_vision::Error),
    /// The text encoder failed.
    #[error(transparent)]
    Text(#[from] trrg_text::Error),
    /// The clue injector failed.
    #[error(transparent)]
    Clue(#[from] trrg_clue::Error),
    /// Tokenizing a prompt, or decoding a report, failed.
    #[error(transparent)]
    Tokenize(#[from] trrg_tokenize::Error),
    /// Reading a file failed.
    #[error(transparent)]
    File(#[from] trrg_io::Error),
    /// The LLM failed.
    #[error(transparent)]
    Llm(#[from] trrg_llm::Error),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
