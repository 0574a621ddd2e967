//! `LlamaForCausalLM`: embeddings, decoder layers, final RMSNorm and LM head (HF names).

use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, silu};
use trrg_kernels::TrrgOps;

use crate::attention::LlamaAttention;
use crate::cache::KvCache;
use crate::lora::LoraLinear;
use crate::rope::Rope;
use crate::{Error, LlamaConfig, Result};

/// HF `LlamaMLP`: `down_proj(silu(gate_proj(x)) * up_proj(x))`.
#[derive(Module, Debug)]
pub struct LlamaMlp<B: TrrgOps> {
    /// `[hidden_size, intermediate_size]`
    pub gate_proj: LoraLinear<B>,
    /// `[hidden_size, intermediate_size]`
    pub up_proj: LoraLinear<B>,
    /// `[intermediate_size, hidden_size]`
    pub down_proj: LoraLinear<B>,
}

impl<B: TrrgOps> LlamaMlp<B> {
    /// # Shapes
    /// - x: `[batch, seq_len, d_model]` -> `[batch, seq_len, d_model]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate = self.gate_proj.forward(x.clone());
        let up = self.up_proj.forward(x);
        self.down_proj.forward(silu(gate) * up)
    }
}

/// One pre-norm decoder layer.
#[derive(Module, Debug)]
pub struct LlamaDecoderLayer<B: TrrgOps> {
    /// RMSNorm before attention.
    pub input_layernorm: RmsNorm<B>,
    /// Self-attention.
    pub self_attn: LlamaAttention<B>,
    /// RMSNorm before the MLP.
    pub post_attention_layernorm: RmsNorm<B>,
    /// SwiGLU MLP.
    pub mlp: LlamaMlp<B>,
}

/// Which heads' rotary halves llama.cpp interleaves in a projection's rows (it permutes Q and K
/// only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RopeRows {
    /// Not permuted.
    Plain,
    /// Q: `num_attention_heads` heads.
    Query,
    /// K: `num_key_value_heads` heads.
    Key,
}

/// The seven projections of a decoder layer, in one order, by their name in each format.
///
/// # Key Mappings
/// | HF (`model.layers.{i}.` + ) | GGUF (`blk.{i}.` + ) | llama.cpp row permutation |
/// |---|---|---|
/// | `self_attn.q_proj` | `attn_q` | by `num_attention_heads` |
/// | `self_attn.k_proj` | `attn_k` | by `num_key_value_heads` |
/// | `self_attn.v_proj` | `attn_v` | none |
/// | `self_attn.o_proj` | `attn_output` | none |
/// | `mlp.gate_proj` | `ffn_gate` | none |
/// | `mlp.up_proj` | `ffn_up` | none |
/// | `mlp.down_proj` | `ffn_down` | none |
///
/// PEFT names an adapter `base_model.model.model.layers.{i}.{HF}.lora_{A,B}.weight`.
pub(crate) const PROJECTION_NAMES: [(&str, &str, RopeRows); 7] = [
    ("self_attn.q_proj", "attn_q", RopeRows::Query),
    ("self_attn.k_proj", "attn_k", RopeRows::Key),
    ("self_attn.v_proj", "attn_v", RopeRows::Plain),
    ("self_attn.o_proj", "attn_output", RopeRows::Plain),
    ("mlp.gate_proj", "ffn_gate", RopeRows::Plain),
    ("mlp.up_proj", "ffn_up", RopeRows::Plain),
    ("mlp.down_proj", "ffn_down", RopeRows::Plain),
];

