//! BERT encoder (HF `BertModel`): word + position + token-type embeddings, LayerNorm, post-LN
//! transformer blocks with GELU.

use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig};
use burn::prelude::*;
use trrg_kernels::nn::transformer_encoder;
use trrg_kernels::{layer_norm, TrrgOps};

use crate::Error;

/// BERT configuration, with HF `BertConfig` field names.
#[derive(Config, Debug)]
pub struct BertConfig {
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Width `d_model`. Default 768.
    #[config(default = 768)]
    pub hidden_size: usize,
    /// Encoder blocks. Default 12.
    #[config(default = 12)]
    pub num_hidden_layers: usize,
    /// Attention heads. Default 12.
    #[config(default = 12)]
    pub num_attention_heads: usize,
    /// MLP inner width. Default 3072.
    #[config(default = 3072)]
    pub intermediate_size: usize,
    /// Longest input. Default 512.
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    /// Token-type vocabulary. Default 2.
    #[config(default = 2)]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon. Default 1e-12.
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Dropout inside the blocks. Default 0.
    #[config(default = 0.0)]
    pub hidden_dropout_prob: f64,
}

impl BertConfig {
    /// A small BERT for training from scratch on report sentences: width 128, 2 blocks, 4 heads.
    pub fn tiny(vocab_size: usize) -> Self {
        Self::new(vocab_size)
            .with_hidden_size(128)
            .with_num_hidden_layers(2)
            .with_num_attention_heads(4)
            .with_intermediate_size(256)
            .with_max_position_embeddings(128)
    }

    /// all-MiniLM-L6-v2's shape (`sentence-transformers/all-MiniLM-L6-v2`).
    pub fn minilm_l6() -> Self {
        Self::new(30522)
            .with_hidden_size(384)
            .with_num_hidden_layers(6)
            .with_intermediate_size(1536)
    }

    /// Builds the encoder with random weights.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> crate::Result<Bert<B>> {
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(Error::InvalidConfig {
                field: "num_attention_heads",
                reason: format!(
                    "{} must divide hidden_size {}",
                    self.num_attention_heads, self.hidden_size
                ),
            });
        }
        let d = self.hidden_size;
        let normal = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let embedding = |n| {
            EmbeddingConfig::new(n, d)
                .with_initializer(normal.clone())
                .init(device)
        };
        Ok(Bert {
            word_embeddings: embedding(self.vocab_size),
            position_embeddings: embedding(self.max_position_embeddings),
            token_type_embeddings: embedding(self.type_vocab_size),
            embeddings_layer_norm: LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device),
            encoder: TransformerEncoderConfig::new(
                d,
                self.intermediate_size,
                self.num_attention_heads,
                self.num_hidden_layers,
            )
            .with_norm_first(false)
            .with_dropout(self.hidden_dropout_prob)
            .with_layer_norm_eps(self.layer_norm_eps)
            .init(device),
            layer_norm_eps: self.layer_norm_eps,
        })
    }
}

/// The BERT encoder.
#[derive(Module, Debug)]
pub struct Bert<B: TrrgOps> {
    /// `[vocab, d_model]`
    pub word_embeddings: Embedding<B>,
    /// `[max_position_embeddings, d_model]`
    pub position_embeddings: Embedding<B>,
    /// `[type_vocab_size, d_model]`
    pub token_type_embeddings: Embedding<B>,
    /// LayerNorm after the embedding sum.
    pub embeddings_layer_norm: LayerNorm<B>,
    /// Post-LN transformer blocks.
    pub encoder: TransformerEncoder<B>,
    /// The LayerNorms' epsilon (burn keeps the modules' own private).
    layer_norm_eps: f64,
}

impl<B: TrrgOps> Bert<B> {
    /// Width of the hidden states.
    pub fn d_model(&self) -> usize {
        self.word_embeddings.weight.dims()[1]
    }

    /// Last hidden state (token type 0 everywhere).
    ///
    /// # Shapes
    /// - token_ids: `[batch, seq_len]`
    /// - attention_mask: `[batch, seq_len]`, true for real tokens
    /// - output: `[batch, seq_len, d_model]`
    pub fn forward(
        &self,
        token_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Bool>,
    ) -> crate::Result<Tensor<B, 3>> {
        let [batch, seq_len] = token_ids.dims();
        let max = self.position_embeddings.weight.dims()[0];
        if seq_len > max {
            return Err(Error::Input {
                what: "token_ids",
                reason: format!("{seq_len} tokens exceed max_position_embeddings {max}"),
            });
        }
        let device = token_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..seq_len as i64, &device)
            .reshape([1, seq_len])
            .expand([batch, seq_len]);
        let types = Tensor::<B, 2, Int>::zeros([batch, seq_len], &device);
        let x = self.word_embeddings.forward(token_ids)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(types);
        let eps = self.layer_norm_eps;
        let x = layer_norm(&self.embeddings_layer_norm, x, eps);
        let padding = Some(attention_mask.bool_not());
        Ok(transformer_encoder(&self.encoder, x, padding, eps))
    }
}

/// Mean of the hidden states over real tokens, optionally L2-normalized
/// (sentence-transformers' `Pooling(mean)` + `Normalize`).
///
/// # Shapes
/// - hidden: `[batch, seq_len, d_model]`
/// - attention_mask: `[batch, seq_len]`
/// - output: `[batch, d_model]`
pub fn mean_pool<B: TrrgOps>(
    hidden: Tensor<B, 3>,
    attention_mask: Tensor<B, 2, Bool>,
    normalize: bool,
) -> Tensor<B, 2> {
    let [batch, seq_len, d] = hidden.dims();
    let weight = attention_mask.float().reshape([batch, seq_len, 1]); // [batch, seq_len, 1]
    let count = weight.clone().sum_dim(1).clamp_min(1e-9); // [batch, 1, 1]
    let pooled = ((hidden * weight).sum_dim(1) / count).reshape([batch, d]);
    if normalize {
        l2_normalize(pooled)
    } else {
        pooled
    }
}

/// Rows divided by their L2 norm (floored at 1e-12, as `torch.nn.functional.normalize`).
///
/// # Shapes
/// - x: `[batch, d_model]` -> `[batch, d_model]`
pub fn l2_normalize<B: TrrgOps>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
