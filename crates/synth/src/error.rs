//! The error type of trrg-synth.

use std::path::PathBuf;

/// What can go wrong while generating or writing a synthetic dataset.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("cannot encode {path}: {source}")]
    Encode {
        /// The image path.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A configuration value is impossible.
    #[error("invalid synthetic-data setting `{field}`: {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The output directory exists and is not a synthetic dataset trrg wrote.
    #[error("{path} exists and is not a trrg synthetic dataset (no synthetic.json); choose another --out or remove it")]
    NotSynthetic {
        /// The directory.
        path: PathBuf,
    },
    /// A table could not be written.
    #[error(transparent)]
    File(#[from] trrg_io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
