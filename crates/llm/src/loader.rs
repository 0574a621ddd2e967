//! Loading HF `LlamaForCausalLM` checkpoints: `config.json` plus `model.safetensors`, the shards
//! of `model.safetensors.index.json`, or `pytorch_model.bin` (or its shards) when the directory
//! has no safetensors (f32, f16 or bf16, converted to f32).

use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use serde::Deserialize;
use trrg_io::WeightFile;
use trrg_kernels::TrrgOps;

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

fn linear<B: TrrgOps>(
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

impl<B: TrrgOps> LlamaForCausalLM<B> {
    /// Loads `dir/config.json` and the weights beside it (safetensors, one file or sharded, else
    /// `pytorch_model.bin`, one file or sharded: [`WeightFile::open_dir`]). Every tensor
    /// must fit and be used; errors name the file and the tensor.
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<(Self, LlamaConfig)> {
        let dir = dir.as_ref();
        let config = LlamaConfig::from_hf_json(dir.join("config.json"))?;
        let mut file = WeightFile::open_dir(dir)?;
        file.check_memory::<B>(device)?;
        let mut model = config.init::<B>(device)?;
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

/// Token ids written into an exported `config.json` (HF `bos_token_id` etc.).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HfTokenIds {
    /// Start of a report.
    pub bos: Option<u32>,
    /// End of a report.
    pub eos: Option<u32>,
    /// Padding.
    pub pad: Option<u32>,
}

impl LlamaConfig {
    /// This config as HF `config.json` of `LlamaForCausalLM` (what [`LlamaConfig::from_hf_json`]
    /// and transformers read).
    pub fn to_hf_json(&self, ids: HfTokenIds) -> serde_json::Value {
        let mut out = serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "attention_bias": false,
            "mlp_bias": false,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "pretraining_tp": 1,
            "use_cache": true,
            "torch_dtype": "float32",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.n_kv_heads(),
            "head_dim": self.hidden_size / self.num_attention_heads,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": self.rope_scaling,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
        });
        for (key, id) in [
            ("bos_token_id", ids.bos),
            ("eos_token_id", ids.eos),
            ("pad_token_id", ids.pad),
        ] {
            if let Some(id) = id {
                out[key] = id.into();
            }
        }
        out
    }
}

impl<B: TrrgOps> LlamaForCausalLM<B> {
    /// The base weights in HF Llama layout (`model.embed_tokens.weight`,
    /// `model.layers.{i}.self_attn.q_proj.weight` `[d_out, d_in]`, ..., `model.norm.weight`,
    /// `lm_head.weight` unless tied), f32; LoRA adapters are left out (see
    /// [`LlamaForCausalLM::save_lora`]).
    pub fn hf_tensors(&self) -> Vec<trrg_io::NamedTensor> {
        let vector = |name: String, p: &Param<Tensor<B, 1>>| {
            (name, p.dims().to_vec(), trrg_io::f32_values(p.val()))
        };
        let matrix =
            |name: String, t: Tensor<B, 2>| (name, t.dims().to_vec(), trrg_io::f32_values(t));
        let mut out = vec![matrix(
            "model.embed_tokens.weight".into(),
            self.model.embed_tokens.weight.val(),
        )];
        for (i, layer) in self.model.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.push(vector(
                format!("{p}.input_layernorm.weight"),
                &layer.input_layernorm.gamma,
            ));
            out.push(vector(
                format!("{p}.post_attention_layernorm.weight"),
                &layer.post_attention_layernorm.gamma,
            ));
            for (name, proj) in layer.projections() {
                out.push(matrix(
                    format!("{p}.{name}.weight"),
                    proj.weight.val().transpose(),
                ));
            }
        }
        out.push(vector("model.norm.weight".into(), &self.model.norm.gamma));
        if let Some(head) = &self.lm_head {
            out.push(matrix(
                "lm_head.weight".into(),
                head.weight.val().transpose(),
            ));
        }
        out
    }

    /// Writes `dir/config.json` and `dir/model.safetensors` in HF Llama layout, atomically, so
    /// that `LlamaForCausalLM.from_pretrained(dir)` in transformers and
    /// [`LlamaForCausalLM::from_pretrained`] here load them; adapters are written beside them in
    /// PEFT layout when `lora` is given.
    pub fn save_pretrained(
        &self,
        config: &LlamaConfig,
        ids: HfTokenIds,
        lora: Option<&crate::LoraConfig>,
        dir: &Path,
    ) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let json = serde_json::to_string_pretty(&config.to_hf_json(ids)).expect("plain JSON");
        trrg_io::write_atomic(&dir.join("config.json"), json.as_bytes())?;
        let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        trrg_io::write_safetensors(
            &dir.join("model.safetensors"),
            &self.hf_tensors(),
            Some(metadata),
        )?;
        if let Some(lora) = lora {
            self.save_lora(lora, dir)?;
        }
        Ok(())
    }
}
