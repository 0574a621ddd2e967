//! Grouped-query self-attention with RoPE and an optional KV cache.

use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use trrg_io::random::dropout;
use trrg_kernels::TrrgOps;

use crate::cache::LayerCache;
use crate::lora::LoraLinear;
use crate::rope::{apply_rope, RopeTables};
use crate::LlamaConfig;

/// The score a masked attention position gets: f16's lowest finite value, so that it stays
/// finite in every float type trrg computes in (f32, bf16, f16). (-1e9 is -inf in f16, and a
/// row whose keys are all masked, as a left-padded start has, would then be NaN.) In f32 the
/// softmax weight of a masked position is exactly 0 either way: `exp(-65504 - max)` underflows.
pub const MASKED_SCORE: f32 = -65504.0;

/// HF `LlamaAttention`: `q_proj`, `k_proj`, `v_proj`, `o_proj` without biases.
#[derive(Module, Debug)]
pub struct LlamaAttention<B: TrrgOps> {
    /// `[hidden_size, n_heads * head_dim]`
    pub q_proj: LoraLinear<B>,
    /// `[hidden_size, n_kv_heads * head_dim]`
    pub k_proj: LoraLinear<B>,
    /// `[hidden_size, n_kv_heads * head_dim]`
    pub v_proj: LoraLinear<B>,
    /// `[n_heads * head_dim, hidden_size]`
    pub o_proj: LoraLinear<B>,
    dropout: Dropout,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
}

impl<B: TrrgOps> LlamaAttention<B> {
    /// Random init (PyTorch-style uniform), no biases.
    pub fn new(config: &LlamaConfig, device: &B::Device) -> Self {
        let (d, hd) = (config.hidden_size, config.head_dim());
        let (h, kv) = (config.num_attention_heads, config.n_kv_heads());
        let linear = |i, o| LoraLinear::new(i, o, device);
        Self {
            q_proj: linear(d, h * hd),
            k_proj: linear(d, kv * hd),
            v_proj: linear(d, kv * hd),
            o_proj: linear(h * hd, d),
            dropout: DropoutConfig::new(config.dropout).init(),
            n_heads: h,
            n_kv_heads: kv,
            head_dim: hd,
        }
    }

    /// Query heads and key/value heads.
    pub fn heads(&self) -> (usize, usize) {
        (self.n_heads, self.n_kv_heads)
    }

    /// Attention over the cached keys/values plus the new positions.
    ///
    /// Grouped-query attention runs without expanding the keys and values to every head: the
    /// `n_heads / n_kv_heads` query heads that share a key/value head are stacked as rows of one
    /// product with it.
    ///
    /// # Shapes
    /// - x: `[batch, seq_len, d_model]`
    /// - rope: tables for `seq_len` positions ([`RopeTables`])
    /// - mask: `[batch, 1, seq_len, past_len + seq_len]`, true where attention is not allowed
    /// - output: `[batch, seq_len, d_model]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &RopeTables<B>,
        mask: Tensor<B, 4, Bool>,
        cache: Option<&mut Option<LayerCache<B>>>,
    ) -> Tensor<B, 3> {
        let [batch, seq_len, _] = x.dims();
        let (h, kv, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let group = h / kv;
        // RoPE runs on the projections' own contiguous `[batch, seq_len, heads, head_dim]`
        // layout, before the heads are swapped forward, with tables of the same shape: every
        // product of the rotation is then a same-shape contiguous one.
        let heads = |t: Tensor<B, 3>, heads| t.reshape([batch, seq_len, heads, hd]);
        let rotate = |t: Tensor<B, 4>, (cos, sin): &(Tensor<B, 4>, Tensor<B, 4>)| {
            apply_rope(t, cos, sin).swap_dims(1, 2) // [batch, heads, seq_len, head_dim]
        };
        let q = rotate(heads(self.q_proj.forward(x.clone()), h), &rope.query);
        let mut k = rotate(heads(self.k_proj.forward(x.clone()), kv), &rope.key);
        let mut v = heads(self.v_proj.forward(x), kv).swap_dims(1, 2);
        if let Some(slot) = cache {
            // Concatenated at every step: on the flex backend this copies less than writing
            // into a preallocated buffer, whose `slice_assign` copies the whole buffer.
            if let Some(past) = slot.take() {
                k = Tensor::cat(vec![past.key, k], 2); // [batch, n_kv_heads, past_len + seq_len, head_dim]
                v = Tensor::cat(vec![past.value, v], 2);
            }
            *slot = Some(LayerCache {
                key: k.clone(),
                value: v.clone(),
            });
        }
        let total = k.dims()[2];
        // [batch, n_kv_heads, group * seq_len, head_dim]: query heads are kv-head-major.
        let q = q.reshape([batch, kv, group * seq_len, hd]);
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f32).sqrt()); // [batch, n_kv_heads, group * seq_len, total]
        let scores = scores
            .reshape([batch, kv, group, seq_len, total])
            .mask_fill(mask.unsqueeze_dim::<5>(2), MASKED_SCORE);
        let weights = dropout(&self.dropout, trrg_kernels::softmax(scores));
        let context = weights
            .reshape([batch, kv, group * seq_len, total])
            .matmul(v)
            .reshape([batch, h, seq_len, hd])
            .swap_dims(1, 2)
            .reshape([batch, seq_len, h * hd]); // [batch, seq_len, n_heads * head_dim]
        self.o_proj.forward(context)
    }
}
