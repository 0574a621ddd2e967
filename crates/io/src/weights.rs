//! Reading pretrained weights from a `.safetensors` file into burn tensors, with the checks a
//! loader needs: every tensor is found, has the expected shape, and is used (or skipped on
//! purpose); errors name the file and the tensor.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::transformer::TransformerEncoderLayer;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::{get_device_settings, DType, FloatDType, TensorData};
use half::{bf16, f16};
use safetensors::tensor::{Dtype, Metadata};
use safetensors::SafeTensors;

use crate::mapped::FileBytes;
use crate::torch::Loaded;
use crate::{Error, Result};

struct Shard {
    path: PathBuf,
    /// The file, memory-mapped.
    bytes: FileBytes,
    header_len: usize,
    metadata: Metadata,
}

impl Shard {
    fn open(path: PathBuf) -> Result<Self> {
        let bytes = FileBytes::map(&path)?;
        let (header_len, metadata) =
            SafeTensors::read_metadata(&bytes).map_err(|e| Error::Weights {
                path: path.clone(),
                tensor: String::new(),
                reason: format!("not a safetensors file: {e}"),
            })?;
        Ok(Self {
            path,
            bytes,
            header_len,
            metadata,
        })
    }
}

/// A safetensors checkpoint being loaded (one file, or the shards of a
/// `model.safetensors.index.json`): tensors are taken by name; [`WeightFile::finish`] fails if
/// any tensor was neither taken nor skipped.
pub struct WeightFile {
    /// The file, or the index of a sharded checkpoint (for messages).
    path: PathBuf,
    shards: Vec<Shard>,
    /// Tensors read whole from a PyTorch pickle: name -> (dtype, shape, values as f32).
    memory: std::collections::BTreeMap<String, Loaded>,
    /// Where each tensor is.
    location: std::collections::BTreeMap<String, Location>,
    unused: BTreeSet<String>,
    /// Prefix put before every requested name (e.g. `bert.`), found by [`WeightFile::detect_prefix`].
    prefix: String,
}

/// Where a tensor of a [`WeightFile`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    /// In shard `k` (a safetensors file), read on request.
    Shard(usize),
    /// In [`WeightFile::memory`] (read whole from a PyTorch pickle).
    Memory,
}

/// One tensor of a checkpoint, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Full name in the file.
    pub name: String,
    /// Stored element type (`F32`, `BF16`, `I64`, ...).
    pub dtype: String,
    /// Stored shape.
    pub shape: Vec<usize>,
}

/// `model.safetensors.index.json` or `pytorch_model.bin.index.json`.
#[derive(serde::Deserialize)]
struct ShardIndex {
    weight_map: std::collections::BTreeMap<String, String>,
}

