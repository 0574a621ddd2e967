//! LoRA (Hu et al. 2021, PEFT's conventions): [`LoraLinear`], a projection that may carry an
//! adapter, `y = x W + (alpha / r) · dropout(x) A B`, with `A` Kaiming-uniform and `B` zero so
//! an added adapter starts as the identity. This module knows projections, not models: the
//! decoder lists its projections ([`crate::LlamaDecoderLayer::projections_mut`]) and
//! `peft.rs` attaches, merges, saves and loads adapters over that list.

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::linear;
use serde::{Deserialize, Serialize};
use trrg_kernels::TrrgOps;

use crate::{Error, Result};

/// The projections an adapter can sit on: the last part of each of the decoder layer's
/// projection paths (`crate::model::PROJECTION_NAMES`), `q_proj` ... `down_proj`.
pub const LORA_TARGETS: [&str; 7] = {
    /// The part of `path` after its first `.`.
    const fn last(path: &'static str) -> &'static str {
        let bytes = path.as_bytes();
        let mut i = 0;
        while bytes[i] != b'.' {
            i += 1;
        }
        path.split_at(i + 1).1
    }
    let mut out = [""; 7];
    let mut i = 0;
    while i < out.len() {
        out[i] = last(crate::model::PROJECTION_NAMES[i].0);
        i += 1;
    }
    out
};

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
pub struct LoraAdapter<B: TrrgOps> {
    /// `A`, `[d_in, r]`.
    pub lora_a: Param<Tensor<B, 2>>,
    /// `B`, `[r, d_out]`, zero at creation.
    pub lora_b: Param<Tensor<B, 2>>,
    dropout: Dropout,
    #[module(skip)]
    scale: f64,
}

impl<B: TrrgOps> LoraAdapter<B> {
    /// A fresh adapter (`B` zero, so it adds nothing yet).
    pub fn new(d_in: usize, d_out: usize, config: &LoraConfig, device: &B::Device) -> Self {
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
        trrg_io::random::dropout(&self.dropout, x)
            .reshape([batch * seq_len, d_in])
            .matmul(self.lora_a.val())
            .matmul(self.lora_b.val())
            .mul_scalar(self.scale)
            .reshape([batch, seq_len, d_out])
    }

    /// `scale · A B`, `[d_in, d_out]`: what merging adds to the base weight.
    pub fn delta(&self) -> Tensor<B, 2> {
        self.lora_a
            .val()
            .matmul(self.lora_b.val())
            .mul_scalar(self.scale)
    }
}

/// A projection that may carry a LoRA adapter. Without one it is burn's `Linear` exactly (the
/// same `weight` `[d_in, d_out]` and `bias`, so the same record keys, and the same forward).
#[derive(Module, Debug)]
pub struct LoraLinear<B: TrrgOps> {
    /// `[d_in, d_out]`.
    pub weight: Param<Tensor<B, 2>>,
    /// `[d_out]` (LLaMA's projections have none).
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// The adapter, when attached.
    pub adapter: Option<LoraAdapter<B>>,
}

impl<B: TrrgOps> From<Linear<B>> for LoraLinear<B> {
    fn from(l: Linear<B>) -> Self {
        Self {
            weight: l.weight,
            bias: l.bias,
            adapter: None,
        }
    }
}

impl<B: TrrgOps> LoraLinear<B> {
    /// A projection without bias, initialized as burn's `LinearConfig` does.
    pub fn new(d_in: usize, d_out: usize, device: &B::Device) -> Self {
        LinearConfig::new(d_in, d_out)
            .with_bias(false)
            .init(device)
            .into()
    }

    /// `[d_in, d_out]`.
    pub fn dims(&self) -> [usize; 2] {
        self.weight.dims()
    }

    /// `x W (+ b)`, plus the adapter's contribution when there is one.
    ///
    /// # Shapes
    /// - x: `[batch, seq_len, d_in]` -> `[batch, seq_len, d_out]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        // As one `[batch * seq_len, d_in]` product: burn's `linear` on a 3-D input multiplies
        // each batch row on its own, which is a row-by-row product when decoding (seq_len 1).
        let base = |x: Tensor<B, 3>| {
            let [batch, seq_len, d_in] = x.dims();
            let bias = self.bias.as_ref().map(|b| b.val());
            linear(x.reshape([batch * seq_len, d_in]), self.weight.val(), bias).reshape([
                batch,
                seq_len,
                self.weight.dims()[1],
            ])
        };
        match &self.adapter {
            Some(a) => base(x.clone()) + a.forward(x),
            None => base(x),
        }
    }

    /// Attaches a fresh adapter (replacing any).
    pub fn attach(&mut self, config: &LoraConfig, device: &B::Device) {
        let [d_in, d_out] = self.dims();
        self.adapter = Some(LoraAdapter::new(d_in, d_out, config, device));
    }

    /// Adds the adapter's `scale · A B` to the weight and removes the adapter.
    pub fn merge(&mut self) {
        if let Some(a) = self.adapter.take() {
            self.weight = Param::from_tensor(self.weight.val() + a.delta());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lora_targets_are_the_last_parts_of_the_projection_names() {
        assert_eq!(
            super::LORA_TARGETS,
            [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj"
            ]
        );
    }
}
