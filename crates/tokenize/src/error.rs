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
    /// A token id the tokenizer does not have (a model whose output is wider than its
    /// tokenizer, or ids from another tokenizer).
    #[error("{tokenizer}: token id {id} is outside its vocabulary of {vocab_size}; the ids come from another tokenizer or a model wider than it")]
    UnknownId {
        /// The tokenizer (its file, or `word vocabulary`).
        tokenizer: String,
        /// The id.
        id: u32,
        /// The tokenizer's vocabulary size.
        vocab_size: usize,
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
