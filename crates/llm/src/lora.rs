//! LoRA adapters (Hu et al. 2021, PEFT's conventions) on the decoder's projections:
//! `y = W x + (alpha / r) · B A dropout(x)`, with `A` Kaiming-uniform and `B` zero so an added
//! adapter starts as the identity. Base weights are frozen when adapters are added; adapters can
//! be merged into the base weights for inference and saved or loaded alone, in PEFT's file layout
//! (`adapter_config.json`, `adapter_model.safetensors`).

use std::path::Path;

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use trrg_io::WeightFile;

use crate::{Error, LlamaForCausalLM, Result};

/// The projections an adapter can sit on.
pub const LORA_TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// LoRA hyper-parameters, with PEFT's names (`adapter_config.json`).
/// Missing fields take the [`Default`] values below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoraConfig {
    /// Rank `r`. PEFT's default 8.
    pub r: usize,
    /// `alpha`: the update is scaled by `alpha / r`. PEFT's default 8; 16 is common.
    pub lora_alpha: f64,
    /// Dropout on the adapter's input. Default 0.
    pub lora_dropout: f64,
    /// Projections that get adapters (from [`LORA_TARGETS`]). PEFT's LLaMA default: q and v.
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.0,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
        }
    }
}

impl LoraConfig {
    /// Checks rank, alpha, dropout and target names.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidConfig {
            field: "lora",
            reason,
        };
        if self.r == 0 {
            return Err(bad("r must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(bad(format!(
                "lora_dropout {} is not in [0, 1)",
                self.lora_dropout
            )));
        }
        if self.target_modules.is_empty() {
            return Err(bad("target_modules is empty".into()));
        }
        if let Some(t) = self
            .target_modules
            .iter()
            .find(|t| !LORA_TARGETS.contains(&t.as_str()))
        {
            return Err(bad(format!(
                "unknown target `{t}`; one of {LORA_TARGETS:?}"
            )));
        }
        Ok(())
    }
}

/// One adapter: `lora_a` `[d_in, r]`, `lora_b` `[r, d_out]`.
#[derive(Module, Debug)]
pub struct LoraAdapter<B: Backend> {
    /// `A`, `[d_in, r]`.
    pub lora_a: Param<Tensor<B, 2>>,
    /// `B`, `[r, d_out]`, zero at creation.
    pub lora_b: Param<Tensor<B, 2>>,
    dropout: Dropout,
    #[module(skip)]
    scale: f64,
}

impl<B: Backend> LoraAdapter<B> {
    fn new(d_in: usize, d_out: usize, config: &LoraConfig, device: &B::Device) -> Self {
        // PEFT: kaiming_uniform_(a = sqrt(5)) on A, i.e. U(-1/sqrt(d_in), 1/sqrt(d_in)).
        let bound = 1.0 / (d_in as f64).sqrt();
        Self {
            lora_a: Initializer::Uniform {
                min: -bound,
                max: bound,
            }
            .init([d_in, config.r], device),
            lora_b: Initializer::Zeros.init([config.r, d_out], device),
            dropout: DropoutConfig::new(config.lora_dropout).init(),
            scale: config.lora_alpha / config.r as f64,
        }
    }

    /// The adapter's contribution.
    ///
    /// # Shapes
    /// - x: `[batch, seq_len, d_in]` -> `[batch, seq_len, d_out]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, seq_len, d_in] = x.dims();
        let d_out = self.lora_b.dims()[1];
        self.dropout
            .forward(x)
            .reshape([batch * seq_len, d_in])
            .matmul(self.lora_a.val())
            .matmul(self.lora_b.val())
            .mul_scalar(self.scale)
            .reshape([batch, seq_len, d_out])
    }

    /// `scale · A B`, `[d_in, d_out]`: what merging adds to the base weight.
    fn delta(&self) -> Tensor<B, 2> {
        self.lora_a
            .val()
            .matmul(self.lora_b.val())
            .mul_scalar(self.scale)
    }
}

/// `linear(x)` plus the adapter's contribution when there is one.
pub(crate) fn project<B: Backend>(
    linear: &Linear<B>,
    adapter: &Option<LoraAdapter<B>>,
    x: Tensor<B, 3>,
) -> Tensor<B, 3> {
    match adapter {
        Some(a) => linear.forward(x.clone()) + a.forward(x),
        None => linear.forward(x),
    }
}

/// A projection of a decoder layer: its PEFT path suffix, base weight and adapter slot.
type Slot<'a, B> = (
    &'static str,
    &'a mut Linear<B>,
    &'a mut Option<LoraAdapter<B>>,
);

/// The (linear, adapter) slots of one decoder layer.
fn slots<B: Backend>(layer: &mut crate::model::LlamaDecoderLayer<B>) -> [Slot<'_, B>; 7] {
    let a = &mut layer.self_attn;
    let m = &mut layer.mlp;
    [
        ("self_attn.q_proj", &mut a.q_proj, &mut a.q_lora),
        ("self_attn.k_proj", &mut a.k_proj, &mut a.k_lora),
        ("self_attn.v_proj", &mut a.v_proj, &mut a.v_lora),
        ("self_attn.o_proj", &mut a.o_proj, &mut a.o_lora),
        ("mlp.gate_proj", &mut m.gate_proj, &mut m.gate_lora),
        ("mlp.up_proj", &mut m.up_proj, &mut m.up_lora),
        ("mlp.down_proj", &mut m.down_proj, &mut m.down_lora),
    ]
}

