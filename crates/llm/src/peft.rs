//! PEFT's LoRA on a [`LlamaForCausalLM`]: adapters attached to the projections that
//! [`LlamaDecoderLayer::projections_mut`](crate::LlamaDecoderLayer::projections_mut) lists,
//! merged for inference, and saved or loaded alone in PEFT's file layout
//! (`adapter_config.json`, `adapter_model.safetensors`).

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use trrg_io::WeightFile;
use trrg_kernels::TrrgOps;

use crate::{Error, LlamaForCausalLM, LoraConfig, Result};

fn peft_name(layer: usize, slot: &str, which: &str) -> String {
    format!("base_model.model.model.layers.{layer}.{slot}.lora_{which}.weight")
}

impl<B: TrrgOps> LlamaForCausalLM<B> {
    /// Freezes every current parameter and adds trainable adapters on `config.target_modules`
    /// of every layer (replacing any adapters already there).
    pub fn with_lora(self, config: &LoraConfig, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let mut model = self.no_grad();
        for layer in &mut model.model.layers {
            for (slot, proj) in layer.projections_mut() {
                let target = slot.rsplit('.').next().expect("slot names have a dot");
                proj.adapter = None;
                if config.target_modules.iter().any(|t| t == target) {
                    proj.attach(config, device);
                }
            }
        }
        Ok(model)
    }

    /// Whether any projection has an adapter.
    pub fn has_lora(&self) -> bool {
        self.model
            .layers
            .iter()
            .any(|l| l.projections().iter().any(|(_, p)| p.adapter.is_some()))
    }

    /// Adds every adapter's `scale · A B` to its base weight and removes the adapters.
    pub fn merge_lora(mut self) -> Self {
        for layer in &mut self.model.layers {
            for (_, proj) in layer.projections_mut() {
                proj.merge();
            }
        }
        self
    }