/// A shard index and its files, sorted and deduplicated, each resolved under `dir`.
fn read_index(dir: &Path, index_path: &Path) -> Result<(ShardIndex, Vec<(String, PathBuf)>)> {
    let index: ShardIndex = crate::read_json(index_path)?;
    let mut names: Vec<&String> = index.weight_map.values().collect();
    names.sort();
    names.dedup();
    let what = index_path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let files = names
        .into_iter()
        .map(|file| Ok((file.clone(), crate::paths::join_relative(dir, file, &what)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((index, files))
}

/// Every tensor the index lists is in the shard it names (`shard_of` gives a tensor's shard
/// number, in the order of `files`).
fn check_index(
    index_path: &Path,
    index: &ShardIndex,
    files: &[(String, PathBuf)],
    shard_of: impl Fn(&str) -> Option<usize>,
) -> Result<()> {
    for (name, file) in &index.weight_map {
        let shard = files
            .binary_search_by(|(f, _)| f.cmp(file))
            .expect("every index file is listed");
        if shard_of(name) != Some(shard) {
            return Err(Error::Weights {
                path: index_path.to_path_buf(),
                tensor: name.clone(),
                reason: format!("is not in {file}, where the index puts it"),
            });
        }
    }
    Ok(())
}

/// The shard number of every tensor of `shards` (each a file and its tensor names); a tensor in
/// two shards is an error naming both.
fn shard_numbers(shards: &[(&Path, Vec<String>)]) -> Result<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    for (k, (path, names)) in shards.iter().enumerate() {
        for name in names {
            if let Some(first) = out.insert(name.clone(), k) {
                return Err(Error::Weights {
                    path: path.to_path_buf(),
                    tensor: name.clone(),
                    reason: format!("is also in {}", shards[first].0.display()),
                });
            }
        }
    }
    Ok(out)
}

impl WeightFile {
    /// Reads one safetensors file and its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        Self::from_shards(path.clone(), vec![Shard::open(path)?])
    }

    /// Reads a HF checkpoint directory, taking the first of these that exists:
    /// `model.safetensors.index.json` (its shards), `model.safetensors`,
    /// `pytorch_model.bin.index.json` (its PyTorch shards, read whole as f32) and
    /// `pytorch_model.bin`. Each tensor must be in the shard the index names.
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let [st_index, st, pt_index, pt] = [
            "model.safetensors.index.json",
            "model.safetensors",
            "pytorch_model.bin.index.json",
            "pytorch_model.bin",
        ]
        .map(|name| dir.join(name));
        if st_index.is_file() {
            let (index, files) = read_index(dir, &st_index)?;
            let shards = files
                .iter()
                .map(|(_, path)| Shard::open(path.clone()))
                .collect::<Result<Vec<_>>>()?;
            let out = Self::from_shards(st_index.clone(), shards)?;
            check_index(&st_index, &index, &files, |name| {
                match out.location.get(name) {
                    Some(Location::Shard(k)) => Some(*k),
                    _ => None,
                }
            })?;
            Ok(out)
        } else if st.is_file() {
            Self::open(st)
        } else if pt_index.is_file() {
            let (index, files) = read_index(dir, &pt_index)?;
            let loaded = files
                .iter()
                .map(|(_, path)| crate::torch::read(path))
                .collect::<Result<Vec<_>>>()?;
            let listing: Vec<(&Path, Vec<String>)> = files
                .iter()
                .zip(&loaded)
                .map(|((_, path), tensors)| (path.as_path(), tensors.keys().cloned().collect()))
                .collect();
            let shard = shard_numbers(&listing)?;
            check_index(&pt_index, &index, &files, |name| shard.get(name).copied())?;
            Ok(Self::from_memory(
                pt_index,
                loaded.into_iter().flatten().collect(),
            ))
        } else if pt.is_file() {
            Self::open_pytorch(pt)
        } else {
            Err(Error::Weights {
                path: dir.to_path_buf(),
                tensor: String::new(),
                reason: "has no weights: none of model.safetensors.index.json, \
                         model.safetensors, pytorch_model.bin.index.json or pytorch_model.bin"
                    .into(),
            })
        }
    }

    fn from_shards(path: PathBuf, shards: Vec<Shard>) -> Result<Self> {
        let listing: Vec<(&Path, Vec<String>)> = shards
            .iter()
            .map(|shard| {
                let names = shard.metadata.tensors().into_keys().collect();
                (shard.path.as_path(), names)
            })
            .collect();
        let location: std::collections::BTreeMap<String, Location> = shard_numbers(&listing)?
            .into_iter()
            .map(|(name, k)| (name, Location::Shard(k)))
            .collect();
        let unused = location.keys().cloned().collect();
        Ok(Self {
            path,
            shards,
            memory: Default::default(),
            location,
            unused,
            prefix: String::new(),
        })
    }

    /// Reads a PyTorch checkpoint (`torch.save` of a state dict, or of a dict nesting one, whose
    /// names are then joined with '.'): the zip format of torch >= 1.6 or the legacy pickle
    /// format before it, strided tensors included. Values are taken as f32; integer buffers such
    /// as `num_batches_tracked` are listed with their dtype and can be skipped.
    pub fn open_pytorch(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let memory = crate::torch::read(&path)?;
        Ok(Self::from_memory(path, memory))
    }

    fn from_memory(path: PathBuf, memory: std::collections::BTreeMap<String, Loaded>) -> Self {
        let location = memory
            .keys()
            .map(|k| (k.clone(), Location::Memory))
            .collect();
        let unused = memory.keys().cloned().collect();
        Self {
            path,
            shards: Vec::new(),
            memory,
            location,
            unused,
            prefix: String::new(),
        }
    }

    /// Every tensor of the checkpoint: name, stored dtype and shape, sorted by name.
    pub fn describe(&self) -> Vec<TensorInfo> {
        self.location
            .iter()
            .map(|(name, &at)| {
                let (dtype, shape) = match at {
                    Location::Memory => {
                        let (dtype, shape, _) = &self.memory[name];
                        (dtype.clone(), shape.clone())
                    }
                    Location::Shard(k) => {
                        let info = self.shards[k].metadata.info(name).expect("indexed");
                        (format!("{:?}", info.dtype), info.shape.clone())
                    }
                };
                TensorInfo {
                    name: name.clone(),
                    dtype,
                    shape,
                }
            })
            .collect()
    }

    /// Names of the tensors not yet taken or skipped, sorted.
    pub fn unused(&self) -> Vec<String> {
        self.unused.iter().cloned().collect()
    }

    /// The file's path (the index for a sharded checkpoint).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of all tensors, sorted.
    pub fn names(&self) -> Vec<String> {
        self.location.keys().cloned().collect()
    }

    /// Uses `prefix` for every name when the file has `prefix + probe` but not `probe` (HF
    /// checkpoints saved from a task model carry e.g. `bert.`).
    pub fn detect_prefix(&mut self, prefix: &str, probe: &str) {
        let has = |name: &str| self.location.contains_key(name);
        if !has(probe) && has(&format!("{prefix}{probe}")) {
            self.prefix = prefix.to_string();
        }
    }

    fn error(&self, tensor: &str, reason: impl Into<String>) -> Error {
        let path = match self.location.get(tensor) {
            Some(&Location::Shard(k)) => self.shards[k].path.clone(),
            _ => self.path.clone(),
        };
        Error::Weights {
            path,
            tensor: tensor.to_string(),
            reason: reason.into(),
        }
    }

    /// Fails, naming the file, when its weights as the float type of `device` (f32, or the
    /// half type a `precision` setting chose) need more memory than the machine has left: a
    /// checkpoint too big to load is refused before anything is allocated.
    pub fn check_memory<B: Backend>(&self, device: &B::Device) -> Result<()> {
        let values = self
            .location
            .iter()
            .map(|(name, &at)| match at {
                Location::Memory => self.memory[name].2.len() as u64,
                Location::Shard(k) => {
                    let info = self.shards[k].metadata.info(name).expect("indexed");
                    crate::mapped::numel(&info.shape)
                }
            })
            .fold(0u64, u64::saturating_add);
        crate::mapped::check_fits(&self.path, values, float_bytes::<B>(device))
    }

    /// Tensor `name`, checked against `shape`, read from the mapped file (whose pages are then
    /// released). Stored f16 or bf16 values stay in that type when `keep` is it; everything
    /// else becomes f32.
    fn read(&mut self, name: &str, shape: &[usize], keep: Option<FloatDType>) -> Result<Values> {
        let full = format!("{}{name}", self.prefix);
        let at = *self
            .location
            .get(&full)
            .ok_or_else(|| self.error(&full, "missing from the checkpoint"))?;
        let Location::Shard(k) = at else {
            let (_, stored, values) = &self.memory[&full];
            if stored != shape {
                return Err(self.error(
                    &full,
                    format!("has shape {stored:?}, the model expects {shape:?}"),
                ));
            }
            let values = values.clone();
            self.unused.remove(&full);
            return Ok(Values::F32(values));
        };
        let shard = &self.shards[k];
        let info = shard.metadata.info(&full).expect("indexed above");
        if info.shape != shape {
            return Err(self.error(
                &full,
                format!("has shape {:?}, the model expects {shape:?}", info.shape),
            ));
        }
        let (start, end) = info.data_offsets;
        let range = 8 + shard.header_len + start..8 + shard.header_len + end;
        let data = &shard.bytes[range.clone()];
        let pairs = || data.chunks_exact(2).map(|b| [b[0], b[1]]);
        let values = match (info.dtype, keep) {
            (Dtype::F16, Some(FloatDType::F16)) => {
                Values::F16(pairs().map(f16::from_le_bytes).collect())
            }
            (Dtype::BF16, Some(FloatDType::BF16)) => {
                Values::Bf16(pairs().map(bf16::from_le_bytes).collect())
            }
            (Dtype::F32, _) => Values::F32(
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            (Dtype::F16, _) => {
                Values::F32(pairs().map(|b| f16::from_le_bytes(b).to_f32()).collect())
            }
            (Dtype::BF16, _) => {
                Values::F32(pairs().map(|b| bf16::from_le_bytes(b).to_f32()).collect())
            }
            (other, _) => {
                return Err(self.error(
                    &full,
                    format!("has dtype {other:?}; F32, F16 or BF16 expected"),
                ))
            }
        };
        shard.bytes.release(range);
        self.unused.remove(&full);
        Ok(values)
    }

    /// Tensor `name` as f32 values, checked against `shape`.
    pub fn values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        Ok(self.read(name, shape, None)?.into_f32())
    }

    /// Tensor `name` with the given shape, in the float type of `device`: f16 or bf16 weights
    /// are not widened to f32 when the device computes in their type.
    pub fn tensor<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let values = self.read(name, &shape, Some(float_dtype::<B>(device)))?;
        Ok(Tensor::from_data(values.into_data(shape.to_vec()), device))
    }

    /// A PyTorch `nn.Linear` weight `[out, in]`, transposed to burn's `[in, out]` (stored
    /// contiguously: a transposed view would be copied on every forward pass), in the float type
    /// of `device` as [`WeightFile::tensor`].
    pub fn linear_weight<B: Backend>(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &B::Device,
    ) -> Result<Tensor<B, 2>> {
        let values = self
            .read(name, &[d_out, d_in], Some(float_dtype::<B>(device)))?
            .transposed(d_out, d_in);
        Ok(Tensor::from_data(
            values.into_data(vec![d_in, d_out]),
            device,
        ))
    }

    /// Loads `{name}.weight` (PyTorch `[out, in]`) and, when the layer has one, `{name}.bias`
    /// into `linear`.
    pub fn load_linear<B: Backend>(
        &mut self,
        linear: &mut Linear<B>,
        name: &str,
        device: &B::Device,
    ) -> Result<()> {
        let [d_in, d_out] = linear.weight.dims();
        linear.weight = Param::from_tensor(self.linear_weight(
            &format!("{name}.weight"),
            d_in,
            d_out,
            device,
        )?);
        if linear.bias.is_some() {
            linear.bias = Some(Param::from_tensor(self.tensor(
                &format!("{name}.bias"),
                [d_out],
                device,
            )?));
        }
        Ok(())
    }

    /// Loads `{name}.weight` and `{name}.bias` into `norm`.
    pub fn load_layer_norm<B: Backend>(
        &mut self,
        norm: &mut LayerNorm<B>,
        name: &str,
        device: &B::Device,
    ) -> Result<()> {
        let [d] = norm.gamma.dims();
        norm.gamma = Param::from_tensor(self.tensor(&format!("{name}.weight"), [d], device)?);
        norm.beta = Some(Param::from_tensor(self.tensor(
            &format!("{name}.bias"),
            [d],
            device,
        )?));
        Ok(())
    }

    /// Loads `{name}.weight` into `embedding`.
    pub fn load_embedding<B: Backend>(
        &mut self,
        embedding: &mut Embedding<B>,
        name: &str,
        device: &B::Device,
    ) -> Result<()> {
        let dims = embedding.weight.dims();
        embedding.weight =
            Param::from_tensor(self.tensor(&format!("{name}.weight"), dims, device)?);
        Ok(())
    }

    /// Loads `{name}.weight` (same layout in PyTorch and burn) and, when the layer has one,
    /// `{name}.bias` into `conv`.
    pub fn load_conv2d<B: Backend>(
        &mut self,
        conv: &mut Conv2d<B>,
        name: &str,
        device: &B::Device,
    ) -> Result<()> {
        let dims = conv.weight.dims();
        conv.weight = Param::from_tensor(self.tensor(&format!("{name}.weight"), dims, device)?);
        if conv.bias.is_some() {
            conv.bias = Some(Param::from_tensor(self.tensor(
                &format!("{name}.bias"),
                [dims[0]],
                device,
            )?));
        }
        Ok(())
    }

    /// Loads one layer of burn's [`TransformerEncoder`](burn::nn::transformer::TransformerEncoder)
    /// from the tensors named `{prefix}.{key}` by `keys`, the model family's table
    /// ([`EncoderLayerKeys`]).
    pub fn load_encoder_layer<B: Backend>(
        &mut self,
        layer: &mut TransformerEncoderLayer<B>,
        prefix: &str,
        keys: &EncoderLayerKeys,
        device: &B::Device,
    ) -> Result<()> {
        let mha = &mut layer.mha;
        let pwff = &mut layer.pwff;
        for (linear, key) in [
            (&mut mha.query, keys.query),
            (&mut mha.key, keys.key),
            (&mut mha.value, keys.value),
            (&mut mha.output, keys.attention_output),
            (&mut pwff.linear_inner, keys.intermediate),
            (&mut pwff.linear_outer, keys.output),
        ] {
            self.load_linear(linear, &format!("{prefix}.{key}"), device)?;
        }
        self.load_layer_norm(
            &mut layer.norm_1,
            &format!("{prefix}.{}", keys.norm_1),
            device,
        )?;
        self.load_layer_norm(
            &mut layer.norm_2,
            &format!("{prefix}.{}", keys.norm_2),
            device,
        )
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

/// A tensor's values in a float type a checkpoint stores.
enum Values {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Bf16(Vec<bf16>),
}

/// The names of one encoder layer's weights in a model family's checkpoints, each under the
/// layer's prefix (`encoder.layer.{i}`), by the part of burn's
/// [`TransformerEncoderLayer`] it fills. One table per family: `trrg_text::BERT_LAYER_KEYS`,
/// `trrg_vision::VIT_LAYER_KEYS`; [`WeightFile::load_encoder_layer`] reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderLayerKeys {
    /// Attention's query projection (`mha.query`).
    pub query: &'static str,
    /// Attention's key projection (`mha.key`).
    pub key: &'static str,
    /// Attention's value projection (`mha.value`).
    pub value: &'static str,
    /// Attention's output projection (`mha.output`).
    pub attention_output: &'static str,
    /// The feed-forward block's first linear (`pwff.linear_inner`).
    pub intermediate: &'static str,
    /// The feed-forward block's second linear (`pwff.linear_outer`).
    pub output: &'static str,
    /// burn's `norm_1`: after attention in a post-LN layer, before the feed-forward block in a
    /// pre-LN one.
    pub norm_1: &'static str,
    /// burn's `norm_2`: after the feed-forward block in a post-LN layer, before attention in a
    /// pre-LN one.
    pub norm_2: &'static str,
}

