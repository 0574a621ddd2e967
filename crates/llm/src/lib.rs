//! LLaMA-family causal language model for trrg, generic over Burn's backend.
//!
//! HF `LlamaForCausalLM` layout and names: token embedding -> N pre-norm decoder layers
//! (RMSNorm, grouped-query self-attention with rotary positions, RMSNorm, SwiGLU MLP) -> RMSNorm
//! -> LM head (optionally tied to the embedding). Callers pass `inputs_embeds`, so soft tokens
//! from other crates (visual and clue tokens) can precede text; a [`KvCache`] makes incremental
//! decoding cost one position per step, and [`generate`] runs greedy, sampling or beam search.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::prelude::*;
//! use trrg_llm::{generate, GenerationConfig, LlamaConfig};
//!
//! let device = Default::default();
//! let model = LlamaConfig::new(99, 32, 64, 2, 4)
//!     .with_num_key_value_heads(Some(2))
//!     .init::<Flex>(&device)?;
//! let prompt = Tensor::<Flex, 2, Int>::from_data([[1, 2, 3]], &device);
//! let mask = trrg_llm::real_mask::<Flex>(1, 3, &device);
//! let ids = generate(&model, model.embed(prompt), mask, &GenerationConfig::new().with_max_new_tokens(5))?;
//! assert_eq!(ids[0].len(), 5);
//! # Ok::<(), trrg_llm::Error>(())
//! ```
#![warn(missing_docs)]

mod attention;
mod cache;
mod chat;
mod config;
mod error;
mod generate;
mod gguf;
mod loader;
mod lora;
mod model;
mod peft;
mod rope;

pub use attention::{LlamaAttention, MASKED_SCORE};
pub use cache::{KvCache, LayerCache};
pub use chat::ChatTemplate;
pub use config::{LlamaConfig, RopeScaling};
pub use error::{Error, Result};
pub use generate::{generate, generate_from_ids, GenerationConfig};
pub use gguf::{Gguf, GgufLlama, GgufValue};
pub use loader::HfTokenIds;
pub use lora::{LoraAdapter, LoraConfig, LoraLinear, LORA_TARGETS};
pub use model::{
    masked_cross_entropy, real_mask, LlamaDecoderLayer, LlamaForCausalLM, LlamaMlp, LlamaModel,
};
pub use rope::{apply_rope, inv_freq, Rope, RopeTables};
