//! Loading HF `LlamaForCausalLM` checkpoints: `config.json` plus `model.safetensors` or the shards
//! of `model.safetensors.index.json` (f32, f16 or bf16, converted to f32).

use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use serde::Deserialize;
use trrg_io::WeightFile;

use crate::{Error, LlamaConfig, LlamaForCausalLM, Result};

/// HF config fields that must have the values this decoder implements.
#[derive(Deserialize)]
struct HfChecks {
    #[serde(default = "silu")]
    hidden_act: String,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
}

fn silu() -> String {
    "silu".into()
}

impl LlamaConfig {
    /// Reads HF's `config.json` (`LlamaConfig` field names; unknown fields ignored).
    pub fn from_hf_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let bad = |reason: String| Error::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        let checks: HfChecks = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if checks.hidden_act != "silu" || checks.attention_bias || checks.mlp_bias {
            return Err(bad(format!(
                "hidden_act `{}`, attention_bias {}, mlp_bias {}: only silu without biases is supported",
                checks.hidden_act, checks.attention_bias, checks.mlp_bias
            )));
        }
        let mut json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let object = json
            .as_object_mut()
            .ok_or_else(|| bad("config.json is not a JSON object".into()))?;
        // transformers >= 5 writes `rope_parameters` {rope_theta, rope_type, ...} instead of
        // top-level `rope_theta` and `rope_scaling`.
        if let Some(rope) = object
            .get("rope_parameters")
            .cloned()
            .filter(|r| r.is_object())
        {
            if let Some(theta) = rope.get("rope_theta") {
                object.insert("rope_theta".into(), theta.clone());
            }
            if !matches!(
                rope.get("rope_type").and_then(serde_json::Value::as_str),
                None | Some("default")
            ) {
                object.insert("rope_scaling".into(), rope);
            }
        }
        // HF's defaults for fields its files may omit.
        for (key, default) in [
            ("rope_theta", serde_json::json!(10000.0)),
            ("rms_norm_eps", serde_json::json!(1e-6)),
            ("max_position_embeddings", serde_json::json!(2048)),
            ("tie_word_embeddings", serde_json::json!(false)),
            ("num_key_value_heads", serde_json::Value::Null),
            ("rope_scaling", serde_json::Value::Null),
            ("dropout", serde_json::json!(0.0)),
        ] {
            object.entry(key).or_insert(default);
        }
        let config: LlamaConfig =
            serde_json::from_value(json.clone()).map_err(|e| bad(e.to_string()))?;
        if let Some(head_dim) = json.get("head_dim").and_then(serde_json::Value::as_u64) {
            if head_dim as usize != config.head_dim() {
                return Err(bad(format!(
                    "head_dim {head_dim} differs from hidden_size / num_attention_heads = {}; not supported",
                    config.head_dim()
                )));
            }
        }
        config.validate()?;
        Ok(config)
    }
}

fn linear<B: Backend>(
    file: &mut WeightFile,
    name: &str,
    d_in: usize,
    d_out: usize,
    device: &B::Device,
) -> Result<Linear<B>> {
    Ok(Linear {
        weight: Param::from_tensor(file.linear_weight(name, d_in, d_out, device)?),
        bias: None,
    })
}

impl<B: Backend> LlamaForCausalLM<B> {
    /// Loads `dir/config.json` and the safetensors weights (one file or sharded). Every tensor
    /// must fit and be used; errors name the file and the tensor.
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<(Self, LlamaConfig)> {
        let dir = dir.as_ref();
        let config = LlamaConfig::from_hf_json(dir.join("config.json"))?;
        let mut model = config.init::<B>(device)?;
        let mut file = WeightFile::open_dir(dir)?;
        let (d, vocab) = (config.hidden_size, config.vocab_size);
        let vector = |file: &mut WeightFile, name: &str| -> Result<Param<Tensor<B, 1>>> {
            Ok(Param::from_tensor(file.tensor(name, [d], device)?))
        };
        model.model.embed_tokens.weight =
            Param::from_tensor(file.tensor("model.embed_tokens.weight", [vocab, d], device)?);
        model.model.norm.gamma = vector(&mut file, "model.norm.weight")?;
        match model.lm_head.as_mut() {
            Some(head) => *head = linear(&mut file, "lm_head.weight", d, vocab, device)?,
            // Tied checkpoints may still store a copy of the embedding as the head.
            None => file.skip(["lm_head.weight"]),
        }
        for (i, layer) in model.model.layers.iter_mut().enumerate() {
            let p = format!("model.layers.{i}");
            layer.input_layernorm.gamma =
                vector(&mut file, &format!("{p}.input_layernorm.weight"))?;
            layer.post_attention_layernorm.gamma =
                vector(&mut file, &format!("{p}.post_attention_layernorm.weight"))?;
            for (name, proj) in layer.projections_mut() {
                let [d_in, d_out] = proj.dims();
                let name = format!("{p}.{name}.weight");
                proj.weight = Param::from_tensor(file.linear_weight(&name, d_in, d_out, device)?);
            }
        }
        // Rotary caches some checkpoints store are recomputed from the config.
        let rotary: Vec<String> = file
            .names()
            .into_iter()
            .filter(|n| n.ends_with("rotary_emb.inv_freq"))
            .collect();
        file.skip(rotary);
        file.finish()?;
        Ok((model, config))
    }
}
