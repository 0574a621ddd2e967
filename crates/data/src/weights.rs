//! Reading pretrained weights from a `.safetensors` file into burn tensors, with the checks a
//! loader needs: every tensor is found, has the expected shape, and is used (or skipped on
//! purpose); errors name the file and the tensor.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::TensorData;
use safetensors::tensor::{Dtype, Metadata};
use safetensors::SafeTensors;

use crate::{Error, Result};

/// A safetensors file being loaded: tensors are taken by name; [`WeightFile::finish`] fails if
/// any tensor was neither taken nor skipped.
pub struct WeightFile {
    path: PathBuf,
    bytes: Vec<u8>,
    header_len: usize,
    metadata: Metadata,
    unused: BTreeSet<String>,
    /// Prefix put before every requested name (e.g. `bert.`), found by [`WeightFile::detect_prefix`].
    prefix: String,
}

impl WeightFile {
    /// Reads the whole file and its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let (header_len, metadata) =
            SafeTensors::read_metadata(&bytes).map_err(|e| Error::Weights {
                path: path.clone(),
                tensor: String::new(),
                reason: format!("not a safetensors file: {e}"),
            })?;
        let unused = metadata.tensors().keys().cloned().collect();
        Ok(Self {
            path,
            bytes,
            header_len,
            metadata,
            unused,
            prefix: String::new(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of all tensors in the file.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.metadata.tensors().keys().cloned().collect();
        names.sort();
        names
    }

    /// Uses `prefix` for every name when the file has `prefix + probe` but not `probe` (HF
    /// checkpoints saved from a task model carry e.g. `bert.`).
    pub fn detect_prefix(&mut self, prefix: &str, probe: &str) {
        let has = |name: &str| self.metadata.info(name).is_some();
        if !has(probe) && has(&format!("{prefix}{probe}")) {
            self.prefix = prefix.to_string();
        }
    }

    fn error(&self, tensor: &str, reason: impl Into<String>) -> Error {
        Error::Weights {
            path: self.path.clone(),
            tensor: tensor.to_string(),
            reason: reason.into(),
        }
    }

    /// Tensor `name` as f32 values, checked against `shape`.
    pub fn values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let info = self
            .metadata
            .info(&full)
            .ok_or_else(|| self.error(&full, "missing from the checkpoint"))?;
        if info.shape != shape {
            return Err(self.error(
                &full,
                format!("has shape {:?}, the model expects {shape:?}", info.shape),
            ));
        }
        let (start, end) = info.data_offsets;
        let data = &self.bytes[8 + self.header_len + start..8 + self.header_len + end];
        let values = match info.dtype {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(self.error(
                    &full,
                    format!("has dtype {other:?}; F32, F16 or BF16 expected"),
                ))
            }
        };
        self.unused.remove(&full);
        Ok(values)
    }

    /// Tensor `name` with the given shape.
    pub fn tensor<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let values = self.values(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// A PyTorch `nn.Linear` weight `[out, in]`, transposed to burn's `[in, out]`.
    pub fn linear_weight<B: Backend>(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &B::Device,
    ) -> Result<Tensor<B, 2>> {
        Ok(self
            .tensor::<B, 2>(name, [d_out, d_in], device)?
            .transpose())
    }

    /// Marks tensors as deliberately unused (e.g. a pooler the model does not have).
    pub fn skip(&mut self, names: impl IntoIterator<Item = impl AsRef<str>>) {
        for name in names {
            self.unused
                .remove(&format!("{}{}", self.prefix, name.as_ref()));
        }
    }

    /// Fails when some tensor of the file was neither loaded nor skipped.
    pub fn finish(self) -> Result<()> {
        if self.unused.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.unused.iter().map(String::as_str).collect();
        let shown = names.iter().take(8).copied().collect::<Vec<_>>().join(", ");
        let more = if names.len() > 8 {
            format!(" and {} more", names.len() - 8)
        } else {
            String::new()
        };
        Err(self.error(
            names[0],
            format!(
                "{} tensor(s) the model has no place for: {shown}{more}",
                names.len()
            ),
        ))
    }
}
