//! The error type of trrg-vision.

/// What can go wrong when configuring or running a visual encoder.
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
    /// An input has the wrong shape.
    #[error("bad input shape for {what}: {reason}")]
    Shape {
        /// The input.
        what: &'static str,
        /// What was expected and what came.
        reason: String,
    },
    /// Reading a checkpoint or its config failed (the message names the file and tensor).
    #[error(transparent)]
    File(#[from] trrg_io::Error),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
