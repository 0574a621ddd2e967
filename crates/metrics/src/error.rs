//! The error type of trrg-metrics.

/// What makes an evaluation impossible.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// An example has no reference text.
    #[error(
        "example `{id}` has no reference; every hypothesis needs at least one non-empty reference"
    )]
    NoReference {
        /// The example id.
        id: String,
    },
    /// An example id was given twice.
    #[error("example `{id}` was given twice")]
    DuplicateId {
        /// The example id.
        id: String,
    },
    /// METEOR's language data could not be read.
    #[error("METEOR data {path}: {message}")]
    MeteorData {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The ground-truth label rows do not pair one to one with the examples.
    #[error("{rows} ground-truth label rows for {examples} examples")]
    GroundTruthLength {
        /// Label rows given.
        rows: usize,
        /// Examples given.
        examples: usize,
    },
    /// Nothing to evaluate.
    #[error("no examples to evaluate")]
    Empty,
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
