//! Rotary position embeddings (HF Llama's `rotate_half` layout), with linear and llama3 scaling.

use burn::prelude::*;
use burn::tensor::TensorData;
use trrg_kernels::TrrgOps;

use crate::LlamaConfig;

/// Precomputed cos/sin tables, `[max_position_embeddings, head_dim]` each.
#[derive(Module, Debug)]
pub struct Rope<B: TrrgOps> {
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
}

/// Inverse frequencies of a config, scaling applied (as HF `_compute_*_parameters`).
pub fn inv_freq(config: &LlamaConfig) -> Vec<f64> {
    let head_dim = config.head_dim();
    let base: Vec<f64> = (0..head_dim / 2)
        .map(|i| 1.0 / config.rope_theta.powf((2 * i) as f64 / head_dim as f64))
        .collect();
    let Some(scaling) = &config.rope_scaling else {
        return base;
    };
    match scaling.rope_type.as_str() {
        "linear" => base.iter().map(|f| f / scaling.factor).collect(),
        "llama3" => {
            let old = scaling.original_max_position_embeddings as f64;
            let low_wavelen = old / scaling.low_freq_factor;
            let high_wavelen = old / scaling.high_freq_factor;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / scaling.factor
                    } else {
                        let smooth = (old / wavelen - scaling.low_freq_factor)
                            / (scaling.high_freq_factor - scaling.low_freq_factor);
                        (1.0 - smooth) * f / scaling.factor + smooth * f
                    }
                })
                .collect()
        }
        _ => base,
    }
}

impl<B: TrrgOps> Rope<B> {
    /// Tables for positions `0..max_position_embeddings`.
    pub fn new(config: &LlamaConfig, device: &B::Device) -> Self {
        let freqs = inv_freq(config);
        let half = freqs.len();
        let n = config.max_position_embeddings;
        let mut cos = Vec::with_capacity(n * half * 2);
        let mut sin = Vec::with_capacity(n * half * 2);
        for pos in 0..n {
            for _ in 0..2 {
                for &f in &freqs {
                    // f32 angle as HF computes it: position (f32) times inv_freq (f32).
                    let angle = (pos as f32) * (f as f32);
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [n, half * 2]), device),
            sin: Tensor::from_data(TensorData::new(sin, [n, half * 2]), device),
        }
    }

    /// Longest sequence the tables cover.
    pub fn max_positions(&self) -> usize {
        self.cos.dims()[0]
    }

    /// cos and sin gathered at `positions`, repeated over `heads`, in the layout attention
    /// rotates its projections in.
    ///
    /// # Shapes
    /// - positions: `[batch, seq_len]`
    /// - output: two `[batch, seq_len, heads, head_dim]`, contiguous
    pub fn tables(
        &self,
        positions: Tensor<B, 2, Int>,
        heads: usize,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [batch, seq_len] = positions.dims();
        let head_dim = self.cos.dims()[1];
        // One row index per (position, head): a row gather writes the tables contiguous, so the
        // rotation's products run on same-shape operands instead of a broadcast over heads.
        let rows = positions
            .reshape([batch * seq_len, 1])
            .repeat_dim(1, heads)
            .reshape([batch * seq_len * heads]);
        let gather = |t: &Tensor<B, 2>| {
            t.clone()
                .select(0, rows.clone())
                .reshape([batch, seq_len, heads, head_dim])
        };
        (gather(&self.cos), gather(&self.sin))
    }
}

/// The rotary tables of one forward pass ([`Rope::tables`]), for the query heads and for the
/// key heads (one pair when they are as many).
#[derive(Clone, Debug)]
pub struct RopeTables<B: TrrgOps> {
    /// cos and sin, `[batch, seq_len, n_heads, head_dim]`.
    pub query: (Tensor<B, 4>, Tensor<B, 4>),
    /// cos and sin, `[batch, seq_len, n_kv_heads, head_dim]`.
    pub key: (Tensor<B, 4>, Tensor<B, 4>),
}

impl<B: TrrgOps> RopeTables<B> {
    /// The tables at `positions` for `n_heads` query and `n_kv_heads` key heads.
    pub fn new(
        rope: &Rope<B>,
        positions: Tensor<B, 2, Int>,
        n_heads: usize,
        n_kv_heads: usize,
    ) -> Self {
        let query = rope.tables(positions.clone(), n_heads);
        let key = if n_kv_heads == n_heads {
            query.clone()
        } else {
            rope.tables(positions, n_kv_heads)
        };
        Self { query, key }
    }
}

/// Applies the rotation.
///
/// # Shapes
/// - x: any layout whose last dimension is the head's, e.g. `[batch, seq_len, n_heads,
///   head_dim]` as attention rotates it
/// - cos, sin: broadcastable to x; of x's own shape (as [`Rope::tables`] gives them) the
///   products take the backend's same-shape fast path
pub fn apply_rope<B: TrrgOps>(
    x: Tensor<B, 4>,
    cos: &Tensor<B, 4>,
    sin: &Tensor<B, 4>,
) -> Tensor<B, 4> {
    let head_dim = x.dims()[3];
    let half = head_dim / 2;
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3); // [batch, n_heads, seq_len, head_dim]
    x * cos.clone() + rotated * sin.clone()
}
