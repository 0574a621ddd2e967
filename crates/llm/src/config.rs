//! `LlamaConfig`: field names as in HF `config.json` of `LlamaForCausalLM`.

use burn::config::Config;

use crate::Error;

/// RoPE frequency scaling, as HF's `rope_scaling` entry.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RopeScaling {
    /// `"linear"` or `"llama3"` (HF `rope_type`, older files say `type`).
    #[serde(alias = "type")]
    pub rope_type: String,
    /// Scaling factor.
    pub factor: f64,
    /// llama3: low-frequency factor. Default 1.
    #[serde(default = "one")]
    pub low_freq_factor: f64,
    /// llama3: high-frequency factor. Default 4.
    #[serde(default = "four")]
    pub high_freq_factor: f64,
    /// llama3: the context length the model was pre-trained with. Default 8192.
    #[serde(default = "ctx")]
    pub original_max_position_embeddings: usize,
}

fn one() -> f64 {
    1.0
}
fn four() -> f64 {
    4.0
}
fn ctx() -> usize {
    8192
}

/// Configuration of a LLaMA-family causal LM (HF `LlamaConfig` field names).
#[derive(Config, Debug)]
pub struct LlamaConfig {
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Model width (`d_model`).
    pub hidden_size: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); `None` means as many as query heads.
    #[config(default = "None")]
    pub num_key_value_heads: Option<usize>,
    /// RMSNorm epsilon. Default 1e-6.
    #[config(default = 1e-6)]
    pub rms_norm_eps: f64,
    /// RoPE base. Default 10000.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// Optional RoPE scaling (`linear` or `llama3`).
    #[config(default = "None")]
    pub rope_scaling: Option<RopeScaling>,
    /// Longest position the RoPE table covers. Default 2048.
    #[config(default = 2048)]
    pub max_position_embeddings: usize,
    /// Output projection shares the token embedding. Default false.
    #[config(default = false)]
    pub tie_word_embeddings: bool,
    /// Dropout on attention outputs and MLP outputs during training (not in HF Llama; 0 there).
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl LlamaConfig {
    /// Query heads per key/value head.
    pub fn n_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks that the shapes fit together.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return bad(
                "num_attention_heads",
                format!(
                    "{} must divide hidden_size {}",
                    self.num_attention_heads, self.hidden_size
                ),
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad("hidden_size", "RoPE needs an even head dimension".into());
        }
        let kv = self.n_kv_heads();
        if kv == 0 || !self.num_attention_heads.is_multiple_of(kv) {
            return bad(
                "num_key_value_heads",
                format!(
                    "{kv} must divide num_attention_heads {}",
                    self.num_attention_heads
                ),
            );
        }
        if let Some(s) = &self.rope_scaling {
            if !matches!(s.rope_type.as_str(), "linear" | "llama3" | "default") {
                return bad(
                    "rope_scaling.rope_type",
                    format!("`{}` is not supported (linear, llama3)", s.rope_type),
                );
            }
        }
        if self.vocab_size == 0 || self.num_hidden_layers == 0 {
            return bad(
                "vocab_size",
                "vocab_size and num_hidden_layers must be positive".into(),
            );
        }
        Ok(())
    }

    /// SmolLM2-135M (HuggingFaceTB/SmolLM2-135M).
    pub fn smollm2_135m() -> Self {
        Self::new(49152, 576, 1536, 30, 9)
            .with_num_key_value_heads(Some(3))
            .with_rms_norm_eps(1e-5)
            .with_rope_theta(100000.0)
            .with_max_position_embeddings(8192)
            .with_tie_word_embeddings(true)
    }
}