impl<B: TrrgOps> LlamaDecoderLayer<B> {
    /// The layer's seven projections by their HF path under the layer (`self_attn.q_proj`,
    /// ..., `mlp.down_proj`), in [`PROJECTION_NAMES`]' order: the one list that the HF, GGUF
    /// and PEFT loaders and LoRA go through.
    pub fn projections(&self) -> [(&'static str, &LoraLinear<B>); 7] {
        let (a, m) = (&self.self_attn, &self.mlp);
        let p = [
            &a.q_proj,
            &a.k_proj,
            &a.v_proj,
            &a.o_proj,
            &m.gate_proj,
            &m.up_proj,
            &m.down_proj,
        ];
        std::array::from_fn(|i| (PROJECTION_NAMES[i].0, p[i]))
    }

    /// [`LlamaDecoderLayer::projections`], mutable.
    pub fn projections_mut(&mut self) -> [(&'static str, &mut LoraLinear<B>); 7] {
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        let mut p = [
            &mut a.q_proj,
            &mut a.k_proj,
            &mut a.v_proj,
            &mut a.o_proj,
            &mut m.gate_proj,
            &mut m.up_proj,
            &mut m.down_proj,
        ]
        .into_iter();
        PROJECTION_NAMES.map(|(hf, _, _)| (hf, p.next().expect("seven projections")))
    }

    /// Pre-norm attention and MLP, each added to its input.
    ///
    /// # Shapes
    /// - x: `[batch, seq_len, d_model]` -> `[batch, seq_len, d_model]`
    /// - rope: tables for `seq_len` positions ([`crate::RopeTables`])
    /// - mask: `[batch, 1, seq_len, past_len + seq_len]`, true where attention is not allowed
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &crate::RopeTables<B>,
        mask: Tensor<B, 4, Bool>,
        cache: Option<&mut Option<crate::cache::LayerCache<B>>>,
    ) -> Tensor<B, 3> {
        let h = self
            .self_attn
            .forward(self.input_layernorm.forward(x.clone()), rope, mask, cache);
        let x = x + h;
        x.clone() + self.mlp.forward(self.post_attention_layernorm.forward(x))
    }
}

/// HF `LlamaModel`.
#[derive(Module, Debug)]
pub struct LlamaModel<B: TrrgOps> {
    /// `[vocab, d_model]`
    pub embed_tokens: Embedding<B>,
    /// Decoder layers.
    pub layers: Vec<LlamaDecoderLayer<B>>,
    /// Final RMSNorm.
    pub norm: RmsNorm<B>,
}

/// HF `LlamaForCausalLM`; `lm_head` is `None` when tied to `embed_tokens`.
#[derive(Module, Debug)]
pub struct LlamaForCausalLM<B: TrrgOps> {
    /// The decoder.
    pub model: LlamaModel<B>,
    /// Output projection `[d_model, vocab]`, absent when tied.
    pub lm_head: Option<Linear<B>>,
    rope: Rope<B>,
}

// Here rather than in `config.rs`, so that the configuration does not depend on the model: the
// modules point one way, config <- rope, attention <- model.
impl LlamaConfig {
    /// Builds the model with random weights (after [`LlamaConfig::validate`]).
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> crate::Result<LlamaForCausalLM<B>> {
        self.validate()?;
        Ok(LlamaForCausalLM::new(self, device))
    }
}

impl<B: TrrgOps> LlamaForCausalLM<B> {
    pub(crate) fn new(config: &LlamaConfig, device: &B::Device) -> Self {
        let d = config.hidden_size;
        let norm = || {
            RmsNormConfig::new(d)
                .with_epsilon(config.rms_norm_eps)
                .init(device)
        };
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        let layers = (0..config.num_hidden_layers)
            .map(|_| LlamaDecoderLayer {
                input_layernorm: norm(),
                self_attn: LlamaAttention::new(config, device),
                post_attention_layernorm: norm(),
                mlp: LlamaMlp {
                    gate_proj: linear(d, config.intermediate_size).into(),
                    up_proj: linear(d, config.intermediate_size).into(),
                    down_proj: linear(config.intermediate_size, d).into(),
                },
            })
            .collect();
        Self {
            model: LlamaModel {
                embed_tokens: EmbeddingConfig::new(config.vocab_size, d).init(device),
                layers,
                norm: norm(),
            },
            lm_head: (!config.tie_word_embeddings).then(|| linear(d, config.vocab_size)),
            rope: Rope::new(config, device),
        }
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.model.embed_tokens.weight.dims()[1]
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.model.embed_tokens.weight.dims()[0]
    }

    /// Number of decoder layers.
    pub fn n_layers(&self) -> usize {
        self.model.layers.len()
    }

    /// Token embeddings.
    ///
    /// # Shapes
    /// - token_ids: `[batch, seq_len]` -> `[batch, seq_len, d_model]`
    pub fn embed(&self, token_ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.model.embed_tokens.forward(token_ids)
    }