    /// Writes the adapters alone in PEFT's layout: `dir/adapter_config.json` and
    /// `dir/adapter_model.safetensors` (`lora_A` `[r, d_in]`, `lora_B` `[d_out, r]`), atomically.
    pub fn save_lora(&self, config: &LoraConfig, dir: &Path) -> Result<()> {
        let fail = |reason: String| Error::Checkpoint {
            path: dir.to_path_buf(),
            reason,
        };
        let mut tensors: Vec<trrg_io::NamedTensor> = Vec::new();
        for (i, layer) in self.model.layers.iter().enumerate() {
            for (slot, proj) in layer.projections() {
                let Some(ad) = &proj.adapter else { continue };
                for (which, t) in [("A", ad.lora_a.val()), ("B", ad.lora_b.val())] {
                    let t = t.transpose(); // PyTorch layout
                    let shape = t.dims().to_vec();
                    tensors.push((peft_name(i, slot, which), shape, trrg_io::f32_values(t)));
                }
            }
        }
        if tensors.is_empty() {
            return Err(Error::InvalidConfig {
                field: "lora",
                reason: "the model has no adapters to save".into(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let mut json = serde_json::to_value(config).expect("plain config");
        json["peft_type"] = "LORA".into();
        json["task_type"] = "CAUSAL_LM".into();
        trrg_io::write_safetensors(&dir.join("adapter_model.safetensors"), &tensors, None)?;
        trrg_io::write_atomic(
            &dir.join("adapter_config.json"),
            json.to_string().as_bytes(),
        )?;
        Ok(())
    }

    /// Adds adapters read from a PEFT directory (see [`LlamaForCausalLM::save_lora`]); returns the
    /// model (base frozen) and the adapters' config. Every tensor must fit and be used.
    pub fn load_lora(self, dir: &Path, device: &B::Device) -> Result<(Self, LoraConfig)> {
        let config_path = dir.join("adapter_config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| Error::Checkpoint {
            path: config_path.clone(),
            reason: e.to_string(),
        })?;
        let config: LoraConfig = serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
            path: config_path.clone(),
            reason: e.to_string(),
        })?;
        let mut model = self.with_lora(&config, device)?;
        let mut file = WeightFile::open(dir.join("adapter_model.safetensors"))?;
        for (i, layer) in model.model.layers.iter_mut().enumerate() {
            for (slot, proj) in layer.projections_mut() {
                let Some(ad) = proj.adapter.as_mut() else {
                    continue;
                };
                let [d_in, r] = ad.lora_a.dims();
                let d_out = ad.lora_b.dims()[1];
                let a = file.linear_weight::<B>(&peft_name(i, slot, "A"), d_in, r, device)?;
                let b = file.linear_weight::<B>(&peft_name(i, slot, "B"), r, d_out, device)?;
                ad.lora_a = Param::from_tensor(a);
                ad.lora_b = Param::from_tensor(b);
            }
        }
        file.finish()?;
        Ok((model, config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{masked_cross_entropy, real_mask, LlamaConfig, LORA_TARGETS};
    use burn::backend::{Autodiff, Flex};
    use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
    use burn::tensor::Distribution;

    type A = Autodiff<Flex>;

    fn all_targets() -> LoraConfig {
        LoraConfig {
            r: 4,
            lora_alpha: 8.0,
            lora_dropout: 0.0,
            target_modules: LORA_TARGETS.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn tiny<B: TrrgOps>(device: &B::Device) -> LlamaForCausalLM<B> {
        B::seed(device, 3);
        LlamaConfig::new(50, 32, 64, 2, 4)
            .with_num_key_value_heads(Some(2))
            .init(device)
            .unwrap()
    }

    fn logits<B: TrrgOps>(m: &LlamaForCausalLM<B>, device: &B::Device) -> Tensor<B, 3> {
        let ids = Tensor::<B, 2, Int>::from_data([[1, 5, 9, 2, 7]], device);
        m.forward_embeds(m.embed(ids), real_mask(1, 5, device), None)
            .unwrap()
    }

    /// Gives every `B` random values, so the adapters change the output.
    fn randomize_b<B: TrrgOps>(
        mut m: LlamaForCausalLM<B>,
        device: &B::Device,
    ) -> LlamaForCausalLM<B> {
        for layer in &mut m.model.layers {
            for (_, proj) in layer.projections_mut() {
                if let Some(a) = proj.adapter.as_mut() {
                    let dims = a.lora_b.dims();
                    a.lora_b = Param::from_tensor(Tensor::random(
                        dims,
                        Distribution::Normal(0.0, 0.1),
                        device,
                    ));
                }
            }
        }
        m
    }

    #[test]
    fn only_adapters_get_gradients() {
        let device = Default::default();
        let model = tiny::<A>(&device)
            .with_lora(&all_targets(), &device)
            .unwrap();
        let ids = Tensor::<A, 2, Int>::from_data([[1, 2, 3, 4]], &device);
        let out = model
            .forward_embeds(model.embed(ids.clone()), real_mask(1, 4, &device), None)
            .unwrap();
        let grads = masked_cross_entropy(out, ids, real_mask(1, 4, &device)).backward();
        let count = trrg_testutil::GradCount::of::<A, _>(&model, &grads);
        // 2 layers x 7 projections x (A, B).
        assert_eq!((count.with, count.trainable), (28, 28));
        // Embeddings, 2 x (2 norms + 7 projections), final norm, untied head: frozen.
        assert!(model.lm_head.is_some());
        assert_eq!(count.without, 1 + 2 * 9 + 1 + 1);
    }

    #[test]
    fn merged_equals_unmerged_and_a_fresh_adapter_changes_nothing() {
        let device = Default::default();
        let base = tiny::<Flex>(&device);
        let before = logits(&base, &device);
        let with = base.with_lora(&all_targets(), &device).unwrap();
        let fresh = logits(&with, &device);
        assert!((fresh - before.clone()).abs().max().into_scalar() < 1e-6);
        let with = randomize_b(with, &device);
        let unmerged = logits(&with, &device);
        assert!((unmerged.clone() - before).abs().max().into_scalar() > 1e-3);
        let merged = with.merge_lora();
        assert!(!merged.has_lora());
        let d = (logits(&merged, &device) - unmerged)
            .abs()
            .max()
            .into_scalar();
        assert!(d < 1e-5, "merged vs unmerged {d}");
    }

    #[test]
    fn saved_adapters_reload_to_the_same_outputs() {
        let device = Default::default();
        let config = LoraConfig::default();
        // One base model for both sides, its weights drawn before it is cloned: burn draws a
        // parameter's initial value on first use, from the generator the tests running in
        // parallel share, so two lazily initialized copies could draw different weights.
        let base = tiny::<Flex>(&device);
        let _ = logits(&base, &device);
        let with = randomize_b(base.clone().with_lora(&config, &device).unwrap(), &device);
        let dir = std::env::temp_dir().join(format!("trrg-lora-{}", std::process::id()));
        with.save_lora(&config, &dir).unwrap();
        let (loaded, loaded_config) = base.load_lora(&dir, &device).unwrap();
        assert_eq!(loaded_config, config);
        let d = (logits(&loaded, &device) - logits(&with, &device))
            .abs()
            .max()
            .into_scalar();
        assert!(d < 1e-6, "{d}");
        // A base model of another shape does not fit.
        let other = LlamaConfig::new(50, 48, 64, 2, 4)
            .init::<Flex>(&device)
            .unwrap();
        let err = other.load_lora(&dir, &device).err().unwrap().to_string();
        assert!(err.contains("lora_A") && err.contains("shape"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
        assert!(tiny::<Flex>(&device)
            .save_lora(&config, &std::env::temp_dir())
            .is_err());
        let bad = LoraConfig {
            target_modules: vec!["qkv".into()],
            ..LoraConfig::default()
        };
        assert!(tiny::<Flex>(&device).with_lora(&bad, &device).is_err());
    }

    #[test]
    fn a_few_adapter_steps_reduce_the_loss() {
        let device = Default::default();
        let mut model = tiny::<A>(&device)
            .with_lora(&all_targets(), &device)
            .unwrap();
        let ids = Tensor::<A, 2, Int>::from_data([[1, 5, 9, 2, 7, 3, 8, 4]], &device);
        let mask = real_mask(1, 8, &device);
        let loss_of = |m: &LlamaForCausalLM<A>| {
            let out = m
                .forward_embeds(m.embed(ids.clone()), mask.clone(), None)
                .unwrap();
            masked_cross_entropy(out, ids.clone(), mask.clone())
        };
        let mut optim = AdamWConfig::new().init();
        let first: f32 = loss_of(&model).into_scalar();
        let frozen_before = model.model.embed_tokens.weight.val().into_data();
        for _ in 0..8 {
            let loss = loss_of(&model);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-2, model, grads);
        }
        let last: f32 = loss_of(&model).into_scalar();
        assert!(last < first - 0.05, "loss {first} -> {last}");
        assert_eq!(
            model.model.embed_tokens.weight.val().into_data(),
            frozen_before
        );
    }
}