/// The adapter slots of one decoder layer, read-only, by PEFT path suffix.
fn adapters<B: Backend>(
    layer: &crate::model::LlamaDecoderLayer<B>,
) -> [(&'static str, &Option<LoraAdapter<B>>); 7] {
    let (a, m) = (&layer.self_attn, &layer.mlp);
    [
        ("self_attn.q_proj", &a.q_lora),
        ("self_attn.k_proj", &a.k_lora),
        ("self_attn.v_proj", &a.v_lora),
        ("self_attn.o_proj", &a.o_lora),
        ("mlp.gate_proj", &m.gate_lora),
        ("mlp.up_proj", &m.up_lora),
        ("mlp.down_proj", &m.down_lora),
    ]
}

fn peft_name(layer: usize, slot: &str, which: &str) -> String {
    format!("base_model.model.model.layers.{layer}.{slot}.lora_{which}.weight")
}

impl<B: Backend> LlamaForCausalLM<B> {
    /// Freezes every current parameter and adds trainable adapters on `config.target_modules`
    /// of every layer (replacing any adapters already there).
    pub fn with_lora(self, config: &LoraConfig, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let mut model = self.no_grad();
        for layer in &mut model.model.layers {
            for (slot, linear, adapter) in slots(layer) {
                let target = slot.rsplit('.').next().expect("slot names have a dot");
                *adapter = config.target_modules.iter().any(|t| t == target).then(|| {
                    let [d_in, d_out] = linear.weight.dims();
                    LoraAdapter::new(d_in, d_out, config, device)
                });
            }
        }
        Ok(model)
    }

    /// Whether any projection has an adapter.
    pub fn has_lora(&self) -> bool {
        self.model
            .layers
            .iter()
            .any(|l| adapters(l).iter().any(|(_, a)| a.is_some()))
    }

    /// Adds every adapter's `scale · A B` to its base weight and removes the adapters.
    pub fn merge_lora(mut self) -> Self {
        for layer in &mut self.model.layers {
            for (_, linear, adapter) in slots(layer) {
                if let Some(a) = adapter.take() {
                    let merged = linear.weight.val() + a.delta();
                    linear.weight = Param::from_tensor(merged);
                }
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
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (i, layer) in self.model.layers.iter().enumerate() {
            for (slot, adapter) in adapters(layer) {
                let Some(ad) = adapter else { continue };
                for (which, t) in [("A", ad.lora_a.val()), ("B", ad.lora_b.val())] {
                    let t = t.transpose(); // PyTorch layout
                    let shape = t.dims().to_vec();
                    let values: Vec<f32> = t
                        .into_data()
                        .convert::<f32>()
                        .to_vec()
                        .map_err(|e| fail(format!("{e:?}")))?;
                    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    tensors.push((peft_name(i, slot, which), shape, bytes));
                }
            }
        }
        if tensors.is_empty() {
            return Err(Error::InvalidConfig {
                field: "lora",
                reason: "the model has no adapters to save".into(),
            });
        }
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| fail(e.to_string()))?;
        let weights = safetensors::serialize(views, None).map_err(|e| fail(e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let mut json = serde_json::to_value(config).expect("plain config");
        json["peft_type"] = "LORA".into();
        json["task_type"] = "CAUSAL_LM".into();
        trrg_io::write_atomic(&dir.join("adapter_model.safetensors"), &weights)?;
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
            for (slot, _, adapter) in slots(layer) {
                let Some(ad) = adapter.as_mut() else { continue };
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
    use crate::{masked_cross_entropy, real_mask, LlamaConfig};
    use burn::backend::{Autodiff, Flex};
    use burn::module::ModuleVisitor;
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

    fn tiny<B: Backend>(device: &B::Device) -> LlamaForCausalLM<B> {
        B::seed(device, 3);
        LlamaConfig::new(50, 32, 64, 2, 4)
            .with_num_key_value_heads(Some(2))
            .init(device)
            .unwrap()
    }

    fn logits<B: Backend>(m: &LlamaForCausalLM<B>, device: &B::Device) -> Tensor<B, 3> {
        let ids = Tensor::<B, 2, Int>::from_data([[1, 5, 9, 2, 7]], device);
        m.forward_embeds(m.embed(ids), real_mask(1, 5, device), None)
            .unwrap()
    }

    /// Gives every `B` random values, so the adapters change the output.
    fn randomize_b<B: Backend>(
        mut m: LlamaForCausalLM<B>,
        device: &B::Device,
    ) -> LlamaForCausalLM<B> {
        for layer in &mut m.model.layers {
            for (_, _, adapter) in slots(layer) {
                if let Some(a) = adapter.as_mut() {
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
        struct Count<'a> {
            grads: &'a <A as burn::tensor::backend::AutodiffBackend>::Gradients,
            with: usize,
            without: usize,
            trainable: usize,
        }
        impl ModuleVisitor<A> for Count<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<A, D>>) {
                self.trainable += usize::from(param.is_require_grad());
                match param.val().grad(self.grads) {
                    Some(_) => self.with += 1,
                    None => self.without += 1,
                }
            }
        }
        let mut count = Count {
            grads: &grads,
            with: 0,
            without: 0,
            trainable: 0,
        };
        model.visit(&mut count);
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
        let with = randomize_b(
            tiny::<Flex>(&device).with_lora(&config, &device).unwrap(),
            &device,
        );
        let dir = std::env::temp_dir().join(format!("trrg-lora-{}", std::process::id()));
        with.save_lora(&config, &dir).unwrap();
        let (loaded, loaded_config) = tiny::<Flex>(&device).load_lora(&dir, &device).unwrap();
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