impl Values {
    fn into_f32(self) -> Vec<f32> {
        match self {
            Self::F32(v) => v,
            Self::F16(v) => v.into_iter().map(f16::to_f32).collect(),
            Self::Bf16(v) => v.into_iter().map(bf16::to_f32).collect(),
        }
    }

    fn transposed(self, rows: usize, cols: usize) -> Self {
        match self {
            Self::F32(v) => Self::F32(transpose(&v, rows, cols)),
            Self::F16(v) => Self::F16(transpose(&v, rows, cols)),
            Self::Bf16(v) => Self::Bf16(transpose(&v, rows, cols)),
        }
    }

    fn into_data(self, shape: Vec<usize>) -> TensorData {
        match self {
            Self::F32(v) => TensorData::new(v, shape),
            Self::F16(v) => TensorData::new(v, shape),
            Self::Bf16(v) => TensorData::new(v, shape),
        }
    }
}

/// The float type `device` creates tensors in (f32 unless a precision setting changed it).
pub(crate) fn float_dtype<B: Backend>(device: &B::Device) -> FloatDType {
    get_device_settings::<B>(device).float_dtype
}

/// Bytes per value of [`float_dtype`].
pub(crate) fn float_bytes<B: Backend>(device: &B::Device) -> usize {
    DType::from(float_dtype::<B>(device)).size()
}

