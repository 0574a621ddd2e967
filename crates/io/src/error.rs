//! The error type of trrg-io.

use std::path::PathBuf;

/// A file that cannot be read, written or parsed. Every variant names the file.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A checkpoint tensor is missing, misshapen, of an unsupported dtype, or unused; or the
    /// checkpoint file itself is malformed (then `tensor` is empty).
    #[error(
        "checkpoint {path}: {}{reason}",
        if tensor.is_empty() { String::new() } else { format!("tensor `{tensor}` ") }
    )]
    Weights {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name in the file (empty when the file itself is unreadable).
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is malformed or does not have the expected structure.
    #[error("malformed JSON in {path} at `{json_path}`: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Where in the document the problem is, e.g. `train[3].image_path`.
        json_path: String,
        /// The underlying parse error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A path read from a file (an annotation's image path, a shard index's file name) points
    /// outside the directory it must stay in.
    #[error(
        "study `{id}`: image path `{image_path}` escapes the images root {root}; \
         paths must be relative and stay inside it"
    )]
    PathEscapesRoot {
        /// Study id (or the file that named the path).
        id: String,
        /// The path as written.
        image_path: String,
        /// The root it must stay under.
        root: PathBuf,
    },
    /// An upload's `multipart/form-data` body that does not parse (RFC 7578).
    #[error("malformed multipart body: {what}")]
    Multipart {
        /// What is wrong with it.
        what: &'static str,
    },
    /// A Hub model id that is not in the local Hugging Face cache (trrg never downloads).
    #[error(
        "model `{id}` is not in the Hugging Face cache {cache}: {reason}. trrg works offline: \
         run `huggingface-cli download {id}` where there is internet and copy the cache \
         (or set HF_HUB_CACHE / HF_HOME to it), or give the model's directory"
    )]
    NotCached {
        /// The model id, `org/name`.
        id: String,
        /// The cache looked in.
        cache: PathBuf,
        /// What is missing.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
