//! The error type of trrg-tokenize.

use std::path::PathBuf;

/// A tokenizer that cannot be loaded or used. Every variant names the tokenizer's file.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A HF `tokenizer.json` could not be loaded or used.
    #[error("tokenizer {path}: {source}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// The tokenizers crate's error.
        #[source]
        source: tokenizers::Error,
    },
    /// Token ids could not be decoded to text.
    #[error("tokenizer {path}: cannot decode ids {ids:?}: {source}")]
    Decode {
        /// The tokenizer file.
        path: PathBuf,
        /// The ids (after special tokens were dropped).
        ids: Vec<u32>,
        /// The tokenizers crate's error.
        #[source]
        source: tokenizers::Error,
    },
    /// A special token named in the configuration is not in the tokenizer's vocabulary.
    #[error("tokenizer {path}: special token `{token}` is not in its vocabulary")]
    UnknownSpecialToken {
        /// The tokenizer file.
        path: PathBuf,
        /// The token.
        token: String,
    },
    /// A vocabulary file is of another format or lacks a required token.
    #[error("invalid configuration `{field}`: {reason}")]
    InvalidConfig {
        /// The field name.
        field: &'static str,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] trrg_io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
