//! Key/value cache for incremental decoding.

use burn::prelude::*;

/// Keys and values of one layer so far.
#[derive(Clone, Debug)]
pub struct LayerCache<B: Backend> {
    /// `[batch, n_kv_heads, past_len, head_dim]`
    pub key: Tensor<B, 4>,
    /// `[batch, n_kv_heads, past_len, head_dim]`
    pub value: Tensor<B, 4>,
}

/// The cache of every layer, plus the attention mask and positions seen so far.
#[derive(Clone, Debug)]
pub struct KvCache<B: Backend> {
    pub(crate) layers: Vec<Option<LayerCache<B>>>,
    /// Which cached positions are real tokens, row-major `[batch, past_len]`.
    pub(crate) mask: Vec<bool>,
    /// Position id of the next token of each row.
    pub(crate) next_position: Vec<i64>,
    pub(crate) batch: usize,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for `n_layers` layers and `batch` rows.
    pub fn new(n_layers: usize, batch: usize) -> Self {
        Self {
            layers: vec![None; n_layers],
            mask: Vec::new(),
            next_position: vec![0; batch],
            batch,
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.mask.len().checked_div(self.batch).unwrap_or(0)
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows of the cache.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Keeps the rows `rows` (in that order; repeats allowed), as beam search reorders beams.
    pub fn reorder(&mut self, rows: &[usize], device: &B::Device) {
        let past = self.len();
        let index = Tensor::<B, 1, Int>::from_data(
            burn::tensor::TensorData::new(
                rows.iter().map(|&r| r as i64).collect::<Vec<_>>(),
                [rows.len()],
            ),
            device,
        );
        for layer in self.layers.iter_mut().flatten() {
            layer.key = layer.key.clone().select(0, index.clone());
            layer.value = layer.value.clone().select(0, index.clone());
        }
        let mut mask = Vec::with_capacity(rows.len() * past);
        for &r in rows {
            mask.extend_from_slice(&self.mask[r * past..(r + 1) * past]);
        }
        self.mask = mask;
        self.next_position = rows.iter().map(|&r| self.next_position[r]).collect();
        self.batch = rows.len();
    }
}