    /// Logits of hidden states.
    ///
    /// # Shapes
    /// - hidden: `[batch, seq_len, d_model]` -> `[batch, seq_len, vocab]`
    pub fn lm_head(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.lm_head {
            Some(head) => {
                // One `[batch * seq_len, d_model]` product (see `LoraLinear::forward`).
                let [batch, seq_len, d] = hidden.dims();
                head.forward(hidden.reshape([batch * seq_len, d])).reshape([
                    batch,
                    seq_len,
                    self.vocab_size(),
                ])
            }
            None => {
                let [batch, seq_len, d] = hidden.dims();
                let w = self.model.embed_tokens.weight.val(); // [vocab, d_model]
                                                              // `w · hᵀ` keeps the large embedding matrix in its stored layout (a transposed
                                                              // `w` would be copied on every call).
                w.matmul(hidden.reshape([batch * seq_len, d]).transpose()) // [vocab, batch * seq_len]
                    .transpose()
                    .reshape([batch, seq_len, self.vocab_size()]) // [batch, seq_len, vocab]
            }
        }
    }

    /// Runs the decoder on input embeddings (soft tokens and/or token embeddings), after what the
    /// cache holds, and returns the final hidden states.
    ///
    /// `attention_mask` marks real positions (false = padding, left or right). Position ids
    /// count real tokens only, as HF does for left padding.
    ///
    /// # Shapes
    /// - inputs_embeds: `[batch, seq_len, d_model]`
    /// - attention_mask: `[batch, seq_len]`
    /// - output: `[batch, seq_len, d_model]`
    pub fn forward_hidden(
        &self,
        inputs_embeds: Tensor<B, 3>,
        attention_mask: Tensor<B, 2, Bool>,
        cache: Option<&mut KvCache<B>>,
    ) -> Result<Tensor<B, 3>> {
        let [batch, seq_len, d] = inputs_embeds.dims();
        if d != self.d_model() || attention_mask.dims() != [batch, seq_len] {
            return Err(Error::Shape {
                what: "inputs_embeds/attention_mask",
                reason: format!(
                    "embeds {:?} (d_model {}), mask {:?}",
                    [batch, seq_len, d],
                    self.d_model(),
                    attention_mask.dims()
                ),
            });
        }
        let device = inputs_embeds.device();
        let mut own_cache;
        let cache = match cache {
            Some(c) => {
                if c.batch() != batch {
                    return Err(Error::Shape {
                        what: "cache",
                        reason: format!("cache has {} rows, input {batch}", c.batch()),
                    });
                }
                c
            }
            None => {
                own_cache = None;
                own_cache.insert(KvCache::new(0, batch))
            }
        };
        let past = cache.len();
        let total = past + seq_len;
        if total > self.rope.max_positions() {
            return Err(Error::Shape {
                what: "sequence",
                reason: format!(
                    "{total} positions exceed max_position_embeddings {}",
                    self.rope.max_positions()
                ),
            });
        }
        // Positions and the combined mask, built on the device once for every layer. HF counts
        // positions over real tokens only and gives padding position 1.
        let real = attention_mask.int(); // [batch, seq_len], 1 at real tokens
        let counts = real.clone().cumsum(1); // real tokens up to and including each position
        let next = cache
            .next_position
            .take()
            .unwrap_or_else(|| Tensor::zeros([batch, 1], &device)); // [batch, 1]
        let positions = (counts.clone() + next.clone().expand([batch, seq_len]) - 1)
            .mask_fill(real.clone().equal_elem(0), 1); // [batch, seq_len]
        cache.next_position = Some(if seq_len == 0 {
            next
        } else {
            next + counts.narrow(1, seq_len - 1, 1)
        });
        let full_mask = match cache.mask.take() {
            Some(past_mask) => Tensor::cat(vec![past_mask.int(), real], 1),
            None => real,
        }; // [batch, total], 1 at real tokens
           // Blocked: a padding key, or a key after the query (j > past + i). Combined as integers
           // and compared, so that the result has the backend's own boolean type.
        let causal = Tensor::<B, 2, Bool>::tril_mask([seq_len, total], past as i64, &device)
            .int()
            .reshape([1, 1, seq_len, total])
            .expand([batch, 1, seq_len, total]);
        let padding = full_mask
            .clone()
            .equal_elem(0)
            .int()
            .reshape([batch, 1, 1, total])
            .expand([batch, 1, seq_len, total]);
        let mask = (causal + padding).greater_elem(0); // [batch, 1, seq_len, total]
        let (heads, kv_heads) = self
            .model
            .layers
            .first()
            .map_or((1, 1), |layer| layer.self_attn.heads());
        let rope = crate::RopeTables::new(&self.rope, positions, heads, kv_heads);

        let use_cache = !cache.layers.is_empty();
        let mut x = inputs_embeds;
        for (i, layer) in self.model.layers.iter().enumerate() {
            let slot = use_cache.then(|| &mut cache.layers[i]);
            x = layer.forward(x, &rope, mask.clone(), slot);
        }
        cache.mask = Some(full_mask.greater_elem(0));
        cache.past = total;
        Ok(self.model.norm.forward(x))
    }

