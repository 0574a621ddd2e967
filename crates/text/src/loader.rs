//! Loading a HF BERT checkpoint directory (`config.json` + `model.safetensors`, `BertModel` names
//! with or without the `bert.` prefix) into [`Bert`].

use std::path::Path;

use serde::Deserialize;
use trrg_io::{EncoderLayerKeys, WeightFile};
use trrg_kernels::TrrgOps;

use crate::{Bert, BertConfig, Error};

/// The weights of one BERT encoder layer, under `encoder.layer.{i}.` (HF `BertModel`, with or
/// without the `bert.` prefix).
///
/// # Key Mappings
/// | HF | burn's `TransformerEncoderLayer` |
/// |---|---|
/// | `attention.self.query` | `mha.query` |
/// | `attention.self.key` | `mha.key` |
/// | `attention.self.value` | `mha.value` |
/// | `attention.output.dense` | `mha.output` |
/// | `attention.output.LayerNorm` | `norm_1` (post-LN: after attention) |
/// | `intermediate.dense` | `pwff.linear_inner` |
/// | `output.dense` | `pwff.linear_outer` |
/// | `output.LayerNorm` | `norm_2` (post-LN: after the feed-forward block) |
pub const BERT_LAYER_KEYS: EncoderLayerKeys = EncoderLayerKeys {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_output: "attention.output.dense",
    intermediate: "intermediate.dense",
    output: "output.dense",
    norm_1: "attention.output.LayerNorm",
    norm_2: "output.LayerNorm",
};

/// The fields of HF's `BertConfig` that shape the model; others are ignored.
#[derive(Deserialize)]
struct HfBertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    #[serde(default = "eps")]
    layer_norm_eps: f64,
    #[serde(default = "gelu")]
    hidden_act: String,
    #[serde(default = "absolute")]
    position_embedding_type: String,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}
fn absolute() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Reads HF's `config.json`; only what this encoder implements is accepted (GELU, absolute
    /// positions).
    pub fn from_hf_json(path: impl AsRef<Path>) -> crate::Result<Self> {
        let hf: HfBertConfig = trrg_io::read_json(path.as_ref())?;
        if hf.hidden_act != "gelu" {
            return Err(Error::InvalidConfig {
                field: "hidden_act",
                reason: format!(
                    "`{}` in {}: only gelu is supported",
                    hf.hidden_act,
                    path.as_ref().display()
                ),
            });
        }
        if hf.position_embedding_type != "absolute" {
            return Err(Error::InvalidConfig {
                field: "position_embedding_type",
                reason: format!(
                    "`{}` in {}: only absolute is supported",
                    hf.position_embedding_type,
                    path.as_ref().display()
                ),
            });
        }
        Ok(Self::new(hf.vocab_size)
            .with_hidden_size(hf.hidden_size)
            .with_num_hidden_layers(hf.num_hidden_layers)
            .with_num_attention_heads(hf.num_attention_heads)
            .with_intermediate_size(hf.intermediate_size)
            .with_max_position_embeddings(hf.max_position_embeddings)
            .with_type_vocab_size(hf.type_vocab_size)
            .with_layer_norm_eps(hf.layer_norm_eps))
    }
}

impl<B: TrrgOps> Bert<B> {
    /// Loads `dir/config.json` and the weights beside it (`model.safetensors`, its shards, or
    /// `pytorch_model.bin`, as [`WeightFile::open_dir`] finds them). Every tensor must fit; the
    /// `pooler.*` weights (unused by mean pooling) and the `position_ids` buffer are skipped, any
    /// other unused tensor is an error naming it.
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> crate::Result<(Self, BertConfig)> {
        let dir = dir.as_ref();
        let config = BertConfig::from_hf_json(dir.join("config.json"))?;
        let mut file = WeightFile::open_dir(dir)?;
        file.check_memory::<B>(device)?;
        let mut bert = config.init::<B>(device)?;
        file.detect_prefix("bert.", "embeddings.word_embeddings.weight");
        bert.load_weights(&mut file, device)?;
        file.skip([
            "pooler.dense.weight",
            "pooler.dense.bias",
            "embeddings.position_ids",
        ]);
        file.finish()?;
        Ok((bert, config))
    }

    /// Copies HF `BertModel` weights from `file` into this encoder.
    pub fn load_weights(&mut self, file: &mut WeightFile, device: &B::Device) -> crate::Result<()> {
        file.load_embedding(
            &mut self.word_embeddings,
            "embeddings.word_embeddings",
            device,
        )?;
        file.load_embedding(
            &mut self.position_embeddings,
            "embeddings.position_embeddings",
            device,
        )?;
        file.load_embedding(
            &mut self.token_type_embeddings,
            "embeddings.token_type_embeddings",
            device,
        )?;
        file.load_layer_norm(
            &mut self.embeddings_layer_norm,
            "embeddings.LayerNorm",
            device,
        )?;
        for (i, layer) in self.encoder.layers.iter_mut().enumerate() {
            file.load_encoder_layer(
                layer,
                &format!("encoder.layer.{i}"),
                &BERT_LAYER_KEYS,
                device,
            )?;
        }
        Ok(())
    }
}
