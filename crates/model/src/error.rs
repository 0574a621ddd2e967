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
    /// The model uses clues (`ClueMode` is not off) but no clue bank (disease set) was given.
    #[error("the model uses clues but no disease set was given (a ClueBank is needed)")]
    MissingClueBank,
    /// A disease prompt has a token the LLM's vocabulary does not have.
    #[error(
        "token {id} of the prompts of `{disease}` is outside the LLM's vocabulary of \
         {vocab_size}; tokenize the prompts with the LLM's tokenizer"
    )]
    PromptToken {
        /// The disease.
        disease: String,
        /// The token id.
        id: u32,
        /// The LLM's vocabulary size.
        vocab_size: usize,
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
