//! The error type of trrg-clue.

use std::path::PathBuf;

/// What can go wrong with disease sets and clue inputs.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A disease-set file could not be read.
    #[error("cannot read disease set {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A disease-set file is not valid JSON of the expected layout.
    #[error("malformed disease set {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A disease set is structurally wrong (empty prompts, duplicate names, ...).
    #[error("invalid disease set {origin}: {reason}")]
    InvalidSet {
        /// Where the set came from.
        origin: String,
        /// What is wrong.
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
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
