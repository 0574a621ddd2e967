//! # trrg-io: weight and file I/O for the model crates
//!
//! What a model crate needs from disk, and nothing about datasets:
//!
//! - [`WeightFile`]: a safetensors checkpoint (one file, or the shards of a
//!   `model.safetensors.index.json`) or a PyTorch `torch.save` state dict, taken tensor by tensor
//!   with strict accounting: a missing, misshapen or unused tensor is an error naming the file
//!   and the tensor.
//! - [`Gguf`]: the llama.cpp container, with its tensors dequantized to f32.
//! - Both memory-map their files (opened once; pages handed back once a tensor is copied out),
//!   and `check_memory` refuses a checkpoint whose weights cannot fit in [`available_memory`].
//! - [`read_json`] / [`parse_json`]: JSON whose errors name the file and the JSON path;
//!   [`write_atomic`]: a temporary file and a rename, so readers never see half a file;
//!   [`resolve_under`]: a relative path joined under a root it may not escape;
//!   [`resolve_model`]: a path, or a model id found offline in the local Hugging Face Hub cache.
//! - [`multipart`]: an upload's `multipart/form-data` body split into its parts.
//! - [`random`]: the random draws of a training forward pass, from a stream a thread can own
//!   (the data-parallel workers' dropout masks).
//! - [`f32_values`], [`bool_values`], [`i64_values`]: a tensor read back to the host as a
//!   vector, on any backend (for metrics, exports and decoding, not for a model's forward pass).
//!
//! Every parser here reads untrusted bytes: it returns an [`Error`], never panics, and never
//! allocates from a size it has not checked against the file's length (fuzzed in
//! `crates/data/tests/fuzz/mod.rs`).
#![warn(missing_docs)]

mod error;
mod files;
mod gguf;
mod mapped;
pub mod multipart;
mod paths;
pub mod random;
mod torch;
mod values;
mod weights;

pub use error::{Error, Result};
pub use files::{parse_json, read_json, write_atomic};
pub use gguf::{Gguf, GgufValue};
pub use mapped::{available_memory, peak_resident_memory};
pub use paths::{hf_hub_cache, resolve_model, resolve_model_in, resolve_under};
pub use values::{bool_values, f32_values, i64_values};
pub use weights::{
    transpose, write_safetensors, EncoderLayerKeys, NamedTensor, TensorInfo, WeightFile,
};
