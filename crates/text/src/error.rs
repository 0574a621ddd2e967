//! The error type of trrg-text.

/// What can go wrong when configuring or running the text encoder.
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
    /// An input has the wrong shape or content.
    #[error("bad input for {what}: {reason}")]
    Input {
        /// The input.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Reading a checkpoint or its config failed (the message names the file).
    #[error(transparent)]
    File(#[from] trrg_io::Error),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