/// Row-major `[rows, cols]` values as row-major `[cols, rows]`.
pub fn transpose<T: Copy + Default>(values: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = vec![T::default(); values.len()];
    for (r, row) in values.chunks_exact(cols).enumerate() {
        for (c, v) in row.iter().enumerate() {
            out[c * rows + r] = *v;
        }
    }
    out
}

/// One f32 tensor to write with [`write_safetensors`]: its name, shape (PyTorch order) and
/// row-major values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Writes f32 tensors as a safetensors file, atomically, with optional `__metadata__` (as
/// transformers writes `{"format": "pt"}`).
pub fn write_safetensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<()> {
    let bad = |tensor: &str, reason: String| Error::Weights {
        path: path.to_path_buf(),
        tensor: tensor.to_string(),
        reason,
    };
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| bad(name, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let file = safetensors::serialize(views, metadata).map_err(|e| bad("", e.to_string()))?;
    crate::write_atomic(path, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f16 and bf16 tensors stay in their stored type when the device computes in it, are
    /// widened to f32 otherwise, and transpose in either type; the values are the stored ones.
    #[test]
    fn half_weights_keep_their_stored_type_when_the_device_computes_in_it() {
        let halves = [0.5f32, -1.25, 3.0, 0.0, 7.5, -0.125];
        let f16_bytes: Vec<u8> = halves
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect();
        let bf16_bytes: Vec<u8> = halves
            .iter()
            .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
            .collect();
        let views = [
            ("a", Dtype::F16, &f16_bytes),
            ("b", Dtype::BF16, &bf16_bytes),
        ]
        .map(|(name, dtype, bytes)| {
            let view = safetensors::tensor::TensorView::new(dtype, vec![2, 3], bytes).unwrap();
            (name.to_string(), view)
        });
        let dir = std::env::temp_dir().join(format!("trrg-half-{}", std::process::id()));
        let path = dir.join("half.safetensors");
        crate::write_atomic(&path, &safetensors::serialize(views, None).unwrap()).unwrap();
        let mut file = WeightFile::open(&path).unwrap();
        let kept = file.read("a", &[2, 3], Some(FloatDType::F16)).unwrap();
        assert!(matches!(&kept, Values::F16(v) if v.iter().map(|x| x.to_f32()).eq(halves)));
        let data = kept.transposed(2, 3).into_data(vec![3, 2]);
        assert_eq!(data.dtype, DType::F16);
        let t: Vec<f32> = data.convert::<f32>().to_vec().unwrap();
        assert_eq!(t, [0.5, 0.0, -1.25, 7.5, 3.0, -0.125]);
        for (name, keep) in [
            ("a", FloatDType::F32),
            ("a", FloatDType::BF16),
            ("b", FloatDType::F32),
        ] {
            let widened = file.read(name, &[2, 3], Some(keep)).unwrap();
            assert!(
                matches!(&widened, Values::F32(v) if v[..] == halves),
                "{name} {keep:?}"
            );
        }
        let kept = file.read("b", &[2, 3], Some(FloatDType::BF16)).unwrap();
        assert_eq!(kept.into_data(vec![2, 3]).dtype, DType::BF16);
        assert_eq!(file.values("b", &[2, 3]).unwrap(), halves);
        file.finish().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
