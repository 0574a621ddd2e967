//! Key/value cache for incremental decoding.

use burn::prelude::*;
use trrg_kernels::TrrgOps;

/// Keys and values of one layer so far.
#[derive(Clone, Debug)]
pub struct LayerCache<B: TrrgOps> {
    /// `[batch, n_kv_heads, past_len, head_dim]`
    pub key: Tensor<B, 4>,
    /// `[batch, n_kv_heads, past_len, head_dim]`
    pub value: Tensor<B, 4>,
}

/// The cache of every layer, plus the attention mask and positions seen so far, on the device.
#[derive(Clone, Debug)]
pub struct KvCache<B: TrrgOps> {
    pub(crate) layers: Vec<Option<LayerCache<B>>>,
    /// Which cached positions are real tokens, `[batch, past_len]` (None before the first call).
    pub(crate) mask: Option<Tensor<B, 2, Bool>>,
    /// Position id of the next token of each row, `[batch, 1]` (None = 0).
    pub(crate) next_position: Option<Tensor<B, 2, Int>>,
    pub(crate) past: usize,
    pub(crate) batch: usize,
}

impl<B: TrrgOps> KvCache<B> {
    /// An empty cache for `n_layers` layers and `batch` rows.
    pub fn new(n_layers: usize, batch: usize) -> Self {
        Self {
            layers: vec![None; n_layers],
            mask: None,
            next_position: None,
            past: 0,
            batch,
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.past
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
        if rows.len() == self.batch && rows.iter().enumerate().all(|(i, &r)| i == r) {
            return;
        }
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
        // Bool tensors are selected as integers: backends store booleans differently.
        self.mask = self
            .mask
            .take()
            .map(|m| m.int().select(0, index.clone()).greater_elem(0));
        self.next_position = self
            .next_position
            .take()
            .map(|p| p.select(0, index.clone()));
        self.batch = rows.len();
    }
}