    /// Logits for input embeddings (see [`LlamaForCausalLM::forward_hidden`]).
    ///
    /// # Shapes
    /// - inputs_embeds: `[batch, seq_len, d_model]`
    /// - attention_mask: `[batch, seq_len]`
    /// - output: `[batch, seq_len, vocab]`
    pub fn forward_embeds(
        &self,
        inputs_embeds: Tensor<B, 3>,
        attention_mask: Tensor<B, 2, Bool>,
        cache: Option<&mut KvCache<B>>,
    ) -> Result<Tensor<B, 3>> {
        Ok(self.lm_head(self.forward_hidden(inputs_embeds, attention_mask, cache)?))
    }

    /// A cache sized for this model.
    pub fn new_cache(&self, batch: usize) -> KvCache<B> {
        KvCache::new(self.n_layers(), batch)
    }
}

/// A mask that marks every position as real.
///
/// # Shapes
/// - output: `[batch, seq_len]`
pub fn real_mask<B: TrrgOps>(
    batch: usize,
    seq_len: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    Tensor::<B, 2, Int>::ones([batch, seq_len], device).bool()
}

/// Mean token cross-entropy over positions where `loss_mask` is true.
///
/// `targets[b, t]` is the token to predict from position `t` (already shifted).
///
/// # Shapes
/// - logits: `[batch, seq_len, vocab]`
/// - targets: `[batch, seq_len]`
/// - loss_mask: `[batch, seq_len]`
/// - output: `[1]`
pub fn masked_cross_entropy<B: TrrgOps>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, Int>,
    loss_mask: Tensor<B, 2, Bool>,
) -> Tensor<B, 1> {
    let [batch, seq_len, _] = logits.dims();
    let log_probs = log_softmax(logits, 2);
    let picked = log_probs
        .gather(2, targets.reshape([batch, seq_len, 1]))
        .reshape([batch, seq_len]); // [batch, seq_len]
    let weight = loss_mask.float();
    let count = weight.clone().sum().clamp_min(1.0);
    (picked * weight).sum().neg() / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    type B = Flex;

    fn tiny(tied: bool) -> LlamaForCausalLM<B> {
        LlamaConfig::new(99, 32, 64, 2, 4)
            .with_num_key_value_heads(Some(2))
            .with_tie_word_embeddings(tied)
            .with_max_position_embeddings(64)
            .init(&Default::default())
            .unwrap()
    }

    use trrg_testutil::max_diff;

    #[test]
    fn cache_equals_full_recomputation_with_soft_prefix() {
        let device = Default::default();
        for tied in [false, true] {
            let model = tiny(tied);
            let soft = Tensor::<B, 3>::random([2, 5, 32], Distribution::Normal(0.0, 1.0), &device);
            let ids = Tensor::<B, 2, Int>::from_data([[3, 4, 5, 6], [7, 8, 9, 10]], &device);
            let embeds = Tensor::cat(vec![soft.clone(), model.embed(ids.clone())], 1);
            let full = model
                .forward_embeds(embeds, real_mask(2, 9, &device), None)
                .unwrap();
            let mut cache = model.new_cache(2);
            let mut parts = vec![model
                .forward_embeds(soft, real_mask(2, 5, &device), Some(&mut cache))
                .unwrap()];
            for t in 0..4 {
                let one = model.embed(ids.clone().narrow(1, t, 1));
                parts.push(
                    model
                        .forward_embeds(one, real_mask(2, 1, &device), Some(&mut cache))
                        .unwrap(),
                );
            }
            // Relative to the largest logit: the inputs are random draws of the process-wide
            // generator, which the tests running beside this one also draw from, so the
            // logits' size (and the cached path's rounding, another summation order) varies.
            let scale = full.clone().abs().max().into_scalar().max(1.0);
            let d = max_diff(full, Tensor::cat(parts, 1)) / scale;
            assert!(
                d < 1e-5,
                "tied={tied}: cached logits differ by {d} of the largest"
            );
        }
    }

    #[test]
    fn cache_equals_full_recomputation_with_left_padded_soft_prefix() {
        let device = Default::default();
        let model = tiny(true);
        // Row 1's soft prefix is 2 positions shorter: left-padded.
        let soft = Tensor::<B, 3>::random([2, 5, 32], Distribution::Normal(0.0, 1.0), &device);
        let prefix_mask =
            Tensor::<B, 2, Bool>::from_data([[true; 5], [false, false, true, true, true]], &device);
        let ids = Tensor::<B, 2, Int>::from_data([[3, 9, 4], [8, 1, 7]], &device);
        let embeds = Tensor::cat(vec![soft.clone(), model.embed(ids.clone())], 1);
        let mask = Tensor::cat(vec![prefix_mask.clone(), real_mask(2, 3, &device)], 1);
        let full = model.forward_embeds(embeds, mask, None).unwrap();
        let mut cache = model.new_cache(2);
        let mut parts = vec![model
            .forward_embeds(soft, prefix_mask, Some(&mut cache))
            .unwrap()];
        for t in 0..3 {
            let one = model.embed(ids.clone().narrow(1, t, 1));
            parts.push(
                model
                    .forward_embeds(one, real_mask(2, 1, &device), Some(&mut cache))
                    .unwrap(),
            );
        }
        let cached = Tensor::cat(parts, 1);
        // Compare real positions only (padded positions attend to nothing meaningful). The
        // weights and inputs are unseeded random draws: f32 sums in a different order differ by
        // up to ~1e-5 on some draws, so the bound is 5e-5.
        let d0 = max_diff(full.clone().narrow(0, 0, 1), cached.clone().narrow(0, 0, 1));
        let d1 = max_diff(
            full.narrow(0, 1, 1).narrow(1, 2, 6),
            cached.narrow(0, 1, 1).narrow(1, 2, 6),
        );
        assert!(d0.max(d1) < 5e-5, "cached logits differ by {d0} / {d1}");
    }

    #[test]
    fn left_padding_does_not_change_a_row() {
        let device = Default::default();
        let model = tiny(false);
        let ids = Tensor::<B, 2, Int>::from_data([[5, 6, 7]], &device);
        let alone = model
            .forward_embeds(model.embed(ids), real_mask(1, 3, &device), None)
            .unwrap();
        let padded_ids = Tensor::<B, 2, Int>::from_data([[0, 0, 5, 6, 7]], &device);
        let mask = Tensor::<B, 2, Bool>::from_data([[false, false, true, true, true]], &device);
        let padded = model
            .forward_embeds(model.embed(padded_ids), mask, None)
            .unwrap()
            .narrow(1, 2, 3);
        let d = max_diff(alone, padded);
        assert!(d < 1e-5, "left padding changed logits by {d}");
    }

    #[test]
    fn wrong_width_is_an_error() {
        let device = Default::default();
        let model = tiny(false);
        let bad = Tensor::<B, 3>::zeros([1, 2, 31], &device);
        let err = model
            .forward_embeds(bad, real_mask(1, 2, &device), None)
            .unwrap_err();
        assert!(err.to_string().contains("d_model 32"), "{err}");
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        use burn::backend::Autodiff;
        type A = Autodiff<Flex>;
        let device = Default::default();
        let model: LlamaForCausalLM<A> = LlamaConfig::new(99, 32, 64, 2, 4)
            .with_num_key_value_heads(Some(2))
            .init(&device)
            .unwrap();
        let ids = Tensor::<A, 2, Int>::from_data([[1, 2, 3, 4]], &device);
        let logits = model
            .forward_embeds(model.embed(ids.clone()), real_mask(1, 4, &device), None)
            .unwrap();
        let loss = masked_cross_entropy(logits, ids, real_mask(1, 4, &device));
        let grads = loss.backward();
        let check = trrg_testutil::GradCount::of::<A, _>(&model, &grads);
        assert!(check.trainable > 10);
        assert_eq!(
            check.missing, 0,
            "{} of {} parameters lack a gradient",
            check.missing, check.trainable
        );
    }
}
