//! Grouped-query self-attention with RoPE and an optional KV cache.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::cache::LayerCache;
use crate::lora::{project, LoraAdapter};
use crate::rope::apply_rope;
use crate::LlamaConfig;

/// Value added to masked attention scores.
pub const MASKED_SCORE: f32 = -1.0e9;

/// HF `LlamaAttention`: `q_proj`, `k_proj`, `v_proj`, `o_proj` without biases.
#[derive(Module, Debug)]
pub struct LlamaAttention<B: Backend> {
    /// `[hidden_size, n_heads * head_dim]`
    pub q_proj: Linear<B>,
    /// `[hidden_size, n_kv_heads * head_dim]`
    pub k_proj: Linear<B>,
    /// `[hidden_size, n_kv_heads * head_dim]`
    pub v_proj: Linear<B>,
    /// `[n_heads * head_dim, hidden_size]`
    pub o_proj: Linear<B>,
    /// LoRA adapter on `q_proj` ([`LlamaForCausalLM::with_lora`](crate::LlamaForCausalLM::with_lora)).
    pub q_lora: Option<LoraAdapter<B>>,
    /// LoRA adapter on `k_proj`.
    pub k_lora: Option<LoraAdapter<B>>,
    /// LoRA adapter on `v_proj`.
    pub v_lora: Option<LoraAdapter<B>>,
    /// LoRA adapter on `o_proj`.
    pub o_lora: Option<LoraAdapter<B>>,
    dropout: Dropout,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
}

impl<B: Backend> LlamaAttention<B> {
    /// Random init (PyTorch-style uniform), no biases.
    pub fn new(config: &LlamaConfig, device: &B::Device) -> Self {
        let (d, hd) = (config.hidden_size, config.head_dim());
        let (h, kv) = (config.num_attention_heads, config.n_kv_heads());
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        Self {
            q_proj: linear(d, h * hd),
            k_proj: linear(d, kv * hd),
            v_proj: linear(d, kv * hd),
            o_proj: linear(h * hd, d),
            q_lora: None,
            k_lora: None,
            v_lora: None,
            o_lora: None,
            dropout: DropoutConfig::new(config.dropout).init(),
            n_heads: h,
            n_kv_heads: kv,
            head_dim: hd,
        }
    }

    /// Attention over the cached keys/values plus the new positions.
    ///
    /// # Shapes
    /// - x: `[batch, seq_len, d_model]`
    /// - cos, sin: `[batch, 1, seq_len, head_dim]`
    /// - mask: `[batch, 1, seq_len, past_len + seq_len]`, true where attention is not allowed
    /// - output: `[batch, seq_len, d_model]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        cos: &Tensor<B, 4>,
        sin: &Tensor<B, 4>,
        mask: Tensor<B, 4, Bool>,
        cache: Option<&mut Option<LayerCache<B>>>,
    ) -> Tensor<B, 3> {
        let [batch, seq_len, _] = x.dims();
        let (h, kv, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let split = |t: Tensor<B, 3>, heads| {
            t.reshape([batch, seq_len, heads, hd]).swap_dims(1, 2) // [batch, heads, seq_len, head_dim]
        };
        let q = apply_rope(
            split(project(&self.q_proj, &self.q_lora, x.clone()), h),
            cos,
            sin,
        );
        let mut k = apply_rope(
            split(project(&self.k_proj, &self.k_lora, x.clone()), kv),
            cos,
            sin,
        );
        let mut v = split(project(&self.v_proj, &self.v_lora, x), kv);
        if let Some(slot) = cache {
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
        let (k, v) = if h == kv {
            (k, v)
        } else {
            let repeat = |t: Tensor<B, 4>| {
                t.unsqueeze_dim::<5>(2)
                    .expand([batch, kv, h / kv, total, hd])
                    .reshape([batch, h, total, hd]) // [batch, n_heads, total, head_dim]
            };
            (repeat(k), repeat(v))
        };
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f32).sqrt()); // [batch, n_heads, seq_len, total]
        let scores = scores.mask_fill(mask, MASKED_SCORE);
        let weights = self.dropout.forward(softmax(scores, 3));
        let context = weights
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq_len, h * hd]); // [batch, seq_len, n_heads * head_dim]
        project(&self.o_proj, &self.o_lora, context)
    }
}
